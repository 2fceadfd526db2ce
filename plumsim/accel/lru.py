"""A small least-recently-used memo shared by the tile searches (bounded by entry count).

Sweeps repeat the same search many times (e.g. over rn_bw, which the cycles do not depend on); the
bound keeps a long sweep's memory flat.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

V = TypeVar("V")


class LRUMemo:
    """Remember up to ``max_items`` results; the least recently used go first."""

    def __init__(self, max_items: int):
        self.max_items = int(max_items)
        self._items: "OrderedDict[Hashable, object]" = OrderedDict()

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        hit = self._items.get(key)
        if hit is not None:
            try:  # (another thread may have evicted it meanwhile)
                self._items.move_to_end(key)
            except KeyError:
                pass
            return hit  # type: ignore[return-value]
        value = compute()
        self._items[key] = value
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

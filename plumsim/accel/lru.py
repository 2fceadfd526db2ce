"""The one bounded cache of plumsim.accel: a least-recently-used memo bounded by entry count and,
optionally, by the bytes its values hold; and :func:`weights_key`, the cache key of a layer's weights.

Sweeps repeat the same work many times (e.g. a SIGMA layout over rn_bw, which it does not depend on,
or a layer's arithmetic on every configuration); the bounds keep a long sweep's memory flat.
"""

from __future__ import annotations

import itertools
import weakref
import zlib
from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

import numpy as np

V = TypeVar("V")
_MISSING = object()
#: every LRUMemo alive, for :func:`clear_caches`
_ALL: "weakref.WeakSet[LRUMemo]" = weakref.WeakSet()


def clear_caches(keep: tuple = ()) -> None:
    """Forget everything every :class:`LRUMemo` remembers (cold-cache benchmarks and tests), except the
    memos in ``keep`` (e.g. a benchmark of layers whose tiles were seen before)."""
    for memo in list(_ALL):
        if not any(memo is k for k in keep):
            memo.clear()


class LRUMemo:
    """Remember up to ``max_items`` results (and, with ``sizeof``, values of at most ``max_bytes`` bytes
    in all); the least recently used go first. The newest entry always stays."""

    def __init__(self, max_items: int, *, max_bytes: int | None = None, sizeof: Callable[[object], int] | None = None):
        self.max_items = int(max_items)
        self.max_bytes = None if max_bytes is None else int(max_bytes)
        self._sizeof = sizeof
        self._bytes = 0
        self._items: "OrderedDict[Hashable, object]" = OrderedDict()
        _ALL.add(self)

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        hit = self.get(key, _MISSING)
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        value = compute()
        self.put(key, value)
        return value

    def get(self, key: Hashable, default=None):
        """The value remembered for ``key`` (now the most recently used), or ``default``."""
        try:
            hit = self._items[key]
        except KeyError:
            return default
        try:  # (another thread may have evicted it meanwhile)
            self._items.move_to_end(key)
        except KeyError:
            pass
        return hit

    def put(self, key: Hashable, value) -> None:
        """Remember ``value`` for ``key``, dropping the least recently used beyond the bounds."""
        old = self._items.pop(key, _MISSING)
        if old is not _MISSING and self._sizeof is not None:
            self._bytes -= int(self._sizeof(old))
        self._items[key] = value
        if self._sizeof is not None:
            self._bytes += int(self._sizeof(value))
        while len(self._items) > 1 and (len(self._items) > self.max_items or (
                self.max_bytes is not None and self._bytes > self.max_bytes)):
            _, old = self._items.popitem(last=False)
            if self._sizeof is not None:
                self._bytes -= int(self._sizeof(old))

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held, as ``sizeof`` counts them (0 without ``sizeof``)."""
        return self._bytes


# ----------------------------------------------------------------------------------------------
# cache keys of weight arrays

_TOKENS: dict[int, tuple] = {}
_NEXT = itertools.count(1)


def _frozen(arr: np.ndarray) -> bool:
    """True when nothing can change ``arr``'s values short of setting ``writeable`` back on: the array and
    every array it views are read-only."""
    a = arr
    while isinstance(a, np.ndarray):
        if a.flags.writeable:
            return False
        a = a.base
    return a is None or isinstance(a, bytes)


def freeze(*arrays) -> None:
    """Make arrays read-only, together with every array they view, so :func:`weights_key` keys them in
    O(1) and nobody can change a cached value in place (None and non-arrays are skipped)."""
    for a in arrays:
        while isinstance(a, np.ndarray):
            a.flags.writeable = False
            a = a.base


def _token(arr: np.ndarray) -> int:
    """A number unique to this array object for its lifetime (ids are reused after an array is freed; a
    token never is)."""
    key = id(arr)
    entry = _TOKENS.get(key)
    if entry is not None and entry[0]() is arr:
        return entry[1]
    tok = next(_NEXT)

    def forget(_ref, key=key, tok=tok):
        if _TOKENS.get(key, (None, None))[1] == tok:
            del _TOKENS[key]

    _TOKENS[key] = (weakref.ref(arr, forget), tok)
    return tok


def weights_key(layer) -> tuple:
    """Cache key of a layer's weights (codes, or FP weights) and the shape facts plans depend on.

    A frozen array (read-only, as the sweep loads workloads) is keyed by its lifetime token: O(1). A
    writable one also by a content fingerprint (dtype, shape, CRC-32 of the bytes and their 64-bit word
    sum; ~0.7 ms for the largest ResNet-18 layer), so weights modified in place never hit a stale entry."""
    arr = layer.codes if layer.codes is not None else layer.weights
    s = layer.shape
    head = (layer.codes is None, s.G, s.N_gemm)
    if isinstance(arr, np.ndarray) and _frozen(arr):
        return head + (arr.dtype.str, arr.shape, _token(arr))
    src = np.ascontiguousarray(arr)
    flat = src.view(np.uint8).ravel()
    words = int(flat[:flat.size // 8 * 8].view(np.int64).sum()) if flat.size >= 8 else 0
    return head + (src.dtype.str, src.shape, id(arr), zlib.crc32(flat), words,
                   int(flat[flat.size // 8 * 8:].sum()))

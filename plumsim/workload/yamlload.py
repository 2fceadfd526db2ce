"""Strict YAML reading for every user file plumsim takes (layer tables, sweep grids, energy tables).

``yaml.safe_load`` keeps the last of two equal keys without a word (``ms_size: [64]`` then ``ms_size:
[128]`` sweeps 128 only); :class:`UniqueKeyLoader` refuses it, naming both lines. :func:`read_yaml`
also turns a file that is not UTF-8 text (binary junk) or not YAML into one error of the caller's
class naming the file, the line and the column. yaml only.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from plumsim.errors import PlumsimError

_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice (``first_line``, ``line``: 1-based)."""

    def __init__(self, key, first_line: int, node_mark):
        self.key, self.first_line, self.line = key, first_line, node_mark.line + 1
        super().__init__(None, None, f"key {key!r} appears twice (lines {first_line} and {self.line}); "
                         "give it once", node_mark)


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises :class:`DuplicateKeyError` for a key given twice in one mapping
    (keys compare as Python values: ``8`` and ``8.0`` are the same key). Merge keys (``<<``) may still be
    overridden, as YAML defines."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable: SafeLoader's own error follows
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, first, key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def loads_yaml(text: str, path=None, error: type[PlumsimError] = PlumsimError):
    """Parse YAML text with :class:`UniqueKeyLoader`; a syntax error or a duplicate key raises ``error``
    naming ``path``, the line and the column."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise error(f"duplicate key: {exc.problem}", path=path, field=str(exc.key)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"not valid YAML{where}: {problem}", path=path) from None


def read_yaml(path: str | Path, error: type[PlumsimError] = PlumsimError):
    """Read and parse a YAML file strictly (see the module doc): not UTF-8 text, not YAML, a duplicate
    key or an unreadable file each raise ``error`` naming the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", path=p) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not a text file: byte {exc.start} is not UTF-8 ({exc.reason}); expected YAML",
                    path=p) from None
    return loads_yaml(text, p, error)

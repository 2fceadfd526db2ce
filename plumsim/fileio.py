"""Crash-safe file writing shared by every stage (workloads, checkpoints, sweep results, exports).

A reader sees either the old file or the whole new one, never a torn write, even after SIGKILL. A write the
machine refuses (disk full, read-only file system, permission denied, a file where a folder belongs) raises
:class:`plumsim.errors.StorageError` naming the target path and the cause, and leaves nothing behind: no
temporary file, no half-written file, no folder this write created.

Output paths built from user strings (grid workload names, layer names) go through :func:`safe_child`, which
refuses a name that could leave its folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from plumsim.errors import ConfigError, PlumsimError, StorageError


def fsync_dir(path: str | Path) -> None:
    """Flush a directory entry (so a rename survives a crash); a no-op where directories can't be opened."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask_mode(base: int = 0o666) -> int:
    """``base`` minus the process umask: what a plain open() / mkdir() would give (mkstemp makes 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# ------------------------------------------------------------------------------------------------ folders

def make_dirs(path: str | Path) -> list[Path]:
    """``mkdir -p path``; returns the folders it created, outermost first (for :func:`remove_empty_dirs`).

    Raises :class:`StorageError` naming the folder that could not be created (and removes the ones it made).
    """
    path = Path(path)
    missing = []
    p = path
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    created: list[Path] = []
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            if d.is_dir():  # made by a concurrent writer meanwhile
                continue
            remove_empty_dirs(created)
            raise StorageError(d, NotADirectoryError(errno.ENOTDIR, "a file is in the way, not a folder"),
                               "create folder") from None
        except OSError as exc:
            remove_empty_dirs(created)
            raise StorageError(d, exc, "create folder") from None
        created.append(d)
    return created


def remove_empty_dirs(dirs: list[Path]) -> None:
    """Remove ``dirs`` (innermost first) where they are empty; never raises."""
    for d in reversed(dirs):
        try:
            os.rmdir(d)
        except OSError:
            pass


# ------------------------------------------------------------------------------------------------ files

def _write_temp(path: Path, write: Callable[[BinaryIO], None]) -> str:
    """Write a whole, fsync'd temporary file beside ``path`` (mode as a plain open() gives); its name."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        return tmp
    except BaseException as exc:
        if tmp is not None:
            _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise StorageError(path, exc) from exc
        raise


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync it, then ``os.replace`` it into place.

    Missing parent folders are created; on any failure the temporary file and the folders created here are
    removed and an OSError becomes :class:`StorageError` (naming ``path``)."""
    path = Path(path)
    created = make_dirs(path.parent)
    try:
        tmp = _write_temp(path, write)
        try:
            os.replace(tmp, path)
        except BaseException as exc:
            _unlink_quietly(tmp)
            if isinstance(exc, OSError):
                raise StorageError(path, exc) from exc
            raise
    except BaseException:
        remove_empty_dirs(created)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def same_bytes(path: str | Path, data: bytes) -> bool:
    """True when ``path`` is a file holding exactly ``data`` (a rewrite would change nothing)."""
    try:
        p = Path(path)
        return p.is_file() and p.stat().st_size == len(data) and p.read_bytes() == data
    except OSError:
        return False


def atomic_write_if_changed(path: str | Path, data: bytes) -> bool:
    """Write ``data`` atomically unless ``path`` already holds it (so a read-only copy is only read);
    returns whether it wrote."""
    if same_bytes(path, data):
        return False
    atomic_write_bytes(path, data)
    return True


class AtomicFiles:
    """Several files written together: each is staged as a whole temporary file beside its target, and only
    when every one is written are they renamed into place (in staging order). On an error nothing is
    replaced, the temporaries and the folders created for them are removed.

        with AtomicFiles() as batch:
            tmp = batch.stage(d / "tensors.npz", write_tensors)   # tmp: the staged file, readable
            batch.stage(d / "manifest.json", write_manifest)
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []
        self._created: list[Path] = []

    def stage(self, path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
        path = Path(path)
        self._created += make_dirs(path.parent)
        tmp = _write_temp(path, write)
        self._staged.append((tmp, path))
        return Path(tmp)

    def commit(self) -> None:
        parents = list(dict.fromkeys(p.parent for _, p in self._staged))
        while self._staged:
            tmp, path = self._staged[0]
            try:
                os.replace(tmp, path)
            except OSError as exc:
                self.abort()
                raise StorageError(path, exc) from exc
            self._staged.pop(0)
        for parent in parents:
            fsync_dir(parent)
        self._created = []

    def abort(self) -> None:
        for tmp, _ in self._staged:
            _unlink_quietly(tmp)
        self._staged = []
        remove_empty_dirs(self._created)
        self._created = []

    def __enter__(self) -> "AtomicFiles":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (so the rename that publishes it publishes whole files)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


@contextlib.contextmanager
def staged_dir(target: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Build a whole folder under a temporary name beside ``target`` and move it into place at the end.

    Yields the staging folder. On success it becomes ``target`` (an existing empty ``target`` is replaced;
    a non-empty one only with ``replace=True``, renamed aside and removed afterwards). On any error the
    staging folder is removed, ``target`` is left as it was, and an OSError becomes :class:`StorageError`
    naming the path under ``target`` it concerned."""
    target = Path(os.path.abspath(target))
    created = make_dirs(target.parent)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}.", dir=target.parent))
        os.chmod(stage, _umask_mode(0o777))
    except OSError as exc:
        remove_empty_dirs(created)
        raise StorageError(target, exc, "create folder") from None
    old = None
    try:
        yield stage
        _fsync_tree(stage)
        if target.is_dir() and any(target.iterdir()):
            if not replace:
                raise ConfigError("folder is not empty", path=target)
            old = target.parent / f".old-{target.name}.{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(stage, target)  # replaces an empty folder in one step
        fsync_dir(target.parent)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if old is not None and old.exists() and not target.exists():
            with contextlib.suppress(OSError):
                os.replace(old, target)
        remove_empty_dirs(created)
        if isinstance(exc, OSError):
            where = exc.filename
            if where is not None and str(where).startswith(str(stage)):
                where = str(target) + str(where)[len(str(stage)):]
            raise StorageError(where or target, exc) from exc
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _signatures(folder: Path) -> dict[str, tuple]:
    try:
        return {e.name: (e.stat().st_ino, e.stat().st_size, e.stat().st_mtime_ns)
                for e in os.scandir(folder) if e.is_file(follow_symlinks=False)}
    except OSError:
        return {}


@contextlib.contextmanager
def no_partial_files(folder: str | Path) -> Iterator[None]:
    """For writers that write straight into their files (matplotlib's ``savefig``): when an OSError strikes
    in the middle of a write (disk full: the error names no file), the file that was being written, the one
    changed last under ``folder``, is removed rather than left cut short; every OSError becomes a
    :class:`StorageError` naming the file (files written whole before it are kept)."""
    folder = Path(folder)
    before = _signatures(folder)
    existed = folder.is_dir()
    try:
        yield
    except OSError as exc:
        where = exc.filename
        if where is None:  # failed writing, not opening: the last file touched is cut short
            after = _signatures(folder)
            changed = [n for n, sig in after.items() if before.get(n) != sig]
            if changed:
                victim = folder / max(changed, key=lambda n: after[n][2])
                _unlink_quietly(victim)
                where = victim
        if not existed:
            remove_empty_dirs([folder])
        raise StorageError(where or folder, exc) from exc


# ------------------------------------------------------------------------------------------------ names

def check_name(name, field: str, *, path: str | Path | None = None, what: str = "name",
               error: type[PlumsimError] = ConfigError) -> str:
    """``name`` if it is one plain path component; else ``error`` naming ``field`` (and ``path``) and the
    value: empty, ``.`` / ``..``, a separator (``/`` or ``\\``, so also any absolute path), NUL or another
    control character, or longer than 255 bytes."""
    bad = None
    if not isinstance(name, str) or name == "":
        bad = "is empty" if name in ("", None) else f"is not a string ({type(name).__name__})"
    elif name in (".", ".."):
        bad = "is a relative folder reference"
    elif "/" in name or "\\" in name or (os.sep in name) or (os.altsep and os.altsep in name):
        bad = "contains a path separator" + (" (an absolute path)" if os.path.isabs(name) else "")
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        bad = "contains NUL or a control character"
    elif len(name.encode("utf-8", "surrogateescape")) > 255:
        bad = "is longer than 255 bytes"
    if bad:
        raise error(f"{what} {name!r} {bad}: it becomes a file name, which must stay inside its output "
                    "folder (no '/', '\\', '..', NUL; not empty)", path=path, field=field)
    return name


def safe_child(root: str | Path, name, field: str, *, path: str | Path | None = None, what: str = "name",
               error: type[PlumsimError] = ConfigError) -> Path:
    """``root / name`` for a user-given ``name`` that must stay directly inside ``root`` (see
    :func:`check_name`); raises ``error`` naming ``field`` and the value otherwise."""
    return Path(root) / check_name(name, field, path=path, what=what, error=error)


def jsonable(obj: Any) -> Any:
    """A JSON-ready copy of ``obj`` for the JSON files and outputs every stage writes: numpy scalars and
    arrays as Python numbers and lists, tuples as lists, NaN / inf as None (null), dict keys as strings."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj

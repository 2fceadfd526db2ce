"""Crash-safe results store of a sweep: ``OUT/parts/*.parquet`` while running, then
``OUT/results.parquet`` + ``OUT/results.csv`` + ``OUT/manifest.json``.

Why parts: each finished chunk of work is written as its own Parquet file (to a temporary name, fsync'd,
then ``os.replace``d), so a sweep killed at any instant (SIGKILL included) leaves only whole part files.
A re-run reads the ``pair_key`` column of the parts, skips those (configuration, workload) pairs and
computes only the rest; consolidation drops duplicates and sorts into grid order, so the final table is
the same as that of an uninterrupted run. Only the parent process writes (workers return frames).

Files whose content would not change are not rewritten (:func:`plumsim.fileio.atomic_write_if_changed`), so
re-running a finished sweep on a read-only copy only reads. While a sweep runs it holds ``OUT/.plumsim.lock``
(:meth:`ResultStore.lock`): a second sweep on the same folder is refused, naming the holder.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import socket
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from plumsim.errors import ConfigError, StorageError
from plumsim.fileio import atomic_write, atomic_write_bytes, atomic_write_if_changed, safe_child

RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
MANIFEST = "manifest.json"
INVALID_CSV = "invalid_configs.csv"
PARTS = "parts"
WORKLOADS = "workloads"
LOCK = ".plumsim.lock"
# A row is identified by these; duplicates (should never happen, but a retried task is possible) are dropped.
ROW_KEY = ("pair_key", "layer_index", "mode")


def atomic_write_frame(path: Path, df: pd.DataFrame, fmt: str = "parquet") -> None:
    """Write a DataFrame as Parquet or CSV atomically (tmp file in the same folder, fsync, os.replace)."""
    if fmt == "parquet":
        atomic_write(path, lambda fh: df.to_parquet(fh, index=False))
    else:
        atomic_write_bytes(path, df.to_csv(index=False).encode())


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def frame_bytes(df: pd.DataFrame, fmt: str = "parquet") -> bytes:
    """The bytes :func:`atomic_write_frame` would write (for a write-if-changed)."""
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    return df.to_csv(index=False).encode()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except (OverflowError, ValueError):
        return False
    return True


class ResultStore:
    """The folder of one sweep (``results/NAME``)."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.parts = self.out / PARTS
        self.changed = False  # did the last consolidate() rewrite a table

    # --- paths ---------------------------------------------------------------------------------------
    def workload_dir(self, name: str, field: str = "workloads", grid_path=None) -> Path:
        """``OUT/workloads/NAME`` for a synthesised grid workload; a name that would leave the folder
        (separator, ``..``, absolute, NUL, empty) is a ConfigError naming the grid ``field`` and value."""
        return safe_child(self.out / WORKLOADS, name, field, path=grid_path, what="workload name")

    # --- lock ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, log=None, command: str | None = None):
        """Hold ``OUT/.plumsim.lock`` (``flock`` on a file holding pid, host, start time, command) for the
        ``with`` block. Held by a live sweep: ConfigError naming it (exit 2). Left by a sweep that died on
        this host (its pid is gone): taken over, with a note on ``log``. Left by one on another host: refused
        (remove the file by hand if no sweep runs there). A folder we cannot write to (read-only copy) is not
        locked: nothing can be written there, so a run there only reads."""
        import fcntl

        log = log or sys.stderr
        path = self.out / LOCK
        host = socket.gethostname()
        for _ in range(20):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    yield None
                    return
                raise StorageError(path, exc, "create the lock") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._lock_info(fd)
                os.close(fd)
                raise ConfigError(f"another sweep is running on this folder ({self._describe(holder)}); "
                                  "wait for it to finish or choose another --out", path=self.out,
                                  field="--out") from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:  # released (unlinked) between our open and our flock
                same = False
            if same:
                break
            os.close(fd)
        else:  # pragma: no cover - only under a storm of competing sweeps
            raise ConfigError("could not take the lock (it changed hands 20 times)", path=path, field="--out")
        prev: dict = {}
        try:
            prev = self._lock_info(fd)
            if prev:  # the sweep that wrote it ended without removing it (SIGKILL, power cut)
                pid = prev.get("pid")
                if prev.get("host") not in (None, host):
                    raise ConfigError(f"locked by a sweep on another host ({self._describe(prev)}); if no "
                                      f"sweep runs there, remove {path}", path=self.out, field="--out")
                alive = isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid)
                print(f"note: {path}: taking over the stale lock of pid {pid} (started {prev.get('start')}; "
                      + ("that pid now belongs to another process)" if alive else "that process is gone)"),
                      file=log)
            me = {"pid": os.getpid(), "host": host,
                  "start": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "command": command or " ".join(sys.argv)}
            data = (json.dumps(me) + "\n").encode()
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                os.fsync(fd)
            except OSError as exc:
                raise StorageError(path, exc, "write the lock") from None
        except BaseException:
            with contextlib.suppress(OSError):
                if not prev:
                    os.unlink(path)
                else:
                    os.ftruncate(fd, 0)
            os.close(fd)
            raise
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)  # while still holding the flock: a waiter re-checks the inode
            os.close(fd)

    @staticmethod
    def _lock_info(fd: int) -> dict:
        try:
            raw = os.pread(fd, 4096, 0)
            info = json.loads(raw.decode("utf-8", "replace")) if raw.strip() else {}
            return info if isinstance(info, dict) else {"raw": str(info)}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _describe(info: dict) -> str:
        if not info:
            return "holder unknown: its lock file is empty"
        bits = [f"pid {info.get('pid')}", f"host {info.get('host')}", f"since {info.get('start')}"]
        if info.get("command"):
            bits.append(f"command: {info['command']}")
        return ", ".join(bits)

    # --- lifecycle -----------------------------------------------------------------------------------
    def clear(self) -> None:
        """``--fresh``: forget every previous result of this folder (parts, tables, manifest, plots)."""
        def refuse(_func, where, exc_info):  # rmtree names the file it could not remove
            raise StorageError(where, exc_info[1], "remove") from None

        try:
            for name in (PARTS, WORKLOADS, "plots"):
                if (self.out / name).exists():
                    shutil.rmtree(self.out / name, onerror=refuse)
            for name in (RESULTS_PARQUET, RESULTS_CSV, MANIFEST, INVALID_CSV, "report.html"):
                (self.out / name).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(exc.filename or self.out, exc, "remove") from None

    def prepare(self, grid_digest: str) -> None:
        """Create the folder; refuse to mix results of a different grid (the user must choose --fresh)."""
        if not self.parts.is_dir():
            from plumsim.fileio import make_dirs

            make_dirs(self.parts)
        for stale in self.parts.glob(".tmp-*"):  # a write interrupted by a kill: never a valid part
            try:
                stale.unlink(missing_ok=True)
            except OSError as exc:
                raise StorageError(stale, exc, "remove a stale temporary file") from None
        man = self.read_manifest()
        if man and man.get("grid_digest") not in (None, grid_digest):
            raise ConfigError(f"{self.out} holds results of a different grid (digest {man.get('grid_digest')}, "
                              f"this grid {grid_digest}); re-run with --fresh or choose another --out",
                              path=self.out / MANIFEST, field="grid_digest")

    # --- parts ---------------------------------------------------------------------------------------
    def part_files(self) -> list[Path]:
        return sorted(p for p in self.parts.glob("part-*.parquet"))

    def done_keys(self) -> set[str]:
        """Pair keys already finished (present in some complete part file)."""
        import pyarrow.parquet as pq

        keys: set[str] = set()
        for p in self.part_files():
            keys.update(_read_parquet(p, columns=["pair_key"], reader=pq.read_table).column(0).to_pylist())
        return keys

    def write_part(self, df: pd.DataFrame) -> Path:
        """Store one finished chunk (rows of whole pairs only) atomically; returns the part path."""
        path = self.parts / f"part-{uuid.uuid4().hex}.parquet"
        atomic_write_frame(path, df, "parquet")
        return path

    def consolidate(self, pair_order: list[str], modes: tuple[str, ...]) -> pd.DataFrame:
        """Merge the parts into results.parquet / results.csv, in grid order, without duplicates.

        Rows of pairs not in ``pair_order`` (there should be none: the digest check forbids mixing grids)
        are dropped. A table file that already holds these bytes is not rewritten (``self.changed`` says
        whether anything was)."""
        files = self.part_files()
        if not files:
            raise ConfigError("no finished results to consolidate", path=self.parts)
        df = pd.concat([_read_parquet(p) for p in files], ignore_index=True)
        rank = {k: i for i, k in enumerate(pair_order)}
        mrank = {m: i for i, m in enumerate(modes)}
        df = df[df["pair_key"].isin(rank)]
        df = df.drop_duplicates(subset=list(ROW_KEY), keep="first")
        df = df.assign(_p=df["pair_key"].map(rank), _m=df["mode"].map(mrank))
        df = df.sort_values(["_p", "layer_index", "_m"], kind="stable").drop(columns=["_p", "_m"])
        from plumsim.results.schema import order_columns

        df = order_columns(df.reset_index(drop=True))
        wrote = atomic_write_if_changed(self.out / RESULTS_PARQUET, frame_bytes(df, "parquet"))
        wrote |= atomic_write_if_changed(self.out / RESULTS_CSV, frame_bytes(df, "csv"))
        self.changed = wrote
        return df

    # --- manifest --------------------------------------------------------------------------------------
    def read_manifest(self) -> dict | None:
        p = self.out / MANIFEST
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"manifest is not valid JSON ({exc.msg}); re-run with --fresh",
                              path=p) from None

    def write_manifest(self, manifest: dict) -> None:
        atomic_write_json(self.out / MANIFEST, manifest)

    def write_invalid(self, invalid: list[dict]) -> bool:
        """Write invalid_configs.csv unless it already says exactly this; returns whether it wrote."""
        cols = ["accelerator", "config_id", "ms_size", "dn_bw", "rn_bw", "mesh", "accumulation_buffer", "reason"]
        return atomic_write_if_changed(self.out / INVALID_CSV,
                                       frame_bytes(pd.DataFrame(invalid, columns=cols), "csv"))


def load_results(out: str | Path) -> pd.DataFrame:
    """The consolidated results table of a sweep folder; a clear error when there is none."""
    p = Path(out) / RESULTS_PARQUET
    if not p.is_file():
        raise ConfigError("no results.parquet here: run `plumsim sweep GRID.yaml --out "
                          f"{out}` first (or let an interrupted sweep finish)", path=Path(out))
    return _read_parquet(p)


def _read_parquet(path: Path, columns=None, reader=None):
    """Read a Parquet file of the store; a damaged one (0 bytes, truncated by a copy, not Parquet) is a
    ConfigError naming it, a refused read a StorageError."""
    import pyarrow as pa

    reader = reader or pd.read_parquet
    try:
        return reader(path, columns=columns)
    except OSError as exc:
        if getattr(exc, "errno", None):
            raise StorageError(path, exc, "read") from None
        raise ConfigError(f"not a readable Parquet file ({str(exc).splitlines()[0]}); delete it or re-run "
                          "the sweep with --fresh", path=path) from None
    except (pa.ArrowException, ValueError) as exc:
        raise ConfigError(f"not a readable Parquet file ({str(exc).splitlines()[0]}); delete it or re-run "
                          "the sweep with --fresh", path=path) from None

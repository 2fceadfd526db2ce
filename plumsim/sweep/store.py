"""Crash-safe results store of a sweep: ``OUT/parts/*.parquet`` while running, then
``OUT/results.parquet`` + ``OUT/results.csv`` + ``OUT/manifest.json``.

Why parts: each finished chunk of work is written as its own Parquet file (to a temporary name, fsync'd,
then ``os.replace``d), so a sweep killed at any instant (SIGKILL included) leaves only whole part files.
A re-run reads the ``pair_key`` column of the parts, skips those (configuration, workload) pairs and
computes only the rest; consolidation drops duplicates and sorts into grid order, so the final table is
the same as that of an uninterrupted run. Only the parent process writes (workers return frames).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd

from plumsim.errors import ConfigError
from plumsim.fileio import atomic_write, atomic_write_bytes

RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
MANIFEST = "manifest.json"
INVALID_CSV = "invalid_configs.csv"
PARTS = "parts"
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


class ResultStore:
    """The folder of one sweep (``results/NAME``)."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.parts = self.out / PARTS

    # --- lifecycle -----------------------------------------------------------------------------------
    def clear(self) -> None:
        """``--fresh``: forget every previous result of this folder (parts, tables, manifest, plots)."""
        for name in (PARTS, "workloads", "plots"):
            shutil.rmtree(self.out / name, ignore_errors=True)
        for name in (RESULTS_PARQUET, RESULTS_CSV, MANIFEST, INVALID_CSV, "report.html"):
            (self.out / name).unlink(missing_ok=True)

    def prepare(self, grid_digest: str) -> None:
        """Create the folder; refuse to mix results of a different grid (the user must choose --fresh)."""
        self.parts.mkdir(parents=True, exist_ok=True)
        for stale in self.parts.glob(".tmp-*"):  # a write interrupted by a kill: never a valid part
            stale.unlink(missing_ok=True)
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
            keys.update(pq.read_table(p, columns=["pair_key"]).column(0).to_pylist())
        return keys

    def write_part(self, df: pd.DataFrame) -> Path:
        """Store one finished chunk (rows of whole pairs only) atomically; returns the part path."""
        self.parts.mkdir(parents=True, exist_ok=True)
        path = self.parts / f"part-{uuid.uuid4().hex}.parquet"
        atomic_write_frame(path, df, "parquet")
        return path

    def consolidate(self, pair_order: list[str], modes: tuple[str, ...]) -> pd.DataFrame:
        """Merge the parts into results.parquet / results.csv, in grid order, without duplicates.

        Rows of pairs not in ``pair_order`` (there should be none: the digest check forbids mixing grids)
        are dropped."""
        files = self.part_files()
        if not files:
            raise ConfigError("no finished results to consolidate", path=self.parts)
        df = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
        rank = {k: i for i, k in enumerate(pair_order)}
        mrank = {m: i for i, m in enumerate(modes)}
        df = df[df["pair_key"].isin(rank)]
        df = df.drop_duplicates(subset=list(ROW_KEY), keep="first")
        df = df.assign(_p=df["pair_key"].map(rank), _m=df["mode"].map(mrank))
        df = df.sort_values(["_p", "layer_index", "_m"], kind="stable").drop(columns=["_p", "_m"])
        from plumsim.results.schema import order_columns

        df = order_columns(df.reset_index(drop=True))
        atomic_write_frame(self.out / RESULTS_PARQUET, df, "parquet")
        atomic_write_frame(self.out / RESULTS_CSV, df, "csv")
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

    def write_invalid(self, invalid: list[dict]) -> None:
        cols = ["accelerator", "config_id", "ms_size", "dn_bw", "rn_bw", "mesh", "accumulation_buffer", "reason"]
        atomic_write_frame(self.out / INVALID_CSV, pd.DataFrame(invalid, columns=cols), "csv")


def load_results(out: str | Path) -> pd.DataFrame:
    """The consolidated results table of a sweep folder; a clear error when there is none."""
    p = Path(out) / RESULTS_PARQUET
    if not p.is_file():
        raise ConfigError("no results.parquet here: run `plumsim sweep GRID.yaml --out "
                          f"{out}` first (or let an interrupted sweep finish)", path=Path(out))
    return pd.read_parquet(p)

"""Compare two sweep results folders row by row: the same rows, the same columns, the same values.

    python benchmarks/compare_results.py BEFORE_DIR AFTER_DIR [--rtol 0]

Used to show that a refactoring changes no number (run the shipped grids with the old and the new code
into two folders, then compare). Rows are matched on (config_id, workload, layer_index, mode). Exit 0
when identical (within --rtol for float columns; default exact), 1 otherwise, with the first differences.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KEY = ["config_id", "workload", "layer_index", "mode"]
#: columns that name where a run was made, not what it computed
IGNORED = {"base_cfg", "workload_source"}


def compare(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 0.0) -> list[str]:
    problems = []
    ca, cb = set(a.columns) - IGNORED, set(b.columns) - IGNORED
    if ca != cb:
        problems.append(f"columns differ: only before {sorted(ca - cb)}, only after {sorted(cb - ca)}")
    if len(a) != len(b):
        problems.append(f"rows differ: {len(a)} before, {len(b)} after")
    a = a.sort_values(KEY, kind="stable").reset_index(drop=True)
    b = b.sort_values(KEY, kind="stable").reset_index(drop=True)
    if len(a) == len(b) and not a[KEY].equals(b[KEY]):
        problems.append("row keys differ")
        return problems
    for col in sorted(ca & cb):
        x, y = a[col], b[col]
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            same = (np.isnan(xv) & np.isnan(yv)) | (np.abs(xv - yv) <= rtol * np.abs(xv))
        else:
            same = (x.map(repr) == y.map(repr)).to_numpy()  # repr: None and NaN compare as themselves
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            problems.append(f"{col}: {int((~same).sum())} rows differ, e.g. {a.loc[i, KEY].to_dict()}: "
                            f"{x.iloc[i]!r} before, {y.iloc[i]!r} after")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--rtol", type=float, default=0.0)
    args = ap.parse_args(argv)
    a = pd.read_parquet(args.before / "results.parquet")
    b = pd.read_parquet(args.after / "results.parquet")
    problems = compare(a, b, args.rtol)
    for p in problems:
        print(p)
    print(f"{args.before} vs {args.after}: {len(a)} rows, " + ("identical" if not problems else
                                                                f"{len(problems)} differences"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

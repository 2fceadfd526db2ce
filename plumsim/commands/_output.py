"""Shared output formatting for the CLI: table (human), json, csv."""

from __future__ import annotations

import json
import sys
from typing import Any

from plumsim.fileio import jsonable

FORMATS = ("table", "json", "csv")


def print_json(obj: Any, stream=None) -> None:
    """Write ``obj`` as indented JSON to stdout."""
    stream = stream or sys.stdout
    json.dump(jsonable(obj), stream, indent=2)
    stream.write("\n")


def print_frame(df, fmt: str, stream=None, title: str | None = None) -> None:
    """Write a pandas DataFrame as an aligned table or CSV."""
    stream = stream or sys.stdout
    df = _integral_as_int(df)
    if fmt == "csv":
        df.to_csv(stream, index=False)
        return
    if title:
        stream.write(title + "\n")
    with __import__("pandas").option_context("display.max_rows", None, "display.max_columns", None,
                                             "display.width", 200):
        stream.write(df.to_string(index=False) + "\n")


def _integral_as_int(df):
    """Show whole-number float columns (cycles, counters) without a trailing '.0'."""
    import numpy as np

    out = df.copy()
    for col in out.columns:
        values = out[col]
        if values.dtype.kind == "f":
            finite = values.dropna()
            if len(finite) and np.all(np.isfinite(finite)) and np.all(finite == np.round(finite)) \
                    and finite.abs().max() < 2**53:
                out[col] = values.round().astype("Int64")
    return out

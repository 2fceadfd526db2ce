"""Rebuild reference STONNE runs (tests/data/stonne/cases.csv) as plumsim layers, machines and tiles, so
the interop tests can export them and compare with the raw STONNE outputs. Used by tests/test_interop*.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from plumsim.accel.config import AcceleratorConfig
from plumsim.workload.layer import Layer, LayerShape

DATA = Path(__file__).parent / "data" / "stonne"


def cases() -> pd.DataFrame:
    return pd.read_csv(DATA / "cases.csv")


def case(case_id: str) -> dict:
    d = cases()
    return d[d.case_id == case_id].iloc[0].to_dict()


def _i(row, col, default=0):
    v = row.get(col)
    return default if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)


def config_of(row) -> AcceleratorConfig:
    """The machine of a row (CLI rows from the columns; SIGMA rows from their cfg file)."""
    if str(row["family"]).startswith("SIGMA"):
        from plumsim.accel.cfg import load_config

        return load_config(DATA / row["cfg_file"])
    return AcceleratorConfig(controller_type=row["controller_type"], ms_type=row["mn_type"],
                             rn_type=row["rn_type"], ms_size=_i(row, "ms_size"), dn_bw=_i(row, "dn_bw"),
                             rn_bw=_i(row, "rn_bw"), ms_rows=_i(row, "ms_rows"), ms_cols=_i(row, "ms_cols"),
                             accumulation_buffer=bool(_i(row, "accumulation_buffer")), name=row["case_id"])


def _ones_layer(name, kind, shape: LayerShape) -> Layer:
    codes = np.ones((shape.K, shape.C // shape.G, shape.R, shape.S), dtype=np.int8)
    return Layer(name, kind, "binary", shape, codes, np.ones(shape.K, np.float32), np.ones(shape.K, np.int8))


def layer_of(row) -> Layer:
    """The layer a row ran: conv rows from N..padding; GEMM rows as a linear layer with out_features =
    M_gemm, batch = N_gemm, in_features = K_gemm (STONNE CLI: -M output rows, -N columns, -K reduction);
    SIGMA rows with their stored weights and input."""
    name = row["case_id"]
    op = row["op"]
    if op in ("CONV", "SparseConv"):
        shape = LayerShape(*(_i(row, k) for k in ("N", "G", "C", "K", "R", "S", "X", "Y")),
                           stride=_i(row, "stride", 1), padding=_i(row, "padding"))
        kind = "conv"
    elif op == "SparseLinear":
        shape = LayerShape(N=_i(row, "batch_M"), G=1, C=_i(row, "C"), K=_i(row, "K"), R=1, S=1, X=1, Y=1)
        kind = "linear"
    else:
        shape = LayerShape(N=_i(row, "N_gemm"), G=1, C=_i(row, "K_gemm"), K=_i(row, "M_gemm"), R=1, S=1, X=1, Y=1)
        kind = "linear"
    if not str(row["family"]).startswith("SIGMA"):
        return _ones_layer(name, kind, shape)
    z = np.load(DATA / row["weights_file"])
    w = z["weight"]
    codes = w.reshape(shape.K, shape.C // shape.G, shape.R, shape.S).astype(np.int8)
    sign = np.where((codes >= 0).all(axis=(1, 2, 3)), 1, np.where((codes <= 0).all(axis=(1, 2, 3)), -1, 0))
    return Layer(name, kind, "signed-binary", shape, codes, np.ones(shape.K, np.float32), sign.astype(np.int8),
                 input_sample=z["input"].astype(np.float32))


def tile_of(row):
    """The row's tile in the export's terms (conv: T_R..T_Y_; GEMM: T_M, T_N, T_K); None for SIGMA."""
    if row["op"] == "CONV":
        return {k: _i(row, k) for k in ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X_", "T_Y_")}
    if row["op"] in ("FC", "DenseGEMM"):
        return {"T_M": _i(row, "T_M"), "T_N": _i(row, "T_N_gemm"), "T_K": _i(row, "T_K_gemm")}
    return None


def how_flags(row) -> str:
    """The STONNE CLI flags of a row's `how` column (after the binary name)."""
    return str(row["how"]).split(" stonne ", 1)[1].strip()

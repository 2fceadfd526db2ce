"""TPU mesh model vs the 12 reference cases; tile chooser."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.tpu import choose_tpu_tile, tpu_gemm
from plumsim.errors import ConfigError

CASES = pd.read_csv(Path(__file__).parent / "data" / "stonne" / "cases.csv")
TPU = CASES[CASES.family.str.startswith("TPU")]


def _cfg(r, c, dn, rn):
    return AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", r * c, dn, rn, r, c, True)


def test_reference_cases():
    errs = []
    for _, c in TPU.iterrows():
        cfg = _cfg(int(c.ms_rows), int(c.ms_cols), int(c.dn_bw), int(c.rn_bw))
        r = tpu_gemm(int(c.M_gemm), int(c.N_gemm), int(c.K_gemm), cfg, int(c.T_M), int(c.T_N_gemm))
        errs.append(abs(r.cycles - c.cycles) / c.cycles)
        for k, v in r.counters.items():
            assert v == pytest.approx(np.nan_to_num(c["cnt_" + k])), (c.case_id, k)
        for k, v in r.instances.items():
            assert v == c["ninst_" + k], (c.case_id, k)
        assert r.sram["weight_reads"] == c.mem_N_SRAM_weight_reads
    assert np.median(errs) <= 0.01 and max(errs) <= 0.05


def test_full_tile_formula_and_chooser():
    cfg = _cfg(8, 8, 16, 16)
    # full tiles, one lane per port: tiles * (1 + K + T_M + T_N + 2)
    assert tpu_gemm(16, 16, 10, cfg, 8, 8).cycles == 4 * (1 + 10 + 8 + 8 + 2)
    tm, tn = choose_tpu_tile(16, 16, 10, cfg)
    best = tpu_gemm(16, 16, 10, cfg, tm, tn).cycles
    assert all(best <= tpu_gemm(16, 16, 10, cfg, a, b).cycles for a in range(1, 9) for b in range(1, 9))
    with pytest.raises(ConfigError):
        tpu_gemm(16, 16, 10, cfg, 9, 8)

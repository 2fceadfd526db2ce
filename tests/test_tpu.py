"""TPU mesh model vs real STONNE runs (set A: 12 TPU rows; set P, tests/data/stonne/c_tpu_probe: 174 probe
runs); tile chooser; groups and batch in closed form."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.tpu import _drain, _drain_one, choose_tpu_tile, tile_cycles, tpu_conv, tpu_cycles, tpu_gemm
from plumsim.errors import ConfigError
from plumsim.workload.layer import Layer, LayerShape

DATA = Path(__file__).parent / "data" / "stonne"
SETS = {"A": DATA / "cases.csv", "P": DATA / "c_tpu_probe" / "cases.csv"}
# measured error of the model on each set (|cycles - STONNE| / STONNE), plus a margin of 0
BOUND = {"A": (0.0, 0.0), "P": (0.0, 0.0)}


def _cfg(r, c, dn, rn):
    return AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", r * c, dn, rn, r, c, True)


def _rows(name):
    d = pd.read_csv(SETS[name])
    return d[d.family.str.startswith("TPU")]


@pytest.mark.parametrize("name", sorted(SETS))
def test_stonne_runs_cycles_counters_instances(name):
    rows = _rows(name)
    assert len(rows) >= (12 if name == "A" else 170)
    errs = []
    for _, c in rows.iterrows():
        cfg = _cfg(int(c.ms_rows), int(c.ms_cols), int(c.dn_bw), int(c.rn_bw))
        r = tpu_gemm(int(c.M_gemm), int(c.N_gemm), int(c.K_gemm), cfg, int(c.T_M), int(c.T_N_gemm))
        errs.append(abs(r.cycles - c.cycles) / c.cycles)
        for k, v in r.counters.items():
            assert v == np.nan_to_num(c["cnt_" + k]), (c.case_id, k)
        for k in c.index:   # every counter STONNE reports non-zero is modelled (FIFO counters carry no energy)
            if k.startswith("cnt_") and not k.startswith("cnt_FIFO") and np.nan_to_num(c[k]) != 0:
                assert k[4:] in r.counters, (c.case_id, k)
        for k, v in r.instances.items():
            assert v == c["ninst_" + k], (c.case_id, k)
        assert r.sram["weight_reads"] == c.mem_N_SRAM_weight_reads
        assert r.sram["input_reads"] == c.mem_N_SRAM_input_reads
        assert r.sram["psum_writes"] == c.mem_N_SRAM_psum_writes
    med, mx = BOUND[name]
    assert np.median(errs) <= med and max(errs) <= mx, (np.median(errs), max(errs))


def test_probe_set_covers_the_mechanism():
    d = _rows("P")
    lanes = (d.ms_rows + d.ms_cols) // d.dn_bw
    assert set(lanes) >= {1, 2, 4, 8, 16, 32} and set(d.ms_rows) == {4, 8, 16}
    queued = d.rn_bw < np.minimum(np.minimum(d.T_M, d.M_gemm), np.minimum(d.T_N_gemm, d.N_gemm))
    assert queued.sum() >= 30 and (d.rn_bw & (d.rn_bw - 1) != 0).sum() >= 10
    assert (d.M_gemm % d.T_M > 0).sum() >= 50 and (d.N_gemm % d.T_N_gemm > 0).sum() >= 50
    assert (d.K_gemm <= 2).sum() >= 20 and (d.K_gemm >= 100).sum() >= 20


def test_tile_rule_terms():
    # one lane per port, full 8x8 tiles, free bus: 5 + K-1 + (m+n-2) + 1 = K + m + n + 3 per tile
    cfg = _cfg(8, 8, 16, 16)
    assert tpu_gemm(16, 16, 10, cfg, 8, 8).cycles == 4 * (10 + 8 + 8 + 3)
    # a single-row tile: the write FIFO never holds two outputs (no backlog cycle)
    assert int(tile_cycles(1, 8, 10, cfg)) == 10 + 1 + 8 + 2
    # 4 lanes per port: the last step leaves the port at (K-1)*min(L, max(m, n)), one cycle through the tree
    cfg4 = _cfg(8, 8, 4, 16)
    assert int(tile_cycles(6, 3, 20, cfg4)) == 5 + 1 + 19 * 4 + (6 + 3 - 2) + 1
    # dn_bw = 1: one port; rows wait behind the columns
    cfg1 = _cfg(4, 4, 1, 16)
    assert int(tile_cycles(3, 2, 5, cfg1)) == 5 + 1 + 4 * 5 + 2 + 3 + 1
    # one bus line: outputs leave one per cycle
    cfgb = _cfg(4, 4, 8, 1)
    assert int(tile_cycles(4, 4, 8, cfgb)) == 5 + 7 + 15


def test_general_bus_rule_equals_the_power_of_two_closed_form():
    for c in (2, 4, 8, 16):
        for rn in (1, 2, 4, 8, 16, 32):
            m, n = (g.ravel() for g in np.meshgrid(np.arange(1, c + 1), np.arange(1, c + 1), indexing="ij"))
            drain, backlog = _drain(m, n, c, rn)
            assert [(int(a), int(b)) for a, b in zip(drain, backlog)] == \
                [_drain_one(int(a), int(b), c, rn) for a, b in zip(m, n)]


def test_chooser_uses_the_same_rule():
    rng = np.random.default_rng(5)
    for r, dn, rn in ((8, 16, 16), (8, 4, 2), (4, 1, 3), (16, 8, 5)):
        cfg = _cfg(r, r, dn, rn)
        for _ in range(5):
            M, N, K = (int(v) for v in rng.integers(1, 3 * r, 3))
            tm, tn = choose_tpu_tile(M, N, K, cfg)
            best = tpu_cycles(M, N, K, cfg, tm, tn)
            assert best == tpu_gemm(M, N, K, cfg, tm, tn).cycles
            assert all(best <= tpu_cycles(M, N, K, cfg, a, b)
                       for a in range(1, min(M, r) + 1) for b in range(1, min(N, r) + 1))
    with pytest.raises(ConfigError):
        tpu_gemm(16, 16, 10, _cfg(8, 8, 16, 16), 9, 8)


def test_conv_groups_and_batch_in_closed_form():
    cfg = _cfg(8, 8, 8, 16)
    shape = LayerShape(1, 4, 32, 32, 3, 3, 10, 10, 1, 1)
    conv = Layer("g4", "conv", "binary", shape, np.ones((32, 8, 3, 3), np.int8), np.ones(32, np.float32),
                 np.ones(32, np.int8))
    one = tpu_gemm(shape.M_gemm, shape.N_gemm, shape.K_gemm, cfg, 8, 8)
    r = tpu_conv(conv, cfg, (8, 8))
    assert r.cycles == 4 * one.cycles
    assert r.counters == {k: 4 * v for k, v in one.counters.items()}
    assert r.counter("MULTIPLIER.MULTIPLICATION") == shape.macs
    # a huge batch and group count: counted per tile kind, not looped
    big = LayerShape(4096, 512, 512, 512, 3, 3, 58, 58, 1, 0)
    wbig = Layer("big", "conv", "binary", big, np.ones((512, 1, 3, 3), np.int8), np.ones(512, np.float32),
                 np.ones(512, np.int8))
    rb = tpu_conv(wbig, cfg, (8, 8))
    assert rb.counter("MULTIPLIER.MULTIPLICATION") == big.macs

"""ASNETWORK adder tree (plumsim.accel.adder_tree) and its use in the MAERI and SIGMA models.

Reference numbers come from tests/data/stonne (cases.csv counters, raw per-switch JSON statistics);
nothing is hard-coded from them. Run with -s to see the per-family error table.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plumsim.accel import maeri
from plumsim.accel.adder_tree import (packed_reduction_adds, reduction_adds, three_way_adders,
                                      three_way_adds_per_vn, uniform_reduction_adds)
from plumsim.accel.cfg import load_config
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.sigma import _chunk_layout, _iterations, sigma_gemm
from plumsim.stonne.validate import validate_cases
from plumsim.errors import ConfigError
from plumsim.workload.layer import LayerShape

REF = Path(__file__).parent / "data" / "stonne"
TOL = 0.02   # target: each of ADD_2_1, ADD_3_1 within 2 % of STONNE


@pytest.fixture(scope="module")
def validated():
    rep = validate_cases(REF / "cases.csv", families=("MAERI-AB-on", "MAERI-AB-on-rn_bw<dn_bw", "MAERI-AB-off",
                                                      "SIGMA"))
    return rep, pd.read_csv(REF / "cases.csv").set_index("case_id")


def _rel(model, ref):
    if ref == 0:
        return 0.0 if model == 0 else np.inf
    return (model - ref) / ref


def test_reference_rows_add_split(validated):
    rep, cases = validated
    rows = []
    for _, c in rep.cases.iterrows():
        r = rep.results[c["case_id"]]
        ref = cases.loc[c["case_id"]]
        a2, a3 = r.counter("ADDER.ADD_2_1"), r.counter("ADDER.ADD_3_1")
        r2, r3 = float(ref["cnt_ADDER.ADD_2_1"]), float(ref["cnt_ADDER.ADD_3_1"])
        rows.append({"case_id": c["case_id"], "family": c["family"], "add21_err": _rel(a2, r2),
                     "add31_err": _rel(a3, r3), "sum_err": _rel(a2 + 2 * a3, r2 + 2 * r3)})
    df = pd.DataFrame(rows)
    table = df.assign(**{k: df[k].abs() for k in ("add21_err", "add31_err", "sum_err")}).groupby("family").agg(
        n=("case_id", "size"), add21_max=("add21_err", "max"), add31_max=("add31_err", "max"),
        sum_max=("sum_err", "max"))
    print("\n|rel err| of ADDER counters vs STONNE, per family:\n" + table.to_string())
    # every MAERI and SIGMA reference row is modelled, and the ADD_3_1 rows are not all trivial zeros
    assert set(df["family"]) >= {"MAERI-AB-on", "MAERI-AB-off", "SIGMA"}
    assert (cases.loc[df["case_id"], "cnt_ADDER.ADD_3_1"] > 0).sum() >= 40
    bad = df[(df["add21_err"].abs() > TOL) | (df["add31_err"].abs() > TOL)]
    assert bad.empty, bad.to_string()
    assert df["sum_err"].abs().max() < 1e-12


def _raw_three_way(case):
    f = next((REF / "raw" / case).glob("output_stats*.txt"))
    stats = json.loads(f.read_text())["ASNetworkStats"]["ASwitchStats"]
    return {(lv, i): s["N_3_1_sums"] for lv, level in enumerate(stats) for i, s in enumerate(level)
            if s["N_3_1_sums"]}


@pytest.mark.parametrize("case", ["A_maeri_conv_01", "A_maeri_gemm_01"])
def test_maeri_which_switches_add_three(case):
    row = pd.read_csv(REF / "cases.csv").set_index("case_id").loc[case]
    v, n, ms = int(row["tile_VN_Size"]), int(row["tile_Num_VNs"]), int(row["ms_size"])
    steps = (row["cnt_ADDER.ADD_2_1"] + 2 * row["cnt_ADDER.ADD_3_1"]) / (n * (v - 1))
    got = collections.Counter(three_way_adders(np.arange(n) * v, np.full(n, v), ms))
    assert {k: c * steps for k, c in got.items()} == _raw_three_way(case)


@pytest.mark.parametrize("case", ["A_sigma_conv_01", "A_sigma_conv_07"])
def test_sigma_which_switches_add_three(case):
    """Per-switch N_3_1_sums, summed over every iteration's packed rows (07 folds rows longer than ms)."""
    row = pd.read_csv(REF / "cases.csv").set_index("case_id").loc[case]
    cfg = load_config(REF / row["cfg_file"])
    w = np.load(REF / row["weights_file"])["weight"]
    bitmap = w.reshape(w.shape[0], -1) != 0
    ms, cols = cfg.ms_size, int(row["X_out"] * row["Y_out"])
    _, crow, cidx, cit = _iterations(bitmap, ms)
    start, size, it = _chunk_layout(bitmap.sum(axis=1), crow, cidx, cit, ms)
    got = collections.Counter()
    for t in np.unique(it):
        got.update(three_way_adders(start[it == t], size[it == t], ms))
    assert {k: c * cols for k, c in got.items()} == _raw_three_way(case)


# ------------------------------------------------------------------------------------------------
# the tree on hand-made layouts


def test_aligned_power_of_two_vns_need_no_three_way_add():
    for ms in (8, 64, 256):
        for v in (2, 4, 8):
            n = ms // v
            assert uniform_reduction_adds(v, n, ms) == (n * (v - 1), 0)
    assert reduction_adds([0], [64], 64) == (63, 0)


def test_hand_traced_layouts():
    # [0,36) on 128: blocks [0,32) + [32,36) -> one merge; [36,72): [36,40) [40,48) [48,64) [64,72) -> three
    assert list(three_way_adds_per_vn([0, 36], [36, 36], 128)) == [1, 3]
    assert sorted(three_way_adders([0, 36], [36, 36], 128)) == [(4, 6), (4, 7), (5, 7), (5, 10)]
    # a lone multiplier beside an unused one does not split its leaf adder: 27 on 32 = [0,16)[16,24)[24,28)
    assert list(three_way_adds_per_vn([0], [27], 32)) == [2]
    # VNs of 9: boundaries at odd multipliers 9 and 27 share leaf adders 4 and 13; the forwarded
    # multipliers 8 and 27 land on leaf adders 3 and 14 (level 5 = leaves of a 64-multiplier tree)
    assert list(three_way_adds_per_vn([0, 9, 18, 27], [9] * 4, 64)) == [1, 1, 2, 2]
    placed = three_way_adders([0, 9, 18, 27], [9] * 4, 64)
    assert (5, 3) in placed and (5, 14) in placed


def test_single_multiplier_vns_add_nothing():
    assert uniform_reduction_adds(1, 64, 64) == (0, 0)
    assert packed_reduction_adds([1, 1, 1], 8) == (0, 0)


@pytest.mark.parametrize("seed", range(6))
def test_invariants_on_random_layouts(seed):
    rng = np.random.default_rng(seed)
    ms = int(2 ** rng.integers(3, 9))
    sizes = []
    while sum(sizes) < ms:
        sizes.append(int(rng.integers(1, max(2, ms // 3))))
    sizes = np.array(sizes[:-1] if sum(sizes) > ms else sizes, dtype=np.int64)
    if sizes.size == 0:
        sizes = np.array([ms])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    a2, a3 = reduction_adds(starts, sizes, ms)
    # the total work does not depend on placement; each 3:1 replaces two 2:1
    assert a2 + 2 * a3 == int((sizes - 1).sum()) and a2 >= 0 and a3 >= 0
    per_vn = three_way_adds_per_vn(starts, sizes, ms)
    assert np.all(per_vn <= 2 * np.ceil(np.log2(np.maximum(sizes, 2))))
    if sizes.min() >= 4:
        assert len(three_way_adders(starts, sizes, ms)) == a3
    # the tree is symmetric: the mirrored layout costs the same
    m_starts = ms - (starts + sizes)
    assert reduction_adds(m_starts[::-1], sizes[::-1], ms) == (a2, a3)
    # moving a layout that fits in one half to the other half changes nothing
    if starts[-1] + sizes[-1] <= ms // 2:
        assert reduction_adds(starts + ms // 2, sizes, ms) == (a2, a3)
    # independent layouts given at once = the sum of each alone
    both = three_way_adds_per_vn(np.concatenate((starts, starts)), np.concatenate((sizes, sizes)), ms,
                                 layout=np.repeat([0, 1], sizes.size))
    assert int(both.sum()) == 2 * a3


def test_shifting_across_a_subtree_boundary_costs_three_way_adds():
    assert reduction_adds([0], [16], 64)[1] == 0
    # in leaf adders (pairs of multipliers): [4,8) + [8,12): two blocks, one merge
    assert reduction_adds([8], [16], 64)[1] == 1
    # [3,11): [3] [4,8) [8,10) [10] -> four blocks, three merges
    assert reduction_adds([6], [16], 64)[1] == 3


@pytest.mark.parametrize("starts,sizes,ms,field", [
    ([0], [8], 12, "ms_size"),
    ([0, 4], [6, 4], 16, "starts"),        # overlap
    ([10], [8], 16, "starts"),             # past the last multiplier
    ([0], [0], 16, "sizes"),
    ([0, 1], [1], 16, "sizes"),
])
def test_bad_layouts_raise_config_error(starts, sizes, ms, field):
    with pytest.raises(ConfigError) as ei:
        reduction_adds(starts, sizes, ms)
    assert ei.value.field == field


# ------------------------------------------------------------------------------------------------
# the models use it


def test_sigma_gemm_splits_adds_by_packing():
    cfg = load_config(REF / "cfgs" / sorted(p.name for p in (REF / "cfgs").glob("*.cfg"))[0])
    ms = cfg.ms_size
    cols = 5
    aligned = np.zeros((ms // 8, 64), dtype=np.int8)
    aligned[:, :8] = 1                                     # rows of 8 non-zeros: aligned, no 3:1 add
    r = sigma_gemm(aligned, cols, cfg)
    assert r.counter("ADDER.ADD_3_1") == 0
    assert r.counter("ADDER.ADD_2_1") == cols * (ms // 8) * 7
    odd = np.zeros((ms // 9, 64), dtype=np.int8)
    odd[:, 1:10] = -1                                      # rows of 9: boundaries cut leaf adders
    r = sigma_gemm(odd, cols, cfg)
    a2, a3 = packed_reduction_adds(np.full(ms // 9, 9), ms)
    assert a3 > 0
    assert (r.counter("ADDER.ADD_2_1"), r.counter("ADDER.ADD_3_1")) == (cols * a2, cols * a3)


def _maeri_cfg(ms, dn, ab=True):
    return AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms, dn, dn, accumulation_buffer=ab)


def test_maeri_counts_per_step_follow_the_tile_layout():
    shape = LayerShape(1, 1, 16, 16, 3, 3, 10, 10, 1, 0)
    for tile in (maeri.MaeriTile(3, 3, 4, 2), maeri.MaeriTile(1, 3, 4, 4), maeri.MaeriTile(3, 3, 2, 4)):
        r = maeri.maeri_conv(shape, _maeri_cfg(128, 32), tile)
        steps = r.counter("MULTIPLIER.MULTIPLICATION") / tile.multipliers_used
        a2, a3 = uniform_reduction_adds(tile.virtual_neuron_size, tile.num_virtual_neurons, 128)
        assert r.counter("ADDER.ADD_2_1") == steps * a2 and r.counter("ADDER.ADD_3_1") == steps * a3


def test_maeri_psum_slot_widens_vns_when_folding_without_accumulation_buffer():
    shape = LayerShape(1, 1, 16, 8, 3, 3, 8, 8, 1, 0)
    tile = maeri.MaeriTile(3, 3, 4, 1)                     # C=16 in 4 folds of T_C=4: VN of 36 (+1 psum)
    on = maeri.maeri_conv(shape, _maeri_cfg(64, 16, True), tile)
    off = maeri.maeri_conv(shape, _maeri_cfg(64, 16, False), tile)
    steps = on.counter("MULTIPLIER.MULTIPLICATION") / 36
    assert on.counter("ADDER.ADD_2_1") + 2 * on.counter("ADDER.ADD_3_1") == steps * 35
    assert off.counter("ADDER.ADD_2_1") + 2 * off.counter("ADDER.ADD_3_1") == steps * 36
    assert off.counter("ADDER.ADD_3_1") == steps * uniform_reduction_adds(37, 1, 64)[1]
    assert on.cycles == maeri.maeri_conv(shape, _maeri_cfg(64, 16, True), tile).cycles

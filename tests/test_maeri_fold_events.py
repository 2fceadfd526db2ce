"""The event-level folding chain (plumsim.accel.maeri_fold_events) against every stored STONNE run it
applies to (MAERI CONV, accumulation buffer off, more than one fold, a single (n, g, k) tile), its exact
extrapolation against stepping through every cycle, and the per-multiplier tree paths it uses."""

from pathlib import Path

import pandas as pd
import pytest

import numpy as np

from plumsim.accel.adder_tree import multiplier_paths, reduction_paths
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri import MaeriTile, tile_geometry
from plumsim.accel.maeri_fold_events import first_kind_change, fold_tile_cycles, fold_tile_schedule
from plumsim.errors import ConfigError

DATA = Path(__file__).parent / "data" / "stonne"

#: set S: real ResNet-20 layers; set T: a ResNet-18 conv cut small whose VNs run at two rates
REAL = "c_maeri_fold_real"
MULTIRATE = "c_maeri_fold_multirate"


def _single_tile_folding_runs(real: bool = False, sets=None):
    for csv in sorted(DATA.glob("**/cases.csv")):
        if sets is not None:
            if csv.parent.name not in sets:
                continue
        elif (csv.parent.name in (REAL, MULTIRATE)) != real or csv.parent.name == MULTIRATE:
            continue
        df = pd.read_csv(csv, low_memory=False)
        for r in df.itertuples():
            if r.family != "MAERI_dense_CLI" or r.op != "CONV" or int(r.accumulation_buffer) != 0:
                continue
            tile = MaeriTile(*(int(getattr(r, f)) for f in ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X_", "T_Y_")))
            shape = tuple(int(getattr(r, f)) for f in ("N", "G", "C", "K", "R", "S", "X", "Y", "stride"))
            if tile.T_K != shape[3] or shape[0] != 1 or shape[1] != 1 or tile.T_N != 1:
                continue                    # one (n, g, k) tile
            cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", int(r.ms_size), int(r.dn_bw),
                                    int(r.rn_bw), accumulation_buffer=False)
            yield r.case_id, int(r.cycles), (*shape, tile, cfg)


def test_event_model_reproduces_the_folding_runs():
    folding, misses, extrapolated = 0, {}, 0
    for case, ref, args in _single_tile_folding_runs():
        got = fold_tile_schedule(*args)
        folding += 1
        extrapolated += got.simulated < got.stored
        if got.stored != ref:
            misses[case] = got.stored
    assert folding == 914
    assert misses == {}
    assert extrapolated > 100


def test_event_model_reproduces_real_layers_in_1500_simulated_cycles():
    # three ResNet-20 3x3 layers on MAERI 128/32/32 with the buffer off, 72k-146k cycles, one tile each
    runs = list(_single_tile_folding_runs(real=True))
    assert len(runs) == 3
    for case, ref, args in runs:
        got = fold_tile_schedule(*args)
        assert got.stored == ref, case
        assert got.simulated < 1500, (case, got.simulated)


@pytest.mark.slow
def test_event_model_reproduces_the_two_rate_runs_cycle_by_cycle():
    # set T: no periodic state to jump over, so the whole chain is simulated (seconds); the model hands
    # these to the closed form past its budget (test_fidelity holds that at 0.013%)
    runs = list(_single_tile_folding_runs(sets={MULTIRATE}))
    assert len(runs) == 4
    for case, ref, args in runs:
        assert fold_tile_cycles(*args) == ref, case


def _random_tiles(n, seed, ms, dn, rn, R, C, x_extra, K_max, T_X=True, T_Y=(1,), folding_only=True):
    # random single-tile convs with the buffer off: machine sizes and window sizes drawn from the lists given
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        ms_ = int(rng.choice(ms))
        dn_ = int(rng.choice([d for d in dn if d <= ms_]))
        rn_ = int(rng.choice([r for r in rn if r <= ms_]))
        R_ = S = int(rng.choice(R))
        C_, stride = int(rng.choice(C)), int(rng.choice([1, 1, 2]))
        X = Y = R_ + int(rng.integers(*x_extra))
        K = int(rng.integers(1, K_max + 1))
        TR, TS, TC = int(rng.integers(1, R_ + 1)), int(rng.choice([1, S])), int(rng.integers(1, C_ + 1))
        X_out = (X - R_) // stride + 1
        TX = int(rng.choice([1, 1, int(rng.integers(1, X_out + 1))])) if T_X else 1
        tile = MaeriTile(TR, TS, TC, int(rng.integers(1, K + 1)), 1, 1, TX, int(rng.choice(T_Y)))
        cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms_, dn_, rn_, accumulation_buffer=False)
        shape = (1, 1, C_, K, R_, S, X, Y, stride)
        try:
            folds = tile_geometry(*shape, tile, cfg).nfold
        except ConfigError:
            continue
        if tile.virtual_neuron_size >= 2 and (folds > 1 or not folding_only):
            out.append((*shape, tile, cfg))
    return out


def _random_folding_tiles(n, seed):
    return _random_tiles(n, seed, [32, 64, 128, 256], (4, 8, 16, 32, 64, 128), (1, 2, 4, 8, 16, 32, 64),
                         [1, 3, 5], [2, 3, 4, 8, 16], (0, 13), 16)


def _extrapolated_and_stepped(tiles):
    # each tile timed with extrapolation and stepped through every cycle: the same schedule; returns the
    # (fast, slow) pairs
    pairs = [(fold_tile_schedule(*args), fold_tile_schedule(*args, extrapolate=False)) for args in tiles]
    for args, (fast, slow) in zip(tiles, pairs):
        assert fast[:3] == slow[:3], args
        assert slow.simulated == slow.stored
    return pairs


def test_extrapolation_equals_stepping_through_every_cycle():
    # the ports-ahead shortcut, the periodic jumps and the fall-back when ports fall behind change nothing
    pairs = _extrapolated_and_stepped(_random_folding_tiles(120, seed=3))
    assert sum(fast.simulated < slow.simulated for fast, slow in pairs) > 20


def _port_bound_tiles(n, seed):
    # few read ports (the ports set the pace), one fold or several, rows with input forwarding (T_Y' = 1,
    # T_S = S) and without
    return _random_tiles(n, seed, [16, 32, 64], (1, 2, 4), (1, 2, 4, 8), [1, 3, 3], [1, 2, 4, 8], (2, 9), 8,
                         T_X=False, T_Y=(1, 1, 2), folding_only=False)


def test_extrapolation_while_the_ports_set_the_pace_equals_stepping_through():
    # the ports' cursors and the products in flight are part of the state; the weight phase is passed in
    # one go; a period that crosses a position's or a row's end is whole positions or rows long
    pairs = _extrapolated_and_stepped(_port_bound_tiles(80, seed=5))
    assert sum(fast.simulated < slow.simulated // 2 for fast, slow in pairs) >= 35      # 40 of the 80


def test_first_kind_change_against_a_walk_over_the_steps():
    # the first step whose kind (last fold, last position, past the end, a row's first position) differs
    # from the kind d steps on, against a walk over the steps
    rng = np.random.default_rng(0)

    def kind(s, F, P, cols):
        return (s % F == F - 1, s // F + 1 >= P, s >= F * P, cols > 1 and (s // F) % cols == 0)

    for _ in range(3000):
        F, cols = int(rng.integers(1, 7)), int(rng.integers(1, 5))
        P = cols * int(rng.integers(1, 5))
        lo, d = int(rng.integers(0, F * P)), int(rng.integers(1, F * P + 1))
        got = first_kind_change(lo, d, F, P, cols)
        walk = next(s for s in range(lo, lo + 3 * F * P + 2) if kind(s, F, P, cols) != kind(s + d, F, P, cols))
        assert got <= walk, (lo, d, F, P, cols)        # never past the first change
        assert got >= min(walk, (P - 1) * F - d), (lo, d, F, P, cols)   # and not needlessly early


def _six_vn_tile(ab=False):
    # the traced 1x1 tile: six 5-multiplier VNs, two folds, four positions (STONNE: 36 cycles)
    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 128, 128, 128, accumulation_buffer=ab)
    return (1, 1, 8, 6, 1, 1, 1, 4, 1, MaeriTile(1, 1, 4, 6, 1, 1, 1, 1), cfg)


def test_event_model_on_the_traced_tile_and_a_runaway():
    assert fold_tile_cycles(*_six_vn_tile()) == 36
    with pytest.raises(RuntimeError, match="did not finish"):
        fold_tile_cycles(*_six_vn_tile(), max_work=100)


def test_grouped_and_batched_tiles_are_event_level_and_exact():
    # set U: T_G groups side by side are VNs like any other; batch tiles (T_N > 1, or N > T_N) are not held
    # by SDMemory's iteration check and overlap the tile before: timed as one run of tiles in a row (the
    # closed form was 0.08-5.1% off on the 15 batched runs)
    from plumsim.accel.maeri import maeri_conv
    from plumsim.stonne.validate import validate_cases
    from plumsim.workload.layer import LayerShape

    rep = validate_cases(DATA / "c_maeri_batch_groups" / "cases.csv")
    df = pd.read_csv(DATA / "c_maeri_batch_groups" / "cases.csv").merge(rep.cases, on="case_id")
    batched = df[(df.T_N > 1) | (df.N > df.T_N)]
    assert len(df) == 27 and len(batched) == 15
    assert (df.cycles_model == df.cycles).all()
    for r in batched.itertuples():
        cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", r.ms_size, r.dn_bw, r.rn_bw,
                                accumulation_buffer=False)
        res = maeri_conv(LayerShape(r.N, r.G, r.C, r.K, r.R, r.S, r.X, r.Y, r.stride, 0), cfg,
                         MaeriTile(r.T_R, r.T_S, r.T_C, r.T_K, r.T_G, r.T_N, r.T_X_, r.T_Y_))
        assert res.info["timing"] == "event-level" and res.cycles == r.cycles, r.case_id


def test_held_tiles_start_from_the_bus_pointers_the_tile_before_left():
    # C_maeri_conv_18: three K tiles, each released once the one before is stored in full; the collection
    # bus's round-robin pointers are all a tile passes on, and with them the second tile is 3 cycles
    # shorter than the first (STONNE: 13,128 for the three, 4,378 + 4,375 + 4,375)
    from plumsim.accel.maeri import maeri_conv
    from plumsim.workload.layer import LayerShape

    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 256, 64, 16, accumulation_buffer=False)
    tile = MaeriTile(1, 1, 9, 5, 1, 1, 2, 1)
    first = fold_tile_schedule(1, 1, 12, 5, 3, 3, 10, 10, 1, tile, cfg)
    second = fold_tile_schedule(1, 1, 12, 5, 3, 3, 10, 10, 1, tile, cfg, bus_pointers=first.bus_pointers)
    assert (first.stored, second.stored) == (4378, 4375) and any(first.bus_pointers)
    assert second.bus_pointers == first.bus_pointers
    res = maeri_conv(LayerShape(1, 1, 12, 12, 3, 3, 10, 10, 1, 0), cfg, tile)
    assert res.cycles == 13128 and res.info["timing"] == "event-level"


def test_tiles_in_a_row_past_the_tile_limit_go_to_the_closed_form():
    # batch tiles are never held: EVENT_MAX_TILES of them are one event-level run (whole-tile periods make it
    # cheap), one more goes to the closed form, and so does a batch of 10^9 (exact integers)
    from plumsim.accel.maeri import EVENT_MAX_TILES, maeri_conv
    from plumsim.workload.layer import LayerShape

    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 64, 64, 64, accumulation_buffer=False)
    tile = MaeriTile(1, 1, 8, 2)
    runs = {n: maeri_conv(LayerShape(n, 1, 8, 2, 1, 1, 3, 3, 1, 0), cfg, tile) for n in (2, 3, EVENT_MAX_TILES)}
    assert all(r.info["timing"] == "event-level" for r in runs.values())
    per_tile = runs[3].cycles - runs[2].cycles
    assert runs[EVENT_MAX_TILES].cycles == runs[2].cycles + (EVENT_MAX_TILES - 2) * per_tile
    for n in (EVENT_MAX_TILES + 1, 10**9):
        big = maeri_conv(LayerShape(n, 1, 8, 2, 1, 1, 3, 3, 1, 0), cfg, tile)
        assert big.info["timing"] == "closed form (event-level over budget)" and big.cycles > 10 * n


def _random_tile_sequences(n, seed):
    # random layers of several (n, g, k) tiles that overlap: batch tiles (N > T_N), T_N > 1 within a batch
    # tile (released when 1/T_N of the tile before is stored), T_X' not dividing X'; one fold or several
    from plumsim.accel.maeri import tile_sequence

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        ms_ = int(rng.choice([16, 32, 64]))
        dn_ = int(rng.choice([d for d in (2, 4, 8, 16, 32) if d <= ms_]))
        rn_ = int(rng.choice([r for r in (1, 2, 4, 8, 16) if r <= ms_]))
        R_ = S = int(rng.choice([1, 3]))
        C_, K = int(rng.choice([2, 4, 8])), int(rng.integers(1, 5))
        N = int(rng.integers(1, 7))
        X = Y = R_ + int(rng.integers(1, 5))
        X_out = X - R_ + 1
        tile = MaeriTile(int(rng.integers(1, R_ + 1)), int(rng.choice([1, S])), int(rng.integers(1, C_ + 1)),
                         int(rng.integers(1, K + 1)), 1, int(rng.integers(1, N + 1)),
                         int(rng.choice([1, 1, int(rng.integers(1, X_out + 1))])), 1)
        cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms_, dn_, rn_, accumulation_buffer=False)
        shape = (N, 1, C_, K, R_, S, X, Y, 1)
        try:
            geo = tile_geometry(*shape, tile, cfg)
        except ConfigError:
            continue
        held, gates = tile_sequence(K, 1, tile, geo)
        if tile.virtual_neuron_size >= 2 and gates.size > 1:
            out.append(((*shape, tile, cfg), gates.tolist()))
    return out


def test_tile_sequences_extrapolate_exactly():
    # the tiles in a row: whole-tile periods (once no gate holds a port) and periods inside a tile give the
    # schedule that stepping through every cycle gives
    from plumsim.accel.maeri_fold_events import tile_sequence_schedule

    jumped = 0
    for args, gates in _random_tile_sequences(60, seed=11):
        fast = tile_sequence_schedule(*args, gates)
        slow = tile_sequence_schedule(*args, gates, extrapolate=False)
        assert fast[:3] == slow[:3], (args, gates)
        jumped += fast.simulated < slow.simulated // 2
    assert jumped >= 10


def test_probe_gives_up_early_only_where_stepping_through_cannot_fit():
    # no period within the probe: a long tile (ResNet-18's 14x14 3x3 conv, 256 VNs on 1024 multipliers)
    # is given up at once, a short one (C_maeri_conv_18's tile, 4,378 cycles, no period at all) is
    # stepped through to its end
    from plumsim.accel.maeri_fold_events import OverBudget

    big = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 1024, 128, 128, accumulation_buffer=False)
    with pytest.raises(OverBudget, match="found no period within 150000"):
        fold_tile_schedule(1, 1, 256, 256, 3, 3, 16, 16, 1, MaeriTile(1, 3, 1, 256), big, max_work=600_000,
                           probe_work=150_000)
    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 256, 64, 16, accumulation_buffer=False)
    args = (1, 1, 12, 12, 3, 3, 10, 10, 1, MaeriTile(1, 1, 9, 5, 1, 1, 2, 1), cfg)
    probed = fold_tile_schedule(*args, max_work=600_000, probe_work=150_000)
    assert probed == fold_tile_schedule(*args) and probed.stored == 4378


def test_event_model_rejects_tiles_it_does_not_model():
    from plumsim.accel.maeri_fold_events import tile_sequence_schedule

    with pytest.raises(ConfigError, match="accumulation buffer off"):
        fold_tile_cycles(*_six_vn_tile(ab=True))
    for gates in ((), (5, 0)):          # no tile, or a first tile that waits for outputs nobody stores
        with pytest.raises(ConfigError, match="gate 0") as err:
            tile_sequence_schedule(*_six_vn_tile(), gates)
        assert err.value.field == "gates"


def _paths_by_walk(starts, sizes, ms):
    # the blocks of each VN one by one (as adder_tree.three_way_adders walks them), each multiplier's path
    # = the top block's levels + its block's place counted outwards from the top block
    _, _, top, nl, nr = reduction_paths(starts, sizes, ms)
    out = []
    for v, (s0, n) in enumerate(zip(starts.tolist(), sizes.tolist())):
        e = s0 + n
        lo, hi = s0 // 2, (e - 1) // 2 + 1
        prev_end = starts[v - 1] + sizes[v - 1] if v else -1
        nxt = starts[v + 1] if v + 1 < len(starts) else -1
        left_single = s0 % 2 == 1 and prev_end == s0 and lo % 2 == 1
        right_single = (e - 1) % 2 == 0 and nxt == e and (hi - 1) % 2 == 0
        a, b, depth, left, right = lo + left_single, hi - right_single, 0, [], []
        while a < b:
            if a & 1:
                left.append((depth, a << depth, (a + 1) << depth))
                a += 1
            if a < b and b & 1:
                b -= 1
                right.append((depth, b << depth, (b + 1) << depth))
            a, b, depth = a >> 1, b >> 1, depth + 1
        blocks = left + right[::-1]
        if not blocks:
            out.extend([None] * n)
            continue
        peak = max(range(len(blocks)), key=lambda i: (blocks[i][0], -i))
        for m in range(s0, e):
            u = m // 2
            if left_single and m == s0:
                out.append(top[v] + nl[v])
            elif right_single and m == e - 1:
                out.append(top[v] + nr[v])
            else:
                i = next(i for i, (_, ua, ub) in enumerate(blocks) if ua <= u < ub)
                out.append(top[v] + abs(i - peak))
    return out


def test_multiplier_paths():
    # STONNE's adder trace (C_maeri_conv_10's tile, VNs of 13 multipliers on 128): the first VN's top block
    # of 8 takes 3 cycles, its next block of 4 one more (over the augmented link into the top block), its
    # last multiplier, forwarded from a leaf adder it shares with the next VN, two more
    paths = multiplier_paths(np.arange(4) * 13, np.full(4, 13), 128)
    assert paths[:13].tolist() == [3] * 8 + [4] * 4 + [5]
    rng = np.random.default_rng(0)
    for _ in range(300):
        ms = int(rng.choice([16, 32, 64, 128, 256]))
        size = int(rng.integers(3, 40))
        nv = int(rng.integers(1, max(2, ms // size) + 1))
        if size * nv > ms:
            continue
        starts, sizes = np.arange(nv) * size, np.full(nv, size)
        walk = _paths_by_walk(starts, sizes, ms)
        got = multiplier_paths(starts, sizes, ms).tolist()
        assert [g for g, w in zip(got, walk) if w is not None] == [w for w in walk if w is not None]


def test_maeri_conv_labels_which_model_timed_the_chain():
    # maeri_conv times a folding chain event by event within its work budget, else by the closed form
    from plumsim.accel.maeri import EVENT_WORK_BUDGET, maeri_conv
    from plumsim.workload.layer import LayerShape

    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 128, 32, 32, accumulation_buffer=False)
    small = maeri_conv(LayerShape(1, 1, 8, 6, 1, 1, 1, 4, 1, 0), cfg, MaeriTile(1, 1, 4, 6))
    assert small.info["timing"] == "event-level"
    on = maeri_conv(LayerShape(1, 1, 8, 6, 1, 1, 1, 4, 1, 0),
                    AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 128, 32, 32,
                                      accumulation_buffer=True), MaeriTile(1, 1, 4, 6))
    assert on.info["timing"] == "closed form"
    # ResNet-18's layer1 3x3 conv with 64 VNs on 256 multipliers: its VNs run at two rates (lines shared by
    # two VNs or not), the chain never repeats exactly, and the budget hands it to the closed form
    big_cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 256, 64, 64, accumulation_buffer=False)
    big = maeri_conv(LayerShape(1, 1, 64, 64, 3, 3, 56, 56, 1, 1), big_cfg, MaeriTile(1, 3, 1, 64))
    assert big.info["timing"] == "closed form (event-level over budget)"
    with pytest.raises(RuntimeError, match="simulation work"):
        fold_tile_schedule(1, 1, 64, 64, 3, 3, 58, 58, 1, MaeriTile(1, 3, 1, 64), big_cfg, max_work=EVENT_WORK_BUDGET)

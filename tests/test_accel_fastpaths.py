"""The vectorised fast paths of the accelerator models agree with their plain reference forms
(issue 3: speed-ups must not change a single cycle or counter)."""

from __future__ import annotations

import numpy as np
import pytest

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri import TILE_FIELDS, MaeriTile, conv_cycles, conv_cycles_batch, event_timed
from plumsim.accel.sigma import (_distinct_per_group, _iterations, _plan, im2col,
                                 im2col_nnz)
from plumsim.accel.tpu import choose_tpu_tile, tile_cycles, tpu_cycles


@pytest.mark.parametrize("ms,dn", [(16, 16), (16, 4), (32, 8), (64, 2), (8, 1)])
def test_sigma_plan_matches_slot_by_slot_packing(ms, dn):
    rng = np.random.default_rng(ms + dn)
    for _ in range(25):
        M, K = int(rng.integers(1, 40)), int(rng.integers(1, 3 * ms))
        bitmap = rng.random((M, K)) < rng.choice([0.05, 0.3, 0.9])
        bitmap[rng.random(M) < 0.1] = False          # some all-zero rows
        if not bitmap.any():
            continue
        Kmap, *_ = _iterations(bitmap, ms)
        c_port = _distinct_per_group(Kmap, dn).max(axis=1)
        per_port = _distinct_per_group(Kmap, dn)
        weights = (Kmap.reshape(Kmap.shape[0], dn, -1) >= 0).sum(axis=2)   # stationary values per port
        w_ref = np.where(per_port == c_port[:, None], weights, 0).max(axis=1)
        plan = _plan(bitmap, ms, dn)
        assert plan["n_it"] == Kmap.shape[0]
        np.testing.assert_array_equal(plan["c"], c_port)
        np.testing.assert_array_equal(plan["w"], w_ref)


def test_im2col_nnz_without_building_the_matrix():
    rng = np.random.default_rng(0)
    for _ in range(30):
        C, R, S = (int(v) for v in rng.integers(1, 4, 3))
        X, Y = R + int(rng.integers(0, 7)), S + int(rng.integers(0, 7))
        stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 3))
        x = rng.standard_normal((C, X, Y)).astype(np.float32)
        x[x < 0.2] = 0
        assert im2col_nnz(x, C, X, Y, R, S, stride, pad) == np.count_nonzero(im2col(x, R, S, stride, pad))
        ones = np.ones_like(x)
        assert im2col_nnz(None, C, X, Y, R, S, stride, pad) == np.count_nonzero(im2col(ones, R, S, stride, pad))


def test_maeri_batch_cycles_equal_one_by_one():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(60):
        ms = int(2 ** rng.integers(3, 8))
        dn = int(2 ** rng.integers(0, int(np.log2(ms)) + 1))
        cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms, dn, dn,
                                accumulation_buffer=bool(rng.integers(0, 2)))
        N, G = int(rng.integers(1, 3)), int(rng.choice([1, 2]))
        C, K = G * int(rng.integers(1, 7)), G * int(rng.integers(1, 7))
        R, S, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
        X, Y = R + int(rng.integers(0, 6)), S + int(rng.integers(0, 6))
        lim = dict(T_R=R, T_S=S, T_C=C // G, T_K=K // G, T_G=G, T_N=N,
                   T_X=(X - R + stride) // stride, T_Y=(Y - S + stride) // stride)
        tiles = [t for t in (MaeriTile(**{f: int(rng.integers(1, lim[f] + 1)) for f in TILE_FIELDS})
                             for _ in range(20)) if t.multipliers_used <= ms]
        nfold = [-(-R // t.T_R) * -(-S // t.T_S) * -(-(C // G) // t.T_C) for t in tiles]
        tiles = [t for t, nf in zip(tiles, nfold) if cfg.accumulation_buffer or nf == 1
                 or (t.virtual_neuron_size + 1) * t.num_virtual_neurons <= ms]
        if not tiles:
            continue
        # the closed form (the tile search's estimate) tile by tile and in one batch
        ref = [int(conv_cycles_batch(N, G, C, K, R, S, X, Y, stride, {f: [getattr(t, f)] for f in TILE_FIELDS},
                                     cfg)[0]) for t in tiles]
        got = conv_cycles_batch(N, G, C, K, R, S, X, Y, stride,
                                {f: np.array([getattr(t, f) for t in tiles]) for f in TILE_FIELDS}, cfg)
        assert got.tolist() == ref
        # the model's cycles: that closed form, except where the folding chain is timed event by event
        for t, b in zip(tiles, ref):
            if not event_timed(t, cfg):
                assert conv_cycles(N, G, C, K, R, S, X, Y, stride, t, cfg) == b
        checked += len(tiles)
    assert checked > 100


def test_tpu_tile_choice_equals_exhaustive_search():
    rng = np.random.default_rng(2)
    for r, c, dn in ((8, 8, 16), (8, 8, 4), (4, 4, 2)):
        cfg = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", r * c, dn, dn, r, c, True)
        for _ in range(8):
            M, N, K = (int(v) for v in rng.integers(1, 40, 3))
            best = min(((tpu_cycles(M, N, K, cfg, tm, tn), -(tm * tn)), (tm, tn))
                       for tm in range(1, min(M, r) + 1) for tn in range(1, min(N, c) + 1))
            assert choose_tpu_tile(M, N, K, cfg) == best[1]


def test_tpu_gemm_cycles_equal_the_sum_over_every_tile():
    # the four kinds of tile counted in one call against every output tile listed and timed alone
    rng = np.random.default_rng(5)
    for r, c, dn, rn in ((8, 8, 16, 8), (8, 8, 4, 3), (4, 4, 1, 2), (16, 16, 8, 6)):
        cfg = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", r * c, dn, rn, r, c, True)
        for _ in range(10):
            M, N, K = int(rng.integers(1, 3 * r)), int(rng.integers(1, 3 * c)), int(rng.integers(1, 30))
            tm, tn = int(rng.integers(1, r + 1)), int(rng.integers(1, c + 1))
            listed = sum(int(tile_cycles(min(tm, M - i), min(tn, N - j), K, cfg))
                         for i in range(0, M, tm) for j in range(0, N, tn))
            assert tpu_cycles(M, N, K, cfg, tm, tn) == listed


def _random_layouts(seed: int, count: int):
    """Random VN layouts (starts, sizes, layout ids) on random power-of-two trees: several layouts, VNs in
    order, some touching, some with gaps, sizes from 1 to the whole tree."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        ms = int(2 ** rng.integers(1, 9))
        st, sz, ly = [], [], []
        for lay in range(int(rng.integers(1, 4))):
            pos = 0
            while True:
                pos += int(rng.integers(0, 3)) if rng.random() < 0.3 else 0
                size = int(rng.integers(1, max(2, ms // int(rng.choice([1, 2, 4, 8]))) + 1))
                if pos + size > ms:
                    break
                st.append(pos), sz.append(size), ly.append(lay)
                pos += size
                if rng.random() < 0.2:
                    break
        if st:
            yield ms, *(np.array(v, dtype=np.int64) for v in (st, sz, ly))


def test_tree_walks_in_python_equal_the_vectorised_form(monkeypatch):
    """Short layouts take the plain Python walk (adder_tree.SMALL_LAYOUT_VNS); it must give the numpy
    form's integers, for every output of the walk and for every multiplier's path."""
    from plumsim.accel import adder_tree
    checked = 0
    for ms, st, sz, ly in _random_layouts(3, 3000):
        loop = adder_tree._paths(st, sz, ly, ms)
        vec = adder_tree._paths_vectorised(st, sz, ly, ms)
        assert st.size <= adder_tree.SMALL_LAYOUT_VNS
        for a, b in zip(loop, vec):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        small = adder_tree.multiplier_paths(st, sz, ms, layout=ly, validate=False)
        monkeypatch.setattr(adder_tree, "SMALL_LAYOUT_VNS", 0)
        np.testing.assert_array_equal(small, adder_tree.multiplier_paths(st, sz, ms, layout=ly, validate=False))
        monkeypatch.undo()
        checked += 1
    assert checked > 2900


def test_write_fifo_in_python_equals_the_vectorised_form(monkeypatch):
    """A few outputs take last_write's plain Python loop (write_side.SMALL_WRITE_OUTPUTS); same (last,
    backlog) as the numpy form, settled outputs included."""
    from plumsim.accel import write_side
    rng = np.random.default_rng(9)
    for _ in range(3000):
        n, groups, lines = int(rng.integers(1, 90)), int(rng.integers(1, 6)), int(rng.integers(1, 9))
        arrive = rng.integers(-5, int(rng.choice([3, 20, 200])), n)
        line, group = rng.integers(0, lines, n), rng.integers(0, groups, n)
        settled = None
        if rng.random() < 0.4:
            ns = int(rng.integers(0, 10))
            settled = (rng.integers(-40, 1, ns), rng.integers(0, groups, ns))   # (last >= 0: never late)
        n_groups = groups + int(rng.integers(0, 2))
        small = write_side.last_write(arrive, line, group, n_groups, settled=settled)
        monkeypatch.setattr(write_side, "SMALL_WRITE_OUTPUTS", 0)
        big = write_side.last_write(arrive, line, group, n_groups, settled=settled)
        monkeypatch.undo()
        for a, b in zip(small, big):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_bus_lines_in_python_equal_the_vectorised_form(monkeypatch):
    """Every adder's collection-bus line and the busiest line per group, for a few adders (Python) and
    for many (numpy), on every tree size and a range of rn_bw."""
    from plumsim.accel import write_side
    rng = np.random.default_rng(4)
    for ms in (2, 4, 8, 64, 256):
        adders = [(lv, i) for lv in range(ms.bit_length() - 1) for i in range(1 << lv)]
        for rn in (1, 2, 3, 8, 64):
            pick = rng.permutation(len(adders))[:write_side.SMALL_WRITE_OUTPUTS]
            level = np.array([adders[j][0] for j in pick], dtype=np.int64)
            index = np.array([adders[j][1] for j in pick], dtype=np.int64)
            group = rng.integers(0, 4, level.size)
            small = write_side.asnetwork_bus_line(level, index, ms, rn)
            busy = write_side.busiest_line(small, group, 5, rn)
            monkeypatch.setattr(write_side, "SMALL_WRITE_OUTPUTS", 0)
            np.testing.assert_array_equal(small, write_side.asnetwork_bus_line(level, index, ms, rn))
            np.testing.assert_array_equal(busy, write_side.busiest_line(small, group, 5, rn))
            monkeypatch.undo()


def test_tile_traffic_equals_distinct_packets_per_switch():
    """The distribution tree's routes per step (one per distinct packet through each switch) and the
    multipliers fed, from port_loads' one sort, against a plain count: for every switch level, the set of
    (packet, switch) pairs of the step's operand multipliers."""
    from plumsim.accel.maeri_timing import operand_ids, tile_traffic
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(1500):
        ms = int(2 ** rng.integers(3, 10))
        dn = int(2 ** rng.integers(0, int(np.log2(ms)) + 1))
        width, stride = ms // dn, int(rng.integers(1, 3))
        t = {f: int(rng.integers(1, 4)) for f in TILE_FIELDS}
        slot = int(rng.integers(0, 2))
        size = t["T_R"] * t["T_S"] * t["T_C"] + slot
        nv = t["T_K"] * t["T_G"] * t["T_N"] * t["T_X"] * t["T_Y"]
        if size * nv > ms:
            continue
        fwd = bool(rng.integers(0, 2)) and t["T_Y"] == 1 and t["T_S"] > 1 and stride == 1
        m = np.arange(size * nv)
        v, o = np.divmod(m, size)
        o = o - slot
        keep = o >= 0
        m, v, o = m[keep], v[keep], o[keep]
        wid, iid, s = operand_ids(v, o, *(t[f] for f in TILE_FIELDS), stride)
        new_col = (s == t["T_S"] - 1) if fwd else np.ones(m.size, dtype=bool)
        levels = int(np.log2(width))
        expect = []
        for key, sel in ((wid, slice(None)), (iid, slice(None)), (iid, new_col)):
            expect.append(sum(len({(int(k), int(mm) // (width >> j)) for k, mm in zip(key[sel], m[sel])})
                              for j in range(levels)))
        got = tile_traffic(t, stride, fwd, bool(slot), ms, dn)
        assert got == (m.size, int(new_col.sum()), *expect)
        checked += 1
    assert checked > 300

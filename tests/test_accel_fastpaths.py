"""The vectorised fast paths of the accelerator models agree with their plain reference forms
(issue 3: speed-ups must not change a single cycle or counter)."""

from __future__ import annotations

import numpy as np
import pytest

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri import TILE_FIELDS, MaeriTile, conv_cycles, conv_cycles_batch, event_timed
from plumsim.accel.sigma import (_distinct_per_group, _iterations, _plan, im2col,
                                 im2col_nnz)
from plumsim.accel.tpu import choose_tpu_tile, tpu_cycles


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

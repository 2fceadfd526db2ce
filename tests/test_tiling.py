"""MAERI tile chooser: valid, optimal against hand tiles, fast on ResNet-18 layers."""


from pathlib import Path

import pytest

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri import MaeriTile, maeri_conv, maeri_gemm
from plumsim.accel.tiling import choose_maeri_gemm_tile, choose_maeri_tile
from plumsim.workload.layer import LayerShape


def _cfg(ms=256, dn=64, ab=True):
    return AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms, dn, dn, accumulation_buffer=ab)


def test_chooser_beats_hand_tiles():
    shape = LayerShape(N=1, G=1, C=16, K=16, R=3, S=3, X=10, Y=10, stride=1)
    cfg = _cfg(128, 32)
    best = choose_maeri_tile(shape, cfg)
    assert best.multipliers_used <= 128
    cyc = maeri_conv(shape, cfg, best).cycles
    for hand in (MaeriTile(T_R=3, T_S=3, T_C=4, T_K=2), MaeriTile(T_R=3, T_S=3, T_C=2, T_K=4),
                 MaeriTile(T_R=1, T_S=3, T_C=8, T_K=4), MaeriTile(T_R=3, T_S=3, T_C=1, T_K=4, T_X=2)):
        assert cyc <= maeri_conv(shape, cfg, hand).cycles


def test_gemm_chooser():
    cfg = _cfg(64, 16)
    t = choose_maeri_gemm_tile(16, 32, 64, cfg)
    assert t[0] * t[1] * t[2] <= 64
    assert maeri_gemm(16, 32, 64, cfg, *t).cycles <= maeri_gemm(16, 32, 64, cfg, 1, 4, 16).cycles


RESNET18 = [  # (C, K, R, X, stride, padding) of ResNet-18/ImageNet convs
    (3, 64, 7, 224, 2, 3), (64, 64, 3, 56, 1, 1), (64, 128, 3, 56, 2, 1), (128, 128, 3, 28, 1, 1),
    (128, 256, 3, 28, 2, 1), (256, 256, 3, 14, 1, 1), (256, 512, 3, 14, 2, 1), (512, 512, 3, 7, 1, 1),
    (64, 128, 1, 56, 2, 0),
]


@pytest.mark.parametrize("C,K,R,X,stride,pad", RESNET18)
def test_chooser_on_resnet18(C, K, R, X, stride, pad):
    # search time is measured in benchmarks/bench_accel.py, not asserted here
    shape = LayerShape(N=1, G=1, C=C, K=K, R=R, S=R, X=X, Y=X, stride=stride, padding=pad)
    tile = choose_maeri_tile(shape, _cfg())
    assert tile.multipliers_used <= _cfg().ms_size
    assert maeri_conv(shape, _cfg(), tile).cycles <= maeri_conv(shape, _cfg(), MaeriTile(T_R=R, T_S=R)).cycles


@pytest.mark.parametrize("ab", [True, False])
@pytest.mark.parametrize("C,K,R,X,stride,pad", RESNET18 + [(16, 16, 3, 32, 1, 1), (16, 32, 3, 32, 2, 1),
                                                        (32, 64, 1, 16, 2, 0), (4, 4, 1, 9, 1, 0)])
def test_chooser_proposes_only_tiles_stonne_runs(C, K, R, X, stride, pad, ab):
    # no VN of one multiplier (STONNE aborts), T_X'/T_Y' dividing X'/Y', 1 at stride 2, widened VNs fit
    from plumsim.accel.maeri import stonne_problem

    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 64, 16, 16, accumulation_buffer=ab)
    shape = LayerShape(N=1, G=1, C=C, K=K, R=R, S=R, X=X, Y=X, stride=stride, padding=pad)
    tile = choose_maeri_tile(shape, cfg)
    assert stonne_problem(tile, shape, cfg) is None, tile
    assert tile.virtual_neuron_size >= 2


def test_stonne_problem_names_the_tiles_stonne_got_wrong():
    # set U's dropped runs with T_N = T_G = 2 failed STONNE's functional check; its kept grouped and
    # batched tiles (T_G > 1 or T_N > 1, not both) pass the rule
    import pandas as pd

    from plumsim.accel.maeri import stonne_problem

    data = Path(__file__).parent / "data" / "stonne" / "c_maeri_batch_groups"
    kept = pd.read_csv(data / "cases.csv")
    dropped = pd.read_csv(data / "dropped_cases.csv")
    argv = {r.case_id: dict(a.lstrip("-").split("=") for a in r.how.split() if a.startswith("-T_") or
                            a.split("=")[0] in ("-N", "-G", "-C", "-K", "-R", "-S", "-X", "-Y", "-strides"))
            for r in dropped.itertuples()}
    both = [c for c, a in argv.items() if int(a["T_N"]) > 1 and int(a["T_G"]) > 1]
    assert sorted(both) == ["C_mbatchg_011", "C_mbatchg_012", "C_mbatchg_023", "C_mbatchg_024"]
    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 64, 64, 64, accumulation_buffer=False)
    for c in both:
        a = {k: int(v) for k, v in argv[c].items()}
        shape = LayerShape(a["N"], a["G"], a["C"], a["K"], a["R"], a["S"], a["X"], a["Y"], a["strides"], 0)
        tile = MaeriTile(a["T_R"], a["T_S"], a["T_C"], a["T_K"], a["T_G"], a["T_N"], a["T_X_"], a["T_Y_"])
        assert "T_G out" in stonne_problem(tile, shape, cfg), c
    for r in kept.itertuples():
        shape = LayerShape(r.N, r.G, r.C, r.K, r.R, r.S, r.X, r.Y, r.stride, 0)
        tile = MaeriTile(r.T_R, r.T_S, r.T_C, r.T_K, r.T_G, r.T_N, r.T_X_, r.T_Y_)
        assert stonne_problem(tile, shape, cfg) is None, r.case_id


BOUND_LAYERS = [  # (N, G, C, K, R, X, stride, padding): 3x3, 1x1 stride 2, 7x7 stride 2, depthwise, batch
    (1, 1, 16, 16, 3, 8, 1, 1), (1, 1, 32, 64, 1, 8, 2, 0), (1, 1, 3, 8, 7, 16, 2, 3),
    (1, 8, 8, 8, 3, 6, 1, 1), (2, 1, 8, 16, 3, 6, 1, 1), (1, 1, 64, 32, 3, 4, 1, 1),
]
BOUND_MACHINES = [(16, 16, 16), (64, 4, 4), (64, 16, 4), (64, 64, 32), (256, 32, 8), (256, 256, 128)]


@pytest.mark.parametrize("ab", [True, False])
@pytest.mark.parametrize("ms,dn,rn", BOUND_MACHINES)
@pytest.mark.parametrize("layer", BOUND_LAYERS)
def test_search_bound_is_a_lower_bound(layer, ms, dn, rn, ab):
    # the branch and bound finds the optimum only if the bound never exceeds a tile's exact cycles: every
    # candidate of the search, buffer on and off (the bound once missed the partial-sum multipliers'
    # ports and summed per-step maxima over different ports, and was above the exact cycles)
    from plumsim.accel import tiling
    from plumsim.accel.maeri_timing import conv_cycles_batch

    N, G, C, K, R, X, stride, pad = layer
    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms, dn, rn, accumulation_buffer=ab)
    shape = LayerShape(N=N, G=G, C=C, K=K, R=R, S=R, X=X, Y=X, stride=stride, padding=pad)
    dims, cand = tiling.conv_search_space(shape, ms)
    T, used, lb = tiling._candidates(**dims, config=cfg, cand=cand)
    exact = conv_cycles_batch(**dims, T=T, config=cfg)
    assert (lb <= exact).all(), {f: int(v[(lb > exact).argmax()]) for f, v in T.items()}
    # and it prunes: fewer than half the candidates need an exact evaluation
    assert (lb <= exact.min()).sum() <= max(16, lb.size // 2)


def test_search_picks_the_canonical_optimum():
    # fewest cycles, then most multipliers, then first in field order: whatever order the bound gives
    from plumsim.accel import tiling
    from plumsim.accel.maeri_timing import conv_cycles_batch

    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 64, 16, 8, accumulation_buffer=False)
    shape = LayerShape(N=1, G=1, C=16, K=16, R=3, S=3, X=8, Y=8, stride=1, padding=1)
    dims, cand = tiling.conv_search_space(shape, 64)
    T, used, lb = tiling._candidates(**dims, config=cfg, cand=cand)
    exact = conv_cycles_batch(**dims, T=T, config=cfg)
    want = min(range(lb.size), key=lambda i: (int(exact[i]), -int(used[i]), i))
    for bound in (lb, lb // 2, 0 * lb):
        got = tiling._scan(**dims, config=cfg, T=T, used=used, lb=bound)
        assert got == MaeriTile(**{f: int(T[f][want]) for f in T})

"""Size limits (issue 16, item 3): hostile sizes are refused before any work with the field, the value,
the estimate and the limit; a batch of any size runs in closed form; the closed forms equal the per-item
computation they replace."""

from dataclasses import replace

import numpy as np
import pytest

from plumsim.accel import rules
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri_timing import _barrier_waits
from plumsim.accel.result import SimResult
from plumsim.accel.rules import limits_override, mesh_dn_bw_allowed
from plumsim.accel.sigma import _plan, frontend_bitmap, sigma_gemm
from plumsim.accel.simulate import check_layer, simulate_layer
from plumsim.accel import tpu as tpu_mod
from plumsim.errors import ConfigError, WorkloadError
from plumsim.workload.layer import Layer, LayerShape

SIGMA = AcceleratorConfig("SIGMA_SPARSE_GEMM", "LINEAR", "FENETWORK", 64, 16, 16)
SIGMA_BIG = dict(controller_type="SIGMA_SPARSE_GEMM", ms_type="LINEAR", rn_type="FENETWORK")
TPU = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", 64, 8, 16, 8, 8, True)
TPU_RN3 = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", 64, 8, 3, 8, 8, True)
MAERI_ON = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 64, 16, 16, accumulation_buffer=True)
MAERI_OFF = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 64, 16, 16, accumulation_buffer=False)


def layer(shape, kind="conv", density=0.4, seed=0, sample=False):
    rng = np.random.default_rng(seed)
    K = shape.K
    codes = (rng.random((K, shape.C // shape.G, shape.R, shape.S)) < density).astype(np.int8)
    codes[K // 2:] *= -1
    x = None
    if sample:
        dims = (shape.N, shape.C, shape.X, shape.Y) if kind == "conv" else (shape.N, shape.C)
        x = (rng.random(dims) < 0.7).astype(np.float32) * rng.standard_normal(dims).astype(np.float32)
    return Layer(f"l{seed}", kind, "signed-binary", shape, codes, np.ones(K, np.float32),
                 np.where(np.arange(K) < K // 2, 1, -1).astype(np.int8), input_sample=x)


CONV = LayerShape(1, 1, 8, 12, 3, 3, 7, 6, 1, 1)
FC = LayerShape(1, 1, 40, 10, 1, 1, 1, 1)


def _message_parts(msg, field, value, limit_name):
    assert f"{field}={value}" in msg and "(estimate)" in msg and "over the limit of" in msg
    assert f"({limit_name})" in msg and "PLUMSIM_LIMITS" in msg


# --- the unbounded inputs, refused before work ----------------------------------------------

@pytest.mark.parametrize("ctrl,ms,dn", [("SIGMA_SPARSE_GEMM", 2**40, 2**40), ("MAERI_DENSE_WORKLOAD", 2**40, 2**20)])
def test_huge_linear_machine_is_refused_when_built(ctrl, ms, dn):
    with pytest.raises(ConfigError) as e:
        AcceleratorConfig(ctrl, "LINEAR", "ASNETWORK", ms, dn, dn)
    _message_parts(str(e.value), "ms_size", ms, "ms_size")
    assert "TiB" in str(e.value) and e.value.field == "[MSNetwork] ms_size"


def test_huge_tpu_mesh_is_refused_and_the_override_builds_it(monkeypatch):
    args = ("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", 2**32, 65536, 65536, 65536, 65536, True)
    with pytest.raises(ConfigError) as e:
        AcceleratorConfig(*args)
    _message_parts(str(e.value), "ms_size", 2**32, "ms_size")
    with limits_override(ms_size=2**33):
        assert AcceleratorConfig(*args).ms_size == 2**32
    monkeypatch.setenv("PLUMSIM_LIMITS", "ms_size=0")          # 0: no limit
    assert AcceleratorConfig(*args).ms_size == 2**32
    monkeypatch.setenv("PLUMSIM_LIMITS", "ms_size=5e9,work_ops=1e9")
    assert rules.limits()["work_ops"] == 10**9 and AcceleratorConfig(*args).ms_size == 2**32


@pytest.mark.parametrize("text", ["ms_size", "bogus=3", "ms_size=abc", "ms_size=-1", "work_ops=inf"])
def test_bad_limits_variable_names_itself(monkeypatch, text):
    monkeypatch.setenv("PLUMSIM_LIMITS", text)
    with pytest.raises(ConfigError) as e:
        rules.limits()
    assert e.value.field == "PLUMSIM_LIMITS"
    with pytest.raises(ConfigError):
        with limits_override(bogus=1):
            pass


def test_layer_of_65536_by_65536_is_refused_from_its_shape_alone():
    # the shape claims 4.3e9 weights; the refusal comes before anything looks at the (tiny) array
    big = replace(layer(FC), shape=LayerShape(1, 1, 65536, 65536, 1, 1, 1, 1))
    for cfg in (SIGMA, TPU, MAERI_ON):
        with pytest.raises(WorkloadError) as e:
            simulate_layer(big, cfg)
        _message_parts(str(e.value), "K*C/G*R*S", "65536*65536*1*1", "layer_weights")
        assert "GiB" in str(e.value)
    with limits_override(layer_weights=0):   # past the limit, the array's shape is checked
        with pytest.raises(WorkloadError, match="weights have shape"):
            check_layer(big)


def test_sigma_plan_memory_estimate():
    W = (np.random.default_rng(0).random((64, 200)) < 0.5).astype(np.int8)
    with limits_override(work_bytes=1000):
        with pytest.raises(WorkloadError) as e:
            sigma_gemm(W, 4, SIGMA)
        _message_parts(str(e.value), "weights", "64x200", "work_bytes")
    assert sigma_gemm(W, 4, SIGMA).cycles > 0


def test_sigma_group_count_estimate():
    dw = layer(LayerShape(1, 8, 8, 8, 3, 3, 6, 6, 1, 1))
    with limits_override(work_ops=100):
        with pytest.raises(WorkloadError) as e:
            simulate_layer(dw, SIGMA)
        _message_parts(str(e.value), "G", 8, "work_ops")


def test_tpu_search_estimates():
    cfg = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", 256 * 256, 512, 3, 256, 256, True)
    L = layer(LayerShape(1, 1, 16, 256, 1, 1, 16, 16, 1, 0))
    with pytest.raises(ConfigError) as e:          # non-power-of-two rn_bw: per-shape queues, 256 x 256 shapes
        simulate_layer(L, cfg)
    _message_parts(str(e.value), "rn_bw", 3, "work_ops")
    assert simulate_layer(L, cfg, tile={"T_M": 16, "T_N": 16}).cycles > 0   # a given tile: 4 shapes
    with limits_override(work_bytes=10**6):
        with pytest.raises(ConfigError) as e:
            simulate_layer(L, replace(cfg, rn_bw=4))
        _message_parts(str(e.value), "ms_rows*ms_cols", "256*256", "work_bytes")


def test_maeri_search_on_a_huge_batch_is_refused_and_a_given_tile_runs_it():
    # the divisor scan is O(sqrt N): N = 1e9 is searched (milliseconds), N = 1e17 (3e8 steps) refused
    assert simulate_layer(layer(replace(CONV, N=10**9)), MAERI_ON).cycles > 10**9
    L = layer(replace(CONV, N=10**17))
    with pytest.raises(WorkloadError) as e:
        simulate_layer(L, MAERI_ON)
    _message_parts(str(e.value), "N", 10**17, "work_ops")
    assert "--tile" in str(e.value)
    tile = simulate_layer(layer(CONV), MAERI_ON).info["tile"]
    assert simulate_layer(L, MAERI_ON, tile=tile).cycles > 10**17


def test_mesh_dn_bw_allowed_matches_brute_force():
    for r in (1, 2, 4, 8, 16):
        for c in (1, 2, 4, 8, 32):
            lanes = r + c
            brute = [d for d in range(1, lanes + 1) if lanes % d == 0 and rules.is_pow2(lanes // d)]
            assert mesh_dn_bw_allowed(r, c) == brute
            assert mesh_dn_bw_allowed(r, c, r * c) == [d for d in brute if d <= r * c]


@pytest.mark.parametrize("bad,field", [
    (dict(N=0), "N"), (dict(G=3), "G"), (dict(R=20), "R"), (dict(stride=0), "stride"), (dict(padding=-1), "padding"),
    (dict(C=8.0), "C"), (dict(K=True), "K"),
])
def test_bad_layer_shapes_are_workload_errors(bad, field):
    L = replace(layer(CONV), shape=replace(CONV, **bad))
    for cfg in (SIGMA, TPU, MAERI_ON):
        with pytest.raises(WorkloadError) as e:
            simulate_layer(L, cfg)
        assert e.value.field == field


def test_linear_layer_must_be_one_by_one():
    L = replace(layer(FC, kind="linear"), shape=replace(FC, X=3))
    with pytest.raises(WorkloadError, match="linear layer"):
        simulate_layer(L, SIGMA)


# --- a batch of any size, in closed form, exact -----------------------------------------------------

@pytest.mark.parametrize("cfg", [SIGMA, TPU, MAERI_ON], ids=["sigma", "tpu", "maeri"])
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_batch_of_a_billion_is_fast_and_exact(cfg, kind):
    shape = CONV if kind == "conv" else FC
    base = layer(shape, kind)
    tile = None
    if cfg is MAERI_ON:
        info = simulate_layer(base, cfg).info
        tile = info["tile"] if kind == "conv" else info["gemm_tile"]
    elif cfg is TPU:
        tile = {"T_M": 4, "T_N": 8}
    r1 = simulate_layer(replace(base, shape=replace(shape, N=1000)), cfg, tile)
    rb = simulate_layer(replace(base, shape=replace(shape, N=10**9)), cfg, tile)
    r12 = simulate_layer(replace(base, shape=replace(shape, N=10**12)), cfg, tile)
    assert isinstance(rb.cycles, int) and rb.cycles > 0 and r12.cycles > rb.cycles
    m1 = r1.counter("MULTIPLIER.MULTIPLICATION")
    assert rb.counter("MULTIPLIER.MULTIPLICATION") == pytest.approx(m1 * 10**6, rel=1e-12)
    if cfg is not MAERI_ON and not (cfg is SIGMA and kind == "linear"):
        # one item's (or one full tile's) cost times the batch: exactly linear in N
        assert r12.cycles == r1.cycles * 10**9
    if cfg is SIGMA and kind == "linear":   # one GEMM streaming N columns: fixed part + N per column
        r2 = simulate_layer(replace(base, shape=replace(shape, N=2000)), cfg)
        per = r2.cycles - r1.cycles
        assert r12.cycles == r1.cycles + (10**12 - 1000) // 1000 * per


def test_sigma_conv_closed_form_equals_explicit_items():
    """N items on SIGMA (the frontend runs one GEMM per item) == N explicit runs of one item, summed."""
    for seed, shape in enumerate([CONV, LayerShape(1, 2, 8, 6, 3, 3, 9, 9, 2, 0),
                                  LayerShape(1, 1, 30, 9, 3, 3, 5, 5, 1, 1)]):
        one = layer(shape, seed=seed)
        r_one = simulate_layer(one, SIGMA)
        for N in range(1, 5):
            r = simulate_layer(replace(one, shape=replace(shape, N=N)), SIGMA)
            explicit = SimResult(0)
            for _ in range(N):
                explicit = explicit + r_one
            assert r.cycles == explicit.cycles
            assert r.counters == explicit.counters and r.sram == explicit.sram


def test_sigma_conv_with_a_sample_equals_explicit_items():
    for N in range(1, 5):
        L = layer(replace(CONV, N=N), sample=True, seed=N)
        r = simulate_layer(L, SIGMA)
        explicit = SimResult(0)
        for i in range(N):
            item = replace(L, shape=replace(CONV, N=1), input_sample=L.input_sample[i:i + 1])
            explicit = explicit + simulate_layer(item, SIGMA)
        assert r.cycles == explicit.cycles and r.counters == explicit.counters


def test_sigma_gemm_closed_form_equals_the_per_iteration_rule():
    """cycles = fixed + N * per_column equals the per-iteration sum 1 + max(w + N*c, w + N*bus) + ...
    it replaces, and the streamed operand given explicitly (N columns) gives the same cycles."""
    rng = np.random.default_rng(3)
    for trial in range(6):
        W = (rng.random((int(rng.integers(2, 30)), int(rng.integers(2, 150)))) < rng.uniform(0.05, 0.9)).astype(np.int8)
        cfg = [SIGMA, AcceleratorConfig("SIGMA_SPARSE_GEMM", "LINEAR", "FENETWORK", 32, 32, 7),
               AcceleratorConfig("SIGMA_SPARSE_GEMM", "LINEAR", "ASNETWORK", 16, 4, 2)][trial % 3]
        plan = _plan(frontend_bitmap(W), cfg.ms_size, cfg.dn_bw, cfg.rn_bw)
        for N in range(1, 5):
            old = int(np.sum(1 + np.maximum(plan["w"] + N * plan["c"], plan["w"] + N * plan["bus"]) + plan["latency"]
                             + np.where(plan["bus"] > plan["c"], 0, plan["line_queue"])))
            assert sigma_gemm(W, N, cfg).cycles == old
            x = rng.standard_normal((W.shape[1], N))
            assert sigma_gemm(W, N, cfg, streamed=x).cycles == old


def test_tpu_exact_integers_equal_int64(monkeypatch):
    cases = [(M, N, K, tm, tn) for M, N, K in ((13, 50, 7), (8, 8, 1), (30, 3, 40)) for tm in (1, 3, 8)
             for tn in (1, 5, 8)]
    cfgs = (TPU, TPU_RN3, AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", 64, 1, 2, 8, 8, True))
    ref = {(c, i): tpu_mod.tpu_gemm(*case[:3], cfg, *case[3:]).cycles
           for c, cfg in enumerate(cfgs) for i, case in enumerate(cases)}
    search = {(c, M, N, K): tpu_mod._search_tile(M, N, K, cfg) for c, cfg in enumerate(cfgs)
              for M, N, K, _, _ in cases}
    monkeypatch.setattr(tpu_mod, "_exact_needed", lambda *a: True)
    for c, cfg in enumerate(cfgs):
        for i, case in enumerate(cases):
            assert tpu_mod.tpu_gemm(*case[:3], cfg, *case[3:]).cycles == ref[(c, i)]
        for M, N, K, _, _ in cases:
            assert tpu_mod._search_tile(M, N, K, cfg) == search[(c, M, N, K)]


def _barrier_waits_every_tile(finish, drain, weights, nv, vf, positions, out_pixels, TK, TG, Kg, iN, iG, iK):
    """The per-tile loop over every (n, g, k) tile, as it was before the batch bound (reference)."""
    iters = iN * iG * iK
    per_tile = positions * nv * vf
    per_pos = np.maximum((finish - weights) // np.maximum(positions, 1), 1)
    exact = (iN == 1) & (per_tile == out_pixels * TK * TG * vf) & (iK * TK == Kg)
    total = np.where(exact, (iters - 1) * drain, 0).astype(np.int64)
    for b in np.flatnonzero(~exact):
        t = np.arange(1, int(iters[b]), dtype=np.int64)
        if t.size == 0:
            continue
        k, g = t % iK[b], (t // iK[b]) % iG[b]
        need = (g * TG[b] * Kg + k * TK[b] * TG[b]) * out_pixels * vf[b]
        slack = (t * per_tile[b] - need) // (nv[b] * vf[b])
        total[b] = int(np.maximum(0, drain[b] - np.maximum(slack, 0) * per_pos[b]).sum())
    return total


def test_maeri_barrier_waits_scan_only_the_tiles_that_wait():
    rng = np.random.default_rng(7)
    B = 400
    a = lambda lo, hi: rng.integers(lo, hi, B)  # noqa: E731
    TK, TG, iG, iK, iN = a(1, 5), a(1, 3), a(1, 4), a(1, 5), a(1, 9)
    positions, nv, vf = a(1, 12), a(1, 9), a(1, 4)
    weights = a(0, 20)
    finish = weights + positions * a(1, 30)
    drain = a(0, 400)
    for Kg in (4, 7):
        for out_pixels in (3, 9):
            got = _barrier_waits(finish, drain, weights, nv, vf, positions, out_pixels, TK, TG, Kg, iN, iG, iK)
            ref = _barrier_waits_every_tile(finish, drain, weights, nv, vf, positions, out_pixels, TK, TG, Kg,
                                            iN, iG, iK)
            assert got.tolist() == ref.tolist()


@pytest.mark.parametrize("cfg", [MAERI_ON, MAERI_OFF], ids=["ab_on", "ab_off"])
def test_maeri_batch_equals_the_every_tile_reference(cfg, monkeypatch):
    from plumsim.accel import maeri_timing

    shapes = [CONV, LayerShape(1, 2, 8, 6, 3, 3, 6, 6, 1, 0)]
    got = {}
    for si, shape in enumerate(shapes):
        tile = simulate_layer(layer(shape), cfg).info["tile"]
        for N in range(1, 7):
            for TN in {1, 2, 3} & set(range(1, N + 1)):
                t = dict(tile, T_N=TN)
                try:
                    got[(si, N, TN)] = simulate_layer(layer(replace(shape, N=N)), cfg, tile=t).cycles
                except ConfigError:   # the tile no longer fits with T_N > 1
                    pass
    assert got
    monkeypatch.setattr(maeri_timing, "_barrier_waits", _barrier_waits_every_tile)
    for (si, N, TN), cycles in got.items():
        tile = dict(simulate_layer(layer(shapes[si]), cfg).info["tile"], T_N=TN)
        assert simulate_layer(layer(replace(shapes[si], N=N)), cfg, tile=tile).cycles == cycles


def test_maeri_timing_blocks_give_the_same_cycles(monkeypatch):
    from plumsim.accel import maeri_timing

    T = {f: np.array(v) for f, v in zip(maeri_timing.TILE_FIELDS,
                                        ([1, 3, 3, 1], [3, 3, 1, 3], [2, 1, 4, 8], [4, 2, 2, 1], [1] * 4, [1] * 4,
                                         [1] * 4, [1] * 4))}
    args = (1, 1, 8, 12, 3, 3, 9, 8, 1, T, MAERI_ON)
    whole = maeri_timing.conv_timing(*args)
    monkeypatch.setattr(maeri_timing, "TIMING_BLOCK_ELEMENTS", 64)   # one tile per block
    blocks = maeri_timing.conv_timing(*args)
    for k in whole:
        assert whole[k].tolist() == blocks[k].tolist()

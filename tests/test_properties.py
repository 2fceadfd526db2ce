"""Property tests (issue 16, item 6): random layers, accelerator configurations, dataflows, energy tables
and CLI runs through the public API. Nothing may raise but the project's own errors (PlumsimError), and
the invariants hold: cycles > 0, cycles >= multiplications / ms_size, counters and energy finite and
>= 0, attribution shares adding up to D - SR. Orderings that do not hold for a real reason (skip dearer
than dense when an index bit costs more than the multiply it saves) are not asserted: docs/design.md
("Dataflows and repetition") explains them and ``plumsim attribute`` says so (df.attrs["orderings"]).

Deterministic (derandomize=True, no example database) and bounded: well under a minute in total."""

import io
import json
import math
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings, strategies as st

from plumsim.accel import simulate_layer
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.dataflow import DATAFLOWS, simulate_dataflow
from plumsim.accel.rules import is_pow2, mesh_dn_bw_allowed
from plumsim.energy import attribute, load_energy_table, total_energy
from plumsim.energy.breakdown import group_energies
from plumsim.errors import PlumsimError
from plumsim.workload.layer import Layer, LayerShape
from plumsim.workload.schemes import region_sign


def _profile(n):
    return settings(derandomize=True, database=None, deadline=None, max_examples=n, print_blob=True,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


POW2 = [1, 2, 4, 8, 16, 32, 64, 128]
#: mesh sides STONNE can build (some, e.g. 1 x 2, have no valid dn_bw at all)
MESHES = [(r, c) for r in POW2[:5] for c in POW2[:5] if mesh_dn_bw_allowed(r, c, r * c)]


@st.composite
def configs(draw):
    """A machine STONNE can build, any controller, small enough to run fast."""
    ctrl = draw(st.sampled_from(["SIGMA_SPARSE_GEMM", "MAERI_DENSE_WORKLOAD", "TPU_OS_DENSE"]))
    ab = draw(st.booleans())
    if ctrl == "TPU_OS_DENSE":
        r, c = draw(st.sampled_from(MESHES))
        ms = r * c
        dn = draw(st.sampled_from(mesh_dn_bw_allowed(r, c, ms)))
        rn = draw(st.integers(1, ms))
        return AcceleratorConfig(ctrl, "OS_MESH", "TEMPORALRN", ms, dn, rn, r, c, ab)
    ms = draw(st.sampled_from(POW2[1:] if ctrl == "MAERI_DENSE_WORKLOAD" else POW2))
    dn = draw(st.sampled_from([p for p in POW2 if p <= ms]))
    rn = draw(st.integers(1, ms))
    rnt = draw(st.sampled_from(["ASNETWORK", "FENETWORK"]))
    return AcceleratorConfig(ctrl, "LINEAR", rnt, ms, dn, rn, accumulation_buffer=ab)


def _codes(rng, scheme, K, shape, density):
    if scheme == "binary":
        return np.where(rng.random(shape) < 0.5, 1, -1).astype(np.int8)
    nz = rng.random(shape) < density
    if scheme == "ternary":
        return (nz * np.where(rng.random(shape) < 0.5, 1, -1)).astype(np.int8)
    sign = np.where(np.arange(K) < K // 2, 1, -1).astype(np.int8)   # signed-binary: one sign per filter
    return (nz * sign[:, None, None, None]).astype(np.int8)


@st.composite
def layers(draw, max_dim=6):
    kind = draw(st.sampled_from(["conv", "linear"]))
    scheme = draw(st.sampled_from(["signed-binary", "binary", "ternary", "fp"]))
    N = draw(st.integers(1, 3))
    if kind == "linear":
        G, R, S, X, Y, stride, pad = 1, 1, 1, 1, 1, 1, 0
        C, K = draw(st.integers(1, 40)), draw(st.integers(1, 12))
    else:
        G = draw(st.integers(1, 3))
        C, K = G * draw(st.integers(1, max_dim)), G * draw(st.integers(1, max_dim))
        R, S = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        pad, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
        X = draw(st.integers(max(1, R - 2 * pad), R + 6))
        Y = draw(st.integers(max(1, S - 2 * pad), S + 6))
    shape = LayerShape(N, G, C, K, R, S, X, Y, stride, pad)
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.6, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    wshape = (K, C // G, R, S)
    if scheme == "fp":
        w = (rng.standard_normal(wshape) * (rng.random(wshape) < max(density, 0.05))).astype(np.float32)
        return Layer("fp", kind, "fp", shape, None, np.ones(K, np.float32), region_sign(w), weights=w)
    codes = _codes(rng, scheme, K, wshape, density)
    sign = np.where(np.arange(K) < K // 2, 1, -1).astype(np.int8) if scheme == "signed-binary" else region_sign(codes)
    sample = None
    if draw(st.booleans()):
        dims = (N, C, X, Y) if kind == "conv" else (N, C)
        sample = (rng.standard_normal(dims) * (rng.random(dims) < 0.6)).astype(np.float32)
    return Layer(f"{scheme}-{kind}", kind, scheme, shape, codes, np.ones(K, np.float32), sign, input_sample=sample)


def _check_result(r, config, what):
    assert isinstance(r.cycles, int) and r.cycles > 0, (what, r.cycles)
    mults = r.counter("MULTIPLIER.MULTIPLICATION")
    assert r.cycles >= mults / config.ms_size, (what, r.cycles, mults)
    for k, v in {**r.counters, **r.sram}.items():
        assert math.isfinite(float(v)) and float(v) >= 0, (what, k, v)


TABLES = {}


def _table(name, **bw):
    key = (name, tuple(sorted(bw.items())))
    if key not in TABLES:
        TABLES[key] = load_energy_table(name, **bw)
    return TABLES[key]


@_profile(200)
@given(layer=layers(), config=configs(), data=st.data())
def test_every_dataflow_on_every_machine(layer, config, data):
    """simulate_layer and every dataflow: only PlumsimError, invariants on cycles, counters, energy."""
    try:
        native = simulate_layer(layer, config)
    except PlumsimError as e:
        event(f"refused: {type(e).__name__} {e.field}")
        return
    _check_result(native, config, "simulate_layer")
    table = _table(data.draw(st.sampled_from(["stonne", "horowitz45"])),
                   **({} if data.draw(st.booleans()) else {"activation": data.draw(st.sampled_from(["int8", "fp16"]))}))
    for mode in DATAFLOWS:
        r = simulate_dataflow(layer, config, mode)
        _check_result(r, config, mode)
        e = total_energy(r, table)
        assert math.isfinite(e) and e >= 0, (mode, e)
        tot, _, groups = group_energies(r, table)
        assert tot == pytest.approx(e, rel=1e-12, abs=1e-12) and all(v >= 0 for v in groups.values())
        if mode in ("native", "dense", "skip") and r.info["stonne_faithful"]:
            assert r.cycles == native.cycles or mode == "dense"


@_profile(80)
@given(lyrs=st.lists(layers(max_dim=4), min_size=1, max_size=3), config=configs(),
       table=st.sampled_from(["stonne", "horowitz45"]))
def test_attribution_shares_add_up(lyrs, config, table):
    try:
        df = attribute(lyrs, config, table, include_fp=True)
    except PlumsimError as e:
        event(f"refused: {type(e).__name__} {e.field}")
        return
    for _, row in df.iterrows():
        D, S, R, SR = (row[k] for k in ("D", "S", "R", "SR"))
        assert all(math.isfinite(v) and v >= 0 for v in (D, S, R, SR))
        sp, rep = row["sparsity_share"], row["repetition_share"]
        if row["metric"] == "cycles":   # integers: exact
            assert sp + rep == D - SR
        else:                            # one rounding each from the exact rational split
            exact = Fraction(D) - Fraction(SR)
            assert abs(Fraction(sp) + Fraction(rep) - exact) <= Fraction(2) ** -50 * max(abs(D), abs(SR), 1)
    assert isinstance(df.attrs.get("orderings"), list)


BAD = st.one_of(st.integers(-3, 300), st.sampled_from([2**40, 0.5, "8", None, True]))


@_profile(200)
@given(ctrl=st.sampled_from(["SIGMA_SPARSE_GEMM", "MAERI_DENSE_WORKLOAD", "TPU_OS_DENSE", "MAGMA_SPARSE_DENSE", "X"]),
       mst=st.sampled_from(["LINEAR", "OS_MESH", "?"]), rnt=st.sampled_from(["ASNETWORK", "FENETWORK", "TEMPORALRN"]),
       ms=BAD, dn=BAD, rn=BAD, rows=BAD, cols=BAD, layer=layers(max_dim=3))
def test_any_config_is_built_or_refused(ctrl, mst, rnt, ms, dn, rn, rows, cols, layer):
    """Arbitrary field values: a ConfigError, or a machine every model runs (or refuses with our error)."""
    try:
        cfg = AcceleratorConfig(ctrl, mst, rnt, ms, dn, rn, rows, cols, True)
    except PlumsimError:
        return
    assert is_pow2(cfg.ms_size) or cfg.ms_type == "OS_MESH"
    try:
        r = simulate_dataflow(layer, cfg, "native")
    except PlumsimError:
        return
    _check_result(r, cfg, "native")


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    from plumsim.cli import main

    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = main(argv)
    except SystemExit as e:   # argparse usage errors
        rc = e.code
    return rc, out.getvalue(), err.getvalue()


@_profile(30)
@given(lyrs=st.lists(layers(max_dim=4), min_size=1, max_size=2), config=configs(),
       table=st.sampled_from(["stonne", "horowitz45"]), fmt=st.sampled_from(["json", "table", "csv"]))
def test_cli_simulate_and_attribute_in_process(lyrs, config, table, fmt):
    from plumsim.accel.cfg import dump_config
    from plumsim.workload.format import Workload

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, lyr in enumerate(lyrs):
            lyr.name = f"l{i}"
        try:
            Workload("prop", lyrs).save(tmp / "wl")
        except PlumsimError as e:
            event(f"save refused: {e.field}")
            return
        cfg_path = tmp / "m.cfg"
        cfg_path.write_text(dump_config(config))
        rc, out, err = _run_cli(["simulate", str(tmp / "wl"), "--accel", str(cfg_path), "--format", fmt])
        event(f"simulate exit {rc}")
        assert rc in (0, 2), err
        if rc == 0 and fmt == "json":
            js = json.loads(out)
            assert js["total"]["cycles"] > 0
        else:
            assert rc == 0 or err.count("\n") == 1, err
        rc, out, err = _run_cli(["attribute", str(tmp / "wl"), "--accel", str(cfg_path), "--energy-table", table,
                                 "--include-fp", "--format", fmt])
        assert rc in (0, 2), err
        assert rc == 0 or err.count("\n") == 1, err
        if rc == 0 and fmt == "json":
            js = json.loads(out)
            for block in js["total"].values():
                assert block["sparsity_share"] + block["repetition_share"] == pytest.approx(
                    block["D"] - block["SR"], rel=1e-12, abs=1e-9)


def test_sigma_dense_reads_weights_once_per_batch_item_like_native():
    """SIGMA's hypothetical dataflows read the stationary weights once per batch item, as native does
    (found by the ordering scan: a binary layer with N > 1 had skip dearer than dense)."""
    from plumsim.accel.config import AcceleratorConfig as AC

    cfg = AC("SIGMA_SPARSE_GEMM", "LINEAR", "FENETWORK", 8, 8, 8)
    codes = np.ones((2, 4, 3, 3), np.int8)   # binary: no zeros, so skip places exactly what dense places
    lyr = Layer("b", "conv", "binary", LayerShape(2, 1, 4, 2, 3, 3, 5, 5, 1, 1), codes, np.ones(2, np.float32),
                np.ones(2, np.int8))
    d, s = simulate_dataflow(lyr, cfg, "dense"), simulate_dataflow(lyr, cfg, "skip")
    assert d.sram["weight_reads"] == s.sram["weight_reads"]   # 72 vs 144 (2 items x 72 weights)

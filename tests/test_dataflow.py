"""One cost model per controller, the dataflow a parameter: identities on every shipped preset, table and
scheme, orderings, and the labels of hypothetical machines."""
from pathlib import Path

import numpy as np
import pytest

from plumsim.accel.cfg import load_config
from plumsim.accel.dataflow import DATAFLOWS, hypothesis, is_stonne_faithful, simulate_dataflow
from plumsim.accel.simulate import simulate_layer
from plumsim.energy.breakdown import total_energy
from plumsim.workload.synth import synth

ROOT = Path(__file__).parent.parent
PRESETS = sorted((ROOT / "accel_configs").glob("*.cfg"))
TABLES = ["cnn-digits.yaml", "resnet20-cifar10.yaml"]
EXTENSIONS = ("INDEX.READ", "WEIGHT_STORAGE.BITS")   # plumsim's counters (STONNE has none)


def _stonne_counters(r):
    return {k: v for k, v in r.counters.items() if k not in EXTENSIONS}


def _workloads():
    out = [(t, s) for t in TABLES for s in ("signed-binary", "binary", "ternary")]
    return out


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_faithful_dataflow_is_native_and_modes_are_ordered(preset):
    cfg = load_config(preset)
    sigma = cfg.controller_type == "SIGMA_SPARSE_GEMM"
    for table, scheme in _workloads():
        wl = synth(ROOT / "workloads" / table, scheme=scheme, seed=0)
        for layer in wl.layers:
            r = {m: simulate_dataflow(layer, cfg, m) for m in DATAFLOWS}
            native = simulate_layer(layer, cfg)
            faithful = r["skip" if sigma else "dense"]
            where = (preset.stem, table, scheme, layer.name)
            # SIGMA skip == native; MAERI / TPU dense == native: same cycles and STONNE counters
            assert faithful.cycles == native.cycles, where
            assert _stonne_counters(faithful) == _stonne_counters(native), where
            assert r["native"].cycles == native.cycles
            if sigma:  # SIGMA dense == SIGMA on the same layer with every weight non-zero
                full = type(layer)(**{**layer.__dict__, "codes": np.ones(layer.codes.shape, np.int8)
                                      if layer.codes is not None else None,
                                      "weights": np.ones(layer.weights.shape, np.float32)
                                      if layer.weights is not None else None})
                assert r["dense"].cycles == simulate_layer(full, cfg).cycles, where
            c = {m: r[m].cycles for m in DATAFLOWS}
            assert c["dense"] >= c["skip"] >= c["skip+repeat"], (where, c)
            assert c["dense"] >= c["repeat"] >= c["skip+repeat"], (where, c)
            if layer.scheme == "fp":
                continue   # factorizing FP weights costs index bits for nothing: R can exceed D there
            e = {m: total_energy(r[m], "stonne") for m in DATAFLOWS}
            tol = 1e-9 * e["dense"]
            assert e["dense"] + tol >= e["skip"] and e["skip"] + tol >= e["skip+repeat"], (where, e)
            assert e["dense"] + tol >= e["repeat"] and e["repeat"] + tol >= e["skip+repeat"], (where, e)


def test_labels():
    sigma = load_config(ROOT / "accel_configs" / "sigma_128.cfg")
    maeri = load_config(ROOT / "accel_configs" / "maeri_128.cfg")
    tpu = load_config(ROOT / "accel_configs" / "tpu_8x8.cfg")
    assert [m for m in DATAFLOWS if is_stonne_faithful(sigma, m)] == ["native", "skip"]
    for cfg in (maeri, tpu):
        assert [m for m in DATAFLOWS if is_stonne_faithful(cfg, m)] == ["native", "dense"]
        assert "zero skipping" in hypothesis(cfg, "skip") and "INDEX.READ" in hypothesis(cfg, "skip")
    assert hypothesis(sigma, "skip") == "" and "bitmap switched off" in hypothesis(sigma, "dense")
    wl = synth(ROOT / "workloads" / "cnn-digits.yaml", scheme="signed-binary", seed=0)
    layer = wl.layers[1]
    r = simulate_dataflow(layer, maeri, "skip")
    assert r.info["stonne_faithful"] is False and r.info["hypothesis"] == hypothesis(maeri, "skip")
    assert simulate_dataflow(layer, maeri, "dense").info["stonne_faithful"] is True
    assert simulate_dataflow(layer, sigma, "skip+repeat").info["weight_format"] == "bitmap + one sign bit per filter"


def test_dense_array_compresses_only_when_it_pays():
    # binary has no zero: a dense array's skip is its dense mapping, exactly
    maeri = load_config(ROOT / "accel_configs" / "maeri_64.cfg")
    wl = synth(ROOT / "workloads" / "cnn-digits.yaml", scheme="binary", seed=0)
    for layer in wl.layers:
        if layer.codes is None:
            continue
        s, d = simulate_dataflow(layer, maeri, "skip"), simulate_dataflow(layer, maeri, "dense")
        assert s.cycles == d.cycles and "no filter has a zero" in s.info["timing"]

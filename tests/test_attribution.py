"""Attribution: Shapley shares add up to D - SR exactly; D >= S >= SR and D >= R >= SR on every shipped
preset for every scheme; the CLI writes the documented JSON and fails cleanly on bad input."""

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from plumsim.accel.cfg import load_config
from plumsim.energy import attribute, load_energy_table
from plumsim.energy.attribution import attribution_json, shapley
from plumsim.workload import Workload
from plumsim.workload.layer import Layer, LayerShape
from plumsim.workload.schemes import quantize

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "accel_configs").glob("*.cfg"))
SCHEMES = (("binary", None), ("ternary", None), ("signed-binary", None), ("signed-binary", 0.36))


def small_workload(scheme, density, seed=0):
    shapes = [LayerShape(N=1, G=1, C=16, K=16, R=3, S=3, X=8, Y=8, padding=1),
              LayerShape(N=1, G=1, C=16, K=32, R=3, S=3, X=8, Y=8, stride=2, padding=1),
              LayerShape(N=1, G=1, C=32, K=10, R=1, S=1, X=1, Y=1)]
    layers = []
    rng = np.random.default_rng(seed)
    for i, s in enumerate(shapes):
        w = rng.standard_normal((s.K, s.C // s.G, s.R, s.S))
        codes, scale, sign = quantize(scheme, w, density=density)
        layers.append(Layer(name=f"l{i}", kind="linear" if s.X == 1 else "conv", scheme=scheme, shape=s,
                            codes=codes, scale=scale, sign=sign))
    fp_w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    layers.insert(0, Layer(name="stem", kind="conv", scheme="fp", shape=LayerShape(1, 1, 3, 4, 3, 3, 6, 6),
                           codes=None, scale=np.ones(4, np.float32), sign=np.zeros(4, np.int8), weights=fp_w))
    return Workload(name=f"small-{scheme}", layers=layers)


def test_presets_exist():
    assert len(PRESETS) >= 3, "accel_configs/ should ship presets"


@pytest.mark.parametrize("table", ["stonne", "horowitz45"])
@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_mode_order_and_exact_shares_on_every_preset(preset, table):
    cfg = load_config(preset)
    for scheme, density in SCHEMES:
        df = attribute(small_workload(scheme, density), cfg, table)
        assert "stem" not in set(df.layer)  # FP layers left out by default
        for _, r in df.iterrows():
            D, S, R, SR = r.D, r.S, r.R, r.SR
            where = (preset.stem, table, scheme, density, r.layer, r.metric)
            assert D >= S >= SR and D >= R >= SR, (where, D, S, R, SR)
            d, s, rr, sr = map(Fraction, (D, S, R, SR))
            assert Fraction(r.sparsity_share) == ((d - s) + (rr - sr)) / 2 or \
                abs(r.sparsity_share - float(((d - s) + (rr - sr)) / 2)) <= 1e-12 * float(d)
            assert abs((r.sparsity_share + r.repetition_share) - (D - SR)) <= 1e-9 * max(1.0, D), where
        tot = df[(df.layer == "total") & (df.metric == "cycles")].iloc[0]
        per = df[(df.layer != "total") & (df.metric == "cycles")]
        assert tot.D == per.D.sum() and tot.SR == per.SR.sum()
        assert tot.sparsity_share == per.sparsity_share.sum()  # half-integers: exact


def test_shapley_split_is_exact_and_symmetric():
    sp, rep = shapley(10.0, 6.0, 7.0, 4.0)
    assert (sp, rep) == (3.5, 2.5) and sp + rep == 6.0
    assert shapley(1e9 + 0.1, 3.3, 7.7, 0.1) [0] + shapley(1e9 + 0.1, 3.3, 7.7, 0.1)[1] == pytest.approx(1e9, rel=1e-15)
    # a scheme with no zeros gets no sparsity share; a scheme with one value per filter gets repetition
    cfg = load_config(ROOT / "accel_configs" / "sigma_128.cfg")
    b = attribute(small_workload("binary", None), cfg, "stonne")
    assert (b.sparsity_share == 0).all() and (b[b.layer == "total"].repetition_share > 0).all()


def test_horowitz_units_and_fp_layers_on_request():
    cfg = load_config(ROOT / "accel_configs" / "sigma_64.cfg")
    t = load_energy_table("horowitz45")
    df = attribute(small_workload("ternary", None), cfg, t, include_fp=True)
    assert "stem" in set(df.layer)
    assert set(df[df.metric == "energy"].unit) == {"pJ"} and set(df[df.metric == "cycles"].unit) == {"cycles"}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "plumsim.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_cli_json_table_and_errors(tmp_path):
    wl = small_workload("signed-binary", 0.36)
    wl.save(tmp_path / "wl")
    cfg = ROOT / "accel_configs" / "sigma_128.cfg"
    r = _cli("attribute", tmp_path / "wl", "--accel", cfg, "--energy-table", "horowitz45", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    keys = {"D", "S", "R", "SR", "sparsity_share", "repetition_share", "unit"}
    assert set(doc["total"]) == {"energy", "cycles"}
    assert set(doc["total"]["energy"]) == keys and doc["total"]["energy"]["unit"] == "pJ"
    assert [lyr["name"] for lyr in doc["layers"]] == ["l0", "l1", "l2"]
    for blk in [doc["total"]["energy"], doc["total"]["cycles"]] + [lyr["cycles"] for lyr in doc["layers"]]:
        assert blk["sparsity_share"] + blk["repetition_share"] == pytest.approx(blk["D"] - blk["SR"], rel=1e-12)
    assert doc["total"]["cycles"]["D"] == sum(lyr["cycles"]["D"] for lyr in doc["layers"])
    assert doc == attribution_json(attribute(wl, load_config(cfg), "horowitz45")) | {}  # same as the API
    r = _cli("attribute", tmp_path / "wl", "--accel", cfg)
    assert r.returncode == 0 and "sparsity_share" in r.stdout and "STONNE units" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("unit: calories\ncomponents: {}\n")
    r = _cli("attribute", tmp_path / "wl", "--accel", cfg, "--energy-table", bad)
    assert r.returncode == 2 and "unknown unit" in r.stderr and "Traceback" not in r.stderr
    r = _cli("attribute", tmp_path / "nowhere", "--accel", cfg)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = _cli("attribute", "--help")
    assert r.returncode == 0 and "Shapley" in r.stdout


def test_unpriced_components_are_said():
    cfg = load_config(ROOT / "accel_configs" / "maeri_64.cfg")
    wl = small_workload("signed-binary", None)
    df = attribute(wl, cfg, "horowitz45")
    (note,) = df.attrs["not_priced"]
    assert "SWITCH" in note and "DN_WIRE" in note and "horowitz45" in note
    assert attribute(wl, cfg, "stonne").attrs["not_priced"] == []


def test_json_says_which_layers_the_totals_cover():
    from plumsim.workload.synth import synth

    wl = synth(ROOT / "workloads" / "cnn-digits.yaml", "signed-binary", seed=0)   # FP stem and classifier
    n_fp = sum(lyr.codes is None for lyr in wl.layers)
    assert n_fp >= 1
    cfg = load_config(ROOT / "accel_configs" / "sigma_64.cfg")
    doc = attribution_json(attribute(wl, cfg))
    assert f"{n_fp} full-precision layer(s) excluded" in doc["totals_cover"]
    assert len(doc["layers"]) == len(wl.layers) - n_fp
    doc = attribution_json(attribute(wl, cfg, include_fp=True))
    assert "no layer excluded" in doc["totals_cover"] and len(doc["layers"]) == len(wl.layers)

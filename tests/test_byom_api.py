"""The Python API (plumsim.lower/simulate/attribute/...), detection on its own (tolerance, fp, confidence),
and `plumsim lower` on .pt2 / foreign files, in-process and through the installed script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from plumsim.errors import WorkloadError
from plumsim.workload.detect import DEFAULT_RTOL, classify_codes, detect

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "plumsim"
SIGMA = ROOT / "accel_configs" / "sigma_128.cfg"
MAERI = ROOT / "accel_configs" / "maeri_128.cfg"


# ------------------------------------------------------------------------------------------- detection
def test_detection_tolerates_float_noise_and_reports_confidence():
    rng = np.random.default_rng(0)
    codes = rng.integers(-1, 2, (6, 4, 3, 3))
    noisy = codes * 0.2 * (1 + 1e-6 * rng.standard_normal(codes.shape))
    d = detect(noisy)
    assert d.scheme == "ternary" and np.array_equal(d.codes, codes)
    assert 0.9 < d.confidence < 1.0 and d.max_rel_error < DEFAULT_RTOL
    too_noisy = codes * 0.2 * (1 + 1e-2 * rng.standard_normal(codes.shape))
    assert detect(too_noisy).scheme == "fp"
    fp = detect(rng.standard_normal((6, 4, 3, 3)).astype(np.float32))
    assert fp.scheme == "fp" and fp.codes is None and 0.9 < fp.confidence <= 1.0 and "no integer grid" in fp.reason


def test_detection_schemes_and_alternatives():
    k = np.array([[1, -1, 1, 1], [-1, -1, 1, -1]])
    assert detect(k * 0.3).scheme == "binary"
    assert detect(k * 0.3).alternatives == ["ternary", "int2"]
    sb = np.array([[1, 0, 1, 0], [0, -1, -1, 0], [0, 0, 0, 0]])
    d = detect(sb * np.array([[0.5], [0.25], [1.0]]))
    assert d.scheme == "signed-binary" and d.granularity == "filter"
    np.testing.assert_array_equal(d.sign, [1, -1, -1])  # the all-zero filter takes its neighbour's sign
    g = np.array([[3, -2, 0, 1], [-4, 2, 1, 0]])
    d = detect(g * 0.125)
    assert (d.scheme, d.bits, d.granularity) == ("int3", 3, "layer")
    np.testing.assert_array_equal(d.codes, g)
    assert detect(np.zeros((2, 3))).scheme == "fp"
    assert classify_codes(np.array([[1, 0], [0, -1]]), np.ones(2)).scheme == "signed-binary"
    assert classify_codes(np.array([[7, -8]]), np.ones(1)).scheme == "int4"
    with pytest.raises(WorkloadError, match="forced to scheme int2 .*no integer grid of 2 bits"):
        detect(g * 0.125, force="int2", layer="L")


# ------------------------------------------------------------------------------------------- the API
def test_import_plumsim_is_light():
    code = ("import sys, plumsim; assert 'torch' not in sys.modules and 'plumsim.api' not in sys.modules; "
            "assert callable(plumsim.lower) and 'torch' not in sys.modules; "
            "import plumsim.sweep.evaluate; assert callable(plumsim.run_sweep); print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "ok", r.stderr


def _model():
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    with torch.no_grad():
        m[0].weight.copy_(torch.sign(torch.randn_like(m[0].weight)) * 0.5)
        m[3].weight.copy_(torch.randint(-1, 2, m[3].weight.shape).float() * 0.1)
    return m, torch.randn(1, 1, 4, 4)


def test_api_lower_simulate_attribute(tmp_path):
    import plumsim

    m, x = _model()
    wl = plumsim.lower(m, x, out=tmp_path / "wl")
    assert [lyr.scheme for lyr in wl.layers] == ["binary", "ternary"]
    back = plumsim.load_workload(tmp_path / "wl")
    sim = plumsim.simulate(back, SIGMA)
    assert list(sim["layer"]) == ["0", "3"] and (sim["cycles"] > 0).all()
    assert list(plumsim.simulate(tmp_path / "wl", MAERI, mode="dense")["mode"]) == ["dense", "dense"]
    att = plumsim.attribute(wl, SIGMA)
    assert set(att["layer"]) == {"0", "3", "total"}
    st = plumsim.workload_stats(wl)
    assert list(st["scheme"]) == ["binary", "ternary"]


# ------------------------------------------------------------------------------------------- the CLI
def test_cli_pt2_and_foreign_files(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from plumsim.cli import main

    m, x = _model()
    pt2 = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(m, (x,)), str(pt2))
    assert main(["lower", str(pt2), "--out", str(tmp_path / "w"), "--format", "json", "--input-samples", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [lyr["scheme"] for lyr in doc["layers"]] == ["binary", "ternary"]
    assert doc["layers"][0]["options"]["detection"]["confidence"] == 1.0

    def refused(path, match, *extra):
        rc = main(["lower", str(path), "--out", str(tmp_path / "bad"), *extra])
        err = capsys.readouterr().err
        assert rc == 2 and len(err.strip().splitlines()) == 1 and match in err, err
        assert not (tmp_path / "bad").exists()

    torch.save(m, tmp_path / "model.pt")
    refused(tmp_path / "model.pt", "unsupported input file; plumsim lower takes a plumsim checkpoint folder")
    refused(pt2, "exported for input [1, 1, 4, 4]", "--input-shape", "1,1,5,5")
    refused(tmp_path, "not a plumsim checkpoint folder")
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    refused(tmp_path / "junk.pt2", "cannot load torch.export archive")
    refused(pt2, "matches no layer", "--scheme", "conv=ternary")


def test_model_whose_forward_fails():
    torch = pytest.importorskip("torch")
    import plumsim

    m, _ = _model()
    with pytest.raises(WorkloadError, match=r"forward pass of 'Sequential' on input \(1, 1, 5, 5\) failed"):
        plumsim.lower(m, torch.randn(1, 1, 5, 5))


def test_installed_script_lowers_onnx(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    m, x = _model()
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), dynamo=False)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([str(BIN), "lower", str(path), "--out", str(tmp_path / "w"), "--format", "csv"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "binary" in r.stdout and "ternary" in r.stdout
    r = subprocess.run([str(BIN), "lower", str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "w2")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not found" in r.stderr
    assert not (tmp_path / "w2").exists()


def test_run_sweep_and_plot_through_the_api(tmp_path):
    """plumsim.run_sweep returns the results table (same as results.parquet) and plumsim.plot draws it."""
    import pandas as pd

    import plumsim
    from test_sweep import write_grid

    df = plumsim.run_sweep(write_grid(tmp_path), tmp_path / "out", workers=1)
    stored = pd.read_parquet(tmp_path / "out" / "results.parquet")
    pd.testing.assert_frame_equal(df, stored)
    assert df.attrs["summary"]["points_computed"] == len(df) > 0
    paths = plumsim.plot(tmp_path / "out", only=["attribution"])
    assert paths and all(p.exists() and p.stat().st_size > 0 for p in paths)

"""CLI: plumsim lower / workload synth / workload show, in-process and through the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from plumsim.cli import main
from plumsim.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "workloads"
SCRIPT = Path(sys.executable).parent / "plumsim"


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_synth_prints_per_layer_density_and_writes_a_valid_workload(tmp_path, capsys):
    rc, out, err = _run(capsys, "workload", "synth", "--table", TABLES / "resnet20-cifar10.yaml",
                        "--scheme", "signed-binary", "--seed", 3, "--out", tmp_path / "w")
    assert rc == 0, err
    wl = Workload.load(tmp_path / "w")
    assert wl.meta["seed"] == 3 and wl.name == "resnet20-cifar10-signed-binary"
    lines = out.splitlines()
    header = lines[1].split()
    assert "density" in header
    col = header.index("density")
    for lyr in wl.layers:
        row = next(ln.split() for ln in lines if ln.split() and ln.split()[0] == lyr.name)
        assert float(row[col]) == pytest.approx(lyr.density, abs=5e-5)
    assert "quantized layers: 18" in out


def test_synth_options_density_and_positive_fraction(tmp_path, capsys):
    rc, out, err = _run(capsys, "workload", "synth", "--table", TABLES / "cnn-digits.yaml", "--scheme",
                        "signed-binary", "--density", 0.25, "--positive-fraction", 0.75, "--out", tmp_path / "w",
                        "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    conv2 = next(x for x in doc["layers"] if x["name"] == "conv2")
    assert conv2["nnz_per_region_min"] == conv2["nnz_per_region_max"] == round(0.25 * 16 * 9)
    wl = Workload.load(tmp_path / "w")
    assert (wl.layer("conv2").sign == 1).sum() == 24  # floor(0.75 * 32)


def test_show_json_schema(tmp_path, capsys):
    assert _run(capsys, "workload", "synth", "--table", TABLES / "cnn-digits.yaml", "--scheme", "ternary",
                "--out", tmp_path / "w")[0] == 0
    rc, out, err = _run(capsys, "workload", "show", tmp_path / "w", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    assert [x["name"] for x in doc["layers"]] == ["conv1", "conv2", "conv3", "fc"]
    for x in doc["layers"]:
        for key in ("name", "kind", "scheme", "shape", "density", "nnz", "numel",
                    "max_unique_nonzero_per_region"):
            assert key in x
        assert set(x["shape"]) == {"N", "G", "C", "K", "R", "S", "X", "Y", "stride", "padding"}
        assert x["kind"] in ("conv", "linear")
        assert x["density"] == pytest.approx(x["nnz"] / x["numel"])
    assert doc["layers"][1]["scheme"] == "ternary" and doc["layers"][1]["max_unique_nonzero_per_region"] <= 2
    rc, out, _ = _run(capsys, "workload", "show", tmp_path / "w", "--format", "csv", "--all-columns")
    assert rc == 0 and out.splitlines()[0].startswith("name,kind,scheme,N,G,C,K")
    assert len(out.splitlines()) == 5


def test_lower_checkpoint(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from plumsim.quant.checkpoint import save_checkpoint
    from plumsim.quant.models import build_model

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "ckpt", build_model("cnn-digits", scheme="ternary"), {})
    rc, out, err = _run(capsys, "lower", tmp_path / "ckpt", "--out", tmp_path / "w", "--batch", 2,
                        "--input-samples", 1)
    assert rc == 0, err
    wl = Workload.load(tmp_path / "w")
    assert [lyr.scheme for lyr in wl.layers] == ["fp", "ternary", "ternary", "fp"]
    assert wl.layers[1].shape.N == 2 and wl.layers[1].input_sample.shape == (1, 16, 8, 8)
    assert "conv2" in out


@pytest.mark.parametrize("argv,needle", [
    (["workload", "synth", "--table", "{tmp}/none.yaml", "--scheme", "binary", "--out", "{tmp}/w"], "not found"),
    (["workload", "synth", "--table", "{tmp}/bad.yaml", "--scheme", "binary", "--out", "{tmp}/w"], "not valid YAML"),
    (["workload", "synth", "--table", "{tables}/cnn-digits.yaml", "--scheme", "quaternary", "--out", "{tmp}/w"],
     "unknown scheme 'quaternary'"),
    (["workload", "synth", "--table", "{tables}/cnn-digits.yaml", "--scheme", "binary", "--density", "0.5",
      "--out", "{tmp}/w"], "density must be 1"),
    (["workload", "show", "{tmp}/corrupt"], "tensors.npz"),
    (["workload", "show", "{tmp}/none"], "not found"),
    (["lower", "{tmp}/none", "--out", "{tmp}/w"], "not found"),
])
def test_errors_exit_2_with_one_line(tmp_path, capsys, argv, needle):
    (tmp_path / "bad.yaml").write_text("layers: [\n  {name: a\n")
    from plumsim.workload import synth

    synth(TABLES / "cnn-digits.yaml", "binary").save(tmp_path / "corrupt")
    data = (tmp_path / "corrupt" / "tensors.npz").read_bytes()
    (tmp_path / "corrupt" / "tensors.npz").write_bytes(data[:100])
    argv = [a.format(tmp=tmp_path, tables=TABLES) for a in argv]
    rc, out, err = _run(capsys, *argv)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("plumsim: error: ")
    assert needle in err and "Traceback" not in err


def test_installed_script(tmp_path):
    """The console script end to end: synth, show --format json, and an error exit."""
    assert SCRIPT.exists(), SCRIPT
    r = subprocess.run([str(SCRIPT), "workload", "synth", "--table", str(TABLES / "cnn-digits.yaml"),
                        "--scheme", "signed-binary", "--out", str(tmp_path / "w")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "density" in r.stdout
    r = subprocess.run([str(SCRIPT), "workload", "show", str(tmp_path / "w"), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["layers"][1]["max_unique_nonzero_per_region"] == 1
    (tmp_path / "w" / "manifest.json").write_text("{not json")
    r = subprocess.run([str(SCRIPT), "workload", "show", str(tmp_path / "w")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "manifest.json" in r.stderr and "Traceback" not in r.stderr
    for cmd in (["lower", "--help"], ["workload", "synth", "--help"], ["workload", "show", "--help"]):
        r = subprocess.run([str(SCRIPT), *cmd], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "usage: plumsim" in r.stdout

"""The end-to-end demo: trains the digits CNN per scheme, lowers it, sweeps, plots, reports; a second run
reuses everything. The full `make demo` (shipped grid, fast recipe) is the slow test at the end."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from plumsim.cli import main
from plumsim.plots import FIGURES

ROOT = Path(__file__).resolve().parents[1]


def small_grid(tmp_path: Path) -> Path:
    """The shipped demo grid cut down for a test: its first two accelerator entries, ResNet-20 table only."""
    raw = yaml.safe_load((ROOT / "accel_configs" / "sweeps" / "demo.yaml").read_text())
    raw["accelerators"] = [dict(a, base=str((ROOT / "accel_configs" / "sweeps" / a["base"]).resolve()),
                                axes={k: v[:1] for k, v in a["axes"].items()})
                           for a in raw["accelerators"][:2]]
    raw["workloads"] = [{"table": str(ROOT / "workloads" / "resnet20-cifar10.yaml"), "name": "resnet20",
                         "schemes": ["signed-binary"]}]
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_demo_pipeline_and_rerun_reuses_everything(tmp_path, capsys):
    out = tmp_path / "demo"
    grid = small_grid(tmp_path)
    assert main(["demo", "--out", str(out), "--grid", str(grid), "--epochs", "1", "--workers", "2"]) == 0
    cap = capsys.readouterr()
    assert "report:" in cap.out and str(out / "report.html") in cap.out
    assert "(trained," in cap.err
    models = pd.read_csv(out / "models.csv")
    assert models["scheme"].tolist() == ["fp", "binary", "ternary", "signed-binary"]
    assert (models["val_acc"] > 0.3).all()  # one epoch on digits already beats chance (0.1) by far
    for s in models["scheme"]:
        assert (out / "lowered" / f"cnn-digits-{s}" / "manifest.json").is_file()
    df = pd.read_parquet(out / "results.parquet")
    # 4 lowered digits models + 1 ResNet-20 table, on 2 configurations, native + 4 modes, every layer
    assert set(df["workload"]) == {"cnn-digits-fp", "cnn-digits-binary", "cnn-digits-ternary",
                                   "cnn-digits-signed-binary", "resnet20-signed-binary-s0"}
    assert df["config_id"].nunique() == 2
    assert set(df["mode"]) == {"native", "dense", "skip", "repeat", "skip+repeat"}
    # every row says whether STONNE runs it as modelled; MAERI dense and SIGMA skip are STONNE's own
    faithful = df.groupby(["controller_type", "mode"])["stonne_faithful"].first().to_dict()
    assert faithful[("MAERI_DENSE_WORKLOAD", "dense")] and not faithful[("MAERI_DENSE_WORKLOAD", "skip")]
    assert faithful[("SIGMA_SPARSE_GEMM", "skip")] and not faithful[("SIGMA_SPARSE_GEMM", "dense")]
    assert (df[~df["stonne_faithful"]]["hypothesis"].str.len() > 0).all()
    assert (df[df["workload"] == "cnn-digits-fp"]["scheme"] == "fp").all()
    sb = df[(df["workload"] == "cnn-digits-signed-binary") & (df["scheme"] != "fp")]
    assert (sb["density"] < 1).all()
    for f in FIGURES:
        assert (out / "plots" / f"{f}.png").is_file()
    assert (out / "report.html").stat().st_size > 10_000
    first = json.loads((out / "demo.json").read_text())
    assert first["sweep"]["pairs_computed"] == first["sweep"]["pairs"]

    before = (out / "models" / "cnn-digits-signed-binary" / "weights.npz").stat().st_mtime_ns
    assert main(["demo", "--out", str(out), "--grid", str(grid), "--epochs", "1"]) == 0
    cap = capsys.readouterr()
    assert "(trained," not in cap.err and cap.err.count("(reused,") == 4
    again = json.loads((out / "demo.json").read_text())
    assert again["sweep"]["pairs_computed"] == 0 and again["sweep"]["pairs_resumed"] == first["sweep"]["pairs"]
    assert (out / "models" / "cnn-digits-signed-binary" / "weights.npz").stat().st_mtime_ns == before
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), df)


def test_demo_bad_grid_is_a_one_line_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--grid", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.yaml" in err[0] and "--grid" in err[0]
    assert main(["demo", "--out", str(tmp_path / "d"), "--epochs", "0"]) == 2


@pytest.mark.slow
def test_make_demo_under_five_minutes(tmp_path):
    """`plumsim demo` as `make demo` runs it (shipped grid, fast recipe), as a real subprocess."""
    t0 = time.time()
    res = subprocess.run([sys.executable, "-m", "plumsim.cli", "demo", "--out", str(tmp_path / "demo")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    took = time.time() - t0
    assert res.returncode == 0, res.stderr[-2000:]
    assert took < 300, took
    assert (tmp_path / "demo" / "report.html").is_file()

"""Figures from a real (small) sweep: every figure is written as PNG and SVG, the PNG decodes to a real
image, the axes carry labels with units; the Pareto front and the workload totals are checked on their own."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_sweep import write_grid

from plumsim.cli import main
from plumsim.plots import FIGURES, plot_results
from plumsim.plots.figures import pareto_front
from plumsim.results import reference_configs, workload_totals
from plumsim.sweep.runner import run_sweep


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plots")
    p = write_grid(tmp)
    s = run_sweep(p, tmp / "out", workers=1, progress=False, log=io.StringIO())
    s["plots"] = [str(q) for q in plot_results(tmp / "out")]
    return tmp / "out", s


def test_sweep_draws_every_figure_png_pdf_and_svg(swept):
    import matplotlib.image as mpimg

    out, summary = swept
    assert sorted(Path(x).name for x in summary["plots"]) == sorted(
        f"{f}.{e}" for f in FIGURES for e in ("png", "pdf", "svg"))
    for f in FIGURES:
        img = mpimg.imread(out / "plots" / f"{f}.png")
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
        assert img[..., :3].std() > 0.05  # not a blank canvas
        svg = (out / "plots" / f"{f}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
        assert "<text" in svg                     # real text, not glyph paths
        assert (out / "plots" / f"{f}.pdf").read_bytes()[:5] == b"%PDF-"
    # print resolution: 300 dpi
    from PIL import Image

    assert round(Image.open(out / "plots" / "pareto.png").info["dpi"][0]) == 300


@pytest.mark.parametrize("fig, labels", [
    ("energy_vs_density", ["weight density", "energy per inference (STONNE units)"]),
    ("attribution", ["share of dense energy (%)", "sparsity share", "repetition share"]),
    ("size_scaling", ["PE-array size (multipliers, ms_size)", "cycles per inference",
                      "energy per inference (STONNE units)"]),
    ("pareto", ["cycles per inference", "energy per inference (STONNE units)", "Pareto front"]),
    ("layer_breakdown", ["energy (STONNE units)", "global buffer", "static"]),
])
def test_axes_are_labelled_with_units(swept, fig, labels):
    svg = (swept[0] / "plots" / f"{fig}.svg").read_text()
    for lab in labels:
        # the SVG keeps its text as text
        assert f">{lab}<" in svg or lab in svg, (fig, lab)


def test_plot_command_redraws_only_what_is_asked(swept, capsys):
    out, _ = swept
    png = out / "plots" / "pareto.png"
    before = png.stat().st_mtime_ns
    other = (out / "plots" / "attribution.png").stat().st_mtime_ns
    assert main(["plot", str(out), "--only", "pareto"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "plots" / f"pareto.{e}") for e in ("png", "pdf", "svg")]
    assert png.stat().st_mtime_ns >= before
    assert (out / "plots" / "attribution.png").stat().st_mtime_ns == other
    assert main(["plot", str(out), "--only", "pie"]) == 2


def test_pareto_front_mechanism():
    cycles = np.array([10, 20, 30, 15, 40, 10], dtype=float)
    energy = np.array([9, 5, 6, 9.5, 1, 12], dtype=float)
    front = pareto_front(cycles, energy)
    assert front.tolist() == [0, 1, 4]  # (10,9) (20,5) (40,1); (30,6) (15,9.5) (10,12) are dominated
    rng = np.random.default_rng(0)
    c, e = rng.random(200), rng.random(200)
    f = set(pareto_front(c, e).tolist())
    for i in range(200):  # a point is on the front iff nothing beats it in both
        dominated = np.any((c <= c[i]) & (e <= e[i]) & ((c < c[i]) | (e < e[i])))
        assert (i in f) == (not dominated)


def test_workload_totals_and_reference_configs(swept):
    df = pd.read_parquet(swept[0] / "results.parquet")
    tot = workload_totals(df)
    assert len(tot) == df.groupby(["config_id", "workload", "mode"]).ngroups
    one = tot.iloc[0]
    rows = df[(df["config_id"] == one["config_id"]) & (df["workload"] == one["workload"])
              & (df["mode"] == one["mode"])]
    assert one["energy"] == pytest.approx(rows["energy"].sum()) and one["cycles"] == rows["cycles"].sum()
    q = rows[rows["scheme"] != "fp"]
    assert one["weight_density"] == pytest.approx(q["nnz"].sum() / q["numel"].sum())
    refs = reference_configs(df)
    assert list(refs) == ["sigma", "tpu", "maeri"]  # grid order
    assert refs["sigma"] == "sigma-ms64-dn16-rn16-ab0-auto" and refs["maeri"].startswith("maeri-ms64")

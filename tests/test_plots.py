"""Figures from a real (small) sweep: every figure function on the results frame returns (fig, ax) and
writes PNG (300 dpi, exact column / double width), PDF and SVG (text kept as <text>); every axis is
labelled with a unit; markers of different schemes never share a position without a visible offset;
attribution bars are never clipped and share one baseline; `plumsim plot` options and its one-line
errors; the Pareto front and the workload totals on their own."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from test_sweep import MODES4, TABLE, write_grid

from plumsim.cli import main
from plumsim.plots import FIGURES, plot_frame, plot_results, style
from plumsim.plots import accuracy as acc_figs
from plumsim.plots import figures as figs
from plumsim.results import attribution_frame, reference_configs, workload_totals
from plumsim.sweep.runner import run_sweep

UNIT = re.compile(r"\((cycles|STONNE units|pJ|%|multipliers|ms_size|fraction|non-zeros / weights|[^()]*%[^()]*)\)")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plots")
    p = write_grid(tmp, modes=["native", *MODES4],
                   workloads=[{"table": str(TABLE), "schemes": ["binary", "ternary", "signed-binary"],
                               "name": "digits"}])
    run_sweep(p, tmp / "out", workers=1, progress=False, log=io.StringIO())
    return tmp / "out"


@pytest.fixture(scope="module")
def df(swept):
    return pd.read_parquet(swept / "results.parquet")


@pytest.fixture(scope="module")
def runs():
    """Trained runs as models.csv / accuracy_runs give them: 3 schemes x 3 seeds."""
    rng = np.random.default_rng(0)
    rows = []
    for s, d, e in (("binary", 1.0, 9e4), ("ternary", 0.57, 7e4), ("signed-binary", 0.31, 5e4)):
        for seed in range(3):
            rows.append({"scheme": s, "seed": seed, "val_acc": 0.97 + 0.01 * rng.random(), "density": d,
                         "energy": e * (1 + 0.01 * seed), "cycles": 9000.0, "energy_unit": "STONNE units"})
    return pd.DataFrame(rows)


def _calls(df, runs):
    """Every figure function with its data."""
    return {"energy_vs_density": lambda **k: figs.energy_vs_density(df, **k),
            "attribution": lambda **k: figs.attribution(df, **k),
            "layer_attribution": lambda **k: figs.layer_attribution(df, **k),
            "modes": lambda **k: figs.modes(df, **k),
            "size_scaling": lambda **k: figs.size_scaling(df, **k),
            "pareto": lambda **k: figs.pareto(df, **k),
            "layer_breakdown": lambda **k: figs.layer_breakdown(df, **k),
            "accuracy_vs_energy": lambda **k: acc_figs.accuracy_vs_energy(runs, **k),
            "accuracy_vs_density": lambda **k: acc_figs.accuracy_vs_density(runs, **k)}


def _labels(fig, ax) -> list[str]:
    out = []
    for a in np.atleast_1d(ax).ravel():
        out += [a.get_xlabel(), a.get_ylabel()]
    for t in (fig._supxlabel, fig._supylabel):
        if t is not None:
            out.append(t.get_text())
    return [x for x in out if x]


def test_every_figure_function_writes_png_pdf_svg_with_units(df, runs, tmp_path):
    from PIL import Image

    calls = _calls(df, runs)
    assert set(calls) == set(FIGURES)
    for name, call in calls.items():
        fig, ax = call(size="column")
        labels = _labels(fig, ax)
        # a y quantity with its unit (x too, except category bars: schemes, layers)
        assert any(UNIT.search(lab) for lab in labels), (name, labels)
        if name in ("energy_vs_density", "size_scaling", "pareto", "accuracy_vs_energy", "accuracy_vs_density"):
            assert sum(bool(UNIT.search(lab)) for lab in labels) >= 2, (name, labels)
        assert fig.get_size_inches()[0] == pytest.approx(3.5)
        paths = style.save(fig, tmp_path, name)
        assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"]
        img = Image.open(tmp_path / f"{name}.png")
        assert round(img.info["dpi"][0]) == 300 and img.size[0] == 1050, (name, img.size)
        assert np.asarray(img.convert("L")).std() > 10  # not a blank canvas
        svg = (tmp_path / f"{name}.svg").read_text()
        assert "<text" in svg and "</svg>" in svg
        assert (tmp_path / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    fig, _ = figs.pareto(df, size="double")
    style.save(fig, tmp_path, "wide", formats=("png",))
    assert Image.open(tmp_path / "wide.png").size[0] == 2100


def _marker_positions(fig):
    """(scheme, x px, y px, marker size px) of every marker tagged with its scheme, as drawn."""
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = line.get_gid() or ""
            if gid.startswith("scheme:") and line.get_marker() not in (None, "None", ""):
                for x, y in line.get_transform().transform(line.get_xydata()):
                    out.append((gid[7:], x, y, line.get_markersize() * fig.dpi / 72))
    return out


def _assert_apart(pos):
    assert pos
    for i, (s1, x1, y1, m1) in enumerate(pos):
        for s2, x2, y2, m2 in pos[i + 1:]:
            if s1 != s2:
                assert np.hypot(x1 - x2, y1 - y2) >= 0.9 * max(m1, m2), (s1, s2, x1, y1)


def test_markers_of_different_schemes_never_share_a_position(df, runs):
    # fp: an exact copy of the binary workload (same density, same energy): the worst case
    cp = df[df["workload_scheme"] == "binary"].copy()
    cp["workload"] = "digits-fp-copy"
    cp["workload_scheme"] = "fp"
    both = pd.concat([df, cp], ignore_index=True)
    for size in ("column", "double"):
        fig, _ = figs.energy_vs_density(both, size=size)
        pos = _marker_positions(fig)
        assert {p[0] for p in pos} == {"fp", "binary", "ternary", "signed-binary"}
        _assert_apart(pos)
        style.plt().close(fig)
    r2 = pd.concat([runs, runs[runs["scheme"] == "binary"].assign(scheme="fp")], ignore_index=True)
    for fn in (acc_figs.accuracy_vs_density, acc_figs.accuracy_vs_energy):
        fig, _ = fn(r2)
        pos = _marker_positions(fig)
        assert len({p[0] for p in pos}) == 4
        _assert_apart(pos)
        style.plt().close(fig)
    # points far apart stay where they are (no offset without a collision)
    fig, ax = figs.energy_vs_density(df, mode="skip+repeat")
    pos = _marker_positions(fig)
    sb = [p for p in pos if p[0] == "signed-binary"]
    line = [ln for ln in np.atleast_1d(ax).ravel()[0].get_lines() if ln.get_gid() == "scheme:signed-binary"][0]
    assert line.get_transform().transform(line.get_xydata())[0][0] == pytest.approx(sb[0][1])


def test_attribution_one_baseline_never_clipped(df):
    cid = reference_configs(df)["sigma"]
    t = attribution_frame(df, cid, metric="energy", normalize="baseline")
    b = t[t["workload_scheme"] == "binary"]
    assert b["dense"].iloc[0] == pytest.approx(100.0)
    assert np.allclose(t["dense"], t["remaining"] + t["sparsity_share"] + t["repetition_share"])
    # per layer, the bars add up to the workload's bar
    lay = attribution_frame(df, cid, metric="cycles", by="layer", workload=b["workload"].iloc[0])
    tc = attribution_frame(df, cid, metric="cycles")
    assert lay["dense"].sum() == pytest.approx(tc.loc[tc["workload"] == b["workload"].iloc[0], "dense"].iloc[0])
    for metric in ("energy", "cycles"):
        for norm in ("baseline", "absolute"):
            fig, axes = figs.attribution(df, config=cid, metric=metric, normalize=norm)
            fig.canvas.draw()
            for ax in np.atleast_1d(axes):
                top = max(p.get_y() + p.get_height() for p in ax.patches)
                low = min(p.get_y() for p in ax.patches)
                assert ax.get_ylim()[1] >= top and ax.get_ylim()[0] <= min(0, low)
            style.plt().close(fig)


def test_hypothetical_machines_are_named(df):
    cid = reference_configs(df)["sigma"]   # SIGMA: dense, repeat, skip+repeat are hypothetical
    fig, ax = figs.modes(df, config=cid)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "hypothetical machine" in texts
    hatched = {c.get_label() for c in ax.containers if c.patches[0].get_hatch()}
    assert {"dense", "repeat", "skip+repeat"} <= hatched and "skip" not in hatched and "native" not in hatched
    fig, _ = figs.energy_vs_density(df, config=cid)
    legend = [t.get_text() for ax in fig.axes for lg in ([ax.get_legend()] if ax.get_legend() else [])
              for t in lg.get_texts()] + [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert "skip+repeat (hypothetical machine)" in legend and "native (STONNE's dataflow)" in legend
    style.plt().close("all")


def test_plot_results_skips_accuracy_without_models_with_a_note(swept, tmp_path):
    log = io.StringIO()
    df = pd.read_parquet(swept / "results.parquet")
    paths = plot_frame(df, tmp_path, only=["accuracy_vs_energy", "pareto"], formats=("png",), log=log)
    assert [p.name for p in paths] == ["pareto.png"]
    assert "accuracy_vs_energy skipped" in log.getvalue()


def test_plot_command_options_and_errors(swept, capsys):
    out = swept
    assert main(["plot", str(out), "--only", "pareto"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "plots" / f"pareto.{e}") for e in ("png", "pdf", "svg")]
    other = out / "plots" / "pareto.png"
    before = other.stat().st_mtime_ns
    wl = "digits-signed-binary-s0"
    cid = reference_configs(pd.read_parquet(out / "results.parquet"))["tpu"]
    assert main(["plot", str(out), "--only", "energy_vs_density", "attribution", "--metric", "cycles",
                 "--format", "pdf", "--size", "double", "--config", cid, "--workload", wl, "--mode", "skip"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "plots" / "cycles_vs_density.pdf"), str(out / "plots" / "attribution_cycles.pdf")]
    assert other.stat().st_mtime_ns == before  # nothing else redrawn
    for args, field, valid in ((["--only", "pie"], "--only", "pareto"), (["--workload", "nope"], "--workload", wl),
                               (["--config", "nope"], "--config", cid), (["--mode", "nope"], "--mode", "skip+repeat"),
                               (["--format", "gif"], "--format", "svg")):
        assert main(["plot", str(out), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and field in err[0] and valid in err[0], err


def test_sweep_folder_draws_every_results_figure(swept):
    paths = plot_results(swept, formats=("png",), only=["attribution", "layer_attribution"])
    assert sorted(p.name for p in paths) == sorted(["attribution.png", "attribution_cycles.png",
                                                     "layer_attribution.png", "layer_attribution_cycles.png"])


def test_pareto_front_mechanism():
    cycles = np.array([10, 20, 30, 15, 40, 10], dtype=float)
    energy = np.array([9, 5, 6, 9.5, 1, 12], dtype=float)
    front = figs.pareto_front(cycles, energy)
    assert front.tolist() == [0, 1, 4]  # (10,9) (20,5) (40,1); (30,6) (15,9.5) (10,12) are dominated
    rng = np.random.default_rng(0)
    c, e = rng.random(200), rng.random(200)
    f = set(figs.pareto_front(c, e).tolist())
    for i in range(200):  # a point is on the front iff nothing beats it in both
        dominated = np.any((c <= c[i]) & (e <= e[i]) & ((c < c[i]) | (e < e[i])))
        assert (i in f) == (not dominated)
    # the accuracy frontier: lower cost, higher accuracy
    assert acc_figs.frontier(np.array([1.0, 2, 3]), np.array([90.0, 95, 94])).tolist() == [0, 1]


def test_workload_totals_and_reference_configs(df):
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


def test_matplotlib_is_imported_only_when_drawing():
    import subprocess
    import sys

    code = ("import sys, plumsim.plots, plumsim.plots.figures, plumsim.plots.accuracy, plumsim.report; "
            "print('matplotlib' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"

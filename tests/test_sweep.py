"""Sweeps: grid validation, local executor, the crash-safe store (resume, SIGKILL, --fresh), progress, CLI.

Real files throughout: the shipped presets in accel_configs/, the shipped digits layer table, grids written
to tmp_path, real worker processes and a real ``plumsim`` subprocess killed with SIGKILL.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from plumsim.cli import main
from plumsim.errors import ConfigError
from plumsim.sweep.grid import load_grid
from plumsim.sweep.progress import Progress
from plumsim.sweep.runner import make_chunks, run_sweep
from plumsim.sweep.store import ResultStore

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "accel_configs"
TABLE = ROOT / "workloads" / "cnn-digits.yaml"
MODES4 = ["dense", "skip", "repeat", "skip+repeat"]


def write_grid(tmp_path: Path, name="g", **over) -> Path:
    """A small grid on the shipped presets: SIGMA x3 sizes (one invalid dn_bw), TPU 2 meshes (one invalid),
    MAERI x2, the digits table with two schemes."""
    grid = {
        "name": name,
        "energy_table": "stonne",
        "modes": MODES4,
        "accelerators": [
            {"label": "sigma", "base": str(PRESETS / "sigma_128.cfg"),
             "axes": {"ms_size": [32, 64], "dn_bw": ["ms_size/4", 128], "rn_bw": ["same"]}},
            {"label": "tpu", "base": str(PRESETS / "tpu_8x8.cfg"), "axes": {"mesh": ["8x8", "8x16"]}},
            {"label": "maeri", "base": str(PRESETS / "maeri_64.cfg"),
             "axes": {"ms_size": [32, 64], "dn_bw": ["ms_size/4"], "accumulation_buffer": [True, False]}},
        ],
        "workloads": [{"table": str(TABLE), "schemes": ["binary", "signed-binary"], "name": "digits"}],
    }
    grid.update(over)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(grid, sort_keys=False))
    return p


def test_grid_expands_and_lists_invalid_combinations(tmp_path):
    g = load_grid(write_grid(tmp_path))
    ids = [a.config_id for a in g.accels]
    # sigma: 2 sizes x dn_bw {ms/4, 128}: 128 > ms_size for both sizes -> invalid, listed with the reason
    assert "sigma-ms32-dn8-rn8-ab0-auto" in ids and "sigma-ms64-dn16-rn16-ab0-auto" in ids
    bad = {b["config_id"]: b["reason"] for b in g.invalid}
    assert "dn_bw=128" in bad["sigma-ms32-dn128-rn128-ab0-auto"]
    assert "ms_size (32)" in bad["sigma-ms32-dn128-rn128-ab0-auto"]
    # an 8x16 mesh with dn_bw 8: (8+16)/8 = 3 lanes, not a power of two: STONNE cannot build it
    tpu_bad = [k for k in bad if k.startswith("tpu-m8x16")]
    assert tpu_bad and "power of two" in bad[tpu_bad[0]]
    assert len(g.accels) == 2 + 1 + 4 and len(g.invalid) == 2 + 1      # MAERI: 2 sizes x buffer on, off
    assert [w.name for w in g.workloads] == ["digits-binary-s0", "digits-signed-binary-s0"]
    # invalid configurations never reach the valid list
    assert not set(bad) & set(ids)


@pytest.mark.parametrize("edit, field, words", [
    (lambda g: g.update(colour="red"), "colour", "unknown key"),
    (lambda g: g["accelerators"][0]["axes"].update(ms_sise=[64]), "accelerators[0].axes.ms_sise", "valid keys"),
    (lambda g: g["accelerators"][0].update(base="nope.cfg"), "accelerators[0].base", "does not exist"),
    (lambda g: g["accelerators"][0]["axes"].update(mesh=["8x8"]), "accelerators[0].axes.mesh", "OS_MESH"),
    (lambda g: g.update(modes=["dense", "fast"]), "modes", "unknown mode"),
    (lambda g: g["workloads"][0].update(schemes=["quaternary"]), "workloads[0].schemes", "unknown scheme"),
    (lambda g: g["workloads"][0].update(densities=[1.5]), "workloads[0].densities", "bad density"),
    (lambda g: g["accelerators"][0]["axes"].update(dn_bw=["ms_size/zero"]), "accelerators[0].axes.dn_bw",
     "bad value"),
    (lambda g: g["workloads"].append({"dir": "/no/such/workload"}), "workloads[1].dir", "does not exist"),
])
def test_grid_structural_errors_name_file_and_field(tmp_path, edit, field, words):
    p = write_grid(tmp_path)
    raw = yaml.safe_load(p.read_text())
    edit(raw)
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as exc:
        load_grid(p)
    msg = str(exc.value)
    assert str(p) in msg and f"field '{field}'" in msg and words in msg


def test_grid_with_only_invalid_configs_fails(tmp_path):
    p = write_grid(tmp_path, accelerators=[{"base": str(PRESETS / "sigma_64.cfg"), "axes": {"dn_bw": [128]}}])
    with pytest.raises(ConfigError, match="all 1 combinations are invalid"):
        load_grid(p)


def test_make_chunks_cover_every_task_once():
    tasks = [{"i": i} for i in range(23)]
    chunks = make_chunks(tasks, [10] * 23, workers=2, chunk_points=35)
    assert [t["i"] for ch in chunks for t in ch] == list(range(23))
    assert all(len(ch) == 4 for ch in chunks[:-1])  # 4 x 10 >= 35 points per chunk


def _check_table(df: pd.DataFrame, grid) -> None:
    n_layers = 4  # cnn-digits: 3 conv + fc
    assert len(df) == len(grid.accels) * len(grid.workloads) * n_layers * len(grid.modes)
    assert not df.duplicated(["pair_key", "layer_index", "mode"]).any()
    for col in ("controller_type", "ms_size", "dn_bw", "rn_bw", "ms_rows", "ms_cols", "accumulation_buffer",
                "tile_policy", "cycles", "energy", "energy_unit", "density", "repetition",
                "energy_sparsity_share", "energy_repetition_share", "cycles_sparsity_share"):
        assert col in df.columns, col
    assert set(df["energy_unit"]) == {"STONNE units"}
    assert (df["cycles"] > 0).all() and (df["energy"] > 0).all()
    # group columns add up to the energy
    groups = [c for c in df.columns if c.startswith("energy_") and c.split("_", 1)[1] in (
        "distribution_network", "multipliers", "reduction_network", "accumulators", "global_buffer",
        "collection_bus", "static")]
    np.testing.assert_allclose(df[groups].sum(axis=1), df["energy"], rtol=1e-9)
    # attribution: recompute the Shapley shares from the four mode rows of every layer
    for metric in ("energy", "cycles"):
        wide = df.pivot_table(index=["pair_key", "layer_index"], columns="mode", values=metric)
        d, s, r, sr = (wide[m] for m in MODES4)
        first = df[df["mode"] == "dense"].set_index(["pair_key", "layer_index"]).loc[wide.index]
        np.testing.assert_allclose(first[f"{metric}_sparsity_share"], ((d - s) + (r - sr)) / 2, rtol=1e-12)
        np.testing.assert_allclose(first[f"{metric}_repetition_share"], ((d - r) + (s - sr)) / 2, rtol=1e-12)
        np.testing.assert_allclose(first[f"{metric}_sparsity_share"] + first[f"{metric}_repetition_share"],
                                   d - sr, rtol=1e-9, atol=1e-6)
    # signed-binary layers are sparser than binary ones, and binary quantized layers have no zeros
    q = df[(df["scheme"] != "fp")]
    assert (q[q["workload_scheme"] == "binary"]["density"] == 1.0).all()
    assert (q[q["workload_scheme"] == "signed-binary"]["density"] < 1.0).all()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted in-process sweep (1 worker): the table every other way of running must equal."""
    tmp = tmp_path_factory.mktemp("ref")
    p = write_grid(tmp)
    summary = run_sweep(p, tmp / "out", workers=1, progress=False, log=io.StringIO())
    return p, tmp / "out", summary, pd.read_parquet(tmp / "out" / "results.parquet")


def test_local_sweep_table(reference_run):
    p, out, summary, df = reference_run
    grid = load_grid(p)
    _check_table(df, grid)
    assert summary["pairs_computed"] == summary["pairs"] == len(grid.accels) * len(grid.workloads)
    man = ResultStore(out).read_manifest()
    assert man["complete"] and man["end_time"] and man["start_time"]
    assert man["versions"]["numpy"] and man["grid"]["name"] == "g"
    inv = pd.read_csv(out / "invalid_configs.csv")
    assert len(inv) == len(grid.invalid) and inv["reason"].str.len().min() > 10
    # what timed each row: natively, MAERI with the buffer off event by event (these small layers fit the
    # budget), everything else by its closed form; a hypothetical mode says how it was mapped and timed
    maeri_off = (df.controller_type == "MAERI_DENSE_WORKLOAD") & ~df.accumulation_buffer.astype(bool)
    native = df["mode"] == "native"
    assert (df.timing_model[maeri_off & native] == "event-level").all()
    assert (df.timing_model[~maeri_off & native] == "closed form").all()
    assert (df.timing_model[~df.stonne_faithful.astype(bool)].str.len() > 5).all()
    assert pd.read_csv(out / "results.csv").shape == df.shape


def test_process_pool_equals_inline(reference_run, tmp_path):
    p, _, _, ref = reference_run
    s = run_sweep(p, tmp_path / "out", workers=2, chunk_points=16, progress=False,
                  log=io.StringIO())
    assert s["chunks"] > 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "results.parquet"), ref)


def test_resume_recomputes_only_missing_pairs(reference_run, tmp_path):
    p, _, _, ref = reference_run
    out = tmp_path / "out"
    run_sweep(p, out, workers=1, chunk_points=16, progress=False, log=io.StringIO())
    parts = ResultStore(out).part_files()
    lost = parts[::2]  # as if the run had died before these chunks were stored
    lost_pairs = sum(pd.read_parquet(x)["pair_key"].nunique() for x in lost)
    for x in lost:
        x.unlink()
    (out / "results.parquet").unlink()
    log = io.StringIO()
    s = run_sweep(p, out, workers=2, progress=False, log=log)
    assert s["pairs_computed"] == lost_pairs and s["pairs_resumed"] == s["pairs"] - lost_pairs
    assert "resuming" in log.getvalue()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), ref)
    # a finished sweep run again computes nothing and changes nothing (not even the manifest: issue 16)
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    s2 = run_sweep(p, out, workers=2, progress=False, log=io.StringIO())
    assert s2["pairs_computed"] == 0 and s2["unchanged"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), ref)
    assert len(ResultStore(out).read_manifest()["runs"]) == 2
    assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == before


def test_sigkill_mid_sweep_then_resume(reference_run, tmp_path):
    """A real `plumsim sweep` subprocess killed with SIGKILL after its first stored chunk; the same command
    again keeps the stored chunks, computes only the rest, and ends with the uninterrupted table."""
    p, _, _, ref = reference_run
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "plumsim.cli", "sweep", str(p), "--out", str(out), "--workers", "1",
           "--chunk-points", "8", "--no-plots"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts_dir = out / "parts"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if parts_dir.is_dir() and len(list(parts_dir.glob("part-*.parquet"))) >= 2:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the sweep finished before it could be killed; make it bigger"
    os.killpg(proc.pid, signal.SIGKILL)  # the process group we started: the sweep and any children
    proc.wait()
    assert not (out / "results.parquet").exists()
    store = ResultStore(out)
    done_before = store.done_keys()
    assert 0 < len(done_before) < ref["pair_key"].nunique()
    res = subprocess.run(cmd + ["--format", "json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    import json

    summary = json.loads(res.stdout)
    assert summary["pairs_resumed"] == len(done_before)
    assert summary["pairs_computed"] == summary["pairs"] - len(done_before)
    df = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(df, ref)


def test_fresh_starts_over_and_other_grid_is_refused(reference_run, tmp_path):
    p, _, _, ref = reference_run
    out = tmp_path / "out"
    run_sweep(p, out, workers=1, progress=False, log=io.StringIO())
    other = write_grid(tmp_path, name="other", modes=["dense", "skip"])
    assert main(["sweep", str(other), "--out", str(out), "--no-plots"]) == 2  # different grid: refused
    s = run_sweep(p, out, workers=1, fresh=True, progress=False, log=io.StringIO())
    assert s["pairs_resumed"] == 0 and s["pairs_computed"] == s["pairs"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), ref)


def test_progress_lines_when_not_a_tty_and_bar_on_a_tty():
    lines = io.StringIO()
    pr = Progress(100, 20, 4, label="demo", stream=lines)
    pr.update(40)
    pr.update(40)
    pr.close()
    text = lines.getvalue().splitlines()
    assert text[0].startswith("demo: chunk 1/4 done, 60/100 points") and "points/s" in text[0]
    assert "ETA" in text[0] and text[1].startswith("demo: chunk 2/4 done, 100/100 points")

    class TTY(io.StringIO):
        def isatty(self):
            return True

    tty = TTY()
    pr = Progress(100, 0, 2, label="bar", stream=tty)
    pr.update(50)
    pr.close()
    out = tty.getvalue()
    assert "bar:" in out and "50/100" in out and "pt/s" in out and "chunk" not in out


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grid file does not exist" in err[0]
    p = write_grid(tmp_path)
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "no results.parquet" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    for cmd in ("sweep", "plot", "report"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0


def test_bad_energy_table_fails_before_running(tmp_path, capsys):
    bad = tmp_path / "table.yaml"
    bad.write_text("name: mine\nunit: furlongs\ncomponents: {}\n")
    p = write_grid(tmp_path, energy_table=str(bad))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "table.yaml" in err[0]
    assert not (tmp_path / "o" / "parts").exists()

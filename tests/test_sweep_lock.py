"""The lock on a sweep's output folder (issue 16, item 5 and "Concurrency"): real processes on one --out.

Process A is a real sweep (``run_sweep`` in a ``python -c`` subprocess) that pauses after its first stored
chunk until the test lets it go (its ``on_chunk`` waits for a file), so that it holds the lock at a known
moment without any timing guesswork. Process B is the installed ``plumsim`` script. B is refused with exit 2
naming A (pid, host, start); ``--fresh`` on B deletes nothing of A's; A then finishes with the whole table.
A holder killed with SIGKILL leaves a stale lock that the next sweep takes over with a note.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from plumsim.cli import main
from plumsim.sweep.store import LOCK

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "accel_configs"
DIGITS = ROOT / "workloads" / "cnn-digits.yaml"
PLUMSIM = Path(sys.executable).with_name("plumsim")


def write_grid(path: Path) -> Path:
    grid = {"name": "lk", "energy_table": "stonne", "modes": ["dense", "skip+repeat"],
            "accelerators": [{"label": "sigma", "base": str(PRESETS / "sigma_64.cfg"),
                              "axes": {"ms_size": [32, 64, 128]}}],
            "workloads": [{"table": str(DIGITS), "schemes": ["binary", "signed-binary"], "name": "digits"}]}
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def start_paused_sweep(grid: Path, out: Path, go: Path) -> subprocess.Popen:
    """Process A: a real sweep that stops after its first chunk until ``go`` exists."""
    code = textwrap.dedent(f"""
        import os, sys, time
        from plumsim.sweep.runner import run_sweep
        def wait(_):
            while not os.path.exists({str(go)!r}):
                time.sleep(0.02)
        s = run_sweep({str(grid)!r}, {str(out)!r}, workers=1, chunk_points=1, progress=False, on_chunk=wait)
        print(s["rows"], s["pairs_computed"])
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_first_part(proc: subprocess.Popen, out: Path, timeout: float = 60) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        parts = list((out / "parts").glob("part-*.parquet")) if (out / "parts").is_dir() else []
        if parts and (out / LOCK).is_file() and (out / LOCK).stat().st_size:
            return json.loads((out / LOCK).read_text())
        if proc.poll() is not None:
            pytest.fail(f"sweep A ended early: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("sweep A did not store its first chunk in time")


def files_of(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK}


@pytest.fixture
def paused(tmp_path):
    grid, out, go = write_grid(tmp_path / "g.yaml"), tmp_path / "out", tmp_path / "go"
    proc = start_paused_sweep(grid, out, go)
    yield grid, out, go, proc
    go.touch()
    if proc.poll() is None:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_second_sweep_on_same_out_is_refused_and_fresh_deletes_nothing(paused, capsys):
    grid, out, go, proc = paused
    info = wait_for_first_part(proc, out)
    assert info["pid"] == proc.pid and info["host"] == socket.gethostname() and info["start"]
    held = files_of(out)
    assert PLUMSIM.exists(), "the installed plumsim script"
    for extra in ([], ["--fresh"]):
        r = subprocess.run([str(PLUMSIM), "sweep", str(grid), "--out", str(out), "--no-plots", *extra],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr
        assert "another sweep is running" in lines[0] and f"pid {proc.pid}" in lines[0]
        assert socket.gethostname() in lines[0] and str(out) in lines[0]
        assert files_of(out) == held  # --fresh removed nothing of A's, B wrote nothing
    # in-process too (this test process is a third one)
    assert main(["sweep", str(grid), "--out", str(out), "--no-plots", "--fresh"]) == 2
    assert "another sweep is running" in capsys.readouterr().err
    assert proc.poll() is None, "A must still be running (it waits for the go file)"
    go.touch()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    rows, computed = map(int, stdout.split())
    assert computed == 6  # 3 configs x 2 workloads, all computed by A alone
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == rows and df["pair_key"].nunique() == 6
    assert not (out / LOCK).exists()  # released


def test_lock_of_a_killed_sweep_is_taken_over_with_a_note(paused, capsys):
    grid, out, go, proc = paused
    wait_for_first_part(proc, out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / LOCK).is_file()  # left behind by the killed process
    assert main(["sweep", str(grid), "--out", str(out), "--no-plots", "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert f"taking over the stale lock of pid {proc.pid}" in err and "that process is gone" in err
    assert "resuming" in err  # A's stored chunk is kept
    assert pd.read_parquet(out / "results.parquet")["pair_key"].nunique() == 6
    assert not (out / LOCK).exists()


def test_lock_left_by_another_host_is_not_taken(tmp_path, capsys):
    grid, out = write_grid(tmp_path / "g.yaml"), tmp_path / "out"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": 4242, "host": "other-host.example", "start": "2024-01-01T00:00:00"}))
    assert main(["sweep", str(grid), "--out", str(out), "--no-plots", "--fresh"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other-host.example" in err[0] and "pid 4242" in err[0] and "remove" in err[0]
    assert sorted(p.name for p in out.iterdir()) == [LOCK]  # nothing cleared, nothing written

"""A scheme added with plumsim.quant.register_quantizer can be synthesized, saved, loaded anywhere (also
in a process that never registered it) and swept: the registry feeds synth, grids and the format."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from plumsim.quant import Quantizer, register_quantizer  # noqa: E402
from plumsim.workload.schemes import known_schemes, synth_schemes  # noqa: E402
from plumsim.workload.synth import synth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "workloads" / "cnn-digits.yaml"


class Quinary(Quantizer):
    """Five levels {-2..2} per filter, thresholds at 0.3 and 0.9 of the filter's max |w|."""

    name = "quinary-test"

    def codes(self, w):
        m = w.abs().flatten(1).amax(1).clamp_min(1e-12).view(-1, *([1] * (w.dim() - 1)))
        a = w.abs() / m
        c = torch.where(a > 0.9, 2, torch.where(a > 0.3, 1, 0)) * torch.sign(w)
        return c.to(torch.int8), (m.flatten() / 2).to(torch.float32)


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_quantizer("quinary-test", Quinary)
    yield


def test_registry_feeds_the_scheme_lists_and_synth(tmp_path):
    assert "quinary-test" in synth_schemes() and "quinary-test" in known_schemes()
    wl = synth(TABLE, "quinary-test", seed=1)
    q = [lyr for lyr in wl.layers if lyr.scheme == "quinary-test"]
    assert q and all(set(np.unique(lyr.codes)) <= {-2, -1, 0, 1, 2} for lyr in q)
    assert q[0].detection == {"scheme": "quinary-test", "source": "declared"}
    wl.save(tmp_path / "wl")
    # a fresh process that never registered the scheme loads and simulates the workload
    code = ("import sys; from plumsim.workload import Workload; from plumsim.accel import load_config, "
            "simulate_workload; wl = Workload.load(sys.argv[1]); assert 'torch' not in sys.modules; "
            "df = simulate_workload(wl, load_config(sys.argv[2])); print(int(df['cycles'].sum()))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "wl"), str(ROOT / "accel_configs" / "sigma_64.cfg")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and int(r.stdout) > 0, r.stderr
    with pytest.raises(Exception, match="user quantizer"):
        synth(TABLE, "quinary-test", seed=1, density=0.5)


def test_a_grid_sweeps_a_registered_scheme(tmp_path):
    from plumsim.sweep.runner import run_sweep

    grid = {"name": "q", "energy_table": "stonne", "modes": ["native", "skip+repeat"],
            "accelerators": [{"label": "sigma", "base": str(ROOT / "accel_configs" / "sigma_64.cfg")}],
            "workloads": [{"table": str(TABLE), "schemes": ["quinary-test", "ternary"], "name": "d"}]}
    p = tmp_path / "g.yaml"
    p.write_text(yaml.safe_dump(grid))
    s = run_sweep(p, tmp_path / "out", workers=1, progress=False, log=io.StringIO())
    import pandas as pd

    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert s["points_computed"] == len(df) and "quinary-test" in set(df["workload_scheme"])

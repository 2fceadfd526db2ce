"""simulate_layer/simulate_workload and `plumsim simulate` on a real synthetic workload folder."""
import json
from pathlib import Path

import numpy as np
import pytest

from plumsim.accel.cfg import load_config
from plumsim.accel.simulate import simulate_workload
from plumsim.cli import main
from plumsim.workload.layer import Layer, LayerShape

PRESETS = Path(__file__).parent.parent / "accel_configs"


def _layers():
    rng = np.random.default_rng(0)
    out = []
    for name, kind, shape in (("conv1", "conv", LayerShape(1, 1, 8, 16, 3, 3, 8, 8, 1, 1)),
                              ("fc", "linear", LayerShape(2, 1, 32, 10, 1, 1, 1, 1))):
        K = shape.K
        codes = (rng.random((K, shape.C // shape.G, shape.R, shape.S)) < 0.3).astype(np.int8)
        codes[K // 2:] *= -1
        out.append(Layer(name, kind, "signed-binary", shape, codes, np.ones(K, np.float32),
                         np.where(np.arange(K) < K // 2, 1, -1).astype(np.int8)))
    return out


@pytest.mark.parametrize("preset", ["sigma_64", "tpu_8x8"])
def test_simulate_workload_frame(preset):
    df = simulate_workload(_layers(), load_config(PRESETS / f"{preset}.cfg"))
    assert list(df.layer) == ["conv1", "fc"]
    assert (df.cycles > 0).all() and {"sram_weight_reads", "MULTIPLIER.MULTIPLICATION"} <= set(df.columns)
    if preset == "tpu_8x8":  # dense: every weight multiplied for every output
        assert df["MULTIPLIER.MULTIPLICATION"].iloc[0] == 16 * 72 * 64
    else:                    # sparse: non-zeros x output pixels
        assert df["MULTIPLIER.MULTIPLICATION"].iloc[0] == np.count_nonzero(_layers()[0].codes) * 64


def test_cli(tmp_path, capsys):
    from plumsim.workload.format import Workload

    Workload("tiny", _layers()).save(tmp_path / "wl")
    assert main(["simulate", str(tmp_path / "wl"), "--accel", str(PRESETS / "sigma_128.cfg"), "--format", "json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["total"]["cycles"] == sum(l["cycles"] for l in js["layers"])
    assert main(["simulate", str(tmp_path / "wl"), "--accel", str(PRESETS / "tpu_8x8.cfg"), "--tile", "T_M=4,T_N=8",
                 "--format", "csv"]) == 0
    assert "TOTAL" in capsys.readouterr().out
    assert main(["simulate", str(tmp_path / "wl"), "--accel", str(tmp_path / "missing.cfg")]) == 2
    assert "not found" in capsys.readouterr().err

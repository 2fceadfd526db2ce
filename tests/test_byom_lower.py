"""Bring your own model: plain torch models whose weights are binary, ternary, signed-binary and 4-bit,
lowered as an nn.Module, as an ONNX file and as a torch.export archive written by the test. Every layer's
scheme is detected, codes x scale reproduce the weights bit for bit, and the lowered workload simulates
(SIGMA and MAERI presets) to exactly the cycles of the same layers built by plumsim with those codes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from torch import nn  # noqa: E402

import plumsim  # noqa: E402
from plumsim.accel.cfg import load_config  # noqa: E402
from plumsim.accel.simulate import simulate_workload  # noqa: E402
from plumsim.workload import Layer, Workload  # noqa: E402
from plumsim.workload.schemes import region_sign  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"sigma": ROOT / "accel_configs" / "sigma_128.cfg", "maeri": ROOT / "accel_configs" / "maeri_128.cfg"}
TABLE = """name: byom
batch: 2
layers:
  - {name: c1, C: 3, K: 8, R: 3, S: 3, X: 8, Y: 8, padding: 1}
  - {name: c2, C: 8, K: 16, R: 3, S: 3, X: 8, Y: 8, stride: 2, padding: 1}
  - {name: fc, kind: linear, C: 256, K: 10}
"""
SCHEMES = ("binary", "ternary", "signed-binary", "int4")
FORMATS = ("module", "onnx", "pt2")


class Net(nn.Module):
    """The table's layers as plain torch modules (names c1, c2, fc, like the table)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.c2(torch.relu(self.c1(x)))), 1))


def _reference(tmp: Path, scheme: str) -> Workload:
    """The plumsim-built layers: synthesized for plumsim's schemes, 4-bit codes drawn for int4."""
    (tmp / "table.yaml").write_text(TABLE)
    if scheme != "int4":
        return plumsim.synth(tmp / "table.yaml", scheme, seed=3, density=0.4 if scheme != "binary" else None)
    base = plumsim.synth(tmp / "table.yaml", "ternary", seed=3)
    rng = np.random.default_rng(7)
    layers = []
    for lyr in base.layers:
        codes = rng.integers(-8, 8, lyr.codes.shape).astype(np.int8)
        codes.reshape(codes.shape[0], -1)[:, 0] = -8  # every filter reaches the grid's end: 4 bits
        layers.append(Layer(name=lyr.name, kind=lyr.kind, scheme="int4", shape=lyr.shape, codes=codes,
                            scale=np.ones(lyr.shape.K, np.float32), sign=region_sign(codes)))
    return Workload(name="byom-int4", layers=layers)


def _user_scale(scheme: str, K: int, i: int) -> np.ndarray:
    """The user's own quantizer scales: per filter for binary/signed-binary/int4, one per layer for ternary."""
    rng = np.random.default_rng(100 + i)
    if scheme == "ternary":
        return np.full(K, np.float32(0.0371 * (i + 1)), np.float32)
    return (0.01 + rng.random(K)).astype(np.float32)


def _model(ref: Workload, scheme: str):
    torch.manual_seed(0)
    model = Net()
    expected = {}
    with torch.no_grad():
        for i, lyr in enumerate(ref.layers):
            mod = getattr(model, lyr.name)
            scale = _user_scale(scheme, lyr.shape.K, i)
            w = torch.from_numpy(lyr.codes.astype(np.float32)) * torch.from_numpy(scale).view(-1, 1, 1, 1)
            mod.weight.copy_(w.reshape(mod.weight.shape))
            expected[lyr.name] = mod.weight.detach().numpy().reshape(lyr.codes.shape).copy()
    return model, expected


def _lower(fmt: str, model, x, tmp: Path):
    if fmt == "module":
        return plumsim.lower(model, x)
    if fmt == "onnx":
        path = tmp / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"])
        return plumsim.lower(path)
    path = tmp / "model.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    return plumsim.lower(path)


_REF_CYCLES: dict = {}


def _cycles(wl, which: str) -> list[int]:
    return [int(c) for c in simulate_workload(wl, load_config(CONFIGS[which]))["cycles"]]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_detected_exact_and_same_cycles(tmp_path, scheme):
    ref = _reference(tmp_path, scheme)
    model, expected = _model(ref, scheme)
    x = torch.randn(2, 3, 8, 8)
    ref_cycles = {k: _cycles(ref, k) for k in CONFIGS}
    for fmt in FORMATS:
        wl = _lower(fmt, model, x, tmp_path)
        assert [lyr.name for lyr in wl.layers] == ["c1", "c2", "fc"], fmt
        for lyr, r in zip(wl.layers, ref.layers):
            where = f"{fmt}:{lyr.name}"
            assert lyr.scheme == scheme, where
            assert lyr.shape == r.shape, where
            det = lyr.detection
            assert det["scheme"] == scheme and det["source"] == "values" and det["confidence"] == 1.0, where
            assert det["max_rel_error"] == 0.0, where
            np.testing.assert_array_equal(lyr.codes, r.codes, err_msg=where)
            # codes x scale reproduce the model's float32 weights bit for bit
            assert np.array_equal(lyr.weight_tensor(), expected[lyr.name]), where
            if scheme == "signed-binary":
                np.testing.assert_array_equal(lyr.sign, r.sign, err_msg=where)
            want = "layer" if scheme == "ternary" else "filter"
            assert det["granularity"] == want, where
        for k in CONFIGS:
            assert _cycles(wl, k) == ref_cycles[k], (fmt, k)
        wl.save(tmp_path / f"wl-{fmt}")
        back = Workload.load(tmp_path / f"wl-{fmt}")
        assert [lyr.detection for lyr in back.layers] == [lyr.detection for lyr in wl.layers]


def test_own_quantizer_inside_forward_is_seen():
    """A module that quantizes its latent weight in forward: the values F.conv2d receives decide."""

    class TernConv(nn.Conv2d):
        def forward(self, x):
            w = self.weight
            d = 0.7 * w.abs().mean()
            q = torch.where(w.abs() > d, torch.sign(w), torch.zeros_like(w)) * 0.25
            return nn.functional.conv2d(x, q, self.bias, self.stride, self.padding)

    torch.manual_seed(1)
    m = nn.Sequential(TernConv(2, 4, 3), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
    wl = plumsim.lower(m, torch.randn(1, 2, 5, 5))
    assert [(lyr.name, lyr.scheme) for lyr in wl.layers] == [("0", "ternary"), ("2", "fp")]
    assert wl.layers[0].detection["granularity"] == "layer"
    assert float(wl.layers[0].scale[0]) == 0.25
    assert wl.layers[1].detection["reason"]


def test_overrides_force_and_contradict():
    from plumsim.errors import WorkloadError

    ref_codes = np.array([[1, 0, -1, 1], [0, 1, 1, -1]], np.float32)
    m = nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        m[0].weight.copy_(torch.from_numpy(ref_codes * 0.5))
        m[1].weight.copy_(torch.tensor([[0.3, -0.3], [0.3, 0.3]]))
    x = torch.randn(3, 4)
    wl = plumsim.lower(m, x)
    assert [lyr.scheme for lyr in wl.layers] == ["ternary", "binary"]
    wl = plumsim.lower(m, x, schemes={"0": "int4", "1": "fp"})
    assert [lyr.scheme for lyr in wl.layers] == ["int4", "fp"]
    assert wl.layers[0].detection["forced"] == "int4"
    assert wl.meta["detection"]["overrides"] == {"0": "int4", "1": "fp"}
    wl = plumsim.lower(m, x, schemes=["*=ternary"])  # a glob; binary values are ternary values too
    assert [lyr.scheme for lyr in wl.layers] == ["ternary", "ternary"]
    with pytest.raises(WorkloadError, match=r"layer '0' is forced to scheme binary .*filter 0 has zeros"):
        plumsim.lower(m, x, schemes=["0=binary"])
    with pytest.raises(WorkloadError, match=r"layer '0' is forced to scheme signed-binary .*both signs"):
        plumsim.lower(m, x, schemes=["0=signed-binary"])
    with pytest.raises(WorkloadError, match="matches no layer"):
        plumsim.lower(m, x, schemes=["conv*=ternary"])
    with pytest.raises(WorkloadError, match="unknown scheme 'int16'"):
        plumsim.lower(m, x, schemes=["0=int16"])


def test_plumsim_qlayers_keep_their_declared_codes():
    from plumsim.quant.layers import QConv2d

    torch.manual_seed(2)
    m = nn.Sequential(QConv2d(3, 4, 3, scheme="signed-binary", positive_fraction=0.5))
    wl = plumsim.lower(m, torch.randn(1, 3, 6, 6))
    lyr = wl.layers[0]
    assert lyr.scheme == "signed-binary" and lyr.detection["source"] == "module"
    np.testing.assert_array_equal(lyr.sign, [1, 1, -1, -1])

"""Lowering real torch models: codes * scale reproduce each quantized module's output, shapes come from
the forward pass, FP layers are marked fp, checkpoints lower like the model they hold."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from plumsim.errors import WorkloadError  # noqa: E402
from plumsim.quant.layers import QConv2d, QLinear  # noqa: E402
from plumsim.workload import Workload  # noqa: E402
from plumsim.workload.lowering import lower  # noqa: E402

SCHEMES = ["signed-binary", "binary", "ternary", "fp"]


class Net(nn.Module):
    """A stride-2 padded conv, a grouped 3x1 conv, a plain torch conv and a linear, in that order."""

    def __init__(self, scheme, **qopts):
        super().__init__()
        self.a = QConv2d(3, 8, 3, stride=2, padding=1, scheme=scheme, **qopts)
        self.b = QConv2d(8, 12, (3, 1), padding=1, groups=4, scheme=scheme, **qopts)
        self.c = nn.Conv2d(12, 6, 1)
        self.fc = QLinear(6 * 4 * 4, 5, scheme=scheme, **qopts)
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        x = torch.relu(self.a(x))
        x = self.c(self.b(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, (4, 4)), 1))


def _outputs(model, x):
    got = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: got.setdefault(n, o.detach()))
             for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return got


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lowered_codes_reproduce_module_outputs(scheme):
    torch.manual_seed(0)
    opts = {"positive_fraction": 0.25} if scheme == "signed-binary" else {}
    model = Net(scheme, **opts)
    x = 3 * torch.randn(2, 3, 11, 7)  # values beyond the [-2, 2] clamp, so the clamp matters
    wl = lower(model, x, input_samples=2)
    ref = _outputs(model, x)
    assert [lyr.name for lyr in wl.layers] == ["a", "b", "c", "fc"]
    assert wl.meta["not_called"] == ["unused"]
    for lyr in wl.layers:
        module = dict(model.named_modules())[lyr.name]
        inp = torch.from_numpy(lyr.input_sample)
        w = torch.from_numpy(lyr.weight_tensor())
        bias = module.bias.detach() if module.bias is not None else None
        if lyr.kind == "conv":
            out = F.conv2d(inp, w, bias, lyr.shape.stride, lyr.shape.padding, 1, lyr.shape.G)
            assert tuple(out.shape[2:]) == (lyr.shape.X_out, lyr.shape.Y_out)
        else:
            out = F.linear(inp, w.reshape(lyr.shape.K, lyr.shape.C), bias)
        assert torch.equal(out, ref[lyr.name]), lyr.name
        expected_scheme = "fp" if lyr.name == "c" else scheme
        assert lyr.scheme == expected_scheme
        assert (lyr.codes is None) == (expected_scheme == "fp")
        if expected_scheme != "fp":
            assert float(np.abs(lyr.input_sample).max()) <= 2.0  # the sample is what the multipliers see
    a, b, c, fc = wl.layers
    assert a.shape.as_dict() == {"N": 2, "G": 1, "C": 3, "K": 8, "R": 3, "S": 3, "X": 11, "Y": 7,
                                 "stride": 2, "padding": 1}
    assert (b.shape.G, b.shape.R, b.shape.S, b.shape.X, b.shape.Y) == (4, 3, 1, 6, 4)
    assert b.codes is None or b.codes.shape == (12, 2, 3, 1)
    assert (fc.kind, fc.shape.N, fc.shape.C, fc.shape.K) == ("linear", 2, 96, 5)
    if scheme == "signed-binary":
        np.testing.assert_array_equal(a.sign, [1, 1, -1, -1, -1, -1, -1, -1])  # floor(0.25 * 8) = 2
        assert a.unique_nonzero_per_region().max() == 1
        assert a.options["quantizer_options"]["positive_fraction"] == 0.25


def test_lowered_workload_round_trips(tmp_path):
    torch.manual_seed(1)
    wl = lower(Net("ternary"), torch.randn(1, 3, 9, 9), input_samples=1)
    wl.save(tmp_path / "w")
    back = Workload.load(tmp_path / "w")
    for x, y in zip(wl.layers, back.layers):
        assert x.shape == y.shape and x.options == y.options
        assert np.array_equal(x.weight_tensor(), y.weight_tensor())
        assert np.array_equal(x.input_sample, y.input_sample)


def test_thinned_binary_lowers_and_loads(tmp_path):
    from plumsim.quant.models import build_model, set_layer_scheme

    model = build_model("cnn-digits", scheme="binary")
    set_layer_scheme(model, "conv2", "binary", keep_fraction=0.4)
    wl = lower(model)
    conv2 = wl.layer("conv2")
    assert conv2.scheme == "binary" and conv2.density == pytest.approx(0.4, abs=1e-3)
    wl.save(tmp_path / "w")
    assert Workload.load(tmp_path / "w").layer("conv2").nnz == conv2.nnz


def test_model_input_shapes_and_batch():
    from plumsim.quant.models import build_model

    wl = lower(build_model("cnn-digits", scheme="signed-binary"), batch=3)
    assert wl.meta["example_input_shape"] == [3, 1, 8, 8]
    assert {lyr.shape.N for lyr in wl.layers} == {3}
    assert wl.layers[-1].shape.as_dict() == {"N": 3, "G": 1, "C": 64, "K": 10, "R": 1, "S": 1, "X": 1,
                                             "Y": 1, "stride": 1, "padding": 0}


def test_checkpoint_lowers_like_its_model(tmp_path):
    from plumsim.quant.checkpoint import save_checkpoint
    from plumsim.quant.models import build_model

    torch.manual_seed(2)
    model = build_model("cnn-digits", scheme="signed-binary")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    save_checkpoint(tmp_path / "ckpt", model, {"epoch": 1})
    from_ckpt = lower(tmp_path / "ckpt")
    direct = lower(model)
    assert from_ckpt.meta["checkpoint"] == str(tmp_path / "ckpt")
    for x, y in zip(direct.layers, from_ckpt.layers):
        assert x.name == y.name and x.shape == y.shape and x.scheme == y.scheme
        assert np.array_equal(x.weight_tensor(), y.weight_tensor())


def test_lower_errors(tmp_path):
    with pytest.raises(WorkloadError, match="not found"):
        lower(tmp_path / "nope")
    with pytest.raises(WorkloadError, match="no Conv2d or Linear"):
        lower(nn.Sequential(nn.ReLU()), torch.randn(1, 3))
    with pytest.raises(WorkloadError, match="no example_input"):
        lower(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(WorkloadError, match="forward pass .* failed"):
        lower(nn.Sequential(nn.Linear(3, 2)), torch.randn(1, 4))
    with pytest.raises(WorkloadError, match="dilation"):
        lower(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2)), torch.randn(1, 1, 9, 9))
    with pytest.raises(WorkloadError, match="non-symmetric stride"):
        lower(nn.Sequential(nn.Conv2d(1, 1, 3, stride=(1, 2))), torch.randn(1, 1, 9, 9))

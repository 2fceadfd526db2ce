"""Quantizers (hand-built tensors), straight-through gradient rule, registry, quantized layers."""

import math

import pytest
import torch
import torch.nn.functional as F

from plumsim.errors import PlumsimError
from plumsim.quant import (
    QUANTIZERS,
    QConv2d,
    QLinear,
    Quantizer,
    binary,
    build_model,
    fp,
    get_quantizer,
    register_quantizer,
    signed_binary,
    ternary,
)
from plumsim.quant.quantizers import binary_codes


def _filters():
    # 4 filters x 5 weights; max|W_o| = 1.0, 2.0, 0.5, 4.0 -> Delta_o = 0.05, 0.1, 0.025, 0.2
    return torch.tensor([
        [1.0, 0.05, 0.04, -0.3, -1.0],
        [2.0, 0.1, 0.09, -0.1, -0.11],
        [0.5, 0.025, -0.025, -0.026, 0.0],
        [-4.0, 0.2, -0.2, -0.19, 0.21],
    ])


def test_signed_binary_thresholds_and_sign_layout():
    w = _filters()
    q = signed_binary(w)                     # p = 0.5 -> filters 0, 1 positive; 2, 3 negative
    expected = torch.tensor([
        [1, 1, 0, 0, 0],                     # w >= 0.05 (the threshold itself counts)
        [1, 1, 0, 0, 0],                     # w >= 0.1
        [0, 0, 0, -1, 0],                    # w <= -0.025 ... -0.025 counts
        [-1, 0, -1, 0, 0],                   # w <= -0.2
    ], dtype=torch.float32)
    expected[2, 2] = -1.0
    assert torch.equal(q, expected)
    # every filter holds one non-zero value only (repetition) and it has the filter's sign
    for o in range(4):
        nz = q[o][q[o] != 0].unique()
        assert nz.numel() == 1 and nz.item() == (1.0 if o < 2 else -1.0)


@pytest.mark.parametrize("p,n_pos", [(0.0, 0), (0.25, 2), (0.5, 4), (0.75, 6), (1.0, 8)])
def test_positive_fraction_sets_first_floor_pK_filters_positive(p, n_pos):
    torch.manual_seed(0)
    w = torch.randn(8, 3, 3, 3)
    q = signed_binary(w, positive_fraction=p)
    for o in range(8):
        vals = set(q[o].unique().tolist())
        if o < n_pos:
            assert vals <= {0.0, 1.0} and 1.0 in vals
        else:
            assert vals <= {0.0, -1.0} and -1.0 in vals


def test_positive_fraction_floor_with_odd_K():
    w = torch.ones(5, 2)
    q = signed_binary(w, positive_fraction=0.5)      # floor(2.5) = 2 positive filters
    assert q[:2].eq(1).all() and q[2:].eq(0).all()   # negative filters of all-positive weights are empty


def test_signed_binary_delta_ratio_and_scale():
    w = _filters()
    q0 = signed_binary(w, delta_ratio=0.0)
    assert q0[0].tolist() == [1, 1, 1, 0, 0]         # every w >= 0 in a positive filter
    s = torch.tensor([2.0, 3.0, 4.0, 5.0])
    qs = signed_binary(w, scale=s)
    assert torch.equal(qs, signed_binary(w) * s.view(-1, 1))
    assert torch.equal(signed_binary(w, scale=0.5), signed_binary(w) * 0.5)
    with pytest.raises(PlumsimError, match="positive_fraction"):
        signed_binary(w, positive_fraction=1.5)
    with pytest.raises(PlumsimError, match="scale"):
        signed_binary(w, scale=torch.ones(3))


def test_binary_values_and_per_filter_scale():
    w = torch.tensor([[0.5, -0.25, 0.0, 1.0], [-2.0, -1.0, 3.0, 2.0]])
    assert binary(w).tolist() == [[1, -1, 1, 1], [-1, -1, 1, 1]]
    qs = binary(w, per_filter_scale=True)
    assert torch.allclose(qs[0].abs(), torch.full((4,), 0.4375))
    assert torch.allclose(qs[1].abs(), torch.full((4,), 2.0))
    # thinned binary keeps the largest |w| of the layer
    c, _ = binary_codes(w, keep_fraction=0.25)
    assert c.ne(0).sum().item() == 2 and c[1, 2] == 1 and c[1, 0] == -1


def test_ternary_twn_threshold_and_alpha():
    w = torch.tensor([[0.1, -0.9, 0.5], [1.2, -0.3, 0.0]])
    a = w.abs()
    delta = 0.7 * a.mean()                           # 0.7 * 0.5 = 0.35
    alpha = a[a > delta].mean()                      # (0.9 + 0.5 + 1.2) / 3
    q = ternary(w)
    expected = torch.sign(w) * (a > delta) * alpha
    assert torch.allclose(q, expected)
    assert math.isclose(alpha.item(), 2.6 / 3, rel_tol=1e-6)
    assert set(q.unique().tolist()) == {-alpha.item(), 0.0, alpha.item()}


def test_fp_is_identity_and_has_no_codes():
    w = torch.randn(3, 4)
    assert fp(w) is w
    with pytest.raises(TypeError):
        get_quantizer("fp").codes(w)


@pytest.mark.parametrize("scheme,opts", [("signed-binary", {}), ("signed-binary", {"positive_fraction": 0.25}),
                                         ("binary", {}), ("binary", {"per_filter_scale": True}),
                                         ("ternary", {})])
def test_codes_reproduce_quantized_weights_exactly(scheme, opts):
    torch.manual_seed(1)
    w = torch.randn(6, 4, 3, 3)
    q = get_quantizer(scheme, **opts)
    codes, scale = q.codes(w)
    assert codes.dtype == torch.int8 and codes.shape == w.shape
    assert scale.dtype == torch.float32 and scale.shape == (6,)
    assert torch.equal(codes.float() * scale.view(-1, 1, 1, 1), q(w))


@pytest.mark.parametrize("fn", [signed_binary, binary, ternary])
def test_straight_through_gradient_rule(fn):
    w = torch.tensor([[0.5, -2.0, 0.9, 1.5], [-0.3, 1.0, -1.0, 0.01]], requires_grad=True)
    upstream = torch.tensor([[3.0, 3.0, -0.4, 3.0], [-5.0, 0.7, 2.0, 0.2]])
    fn(w).backward(upstream)
    expected = upstream.clamp(-1, 1) * (w.detach().abs() <= 1)
    assert torch.equal(w.grad, expected)
    assert w.grad[0, 1] == 0 and w.grad[0, 3] == 0          # |w| > 1: no gradient
    assert w.grad[0, 0] == 1 and w.grad[1, 0] == -1         # clamped


def test_registry_unknown_name_lists_valid_ones():
    with pytest.raises(PlumsimError) as e:
        get_quantizer("quaternary")
    for name in ("fp", "binary", "ternary", "signed-binary"):
        assert name in str(e.value)
    with pytest.raises(PlumsimError, match="positive_fraction"):
        get_quantizer("binary", positive_fraction=0.5)
    q = get_quantizer("signed-binary", positive_fraction=0.25)
    assert get_quantizer(q) is q
    assert q.options["positive_fraction"] == 0.25


def test_user_registered_quantizer_end_to_end():
    class TwoBitSign(Quantizer):
        """Codes in {-2, -1, 1, 2}: a user scheme, to check the registry path through layers and models."""
        name = "two-level"

        def __init__(self, cut: float = 0.5):
            super().__init__(cut=cut)

        def codes(self, w):
            c = torch.where(w.abs() > self.options["cut"], 2, 1) * torch.where(w >= 0, 1, -1)
            return c.to(torch.int8), torch.full((w.shape[0],), 0.5)

    register_quantizer("two-level", TwoBitSign)
    try:
        conv = QConv2d(2, 3, 3, scheme="two-level", cut=0.1)
        assert conv.scheme == "two-level"
        codes, scale = conv.weight_codes()
        assert set(codes.unique().tolist()) <= {-2, -1, 1, 2}
        x = torch.randn(1, 2, 5, 5)
        assert torch.allclose(conv(x), F.conv2d(x.clamp(-2, 2), codes.float() * 0.5))
        model = build_model("cnn-digits", scheme="two-level", cut=0.2)
        assert model.conv2.scheme == "two-level" and model.conv2.quantizer.options == {"cut": 0.2}
        model(torch.randn(2, 1, 8, 8)).sum().backward()
        assert model.conv2.weight.grad is not None
    finally:
        del QUANTIZERS["two-level"]
    with pytest.raises(PlumsimError):
        register_quantizer("bad", int)


def test_layer_clamps_inputs_of_quantized_layers_only():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 6, 6) * 5
    q = QConv2d(3, 4, 3, padding=1)
    assert q.scheme == "signed-binary" and q.input_clamp == 2.0
    assert torch.allclose(q(x), F.conv2d(x.clamp(-2, 2), q.quantized_weight(), padding=1))
    q_noclamp = QConv2d(3, 4, 3, padding=1, input_clamp=None)
    q_noclamp.weight.data.copy_(q.weight.data)
    assert torch.allclose(q_noclamp(x), F.conv2d(x, q.quantized_weight(), padding=1))
    assert not torch.allclose(q_noclamp(x), q(x))
    f = QConv2d(3, 4, 3, scheme="fp")
    assert f.input_clamp is None and torch.allclose(f(x), F.conv2d(x, f.weight))
    lin = QLinear(5, 2, scheme="ternary", input_clamp=1.0)
    xl = torch.randn(3, 5) * 3
    assert torch.allclose(lin(xl), F.linear(xl.clamp(-1, 1), lin.quantized_weight(), lin.bias))
    with pytest.raises(PlumsimError, match="input_clamp"):
        QLinear(5, 2, input_clamp=-1)


def test_layer_codes_reproduce_module_output_with_conv2d():
    torch.manual_seed(3)
    conv = QConv2d(4, 8, 3, stride=2, padding=1, groups=2, scheme="signed-binary", positive_fraction=0.25)
    codes, scale = conv.weight_codes()
    x = torch.randn(2, 4, 9, 9)
    ref = F.conv2d(x.clamp(-2, 2), codes.float() * scale.view(-1, 1, 1, 1), stride=2, padding=1, groups=2)
    assert torch.equal(conv(x), ref)

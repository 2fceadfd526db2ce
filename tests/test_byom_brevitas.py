"""Brevitas QuantConv2d / QuantLinear through the value-based path (their quantized weight is what
F.conv2d / F.linear receive). Skipped unless brevitas is importable (it is not a plumsim dependency; the
QDQ ONNX form Brevitas exports is covered by tests/test_byom_onnx.py with a hand-built graph)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
qnn = pytest.importorskip("brevitas.nn")


def test_brevitas_layers_lower_exactly():
    import plumsim

    torch.manual_seed(0)

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = qnn.QuantConv2d(3, 8, 3, padding=1, weight_bit_width=4, bias=False)
            self.c2 = qnn.QuantConv2d(8, 8, 3, padding=1, weight_bit_width=2, bias=False)
            self.fc = qnn.QuantLinear(8 * 6 * 6, 10, weight_bit_width=8, bias=True)

        def forward(self, x):
            return self.fc(torch.flatten(self.c2(torch.relu(self.c1(x))), 1))

    m = M().eval()
    wl = plumsim.lower(m, torch.randn(1, 3, 6, 6))
    assert [lyr.scheme for lyr in wl.layers] == ["int4", "ternary", "int8"]
    for lyr in wl.layers:
        qw = getattr(m, lyr.name).quant_weight()
        assert np.array_equal(lyr.weight_tensor().reshape(-1), qw.value.detach().numpy().reshape(-1))
        assert np.array_equal(lyr.codes.reshape(-1), qw.int().detach().numpy().reshape(-1).astype(np.int8))

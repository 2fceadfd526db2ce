"""Quantized layers: ``QConv2d`` and ``QLinear`` (subclasses of nn.Conv2d / nn.Linear).

The latent float weight is the module's ``weight`` parameter; the forward pass uses
``quantizer(weight)`` (straight-through gradient). Inputs of quantized layers are clamped to
[-input_clamp, input_clamp] (the paper clamps to [-2, 2]); ``input_clamp=None`` disables the clamp.
Scheme "fp" gives a plain layer: no quantization and no clamp. Every layer carries ``.scheme`` so
that lowering can treat FP and quantized layers alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from plumsim.errors import PlumsimError
from plumsim.quant.registry import Quantizer, get_quantizer


def _resolve(scheme, options) -> tuple[str, Quantizer]:
    q = get_quantizer(scheme, **options)
    name = scheme if isinstance(scheme, str) else q.name
    return name, q


class _QMixin:
    """Shared behaviour of QConv2d and QLinear."""

    scheme: str
    quantizer: Quantizer
    input_clamp: float | None

    def _setup(self, scheme, input_clamp, options) -> None:
        self.scheme, self.quantizer = _resolve(scheme, options)
        if self.scheme == "fp":
            input_clamp = None
        if input_clamp is not None and not float(input_clamp) > 0:
            raise PlumsimError(f"input_clamp must be > 0 or None, got {input_clamp}", field="input_clamp")
        self.input_clamp = None if input_clamp is None else float(input_clamp)

    def set_quantizer(self, scheme, **options) -> None:
        """Swap the scheme of this layer (e.g. a thinned binary layer); the latent weight is kept."""
        self.scheme, self.quantizer = _resolve(scheme, options)
        if self.scheme == "fp":
            self.input_clamp = None

    def _clamp(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_clamp is None:
            return x
        return x.clamp(-self.input_clamp, self.input_clamp)

    def quantized_weight(self) -> torch.Tensor:
        """The weight the forward pass uses (quantized, detached), same shape as ``weight``."""
        with torch.no_grad():
            return self.quantizer(self.weight.detach()).detach()

    def weight_codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes int8 same shape as weight, scale float32 [out]); raises TypeError for scheme 'fp'."""
        with torch.no_grad():
            return self.quantizer.codes(self.weight.detach())

    @property
    def is_quantized(self) -> bool:
        return self.scheme != "fp"

    def extra_repr(self) -> str:  # shown by print(model)
        return super().extra_repr() + f", scheme={self.scheme!r}, input_clamp={self.input_clamp}"


class QConv2d(_QMixin, nn.Conv2d):
    """Conv2d whose weight is quantized by ``scheme`` (a registry name or a Quantizer)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0, groups: int = 1,
                 bias: bool = False, scheme="signed-binary", input_clamp: float | None = 2.0,
                 **quantizer_options):
        nn.Conv2d.__init__(self, in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                           groups=groups, bias=bias)
        self._setup(scheme, input_clamp, quantizer_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self._clamp(x), self.quantizer(self.weight), self.bias, self.stride,
                        self.padding, self.dilation, self.groups)


class QLinear(_QMixin, nn.Linear):
    """Linear layer whose weight (regions = output rows) is quantized by ``scheme``."""

    def __init__(self, in_f: int, out_f: int, bias: bool = True, scheme="signed-binary",
                 input_clamp: float | None = 2.0, **quantizer_options):
        nn.Linear.__init__(self, in_f, out_f, bias=bias)
        self._setup(scheme, input_clamp, quantizer_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self._clamp(x), self.quantizer(self.weight), self.bias)


def quantized_layers(model: nn.Module):
    """Yield (name, module) for every QConv2d / QLinear of ``model`` (FP ones included), in order."""
    for name, m in model.named_modules():
        if isinstance(m, (QConv2d, QLinear)):
            yield name, m

"""Quantizers with straight-through gradients, quantized layers, models, checkpoints and training.

Public API (imports torch; ``plumsim.accel`` / ``plumsim.energy`` never import this package):

- functions: :func:`signed_binary`, :func:`binary`, :func:`ternary`, :func:`fp`
- classes and registry: :class:`Quantizer` (``FPQuantizer``, ``BinaryQuantizer``, ``TernaryQuantizer``,
  ``SignedBinaryQuantizer``), ``QUANTIZERS``, :func:`register_quantizer`, :func:`get_quantizer`
- layers: :class:`QConv2d`, :class:`QLinear`, :func:`quantized_layers`
- models: :func:`cnn_digits`, :func:`resnet20`, :func:`resnet18`, :func:`build_model`, ``MODEL_INPUT_SHAPES``
- checkpoints: :func:`save_checkpoint`, :func:`load_checkpoint`
"""

from plumsim.quant.checkpoint import load_checkpoint, load_extra_state, save_checkpoint
from plumsim.quant.layers import QConv2d, QLinear, quantized_layers
from plumsim.quant.models import (
    MODEL_INPUT_SHAPES,
    MODELS,
    build_model,
    cnn_digits,
    resnet18,
    resnet20,
    set_layer_scheme,
)
from plumsim.quant.quantizers import binary, fp, signed_binary, ternary
from plumsim.quant.registry import (
    QUANTIZERS,
    BinaryQuantizer,
    FPQuantizer,
    Quantizer,
    SignedBinaryQuantizer,
    TernaryQuantizer,
    get_quantizer,
    register_quantizer,
    scheme_names,
)

__all__ = [
    "signed_binary", "binary", "ternary", "fp",
    "Quantizer", "FPQuantizer", "BinaryQuantizer", "TernaryQuantizer", "SignedBinaryQuantizer",
    "QUANTIZERS", "register_quantizer", "get_quantizer", "scheme_names",
    "QConv2d", "QLinear", "quantized_layers",
    "cnn_digits", "resnet20", "resnet18", "build_model", "set_layer_scheme", "MODELS", "MODEL_INPUT_SHAPES",
    "save_checkpoint", "load_checkpoint", "load_extra_state",
]

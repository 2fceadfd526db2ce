"""Lowering: a trained torch model (or a checkpoint folder) -> :class:`~plumsim.workload.format.Workload`.

This is the only module of plumsim.workload that imports torch (at import time; ``plumsim.workload``
imports it lazily). Every ``nn.Conv2d`` / ``nn.Linear`` (``QConv2d`` / ``QLinear`` included) gets a
forward hook; one real forward pass on ``example_input`` gives each layer's real input size (X, Y),
batch N, stride, padding and groups. Quantized layers (``.scheme != "fp"``) record integer codes and
per-filter scale from ``weight_codes()`` and the per-filter sign; FP layers (``QConv2d``/``QLinear``
with scheme ``fp`` and plain torch layers) record their float32 weights with scheme ``fp``.
Layers are listed in the order of their first call in the forward pass; modules never called are left
out (their names go to ``meta["not_called"]``).

``input_sample``: the first n items of the layer's input *as its multipliers see it* (after the
quantized layer's input clamp), float32 [n, C, X, Y] (linear: [n, C]).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from plumsim.errors import PlumsimError, WorkloadError
from plumsim.workload.format import Workload
from plumsim.workload.layer import Layer, LayerShape
from plumsim.workload.schemes import region_sign


def _jsonable(v):
    """Keep option values that are plain JSON; describe the rest (tensors, objects) as strings."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return _jsonable(v.item())
    return repr(v)


def _pair(v, what: str, name: str) -> int:
    """Symmetric stride/padding as one int (the accelerator models take one value for both axes)."""
    if isinstance(v, str):
        raise WorkloadError(f"padding mode {v!r} is not supported; use integer padding", field=f"{name}.{what}")
    a, b = (v, v) if isinstance(v, int) else tuple(v)
    if a != b:
        raise WorkloadError(f"non-symmetric {what} {tuple(v)} is not supported (one value for rows and "
                            "columns)", field=f"{name}.{what}")
    return int(a)


def _scheme_of(module: nn.Module) -> str:
    return str(getattr(module, "scheme", "fp"))


def _layer_from_call(name: str, module: nn.Module, x: torch.Tensor, calls: int, input_samples: int) -> Layer:
    scheme = _scheme_of(module)
    clamp = getattr(module, "input_clamp", None)
    options = {"module": type(module).__name__, "bias": module.bias is not None, "calls": calls,
               "input_clamp": clamp}
    quantizer = getattr(module, "quantizer", None)
    if quantizer is not None:
        options["quantizer_options"] = _jsonable(dict(getattr(quantizer, "options", {}) or {}))
    if isinstance(module, nn.Conv2d):
        if tuple(module.dilation) != (1, 1):
            raise WorkloadError(f"dilation {tuple(module.dilation)} is not supported", field=f"{name}.dilation")
        if module.padding_mode != "zeros":
            raise WorkloadError(f"padding_mode {module.padding_mode!r} is not supported (zeros only)",
                                field=f"{name}.padding_mode")
        if x.dim() != 4:
            raise WorkloadError(f"expected a 4-d input [N, C, X, Y], got {tuple(x.shape)}", field=name)
        shape = LayerShape(N=int(x.shape[0]), G=int(module.groups), C=int(module.in_channels),
                           K=int(module.out_channels), R=int(module.kernel_size[0]),
                           S=int(module.kernel_size[1]), X=int(x.shape[2]), Y=int(x.shape[3]),
                           stride=_pair(module.stride, "stride", name),
                           padding=_pair(module.padding, "padding", name))
        kind, sample = "conv", x
    else:
        cin = int(module.in_features)
        sample = x.reshape(-1, cin)
        shape = LayerShape(N=int(sample.shape[0]), G=1, C=cin, K=int(module.out_features), R=1, S=1, X=1, Y=1)
        kind = "linear"
    wshape = (shape.K, shape.C // shape.G, shape.R, shape.S)
    with torch.no_grad():
        if scheme == "fp":
            weights = module.weight.detach().to(torch.float32).cpu().numpy().reshape(wshape).copy()
            codes, scale, sign = None, np.ones(shape.K, dtype=np.float32), region_sign(weights)
        else:
            c, s = module.weight_codes()
            codes = c.detach().cpu().numpy().astype(np.int8).reshape(wshape)
            scale = s.detach().to(torch.float32).cpu().numpy().reshape(shape.K).copy()
            weights = None
            sign = region_sign(codes)
            if scheme == "signed-binary":
                # the layout fixes each filter's sign even where a filter has no non-zero
                p = float((quantizer.options if quantizer is not None else {}).get("positive_fraction", 0.5))
                n_pos = int(math.floor(p * shape.K + 1e-9))
                sign = np.full(shape.K, -1, dtype=np.int8)
                sign[:n_pos] = 1
    sample_np = None
    if input_samples > 0:
        sample_np = sample[:input_samples].detach().to(torch.float32).cpu().numpy().copy()
        if clamp is not None:
            sample_np = np.clip(sample_np, -clamp, clamp)
    return Layer(name=name, kind=kind, scheme=scheme, shape=shape, codes=codes, scale=scale, sign=sign,
                 weights=weights, input_sample=sample_np, options=options)


def lower(model_or_checkpoint_dir, example_input=None, *, batch: int = 1, input_samples: int = 0,
          seed: int = 0, name: str | None = None) -> Workload:
    """Lower ``model_or_checkpoint_dir`` (an ``nn.Module`` or a folder written by
    ``plumsim.quant.checkpoint``) to a :class:`Workload`.

    ``example_input``: a tensor for the forward pass; if None, a seeded standard-normal tensor of
    ``(batch, *MODEL_INPUT_SHAPES[model][1:])`` for a model built by ``plumsim.quant.build_model``.
    ``input_samples``: keep that many input items per layer (0 = none).
    """
    meta: dict = {"source": "lower"}
    if isinstance(model_or_checkpoint_dir, (str, Path)):
        from plumsim.quant.checkpoint import load_checkpoint

        ckpt = Path(model_or_checkpoint_dir)
        if not ckpt.exists():
            raise WorkloadError("checkpoint not found", path=ckpt)
        try:
            model, config = load_checkpoint(ckpt)
        except PlumsimError:
            raise
        except Exception as exc:  # a torch/zip/JSON error inside a damaged checkpoint
            raise WorkloadError(f"cannot load checkpoint: {type(exc).__name__}: {exc}", path=ckpt) from None
        meta["checkpoint"] = str(ckpt)
        if isinstance(config, dict):
            meta["checkpoint_config"] = _jsonable(config)
    elif isinstance(model_or_checkpoint_dir, nn.Module):
        model = model_or_checkpoint_dir
    else:
        raise WorkloadError(f"expected an nn.Module or a checkpoint folder, got "
                            f"{type(model_or_checkpoint_dir).__name__}", field="model")
    spec = getattr(model, "plumsim_spec", None) or {}
    model_name = spec.get("model") or type(model).__name__
    meta.update({"model": model_name, "scheme": spec.get("scheme")})
    if example_input is None:
        from plumsim.quant.models import MODEL_INPUT_SHAPES

        if model_name not in MODEL_INPUT_SHAPES:
            raise WorkloadError(f"no example_input given and model {model_name!r} has no known input shape "
                                f"(known: {', '.join(MODEL_INPUT_SHAPES)})", field="example_input")
        if not isinstance(batch, int) or batch < 1:
            raise WorkloadError(f"batch must be an integer >= 1, got {batch!r}", field="batch")
        g = torch.Generator().manual_seed(int(seed))
        example_input = torch.randn((batch, *MODEL_INPUT_SHAPES[model_name][1:]), generator=g)
    if not isinstance(example_input, torch.Tensor):
        raise WorkloadError(f"example_input must be a tensor, got {type(example_input).__name__}",
                            field="example_input")
    meta["example_input_shape"] = list(example_input.shape)

    seen: dict[str, list] = {}   # name -> [module, first input, calls]
    order: list[str] = []
    handles = []

    def hook_for(mname):
        def hook(module, inputs):
            if mname not in seen:
                seen[mname] = [module, inputs[0].detach(), 0]
                order.append(mname)
            seen[mname][2] += 1
        return hook

    targets = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not targets:
        raise WorkloadError(f"model {model_name!r} has no Conv2d or Linear layer to lower", field="model")
    for mname, m in targets:
        handles.append(m.register_forward_pre_hook(hook_for(mname)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example_input)
    except PlumsimError:
        raise
    except Exception as exc:
        raise WorkloadError(f"forward pass of {model_name!r} on input {tuple(example_input.shape)} failed: "
                            f"{type(exc).__name__}: {exc}", field="example_input") from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    layers = [_layer_from_call(n, seen[n][0], seen[n][1], seen[n][2], input_samples) for n in order]
    not_called = [n for n, _ in targets if n not in seen]
    if not_called:
        meta["not_called"] = not_called
    return Workload(name=name or f"{model_name}-{spec.get('scheme') or 'model'}", layers=layers, meta=meta)

"""Lowering: a torch model, a checkpoint folder, an ONNX file or a ``torch.export`` archive ->
:class:`~plumsim.workload.format.Workload`.

This module imports torch at import time (``plumsim.workload`` and ``plumsim.api`` import it lazily).

**nn.Module** (and a plumsim checkpoint folder, rebuilt into its model): one real forward pass on
``example_input`` runs under a torch function mode that sees every ``F.conv2d`` / ``F.linear`` call, with
the weight tensor the call really multiplies by (so a layer with its own quantizer inside ``forward``, a
Brevitas ``QuantConv2d``, or a plain ``nn.Conv2d`` whose weights happen to be ternary is lowered from its
quantized values, not from a latent float parameter). A call is named after the innermost module running
it (``features.0``; a second call inside the same module run gets ``:1``...). Its input gives the real
input size (X, Y), batch N, stride, padding and groups. plumsim's own ``QConv2d``/``QLinear`` with a
quantized scheme declare their codes (``weight_codes()``, with the signed-binary sign layout); every
other layer's scheme is detected from the weight values (:mod:`plumsim.workload.detect`), or forced with
``schemes={"glob": "scheme"}``. Layers are listed in the order of their first call; Conv2d/Linear modules
never called go to ``meta["not_called"]``.

``input_sample``: the first n items of a layer's input as its multipliers see it (after a quantized
layer's input clamp), float32 [n, C, X, Y] (linear: [n, C]).

Files: see :func:`lower` (ONNX: :mod:`plumsim.workload.onnx_import`; ``.pt2``:
:mod:`plumsim.workload.torch_export`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from plumsim.errors import PlumsimError, WorkloadError
from plumsim.workload.calls import (SUPPORTED_INPUTS, LayerCall, detection_meta, layers_from_calls, parse_input_shape,
                                   parse_scheme_overrides, scheme_summary)
from plumsim.workload.detect import DEFAULT_RTOL
from plumsim.workload.format import Workload

_UNSUPPORTED_FUNCS = {torch.conv1d: "conv1d", torch.conv3d: "conv3d", torch.conv_transpose1d: "conv_transpose1d",
                      torch.conv_transpose2d: "conv_transpose2d", torch.conv_transpose3d: "conv_transpose3d"}


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


def conv_padding(padding, kernel, stride: int, name: str) -> int:
    """Symmetric integer padding of a conv; ``'valid'`` is 0, ``'same'`` (stride 1, odd kernel) (k-1)/2."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0
        if padding == "same" and stride == 1 and all(int(k) % 2 == 1 for k in kernel):
            return _pair(tuple((int(k) - 1) // 2 for k in kernel), "padding", name)
        raise WorkloadError(f"padding {padding!r} is not supported here (integer padding, 'valid', or 'same' "
                            "with stride 1 and an odd kernel)", field=f"{name}.padding")
    return _pair(padding, "padding", name)


def _numpy(t) -> np.ndarray:
    t = getattr(t, "value", t) if not isinstance(t, torch.Tensor) else t  # QuantTensor-like wrappers
    return t.detach().to(torch.float32).cpu().numpy().copy()


def conv_call(name: str, x, weight, stride, padding, dilation, groups, *, input_samples: int = 0,
              options: dict | None = None) -> LayerCall:
    """A :class:`LayerCall` from the arguments of one 2-d convolution (torch or aten)."""
    x = getattr(x, "value", x)
    if tuple(_as_tuple(dilation)) not in ((1,), (1, 1)):
        raise WorkloadError(f"dilation {tuple(_as_tuple(dilation))} is not supported", field=f"{name}.dilation")
    w = _numpy(weight)
    if w.ndim != 4:
        raise WorkloadError(f"unsupported operator: a {w.ndim - 2}-d convolution (weight {list(w.shape)}); "
                            "only 2-d convolutions are lowered", field=name)
    st = _pair(_as_tuple(stride) if not isinstance(stride, int) else stride, "stride", name)
    pad = conv_padding(padding if isinstance(padding, str) else
                       (_as_tuple(padding) if not isinstance(padding, int) else padding), w.shape[2:], st, name)
    if x.dim() != 4:
        raise WorkloadError(f"expected a 4-d input [N, C, X, Y], got {tuple(x.shape)}", field=name)
    sample = _numpy(x[:input_samples]) if input_samples > 0 else None
    return LayerCall(name=name, kind="conv", weight=w, input_shape=tuple(int(v) for v in x.shape), stride=st,
                     padding=pad, groups=int(groups), input_sample=sample, options=dict(options or {}))


def linear_call(name: str, x, weight, *, input_samples: int = 0, options: dict | None = None) -> LayerCall:
    """A :class:`LayerCall` from the arguments of one linear layer (``x @ weight.T``)."""
    x = getattr(x, "value", x)
    w = _numpy(weight)
    if w.ndim != 2:
        raise WorkloadError(f"linear weight must be 2-d, got {list(w.shape)}", field=name)
    sample = None
    if input_samples > 0:
        sample = _numpy(x.reshape(-1, w.shape[1])[:input_samples]) if x.shape[-1] == w.shape[1] else None
    return LayerCall(name=name, kind="linear", weight=w.reshape(w.shape[0], w.shape[1], 1, 1),
                     input_shape=tuple(int(v) for v in x.shape), input_sample=sample, options=dict(options or {}))


def _as_tuple(v):
    if isinstance(v, (list, tuple)):
        return tuple(int(a) for a in v)
    return (int(v),)


def _arg(args, kwargs, i, key, default):
    if len(args) > i:
        return args[i]
    return kwargs.get(key, default)


class _Capture(TorchFunctionMode):
    """Records every F.conv2d / F.linear call of a forward pass, named after the innermost running module."""

    def __init__(self, stack, input_samples: int):
        super().__init__()
        self.stack = stack            # [[module name, module, calls made in this run], ...]
        self.input_samples = input_samples
        self.calls: dict[str, list] = {}   # name -> [LayerCall, module, calls]
        self.order: list[str] = []

    def _name(self, fallback: str):
        if not self.stack:
            return fallback, None
        top = self.stack[-1]
        name = top[0] or fallback
        if top[2]:
            name = f"{name}:{top[2]}"
        top[2] += 1
        return name, top[1]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.conv2d or func is F.linear:
            kind = "conv" if func is torch.conv2d else "linear"
            name, module = self._name(f"{kind}2d" if kind == "conv" else "linear")
            if name in self.calls:
                self.calls[name][2] += 1
            else:
                opts = _module_options(module)
                x, weight = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "weight", None)
                opts["bias"] = _arg(args, kwargs, 2, "bias", None) is not None
                if kind == "conv":
                    if isinstance(module, nn.Conv2d) and module.padding_mode != "zeros":
                        raise WorkloadError(f"padding_mode {module.padding_mode!r} is not supported (zeros only)",
                                            field=f"{name}.padding_mode")
                    call = conv_call(name, x, weight, _arg(args, kwargs, 3, "stride", 1),
                                     _arg(args, kwargs, 4, "padding", 0), _arg(args, kwargs, 5, "dilation", 1),
                                     _arg(args, kwargs, 6, "groups", 1), input_samples=self.input_samples,
                                     options=opts)
                else:
                    call = linear_call(name, x, weight, input_samples=self.input_samples, options=opts)
                self.calls[name] = [call, module, 1]
                self.order.append(name)
        elif func in _UNSUPPORTED_FUNCS:
            name, _ = self._name(_UNSUPPORTED_FUNCS[func])
            raise WorkloadError(f"unsupported operator {_UNSUPPORTED_FUNCS[func]} in module {name!r} (plumsim "
                                "lowers 2-d convolutions and linear layers)", field=name)
        return func(*args, **kwargs)


def _module_options(module) -> dict:
    if module is None:
        return {"module": "functional"}
    clamp = getattr(module, "input_clamp", None)
    opts = {"module": type(module).__name__, "input_clamp": clamp if isinstance(clamp, (int, float)) else None}
    quantizer = getattr(module, "quantizer", None)
    if quantizer is not None and hasattr(quantizer, "options"):
        opts["quantizer_options"] = _jsonable(dict(getattr(quantizer, "options", {}) or {}))
    return opts


def _declared(module, call: LayerCall) -> dict | None:
    """plumsim's QConv2d/QLinear with a quantized scheme: its own codes, scale and sign layout."""
    scheme = str(getattr(module, "scheme", "fp"))
    if scheme == "fp" or not callable(getattr(module, "weight_codes", None)):
        return None
    K = call.weight.shape[0]
    with torch.no_grad():
        c, s = module.weight_codes()
    codes = c.detach().cpu().numpy().astype(np.int8).reshape(call.weight.shape)
    scale = s.detach().to(torch.float32).cpu().numpy().reshape(K).copy()
    sign = None
    if scheme == "signed-binary":
        # the layout fixes each filter's sign even where a filter has no non-zero
        q = getattr(module, "quantizer", None)
        p = float((getattr(q, "options", None) or {}).get("positive_fraction", 0.5))
        n_pos = int(math.floor(p * K + 1e-9))
        sign = np.full(K, -1, dtype=np.int8)
        sign[:n_pos] = 1
    return {"scheme": scheme, "codes": codes, "scale": scale, "sign": sign, "source": "module"}


def capture_module(model: nn.Module, example_input, *, input_samples: int = 0, model_name: str = "model"):
    """Run ``model`` once on ``example_input`` (a tensor or a tuple of them) and return (calls in first-call
    order, names of Conv2d/Linear modules never called)."""
    stack: list = []
    handles = []
    mode = _Capture(stack, input_samples)

    def pre(mname):
        def hook(module, inputs):
            stack.append([mname, module, 0])
        return hook

    def post(module, inputs, output):
        if stack:
            stack.pop()

    for mname, m in model.named_modules():
        handles.append(m.register_forward_pre_hook(pre(mname)))
        handles.append(m.register_forward_hook(post, always_call=True))
    was_training = model.training
    model.eval()
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    try:
        with torch.no_grad(), mode:
            model(*args)
    except PlumsimError:
        raise
    except Exception as exc:
        shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else type(a).__name__ for a in args)
        raise WorkloadError(f"forward pass of {model_name!r} on input {shapes} failed: "
                            f"{type(exc).__name__}: {exc}", field="example_input") from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    calls = []
    for n in mode.order:
        call, module, count = mode.calls[n]
        call.options["calls"] = count
        call.declared = _declared(module, call)
        calls.append(call)
    called_modules = {n.split(":")[0] for n in mode.order}
    not_called = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))
                  and n not in called_modules]
    return calls, not_called


def _lower_file(p: Path, overrides, shape, rtol: float, input_samples: int, seed: int, name) -> Workload:
    """Lower a model file: ``.onnx`` (:func:`~plumsim.workload.onnx_import.lower_onnx`) or ``.pt2``
    (:func:`~plumsim.workload.torch_export.lower_pt2`); any other file is refused (a torch.save file with
    a hint on how to write one plumsim reads)."""
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from plumsim.workload.onnx_import import lower_onnx

        return lower_onnx(p, schemes=overrides, input_shape=shape, rtol=rtol, name=name)
    if suffix == ".pt2":
        from plumsim.workload.torch_export import lower_pt2

        return lower_pt2(p, schemes=overrides, input_shape=shape, rtol=rtol, input_samples=input_samples,
                         seed=seed, name=name)
    hint = ""
    if suffix in (".pt", ".pth", ".ckpt", ".bin"):
        hint = (" A torch.save file holds pickled Python objects, which plumsim does not load: write "
                "torch.export.save(torch.export.export(model, (x,)), 'model.pt2') or "
                "torch.onnx.export(model, (x,), 'model.onnx'), or lower the nn.Module with "
                "plumsim.lower(model, x).")
    raise WorkloadError(f"unsupported input file; plumsim lower takes {SUPPORTED_INPUTS}.{hint}", path=p)


def _checkpoint_model(p: Path, meta: dict):
    """The ``nn.Module`` of a plumsim checkpoint folder; records the folder and its config in ``meta``.
    Refuses a folder without ``config.json`` and a damaged checkpoint (one line)."""
    from plumsim.quant.checkpoint import load_checkpoint

    if not (p / "config.json").is_file():
        raise WorkloadError(f"not a plumsim checkpoint folder (no config.json); plumsim lower takes "
                            f"{SUPPORTED_INPUTS}", path=p)
    try:
        model, config = load_checkpoint(p)
    except PlumsimError:
        raise
    except Exception as exc:  # a torch/zip/JSON error inside a damaged checkpoint
        raise WorkloadError(f"cannot load checkpoint: {type(exc).__name__}: {exc}", path=p) from None
    meta["checkpoint"] = str(p)
    if isinstance(config, dict):
        meta["checkpoint_config"] = _jsonable(config)
    return model


def _default_input(shape, model_name: str, batch: int, seed: int):
    """A seeded standard-normal example input: of ``shape`` when given, else ``(batch, *input shape)`` of
    a model built by ``plumsim.quant.build_model``; refuses an unknown model and a bad ``batch``."""
    if shape is not None:
        return torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))
    from plumsim.quant.models import MODEL_INPUT_SHAPES

    if model_name not in MODEL_INPUT_SHAPES:
        raise WorkloadError(f"no example_input given and model {model_name!r} has no known input shape "
                            f"(known: {', '.join(MODEL_INPUT_SHAPES)}); pass example_input or "
                            "input_shape", field="example_input")
    if not isinstance(batch, int) or batch < 1:
        raise WorkloadError(f"batch must be an integer >= 1, got {batch!r}", field="batch")
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn((batch, *MODEL_INPUT_SHAPES[model_name][1:]), generator=g)


def lower(model_or_path, example_input=None, *, schemes=None, input_shape=None, rtol: float = DEFAULT_RTOL,
          batch: int = 1, input_samples: int = 0, seed: int = 0, name: str | None = None) -> Workload:
    """Lower a model to a :class:`Workload`.

    ``model_or_path``: an ``nn.Module``; or a path: a folder written by ``plumsim.quant.checkpoint``, an
    ONNX file (``.onnx``), a ``torch.export`` archive (``.pt2``).
    ``example_input``: a tensor (or tuple of tensors) for the forward pass of an ``nn.Module``; if None,
    a seeded standard-normal tensor of ``input_shape``, else of ``(batch, *MODEL_INPUT_SHAPES[model][1:])``
    for a model built by ``plumsim.quant.build_model``. Files: ``input_shape`` (N, C, H, W) where the file
    does not fix the input's shape.
    ``schemes``: per-layer overrides ``{"glob": scheme}`` or ``["glob=scheme", ...]`` (fnmatch globs over
    layer names; ``auto`` = detect); a layer whose values contradict its forced scheme is a WorkloadError.
    ``rtol``: detection tolerance, a fraction of max|w| (:data:`plumsim.workload.detect.DEFAULT_RTOL`).
    ``input_samples``: keep that many input items per layer (0 = none; nn.Module and .pt2 only).
    """
    overrides = parse_scheme_overrides(schemes)
    shape = parse_input_shape(input_shape)
    meta: dict = {"source": "lower"}
    if isinstance(model_or_path, (str, Path)):
        p = Path(model_or_path)
        if not p.exists():
            raise WorkloadError(f"not found; plumsim lower takes {SUPPORTED_INPUTS}", path=p)
        if p.is_file():
            return _lower_file(p, overrides, shape, rtol, input_samples, seed, name)
        model = _checkpoint_model(p, meta)
    elif isinstance(model_or_path, nn.Module):
        model = model_or_path
    else:
        raise WorkloadError(f"expected an nn.Module or a path ({SUPPORTED_INPUTS}), got "
                            f"{type(model_or_path).__name__}", field="model")
    spec = getattr(model, "plumsim_spec", None) or {}
    model_name = spec.get("model") or type(model).__name__
    meta["model"] = model_name
    if example_input is None:
        example_input = _default_input(shape, model_name, batch, seed)
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise WorkloadError(f"example_input must be a tensor (or a tuple of tensors), got "
                            f"{type(example_input).__name__}", field="example_input")
    meta["example_input_shape"] = list(inputs[0].shape)
    calls, not_called = capture_module(model, example_input, input_samples=input_samples, model_name=model_name)
    if not calls:
        raise WorkloadError(f"model {model_name!r} has no Conv2d or Linear layer to lower (no conv2d/linear call "
                            "in its forward pass)", field="model")
    layers = layers_from_calls(calls, overrides, rtol=rtol)
    if not_called:
        meta["not_called"] = not_called
    meta["scheme"] = spec.get("scheme") or scheme_summary(layers)
    meta.update(detection_meta(overrides, rtol))
    return Workload(name=name or f"{model_name}-{spec.get('scheme') or meta['scheme']}", layers=layers, meta=meta)

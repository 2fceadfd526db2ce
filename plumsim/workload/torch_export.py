"""Lowering a ``torch.export`` archive (``.pt2``, written by ``torch.export.save``).

``torch.export.load`` gives an ExportedProgram; its module is run once (an ``torch.fx.Interpreter``) on a
seeded standard-normal input of the exported input shape (or ``input_shape`` when the archive was
exported with dynamic dimensions). Every ``aten.conv2d`` / ``aten.convolution`` / ``aten.linear`` node is
recorded with the tensors it really receives (so a quantizer written as graph ops before the conv is
seen in its output values) and named after the module that ran it (``nn_module_stack``: ``features.0``),
the same names as :func:`plumsim.workload.lowering.lower` gives the ``nn.Module``. Schemes are detected
from the weight values (:mod:`plumsim.workload.detect`) or forced per layer. torch is imported here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from plumsim.errors import PlumsimError, WorkloadError
from plumsim.workload.calls import (detection_meta, layers_from_calls, parse_scheme_overrides, scheme_summary,
                                   unique_name)
from plumsim.workload.detect import DEFAULT_RTOL
from plumsim.workload.format import Workload
from plumsim.workload.lowering import conv_call, linear_call

_aten = torch.ops.aten
_CONV = {_aten.conv2d.default, _aten.conv2d.padding, _aten.convolution.default}
_LINEAR = {_aten.linear.default}
_UNSUPPORTED = {_aten.conv1d.default: "conv1d", _aten.conv3d.default: "conv3d",
                _aten.conv_transpose2d.input: "conv_transpose2d", _aten.conv_transpose1d.default: "conv_transpose1d",
                _aten.conv_transpose3d.input: "conv_transpose3d"}


def _node_name(node, taken: set) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    fqn = ""
    if stack:
        last = list(stack.values())[-1]
        fqn = str(last[0]) if isinstance(last, (tuple, list)) else str(last)
    return unique_name(fqn or node.name, taken)


def _static_shape(val, what: str):
    shape = getattr(val, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(d) for d in shape)
    except (TypeError, ValueError):  # a symbolic (dynamic) dimension
        return None


def lower_pt2(path, *, schemes=None, input_shape=None, rtol: float = DEFAULT_RTOL, input_samples: int = 0,
              seed: int = 0, name: str | None = None) -> Workload:
    """Lower the ``.pt2`` archive at ``path``; see the module doc. ``input_shape``: a tuple of ints for the
    (single) tensor input, needed when the archive does not fix it."""
    p = Path(path)
    overrides = parse_scheme_overrides(schemes)
    try:
        ep = torch.export.load(str(p))
    except Exception as exc:
        raise WorkloadError(f"cannot load torch.export archive: {type(exc).__name__}: {str(exc)[:300]}",
                            path=p) from None
    try:
        gm = ep.module()
    except Exception as exc:
        raise WorkloadError(f"cannot rebuild the exported module: {type(exc).__name__}: {exc}", path=p) from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise WorkloadError(f"the exported program takes {len(placeholders)} inputs; plumsim lowers models with "
                            "one tensor input", path=p)
    exported = _static_shape(placeholders[0].meta.get("val"), "input")
    shape = tuple(input_shape) if input_shape is not None else exported
    if shape is None:
        raise WorkloadError("the archive's input has dynamic dimensions: give --input-shape N,C,H,W "
                            "(input_shape=...)", path=p, field="--input-shape")
    x = torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))
    calls, taken = [], set()

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            self._plumsim_node = n
            return super().run_node(n)

        def call_function(self, target, args, kwargs):
            node = self._plumsim_node
            if target in _CONV or target in _LINEAR:
                lname = _node_name(node, taken)
                opts = {"module": _module_type(node), "bias": _get(args, kwargs, 2, "bias") is not None, "calls": 1}
                if target in _LINEAR:
                    calls.append(linear_call(lname, args[0], args[1], input_samples=input_samples, options=opts))
                else:
                    if target is _aten.convolution.default:
                        transposed = _get(args, kwargs, 6, "transposed", False)
                        if transposed:
                            raise WorkloadError(f"unsupported operator conv_transpose (node {node.name!r}, module "
                                                f"{lname!r})", path=p, field=lname)
                        groups = _get(args, kwargs, 8, "groups", 1)
                    else:
                        groups = _get(args, kwargs, 6, "groups", 1)
                    calls.append(conv_call(lname, args[0], args[1], _get(args, kwargs, 3, "stride", 1),
                                           _get(args, kwargs, 4, "padding", 0), _get(args, kwargs, 5, "dilation", 1),
                                           groups, input_samples=input_samples, options=opts))
            elif target in _UNSUPPORTED:
                raise WorkloadError(f"unsupported operator {_UNSUPPORTED[target]} (node {node.name!r}, module "
                                    f"{_node_name(node, set())!r}); plumsim lowers 2-d convolutions and linear "
                                    "layers", path=p, field=node.name)
            return super().call_function(target, args, kwargs)

    try:
        with torch.no_grad():
            Recorder(gm).run(x)
    except PlumsimError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fits = f" (the archive was exported for input {list(exported)})" if exported and exported != shape else ""
        raise WorkloadError(f"running the exported program on input {list(shape)} failed{fits}: "
                            f"{type(exc).__name__}: {msg[:300]}", path=p) from None
    if not calls:
        raise WorkloadError("the exported program has no conv2d or linear layer to lower", path=p)
    layers = layers_from_calls(calls, overrides, rtol=rtol)
    summary = scheme_summary(layers)
    meta = {"source": "lower", "model": p.stem, "format": "torch.export", "file": str(p), "scheme": summary,
            "example_input_shape": list(shape), **detection_meta(overrides, rtol)}
    return Workload(name=name or f"{p.stem}-{summary}", layers=layers, meta=meta)


def _get(args, kwargs, i, key, default=None):
    if len(args) > i:
        return args[i]
    return kwargs.get(key, default)


def _module_type(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        last = list(stack.values())[-1]
        if isinstance(last, (tuple, list)) and len(last) > 1:
            t = last[1]
            return str(getattr(t, "__name__", t)).rsplit(".", 1)[-1]
    return "exported"

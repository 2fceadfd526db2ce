"""Lowering an ONNX file (with the ``onnx`` package; no runtime needed).

* **Layers**: every ``Conv`` (2-d), ``Gemm`` and ``MatMul`` whose weight operand is constant: an
  initializer or ``Constant``, possibly through ``Identity``, or a ``DequantizeLinear`` of one (stored
  integer codes), or a ``QuantizeLinear -> DequantizeLinear`` pair on a float initializer (the QDQ form
  Brevitas and ONNX quantization tools write). A MatMul of two activations (attention) has no weight: it
  is left out and listed in ``meta["skipped"]``.
* **QDQ folding**: codes = ``q - zero_point`` (``q`` = the stored integers, or ``saturate(round_half_even(
  w / scale) + zero_point)`` for a QuantizeLinear), scale per output channel (DequantizeLinear ``axis`` on
  the weight's output dimension) or per tensor. The scheme then follows from the codes
  (:func:`plumsim.workload.detect.classify_codes`: {-1,+1} binary, {-1,0,+1} ternary or signed-binary,
  else int<k>). Other weights are detected from their float values (:func:`plumsim.workload.detect.detect`).
* **Shapes** from ONNX shape inference (strict): the graph's single input needs a static shape, from the
  file or ``input_shape`` (which must agree with the dimensions the file fixes).
* **Attributes**: ``strides``, ``pads`` (symmetric only), ``auto_pad``, ``dilations`` (1 only), ``group``;
  Gemm ``transA`` (0 only), ``transB``, ``alpha`` (folded into the weights).
* **Names**: the weight initializer's name without ``.weight`` (what ``torch.onnx.export`` writes, so
  ``features.0`` as for the nn.Module), else the node's name, else ``<op>_<index>``.

Refused, one line naming the node: a file that is not ONNX, an operator of a custom domain, a weight-bearing
operator plumsim cannot lower (ConvTranspose, ConvInteger, QLinearConv, RNNs, ...), a 1-d/3-d Conv, a
weight computed at run time, an input shape that does not fit the graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plumsim.errors import WorkloadError
from plumsim.workload.calls import (LayerCall, detection_meta, layers_from_calls, parse_scheme_overrides,
                                   scheme_summary, unique_name)
from plumsim.workload.detect import DEFAULT_RTOL, classify_codes

#: standard operators that carry weights plumsim cannot lower
UNSUPPORTED_OPS = ("ConvTranspose", "ConvInteger", "QLinearConv", "QLinearMatMul", "MatMulInteger", "LSTM",
                   "GRU", "RNN", "DeformConv", "Einsum")
_DEFAULT_DOMAINS = ("", "ai.onnx")


def _onnx():
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dependency
        raise WorkloadError("reading ONNX files needs the 'onnx' package (pip install onnx)") from None
    return onnx


def _first_line(exc) -> str:
    s = str(exc).strip()
    return (s.splitlines()[0] if s else type(exc).__name__)[:300]


def _attrs(node) -> dict:
    onnx = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info) -> tuple | None:
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim)


class _Graph:
    def __init__(self, model, path):
        onnx = _onnx()
        from onnx import numpy_helper

        self.path = path
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {}
        for init in self.graph.initializer:
            try:
                self.consts[init.name] = numpy_helper.to_array(init)
            except Exception as exc:
                raise WorkloadError(f"cannot read initializer {init.name!r}: {_first_line(exc)}", path=path) from None
        self.producer = {}
        for node in self.graph.node:
            for out in node.output:
                self.producer[out] = node
            if node.op_type == "Constant" and node.domain in _DEFAULT_DOMAINS:
                a = _attrs(node)
                if "value" in a:
                    self.consts[node.output[0]] = numpy_helper.to_array(a["value"])
        self.onnx = onnx

    def where(self, node, i) -> str:
        return f"node {node.name or '#' + str(i)!r} ({node.op_type})"

    def const(self, name: str, node, i) -> np.ndarray:
        if name in self.consts:
            return self.consts[name]
        src = self.producer.get(name)
        if src is not None and src.op_type == "Identity":
            return self.const(src.input[0], node, i)
        raise WorkloadError(f"{self.where(node, i)}: input {name!r} must be a constant (an initializer)",
                            path=self.path)

    def is_const(self, name: str) -> bool:
        if name in self.consts:
            return True
        src = self.producer.get(name)
        if src is None:
            return False
        if src.op_type == "Identity":
            return self.is_const(src.input[0])
        if src.op_type == "DequantizeLinear":
            return self.is_const(src.input[0]) or (
                self.producer.get(src.input[0]) is not None
                and self.producer[src.input[0]].op_type == "QuantizeLinear"
                and self.is_const(self.producer[src.input[0]].input[0]))
        return False

    def weight(self, name: str, node, i, out_axis: int):
        """(float32 weight, declared codes dict or None) of a constant weight operand; ``out_axis``: the
        output-channel dimension of the stored weight (Conv 0, Gemm transB=1 0, MatMul/Gemm transB=0 1)."""
        src = self.producer.get(name)
        if name in self.consts or (src is not None and src.op_type == "Identity"):
            w = self.const(name, node, i)
            if w.dtype.kind not in "f":
                raise WorkloadError(f"{self.where(node, i)}: integer weight {name!r} without a DequantizeLinear",
                                    path=self.path)
            return w.astype(np.float32), None
        if src is None or src.op_type != "DequantizeLinear":
            what = "a graph input" if src is None else f"computed by a {src.op_type} node"
            raise WorkloadError(f"{self.where(node, i)}: weight {name!r} is {what}; plumsim lowers constant "
                                "weights (initializers, optionally through QuantizeLinear/DequantizeLinear)",
                                path=self.path)
        dq = src
        da = _attrs(dq)
        if da.get("block_size", 0):
            raise WorkloadError(f"{self.where(dq, i)}: blocked quantization (block_size) is not supported",
                                path=self.path)
        scale = self.const(dq.input[1], dq, i).astype(np.float64)
        zp = self.const(dq.input[2], dq, i) if len(dq.input) > 2 and dq.input[2] else None
        x = dq.input[0]
        qsrc = self.producer.get(x)
        if x in self.consts or (qsrc is not None and qsrc.op_type == "Identity"):
            q = self.const(x, dq, i)
            if q.dtype.kind not in "iu":
                raise WorkloadError(f"{self.where(dq, i)}: dequantizes a float tensor {x!r}", path=self.path)
            q = q.astype(np.int64)
        elif qsrc is not None and qsrc.op_type == "QuantizeLinear":
            qa = _attrs(qsrc)
            wf = self.const(qsrc.input[0], qsrc, i).astype(np.float64)
            qscale = self.const(qsrc.input[1], qsrc, i).astype(np.float64)
            qzp = self.const(qsrc.input[2], qsrc, i) if len(qsrc.input) > 2 and qsrc.input[2] else None
            lo, hi = _range(qzp, qa.get("output_dtype", 0), self.onnx)
            q = np.clip(np.rint(wf / _bcast(qscale, wf.ndim, qa.get("axis", 1))) +
                        (0 if qzp is None else _bcast(qzp.astype(np.int64), wf.ndim, qa.get("axis", 1))), lo, hi)
            q = q.astype(np.int64)
        else:
            raise WorkloadError(f"{self.where(dq, i)}: dequantizes {x!r}, which is not a constant or a "
                                "QuantizeLinear of one", path=self.path)
        axis = int(da.get("axis", 1))
        axis = axis + q.ndim if axis < 0 else axis
        codes = q - (0 if zp is None else _bcast(zp.astype(np.int64), q.ndim, axis))
        w = (codes * _bcast(scale, q.ndim, axis)).astype(np.float32)
        if scale.size > 1 and axis != out_axis:
            return w, None  # scale along the reduction: not a per-filter scale, detect from the values
        K = q.shape[out_axis]
        per_k = np.broadcast_to(scale.reshape(-1), (K,)).astype(np.float32) if scale.size <= K else None
        if per_k is None:
            return w, None
        return w, {"codes": np.moveaxis(codes, out_axis, 0), "scale": per_k, "source": "onnx-qdq"}


def _range(zp, output_dtype, onnx):
    dt = zp.dtype if zp is not None else None
    if dt is None and output_dtype:
        dt = onnx.helper.tensor_dtype_to_np_dtype(output_dtype)
    dt = np.dtype(dt) if dt is not None else np.dtype(np.uint8)
    if dt.kind not in "iu":
        raise WorkloadError(f"QuantizeLinear to {dt} is not an integer quantization")
    info = np.iinfo(dt)
    return int(info.min), int(info.max)


def _bcast(a: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    a = np.asarray(a)
    if a.size <= 1:
        return a.reshape(())
    shape = [1] * ndim
    shape[axis] = a.size
    return a.reshape(shape)


def _conv_padding(attrs, x_shape, kernel, stride, where, path) -> int:
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k in zip(x_shape[2:], kernel):
            out = -(-size // stride)
            total = max((out - 1) * stride + k - size, 0)
            if total % 2:
                raise WorkloadError(f"{where}: auto_pad {auto} pads {total} pixels, not symmetric", path=path)
            pads.append(total // 2)
    elif auto == "VALID":
        pads = [0, 0]
    else:
        p = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
        if len(set(p)) > 1:
            raise WorkloadError(f"{where}: non-symmetric pads {p} are not supported (one value for every side)",
                                path=path)
        pads = p[:2]
    if len(set(pads)) > 1:
        raise WorkloadError(f"{where}: pads {pads} differ between rows and columns", path=path)
    return int(pads[0])


def _load_checked(onnx, p: Path):
    """Read and check the ONNX file at ``p``; gives the ``ModelProto``. Refuses (one line) a file that is
    not ONNX, a graph without nodes, or a model the ONNX checker rejects."""
    try:
        model = onnx.load(str(p))
    except Exception as exc:
        raise WorkloadError(f"not a valid ONNX file: {_first_line(exc)}", path=p) from None
    if not model.graph.node:
        raise WorkloadError("not a valid ONNX file: the graph has no nodes", path=p)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise WorkloadError(f"invalid ONNX model: {_first_line(exc)}", path=p) from None
    return model


def _refuse_unsupported(model, g: _Graph, p: Path) -> None:
    """Takes the model and its :class:`_Graph`; gives nothing, refuses the first node of a custom domain
    or of an operator in :data:`UNSUPPORTED_OPS`."""
    for i, node in enumerate(model.graph.node):
        if node.domain not in _DEFAULT_DOMAINS:
            raise WorkloadError(f"unsupported operator {node.domain}::{node.op_type} ({g.where(node, i)}); plumsim "
                                "reads standard ONNX operators", path=p, field=node.name or None)
        if node.op_type in UNSUPPORTED_OPS:
            raise WorkloadError(f"unsupported operator {node.op_type} ({g.where(node, i)}); plumsim lowers Conv "
                                "(2-d), Gemm and MatMul layers", path=p, field=node.name or None)


def _static_inputs(model, g: _Graph, input_shape, p: Path) -> list:
    """The graph's run-time inputs (``ValueInfoProto``s that are not initializers), each with a static shape.
    Takes ``input_shape`` (dimensions, or None): when given, the single input's shape is set to it in
    ``model`` (in place) after checking it agrees with the dimensions the file fixes. Refuses an input
    left with an unknown or symbolic dimension."""
    inputs = [v for v in model.graph.input if v.name not in g.consts]
    if input_shape is not None:
        if len(inputs) != 1:
            raise WorkloadError(f"--input-shape needs a graph with one input, this one has {len(inputs)}", path=p)
        fixed = _dims(inputs[0]) or ()
        shape = tuple(int(d) for d in input_shape)
        if fixed and (len(fixed) != len(shape) or any(f not in (None, 0) and f != s for f, s in zip(fixed, shape))):
            raise WorkloadError(f"input shape {list(shape)} does not fit the graph's input {inputs[0].name!r} "
                                f"{['?' if d in (None, 0) else d for d in fixed]}", path=p, field="--input-shape")
        tt = inputs[0].type.tensor_type
        tt.shape.ClearField("dim")
        for d in shape:
            tt.shape.dim.add().dim_value = d
    for v in inputs:
        dims = _dims(v)
        if dims is None or any(d in (None, 0) for d in dims):
            shown = "unknown" if dims is None else str(['?' if d in (None, 0) else d for d in dims])
            raise WorkloadError(f"the input {v.name!r} has shape {shown}: give --input-shape N,C,H,W", path=p,
                                field="--input-shape")
    return inputs


def _inferred_shapes(onnx, model, p: Path) -> dict:
    """Strict ONNX shape inference on ``model``; gives ``{tensor name: dims tuple or None}`` for every value,
    graph input and graph output (a dimension is None where unknown)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:
        raise WorkloadError(f"shape inference failed (does the input shape fit the graph?): {_first_line(exc)}",
                            path=p) from None
    shapes = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[v.name] = _dims(v)
    return shapes


def _in_shape(shapes: dict, g: _Graph, tensor: str, node, i: int, rank=None) -> tuple:
    """The static shape (tuple of ints) of ``tensor``, the input of ``node`` (index ``i``); refuses one
    unknown, with a symbolic dimension, or not of rank ``rank`` (when given)."""
    s = shapes.get(tensor)
    if s is None or any(d in (None, 0) for d in s) or (rank is not None and len(s) != rank):
        raise WorkloadError(f"{g.where(node, i)}: no static shape for its input {tensor!r} (got {s}); give "
                            "--input-shape or a graph with fixed shapes", path=g.path)
    return tuple(int(d) for d in s)


def _layer_name(node, i: int, wname: str, taken: set) -> str:
    """The layer's name: the weight initializer's name without ``.weight``, else the node's name, else
    ``<op>_<i>``; made unique against ``taken`` (which it extends)."""
    base = wname[: -len(".weight")] if wname.endswith(".weight") else (node.name or f"{node.op_type}_{i}")
    return unique_name(base, taken)


def _conv_call(g: _Graph, node, i: int, shapes: dict, taken: set) -> LayerCall:
    """A 2-d ``Conv`` node (index ``i``) as a ``conv`` :class:`LayerCall` (weight [K, C/groups, R, S],
    input shape, stride, symmetric padding in pixels, groups), with its declared QDQ codes if any.
    Refuses 1-d/3-d convolutions, dilations other than 1 and non-symmetric strides or pads."""
    p, a, where = g.path, _attrs(node), g.where(node, i)
    w, decl = g.weight(node.input[1], node, i, 0)
    if w.ndim != 4:
        raise WorkloadError(f"unsupported operator: {where} is a {w.ndim - 2}-d convolution; plumsim "
                            "lowers 2-d convolutions", path=p)
    dil = [int(v) for v in a.get("dilations", [1, 1])]
    if any(d != 1 for d in dil):
        raise WorkloadError(f"{where}: dilations {dil} are not supported", path=p)
    strides = [int(v) for v in a.get("strides", [1, 1])]
    if len(set(strides)) > 1:
        raise WorkloadError(f"{where}: non-symmetric strides {strides} are not supported", path=p)
    xs = _in_shape(shapes, g, node.input[0], node, i, 4)
    pad = _conv_padding(a, xs, w.shape[2:], strides[0], where, p)
    lname = _layer_name(node, i, node.input[1], taken)
    return _with_decl(LayerCall(
        name=lname, kind="conv", weight=w, input_shape=xs, stride=strides[0], padding=pad,
        groups=int(a.get("group", 1)), options={"module": "onnx.Conv", "node": node.name,
                                                "bias": len(node.input) > 2 and bool(node.input[2])}), decl)


def _gemm_weight(g: _Graph, node, i: int):
    """A ``Gemm`` node's B operand oriented [K, C] with ``alpha`` folded in (into the declared scale too);
    gives (float32 weight, declared codes dict or None). Refuses transA=1 and a non-constant B."""
    p, a, where = g.path, _attrs(node), g.where(node, i)
    if int(a.get("transA", 0)):
        raise WorkloadError(f"{where}: transA=1 is not supported", path=p)
    if not g.is_const(node.input[1]):
        raise WorkloadError(f"{where}: its B operand is not constant; plumsim lowers constant weights",
                            path=p)
    trans_b = int(a.get("transB", 0))
    w, decl = g.weight(node.input[1], node, i, 0 if trans_b else 1)
    if not trans_b:
        w = w.T
    alpha = float(a.get("alpha", 1.0))
    if alpha != 1.0:
        w = (w * np.float32(alpha)).astype(np.float32)
        if decl is not None:
            decl["scale"] = (decl["scale"] * np.float32(alpha)).astype(np.float32)
    return w, decl


def _matmul_weight(g: _Graph, node, i: int):
    """A ``MatMul`` node's constant right operand oriented [K, C]; gives (float32 weight, declared codes
    dict or None), or None for a MatMul of two activations (no weight: skipped). Refuses a constant left
    operand and a weight not of rank 2."""
    p, where = g.path, g.where(node, i)
    if not g.is_const(node.input[1]):
        if g.is_const(node.input[0]):
            raise WorkloadError(f"{where}: a constant left operand is not supported (weights on the "
                                "right: x @ W)", path=p)
        return None
    w, decl = g.weight(node.input[1], node, i, 1)
    if w.ndim != 2:
        raise WorkloadError(f"{where}: weight of rank {w.ndim}; plumsim lowers 2-d MatMul weights", path=p)
    return w.T, decl


def _matrix_call(g: _Graph, node, i: int, shapes: dict, taken: set) -> LayerCall | None:
    """A ``Gemm`` or ``MatMul`` node (index ``i``) as a ``linear`` :class:`LayerCall` (weight [K, C, 1, 1],
    input shape), with its declared QDQ codes if any; None for a MatMul without a constant weight."""
    op = node.op_type
    if op == "Gemm":
        w, decl = _gemm_weight(g, node, i)
    else:
        got = _matmul_weight(g, node, i)
        if got is None:
            return None
        w, decl = got
    xs = _in_shape(shapes, g, node.input[0], node, i)
    lname = _layer_name(node, i, node.input[1], taken)
    return _with_decl(LayerCall(
        name=lname, kind="linear", weight=np.ascontiguousarray(w).reshape(w.shape[0], w.shape[1], 1, 1),
        input_shape=xs, options={"module": f"onnx.{op}", "node": node.name,
                                 "bias": op == "Gemm" and len(node.input) > 2 and bool(node.input[2])}), decl)


def _layer_calls(model, g: _Graph, shapes: dict):
    """Every Conv / Gemm / MatMul node of the graph, in graph order, as :class:`LayerCall`s; gives
    (calls, names of the MatMul nodes skipped for having no constant weight)."""
    calls, taken, skipped = [], set(), []
    for i, node in enumerate(model.graph.node):
        op = node.op_type
        if op == "Conv":
            calls.append(_conv_call(g, node, i, shapes, taken))
        elif op in ("Gemm", "MatMul"):
            call = _matrix_call(g, node, i, shapes, taken)
            if call is None:
                skipped.append(node.name or f"{op}_{i}")
            else:
                calls.append(call)
    return calls, skipped


def lower_onnx(path, *, schemes=None, input_shape=None, rtol: float = DEFAULT_RTOL, name: str | None = None):
    """Lower the ONNX file at ``path`` to a :class:`~plumsim.workload.format.Workload` (see the module doc)."""
    from plumsim.workload.format import Workload

    onnx = _onnx()
    p = Path(path)
    overrides = parse_scheme_overrides(schemes)
    model = _load_checked(onnx, p)
    g = _Graph(model, p)
    _refuse_unsupported(model, g, p)
    inputs = _static_inputs(model, g, input_shape, p)
    shapes = _inferred_shapes(onnx, model, p)
    calls, skipped = _layer_calls(model, g, shapes)
    if not calls:
        raise WorkloadError("the graph has no Conv, Gemm or MatMul with constant weights to lower", path=p)
    layers = layers_from_calls(calls, overrides, rtol=rtol)
    summary = scheme_summary(layers)
    meta = {"source": "lower", "model": p.stem, "format": "onnx", "file": str(p), "scheme": summary,
            "example_input_shape": [int(d) for d in shapes.get(inputs[0].name) or ()] if len(inputs) == 1 else None,
            "opset": [int(o.version) for o in model.opset_import if o.domain in _DEFAULT_DOMAINS][:1],
            **detection_meta(overrides, rtol)}
    if skipped:
        meta["skipped"] = skipped
    return Workload(name=name or f"{p.stem}-{summary}", layers=layers, meta=meta)


def _with_decl(call: LayerCall, decl) -> LayerCall:
    if decl is not None:
        codes = np.asarray(decl["codes"])
        if call.kind == "linear":
            codes = codes.reshape(codes.shape[0], codes.shape[1], 1, 1)
        try:
            det = classify_codes(codes, decl["scale"])
        except WorkloadError:
            return call  # codes beyond int8 (e.g. asymmetric uint8): detected from the values instead
        call.declared = {"scheme": det.scheme, "codes": det.codes, "scale": det.scale, "sign": det.sign,
                         "source": decl["source"]}
    return call

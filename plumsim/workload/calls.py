"""From one recorded conv/linear call to a :class:`~plumsim.workload.layer.Layer` (numpy only).

Every front end (an ``nn.Module`` run with hooks, a ``torch.export`` archive, an ONNX graph) records its
layers as :class:`LayerCall` values; :func:`layers_from_calls` applies the per-layer scheme overrides
(``{"glob": scheme}``, :func:`parse_scheme_overrides`), detects each layer's scheme from its weight values
(:func:`plumsim.workload.detect.detect`) unless the source declares codes, and builds the layers.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np

from plumsim.errors import WorkloadError
from plumsim.workload.detect import DEFAULT_RTOL, DETECTABLE, Detection, detect
from plumsim.workload.layer import Layer, LayerShape
from plumsim.workload.schemes import region_sign

AUTO = "auto"
#: what ``plumsim lower`` / :func:`plumsim.lower` take as a path
SUPPORTED_INPUTS = ("a plumsim checkpoint folder (written by `plumsim train`), an ONNX file (.onnx) or a "
                    "torch.export archive (.pt2, written by torch.export.save)")


@dataclass
class LayerCall:
    """One conv or linear layer as a front end saw it.

    ``weight``: float32 [K, C/G, R, S] (linear: [K, C, 1, 1]), the values the layer multiplies by.
    ``input_shape``: the layer's input (conv [N, C, X, Y], before padding; linear [N, C] with N = all
    leading dims). ``stride``/``padding``: pixels, one value for rows and columns. ``declared``: codes the
    source states itself, ``{"scheme", "codes" int8, "scale" float32 [K], "sign" int8 [K] | None,
    "source"}`` (a plumsim ``QConv2d``, an ONNX QuantizeLinear/DequantizeLinear pair), else None.
    ``input_sample``: float32, the first items of the input as the multipliers see it (optional).
    """

    name: str
    kind: str
    weight: np.ndarray
    input_shape: tuple
    stride: int = 1
    padding: int = 0
    groups: int = 1
    declared: dict | None = None
    input_sample: np.ndarray | None = None
    options: dict = field(default_factory=dict)

    def shape(self) -> LayerShape:
        w = self.weight
        if self.kind == "conv":
            if len(self.input_shape) != 4:
                raise WorkloadError(f"layer {self.name!r}: expected a 4-d input [N, C, X, Y], got "
                                    f"{list(self.input_shape)}", field=self.name)
            N, C, X, Y = (int(v) for v in self.input_shape)
            K, cg, R, S = (int(v) for v in w.shape)
            if cg * self.groups != C:
                raise WorkloadError(f"layer {self.name!r}: input has {C} channels but the weight "
                                    f"{list(w.shape)} with groups={self.groups} takes {cg * self.groups}",
                                    field=self.name)
            if R > X + 2 * self.padding or S > Y + 2 * self.padding:
                raise WorkloadError(f"layer {self.name!r}: kernel {R}x{S} larger than the padded input "
                                    f"{X + 2 * self.padding}x{Y + 2 * self.padding}", field=self.name)
            return LayerShape(N=N, G=int(self.groups), C=C, K=K, R=R, S=S, X=X, Y=Y, stride=int(self.stride),
                              padding=int(self.padding))
        C = int(self.input_shape[-1]) if self.input_shape else 0
        N = int(np.prod(self.input_shape[:-1])) if len(self.input_shape) > 1 else 1
        if int(w.shape[1]) != C:
            raise WorkloadError(f"layer {self.name!r}: input has {C} features but the weight "
                                f"{list(w.shape[:2])} takes {int(w.shape[1])}", field=self.name)
        return LayerShape(N=N, G=1, C=C, K=int(w.shape[0]), R=1, S=1, X=1, Y=1)


def parse_scheme_overrides(items) -> dict[str, str]:
    """``["conv*=ternary", "fc=fp"]`` (CLI ``--scheme LAYER=NAME``) or a dict -> ``{glob: scheme}``.

    Schemes: :data:`plumsim.workload.detect.DETECTABLE` or ``auto`` (detect; the default).
    """
    if items is None:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for it in items:
            if not isinstance(it, str) or "=" not in it:
                raise WorkloadError(f"expected LAYER=SCHEME (a glob, e.g. 'conv*=ternary'), got {it!r}",
                                    field="--scheme")
            k, v = it.rsplit("=", 1)
            pairs.append((k.strip(), v.strip()))
    out = {}
    for k, v in pairs:
        if not isinstance(k, str) or not k:
            raise WorkloadError(f"empty layer pattern in {k!r}={v!r}", field="--scheme")
        if v not in DETECTABLE and v != AUTO:
            raise WorkloadError(f"unknown scheme {v!r} for {k!r}; valid: {AUTO}, {', '.join(DETECTABLE)}",
                                field="--scheme")
        out[k] = v
    return out


def forced_scheme(name: str, overrides: dict[str, str]) -> str | None:
    """The scheme the last matching pattern forces on layer ``name`` (None: detect)."""
    got = None
    for pat, scheme in overrides.items():
        if fnmatch.fnmatchcase(name, pat):
            got = scheme
    return None if got in (None, AUTO) else got


def _declared_detection(decl: dict) -> Detection:
    sign = decl.get("sign")
    codes = np.asarray(decl["codes"], dtype=np.int8)
    scale = np.asarray(decl["scale"], dtype=np.float32).reshape(-1)
    return Detection(decl["scheme"], codes, scale, region_sign(codes) if sign is None else np.asarray(sign, np.int8),
                     "layer" if np.all(scale == scale[0]) else "filter", None, 0.0, 1.0, DEFAULT_RTOL, [], "")


def layer_from_call(call: LayerCall, overrides: dict[str, str] | None = None, *,
                    rtol: float = DEFAULT_RTOL) -> Layer:
    """Build the :class:`Layer` of one call: declared codes when the source has them (and no override
    says otherwise), else the scheme detected from the weight values (or forced by ``overrides``)."""
    shape = call.shape()
    force = forced_scheme(call.name, overrides or {})
    wshape = (shape.K, shape.C // shape.G, shape.R, shape.S)
    weight = np.asarray(call.weight, dtype=np.float32).reshape(wshape)
    decl = call.declared
    if decl is not None and (force is None or force == decl["scheme"]):
        det = _declared_detection(decl)
        source = decl.get("source", "declared")
    else:
        det = detect(weight, rtol=rtol, force=force, layer=call.name)
        source = "values"
    options = dict(call.options)
    options["detection"] = {**det.as_dict(), "source": source, "forced": force}
    if det.codes is None:
        return Layer(name=call.name, kind=call.kind, scheme="fp", shape=shape, codes=None,
                     scale=np.ones(shape.K, dtype=np.float32), sign=region_sign(weight), weights=weight.copy(),
                     input_sample=call.input_sample, options=options)
    return Layer(name=call.name, kind=call.kind, scheme=det.scheme, shape=shape,
                 codes=np.asarray(det.codes, dtype=np.int8).reshape(wshape),
                 scale=np.asarray(det.scale, dtype=np.float32).reshape(shape.K).copy(),
                 sign=np.asarray(det.sign, dtype=np.int8).reshape(shape.K), weights=None,
                 input_sample=call.input_sample, options=options)


def layers_from_calls(calls, overrides=None, *, rtol: float = DEFAULT_RTOL) -> list[Layer]:
    """:func:`layer_from_call` for every call; a pattern of ``overrides`` that matches no layer is an error
    (a typo would otherwise be silently ignored)."""
    ov = parse_scheme_overrides(overrides)
    names = [c.name for c in calls]
    for pat in ov:
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise WorkloadError(f"pattern {pat!r} matches no layer; layers: {shown}", field="--scheme")
    return [layer_from_call(c, ov, rtol=rtol) for c in calls]


def unique_name(name: str, taken: set) -> str:
    """``name``, or ``name#2``, ``name#3``... if taken; adds the result to ``taken``."""
    out, i = name, 2
    while out in taken:
        out = f"{name}#{i}"
        i += 1
    taken.add(out)
    return out


def scheme_summary(layers) -> str:
    """The quantized schemes of ``layers`` joined with '+' ('fp' when there is none)."""
    q = sorted({lyr.scheme for lyr in layers if lyr.scheme != "fp"})
    return "+".join(q) if q else "fp"


def detection_meta(overrides: dict, rtol: float) -> dict:
    """What a lowered workload's meta records about detection: the tolerance and the overrides given."""
    return {"detection": {"rtol": float(rtol), "overrides": dict(overrides)}}


def parse_input_shape(value) -> tuple[int, ...] | None:
    """``"1,3,32,32"`` or a sequence of ints -> a tuple of positive ints (None stays None)."""
    if value is None:
        return None
    try:
        dims = tuple(int(v) for v in (value.split(",") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise WorkloadError(f"expected comma-separated integers like 1,3,32,32, got {value!r}",
                            field="--input-shape") from None
    if not dims or any(d < 1 for d in dims):
        raise WorkloadError(f"every dimension must be >= 1, got {value!r}", field="--input-shape")
    return dims

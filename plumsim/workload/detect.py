"""Weight-scheme detection from the values of a weight tensor (numpy only).

A layer brought from elsewhere (plain PyTorch with its own quantizer, Brevitas, an ONNX file) carries
float weights that *are* quantized: every value lies on a small set of levels. :func:`detect` finds the
most specific scheme those values fit, per layer or per region (output filter, dim 0 of a
``[K, C/G, R, S]`` tensor), and returns integer codes and a per-filter scale with
``codes * scale[:, None, None, None] == weights``:

================  =========================================================  ======================
scheme            values of every filter o (a_o > 0; one a for the layer      codes
                  when all a_o agree: granularity "layer", else "filter")
================  =========================================================  ======================
``binary``        {-a_o, +a_o}, no zero                                       {-1, +1}
``signed-binary`` {0, +a_o} or {0, -a_o} (one sign per filter), zeros in the  {0, +1} / {0, -1}
                  layer
``ternary``       {-a_o, 0, +a_o}                                             {-1, 0, +1}
``int<k>``        a uniform grid c * s_o, c integer in [-2^(k-1), 2^(k-1)-1]   int8 c, k = 2..8
                  (k the fewest bits that hold the codes)
``fp``            anything else                                               none (float weights)
================  =========================================================  ======================

The first row that fits wins (binary before signed-binary before ternary before int<k>): a ternary
layer without a single zero is binary, a ternary layer whose filters are all single-signed is
signed-binary (``alternatives`` lists the other schemes that fit). ``int<k>`` is not one of plumsim's
four quantizers (:data:`plumsim.workload.schemes.SCHEMES`): it is a user scheme, which the workload
format accepts with its generic checks (int8 codes, per-filter sign) and every accelerator model and
energy table prices from its codes (dense code width ceil(log2 distinct codes) bits).

**Tolerance.** A value v matches level c * s of its group (the layer, or one filter) when
``|v - c*s| <= rtol * max|w|`` over that group; :data:`DEFAULT_RTOL` = 1e-4, about 1000 float32 ulps,
far below the spacing of an 8-bit grid (1/127 of the range). The scale is then refined to the float32
value that reproduces most weights bit for bit (weights computed as float32 codes x scale are
reproduced exactly).

**Confidence** (``Detection.confidence``, 0..1): for a quantized scheme ``1 - max_rel_error / rtol``
(1 = every value exactly on its level, 0 = the worst value at the tolerance's edge); for ``fp`` the
fraction of weights *off* the nearest 8-bit per-layer grid (about 0.97 for float weights; near 0 means
"almost a grid": look at the values).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plumsim.errors import WorkloadError
from plumsim.workload.schemes import INT_BITS, INT_SCHEMES, region_sign

DEFAULT_RTOL = 1e-4
MAX_BITS = max(INT_BITS)
#: the largest code magnitude an int8 code can hold
_MAX_LEVEL = 2 ** (MAX_BITS - 1)
QUANTIZED = ("binary", "signed-binary", "ternary")
#: every scheme :func:`detect` can return or be forced to
DETECTABLE = ("fp",) + QUANTIZED + INT_SCHEMES
_SAMPLE = 64


@dataclass
class Detection:
    """What :func:`detect` found for one weight tensor.

    ``scheme``: one of :data:`DETECTABLE`. ``codes``: int8 [K, ...] (None for fp). ``scale``: float32 [K]
    (weight units per code step; 1 for fp). ``sign``: int8 [K] (+1/-1 single-signed filter, 0 mixed).
    ``granularity``: "layer" (one scale) or "filter" (a scale per filter), None for fp. ``bits``: dense
    code width of the grid (int<k>: k; binary 1; ternary/signed-binary 2). ``max_rel_error``: the
    largest ``|w - codes*scale| / max|w|`` (fraction). ``confidence``: see the module doc.
    ``alternatives``: other schemes the values also fit. ``reason``: why fp (empty otherwise).
    """

    scheme: str
    codes: np.ndarray | None
    scale: np.ndarray
    sign: np.ndarray
    granularity: str | None = None
    bits: int | None = None
    max_rel_error: float = 0.0
    confidence: float = 1.0
    rtol: float = DEFAULT_RTOL
    alternatives: list = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict:
        """JSON-able summary (what a lowered layer records in ``options["detection"]``)."""
        levels = None if self.codes is None else int(np.unique(self.codes).size)
        return {"scheme": self.scheme, "granularity": self.granularity, "bits": self.bits, "levels": levels,
                "rtol": float(self.rtol), "max_rel_error": float(self.max_rel_error),
                "confidence": round(float(self.confidence), 6), "alternatives": list(self.alternatives),
                "reason": self.reason}


# ------------------------------------------------------------------------------------------ helpers
def _bits_of(codes: np.ndarray) -> int:
    """Fewest two's-complement bits (>= 2) holding every code."""
    lo, hi = (int(codes.min()), int(codes.max())) if codes.size else (0, 0)
    b = 2
    while lo < -(2 ** (b - 1)) or hi > 2 ** (b - 1) - 1:
        b += 1
    return b


def _fmt_values(vals, limit: int = 6) -> str:
    u = np.unique(np.asarray(vals, dtype=np.float64))
    shown = ", ".join(f"{v:.6g}" for v in u[:limit])
    return f"[{shown}{', ...' if u.size > limit else ''}] ({u.size} distinct)"


def _refine_scale(v: np.ndarray, c: np.ndarray, fallback: float) -> float:
    """The float32 scale s that makes float32(c) * s equal v (float32) for the most values."""
    nz = c != 0
    if not nz.any():
        return float(np.float32(fallback))
    v32 = v[nz].astype(np.float32)
    c32 = c[nz].astype(np.float32)
    cands, counts = np.unique((v[nz] / c[nz]).astype(np.float32), return_counts=True)
    best, best_hits = np.float32(fallback), -1
    for s in cands[np.argsort(-counts)][:4]:
        hits = int(np.count_nonzero(c32 * s == v32))
        if hits > best_hits:
            best, best_hits = s, hits
    return float(best)


def _grid_codes(v: np.ndarray, m: float, tol: float, max_level: int) -> np.ndarray | None:
    """Integer codes c (|c| <= max_level) with |v - c * m/n| <= tol for the smallest n that fits, or None.

    ``v``: float64 values of one group, ``m``: max|v| of the group (> 0)."""
    sample = v[:: max(1, v.size // _SAMPLE)][:_SAMPLE]
    n = np.arange(1, max_level + 1, dtype=np.float64)
    step = m / n                                             # [n]
    q = sample[:, None] / step[None, :]
    ok = (np.abs(q - np.rint(q)) * step[None, :] <= tol).all(axis=0)
    for cand in np.flatnonzero(ok):
        c = np.rint(v / step[cand])
        if (np.abs(v - c * step[cand]) <= tol).all():
            return c.astype(np.int64)
    return None


class _Fit:
    """Codes, per-filter scale and error of one candidate fit."""

    def __init__(self, codes, scale, granularity, w, mags):
        self.codes = codes
        self.scale = scale
        self.granularity = granularity
        # what Layer.weight_tensor() gives: float32 codes x float32 scale
        rec = (codes.astype(np.float32) * scale.astype(np.float32)[:, None]).astype(np.float64)
        denom = np.where(mags > 0, mags, 1.0)
        self.max_rel_error = float((np.abs(w - rec) / denom[:, None]).max()) if w.size else 0.0


def _scales(flat, codes, mags, per_layer: bool, step) -> tuple[np.ndarray, str]:
    K = flat.shape[0]
    if per_layer:
        s = _refine_scale(flat.reshape(-1), codes.reshape(-1), step)
        return np.full(K, s, dtype=np.float32), "layer"
    out = np.ones(K, dtype=np.float32)
    for o in range(K):
        if mags[o] > 0:
            st = step[o] if np.ndim(step) else step
            out[o] = _refine_scale(flat[o], codes[o], st)
    return out, "filter"


# ------------------------------------------------------------------------------- per-scheme checks
def _check_levels(flat, mags, tol_r, allow_zero: bool, single_sign: bool, need_zero: bool):
    """Fit {-a_o, [0,] +a_o} per filter. Returns (codes, a [K]) or (None, message naming the filter)."""
    K = flat.shape[0]
    tol = tol_r * mags[:, None]
    a = np.zeros(K)
    nzmask = np.abs(flat) > tol
    absv = np.abs(flat)
    for o in range(K):
        row = absv[o][nzmask[o]]
        if row.size:
            a[o] = float(np.median(row))
    on_level = np.abs(absv - a[:, None]) <= tol
    bad = nzmask & ~on_level
    if bad.any():
        o = int(np.argwhere(bad.any(axis=1))[0][0])
        return None, f"filter {o} has more than one non-zero magnitude: values {_fmt_values(flat[o])}"
    if not allow_zero and (~nzmask).any():
        o = int(np.argwhere((~nzmask).any(axis=1))[0][0])
        return None, f"filter {o} has zeros: values {_fmt_values(flat[o])}"
    codes = np.where(nzmask, np.sign(flat), 0).astype(np.int64)
    if single_sign:
        mixed = (codes > 0).any(axis=1) & (codes < 0).any(axis=1)
        if mixed.any():
            o = int(np.argwhere(mixed)[0][0])
            return None, f"filter {o} has both signs: values {_fmt_values(flat[o])}"
    if need_zero and not (codes == 0).any():
        return None, "no weight is zero (that is binary)"
    return codes, a


def _fit_levels(flat, mags, rtol, scheme: str):
    kw = {"binary": dict(allow_zero=False, single_sign=False, need_zero=False),
          "signed-binary": dict(allow_zero=True, single_sign=True, need_zero=False),
          "ternary": dict(allow_zero=True, single_sign=False, need_zero=False)}[scheme]
    codes, a = _check_levels(flat, mags, rtol, **kw)
    if codes is None:
        return None, a
    present = a[a > 0]
    m = float(mags.max()) if mags.size else 0.0
    per_layer = present.size == 0 or bool(np.all(np.abs(present - present[0]) <= rtol * m))
    step = float(present[0]) if per_layer and present.size else a
    scale, gran = _scales(flat, codes, mags, per_layer, step if per_layer else np.where(a > 0, a, 1.0))
    return _Fit(codes.astype(np.int8), scale, gran, flat, mags), ""


def _fit_grid(flat, mags, rtol, max_bits: int = MAX_BITS):
    """The k-bit grid (k <= max_bits) with the fewest bits, per layer or per filter."""
    max_level = 2 ** (max_bits - 1)
    m = float(mags.max())
    best = None
    layer_codes = _grid_codes(flat.reshape(-1), m, rtol * m, max_level)
    if layer_codes is not None:
        c = layer_codes.reshape(flat.shape)
        lb = _bits_of(c)
        if lb <= max_bits:
            nmax = int(np.abs(c).max())
            best = (lb, c, True, m / max(nmax, 1))
    filt_codes = np.zeros(flat.shape, dtype=np.int64)
    steps = np.ones(flat.shape[0])
    ok = True
    for o in range(flat.shape[0]):
        if mags[o] == 0:
            continue
        c = _grid_codes(flat[o], float(mags[o]), rtol * float(mags[o]), max_level)
        if c is None:
            ok = False
            break
        filt_codes[o] = c
        steps[o] = mags[o] / max(int(np.abs(c).max()), 1)
    if ok:
        fb = _bits_of(filt_codes)
        if fb <= max_bits and (best is None or fb < best[0]):
            best = (fb, filt_codes, False, steps)
    if best is None:
        return None, f"no integer grid of {max_bits} bits or fewer fits (tolerance {rtol:g} x max|w|)"
    bits, c, per_layer, step = best
    scale, gran = _scales(flat, c, mags, per_layer, step)
    fit = _Fit(c.astype(np.int8), scale, gran, flat, mags)
    fit.bits = bits
    return fit, ""


def _off_grid_fraction(flat, m, rtol) -> float:
    step = m / (_MAX_LEVEL - 1)
    q = flat / step
    return float(np.mean(np.abs(q - np.rint(q)) * step > rtol * m))


# ------------------------------------------------------------------------------------------ public
def detect(weights, *, rtol: float = DEFAULT_RTOL, force: str | None = None, layer: str = "") -> Detection:
    """Detect the scheme of ``weights`` (array [K, ...], float) from its values; see the module doc.

    ``force``: a scheme of :data:`DETECTABLE` the values must fit (``fp`` always fits); values that
    contradict it raise :class:`~plumsim.errors.WorkloadError` naming ``layer`` and the offending filter
    and values. ``rtol``: relative tolerance (fraction of max|w| of the group).
    """
    if force is not None and force not in DETECTABLE:
        raise WorkloadError(f"unknown scheme {force!r} for layer {layer!r}; valid: {', '.join(DETECTABLE)}",
                            field="--scheme")
    if not (isinstance(rtol, (int, float)) and 0 < float(rtol) < 0.5):
        raise WorkloadError(f"rtol must be in (0, 0.5), got {rtol!r}", field="rtol")
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim < 1 or w.shape[0] < 1:
        raise WorkloadError(f"layer {layer!r}: expected a weight tensor [K, ...], got shape {list(w.shape)}")
    if not np.isfinite(w).all():
        raise WorkloadError(f"layer {layer!r}: weights contain NaN or inf", field=layer or None)
    K = w.shape[0]
    flat = w.reshape(K, -1)
    mags = np.abs(flat).max(axis=1)
    fp_sign = region_sign(w)

    def fp(reason: str, conf: float, alternatives=()) -> Detection:
        return Detection("fp", None, np.ones(K, dtype=np.float32), fp_sign, None, None, 0.0, conf, rtol,
                         list(alternatives), reason)

    if force == "fp":
        return fp("forced", 1.0)
    if not (mags > 0).any():
        if force is not None:
            raise WorkloadError(f"layer {layer!r} is forced to {force} but every weight is zero")
        return fp("every weight is zero", 0.0)

    def fit_of(scheme: str):
        if scheme in QUANTIZED:
            return _fit_levels(flat, mags, rtol, scheme)
        return _fit_grid(flat, mags, rtol, int(scheme[3:]) if scheme[3:].isdigit() else MAX_BITS)

    def result(scheme: str, fit, alternatives) -> Detection:
        codes = fit.codes.reshape(w.shape)
        sign = region_sign(codes)
        if scheme == "signed-binary":
            sign = _fill_signs(sign)
        bits = getattr(fit, "bits", None) or {"binary": 1, "ternary": 2, "signed-binary": 2}.get(scheme)
        if scheme.startswith("int"):
            bits = int(scheme[3:]) if force == scheme else bits
            scheme = f"int{bits}"
        conf = max(0.0, 1.0 - fit.max_rel_error / rtol)
        return Detection(scheme, codes, fit.scale, sign, fit.granularity, bits, fit.max_rel_error, conf, rtol,
                         alternatives)

    if force is not None:
        fit, why = fit_of(force)
        if fit is None:
            raise WorkloadError(f"layer {layer!r} is forced to scheme {force} but its values do not fit: {why} "
                                f"(tolerance {rtol:g} x max|w|)")
        return result(force, fit, [])
    found, why_not = [], {}
    for scheme in QUANTIZED + ("int",):
        fit, why = fit_of(scheme)
        if fit is None:
            why_not[scheme] = why
        else:
            found.append((scheme, fit))
    if not found:
        return fp(f"not binary, signed-binary or ternary, and {why_not['int']}",
                  _off_grid_fraction(flat, float(mags.max()), rtol))
    scheme, fit = found[0]
    alts = []
    for s, f in found[1:]:
        alts.append(f"int{f.bits}" if s == "int" else s)
    return result(scheme, fit, alts)


def _fill_signs(sign: np.ndarray) -> np.ndarray:
    """Signed-binary filters are positive or negative even when all-zero: such a filter takes the sign of
    the nearest filter before it that has one (else after it; +1 if none has)."""
    out = sign.copy()
    last = 0
    for o in range(out.size):
        if out[o] == 0:
            out[o] = last
        else:
            last = out[o]
    nxt = 0
    for o in range(out.size - 1, -1, -1):
        if out[o] == 0:
            out[o] = nxt
        else:
            nxt = out[o]
    out[out == 0] = 1
    return out.astype(np.int8)


def classify_codes(codes, scale) -> Detection:
    """The scheme of given integer ``codes`` [K, ...] with per-filter ``scale`` [K] (e.g. an ONNX
    QuantizeLinear/DequantizeLinear pair): the same rules as :func:`detect`, run on the exact values."""
    c = np.asarray(codes, dtype=np.int64)
    s = np.asarray(scale, dtype=np.float32).reshape(-1)
    flat = c.reshape(c.shape[0], -1)
    alphabet = set(np.unique(flat).tolist())
    per_layer = bool(np.all(s == s[0]))
    gran = "layer" if per_layer else "filter"
    sign = region_sign(c)
    mixed = ((flat > 0).any(axis=1) & (flat < 0).any(axis=1)).any()
    if alphabet <= {-1, 1}:
        scheme, bits = "binary", 1
    elif alphabet <= {-1, 0, 1} and not mixed and 0 in alphabet:
        scheme, bits, sign = "signed-binary", 2, _fill_signs(sign)
    elif alphabet <= {-1, 0, 1}:
        scheme, bits = "ternary", 2
    else:
        bits = _bits_of(flat)
        if bits > MAX_BITS:
            raise WorkloadError(f"codes range {min(alphabet)}..{max(alphabet)} does not fit int8")
        scheme = f"int{bits}"
    return Detection(scheme, c.astype(np.int8), s.astype(np.float32), sign, gran, bits, 0.0, 1.0,
                     DEFAULT_RTOL, [], "")

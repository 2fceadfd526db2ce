"""Quantization schemes on the numpy side: code alphabets and the quantizer rules of docs/design.md, "Quantizers".

numpy only (no torch): shape-only workloads (``plumsim.workload.synth``) quantize synthetic latent weights
with these rules, and ``Workload.load`` validates codes against :data:`SCHEME_CODES`.

Rules (regions = output filters, dim 0 of a [K, C/G, R, S] tensor), identical to ``plumsim.quant``:

* ``signed-binary``: the first ``floor(p*K)`` filters are positive, the rest negative (p = 0.5 in the
  paper). Per filter ``delta_o = delta_ratio * max|w_o|`` (delta_ratio = 0.05). Positive filter: code 1
  where ``w >= delta_o`` else 0; negative filter: code -1 where ``w <= -delta_o`` else 0. Scale 1.
  With a target ``density`` D instead: every filter keeps exactly ``k = max(1, round(D * C*R*S/G))``
  non-zeros, the k largest latent values (positive filter) or the k smallest (negative filter).
* ``binary``: code +1 where ``w >= 0``, -1 otherwise; scale 1 (the following BatchNorm carries scale).
* ``ternary`` (TWN): ``delta = 0.7 * mean|w|`` over the whole layer; +1 where ``w > delta``, -1 where
  ``w < -delta``, else 0; scale ``alpha = mean(|w| where |w| > delta)`` (one value for the layer, stored
  per filter). With a target ``density`` D: the layer threshold that keeps exactly ``round(D * numel)``
  weights (the largest |w|).
* ``fp``: no codes; the float32 weights themselves.
"""

from __future__ import annotations

import sys

import numpy as np

from plumsim.errors import WorkloadError

#: Scheme names known to plumsim, in the order of ``plumsim.quant``'s registry.
SCHEMES = ("fp", "binary", "ternary", "signed-binary")
#: k-bit uniform integer grids (codes + scale) that scheme detection names (plumsim.workload.detect)
INT_BITS = range(2, 9)
INT_SCHEMES = tuple(f"int{k}" for k in INT_BITS)


def registered_schemes() -> tuple[str, ...]:
    """Schemes a user added in this process with :func:`plumsim.quant.register_quantizer` (beyond
    :data:`SCHEMES`). Read from the registry only when it is loaded: a user who registered a quantizer
    has loaded it, and a numpy-only process (a sweep worker) never imports torch for this."""
    registry = sys.modules.get("plumsim.quant.registry")
    if registry is None:
        return ()
    return tuple(n for n in registry.scheme_names() if n not in SCHEMES)


def synth_schemes() -> tuple[str, ...]:
    """Schemes a layer table can be synthesized with (and a sweep grid can name): plumsim's and the
    registered ones."""
    return SCHEMES + registered_schemes()


def known_schemes() -> tuple[str, ...]:
    """Every scheme name a workload may carry: :func:`synth_schemes` plus the ``int<k>`` grids."""
    return SCHEMES + INT_SCHEMES + registered_schemes()

#: Allowed integer codes per quantized scheme. Other scheme names (a user's own quantizer) are accepted
#: by the workload format with only the generic checks (int8 codes, consistent ``sign``).
SCHEME_CODES = {
    "binary": (-1, 1),
    "ternary": (-1, 0, 1),
    "signed-binary": (-1, 0, 1),
}

PAPER_POSITIVE_FRACTION = 0.5
PAPER_DELTA_RATIO = 0.05
TWN_DELTA_FACTOR = 0.7


def check_scheme(name: str, *, allow_fp: bool = True, path=None, field: str = "scheme") -> str:
    """Return ``name`` if layers can be synthesized with it (:func:`synth_schemes`), else raise
    :class:`WorkloadError` listing the valid ones."""
    valid = synth_schemes() if allow_fp else synth_schemes()[1:]
    if name not in valid:
        raise WorkloadError(f"unknown scheme {name!r}; valid: {', '.join(valid)}", path=path, field=field)
    return name


def positive_filters(K: int, positive_fraction: float = PAPER_POSITIVE_FRACTION) -> int:
    """Number of positive filters: floor(positive_fraction * K) (the first ones)."""
    if not 0.0 <= positive_fraction <= 1.0:
        raise WorkloadError(f"positive_fraction must be in [0, 1], got {positive_fraction}",
                            field="positive_fraction")
    # the tiny epsilon makes e.g. 0.29 * 100 give 29, as plumsim.quant does
    return int(np.floor(positive_fraction * K + 1e-9))


def region_sign(codes: np.ndarray) -> np.ndarray:
    """Per-filter sign, int8 [K]: +1 / -1 when every non-zero of the filter has that sign, else 0
    (mixed signs, or an all-zero filter)."""
    flat = np.asarray(codes).reshape(codes.shape[0], -1)
    has_pos = (flat > 0).any(axis=1)
    has_neg = (flat < 0).any(axis=1)
    out = np.zeros(flat.shape[0], dtype=np.int8)
    out[has_pos & ~has_neg] = 1
    out[has_neg & ~has_pos] = -1
    return out


def _check_density(density: float) -> float:
    if not (isinstance(density, (int, float)) and 0.0 < float(density) <= 1.0):
        raise WorkloadError(f"density must be in (0, 1], got {density!r}", field="density")
    return float(density)


def signed_binary_codes(w: np.ndarray, positive_fraction: float = PAPER_POSITIVE_FRACTION,
                        delta_ratio: float = PAPER_DELTA_RATIO, density: float | None = None):
    """Signed-binary codes of latent weights ``w`` [K, ...].

    Returns ``(codes int8 [K, ...], scale float32 [K] = 1, sign int8 [K] = the +1/-1 layout)``.
    """
    w = np.asarray(w, dtype=np.float64)
    K = w.shape[0]
    flat = w.reshape(K, -1)
    n_pos = positive_filters(K, positive_fraction)
    sign = np.full(K, -1, dtype=np.int8)
    sign[:n_pos] = 1
    codes = np.zeros(flat.shape, dtype=np.int8)
    if density is None:
        delta = delta_ratio * np.abs(flat).max(axis=1, keepdims=True)
        pos = flat >= delta
        neg = flat <= -delta
        codes[:n_pos][pos[:n_pos]] = 1
        codes[n_pos:][neg[n_pos:]] = -1
    else:
        k = max(1, int(round(_check_density(density) * flat.shape[1])))
        # stable sort so ties resolve by position, the same way on every machine
        order = np.argsort(flat, axis=1, kind="stable")
        rows = np.arange(K)[:, None]
        codes[rows[:n_pos], order[:n_pos, flat.shape[1] - k:]] = 1
        codes[rows[n_pos:], order[n_pos:, :k]] = -1
    return codes.reshape(w.shape), np.ones(K, dtype=np.float32), sign


def binary_codes(w: np.ndarray, density: float | None = None):
    """Binary codes: +1 where w >= 0, -1 otherwise. Returns ``(codes, scale=1, sign)``."""
    if density is not None and float(density) != 1.0:
        raise WorkloadError(f"binary weights have no zeros: density must be 1, got {density}", field="density")
    w = np.asarray(w, dtype=np.float64)
    codes = np.where(w >= 0, 1, -1).astype(np.int8)
    return codes, np.ones(w.shape[0], dtype=np.float32), region_sign(codes)


def ternary_codes(w: np.ndarray, density: float | None = None):
    """Ternary (TWN) codes. Returns ``(codes, scale [K] = alpha of the layer, sign)``."""
    w = np.asarray(w, dtype=np.float64)
    a = np.abs(w)
    if density is None:
        delta = TWN_DELTA_FACTOR * a.mean()
        keep = a > delta
    else:
        k = max(1, int(round(_check_density(density) * w.size)))
        order = np.argsort(a.reshape(-1), kind="stable")
        keep = np.zeros(w.size, dtype=bool)
        keep[order[w.size - k:]] = True
        keep = keep.reshape(w.shape)
    codes = np.where(keep, np.sign(w), 0).astype(np.int8)
    alpha = float(a[keep].mean()) if keep.any() else 1.0
    return codes, np.full(w.shape[0], alpha, dtype=np.float32), region_sign(codes)


def quantize(scheme: str, w: np.ndarray, *, density: float | None = None,
             positive_fraction: float = PAPER_POSITIVE_FRACTION):
    """Quantize latent weights with ``scheme``; returns ``(codes, scale, sign)`` (codes None for fp:
    then the weights are ``w`` as float32 and sign is :func:`region_sign` of them). A registered user
    scheme runs its quantizer's ``codes`` (torch, imported here only); it takes no density target."""
    check_scheme(scheme)
    if scheme not in SCHEMES:
        return _registered_codes(scheme, w, density)
    if scheme == "signed-binary":
        return signed_binary_codes(w, positive_fraction=positive_fraction, density=density)
    if scheme == "binary":
        return binary_codes(w, density=density)
    if scheme == "ternary":
        return ternary_codes(w, density=density)
    return None, np.ones(w.shape[0], dtype=np.float32), region_sign(w)


def _registered_codes(scheme: str, w: np.ndarray, density: float | None):
    """(codes, scale, sign) of a user's registered quantizer on latent weights ``w``."""
    if density is not None:
        raise WorkloadError(f"scheme {scheme!r} is a user quantizer: plumsim cannot set its density; leave "
                            "the density target out", field="density")
    import torch

    from plumsim.quant.registry import get_quantizer

    codes, scale = get_quantizer(scheme).codes(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)))
    codes = codes.detach().cpu().numpy()
    if codes.dtype != np.int8:
        if np.abs(codes).max(initial=0) > 127:
            raise WorkloadError(f"scheme {scheme!r}: its codes exceed int8", field="scheme")
        codes = codes.astype(np.int8)
    return codes, scale.detach().cpu().numpy().astype(np.float32).reshape(-1), region_sign(codes)

"""Weight quantizers with straight-through gradients (docs/design.md, "Quantizers").

Functions (pure torch, differentiable through a straight-through estimator):

- :func:`signed_binary` (PLUM): each region (output filter, dim 0) is either {0, +1} or {0, -1};
  the first ``floor(positive_fraction * K)`` filters are positive, the rest negative.
- :func:`binary`: sign(w) in {-1, +1} (XNOR style), optional per-filter scale mean|w|.
- :func:`ternary`: TWN, Delta = 0.7 * mean|w| per layer, alpha = mean |w| above Delta.
- :func:`fp`: identity.

Every quantized value is computed as ``codes.float() * scale.view(-1, 1, ...)`` so that the integer
codes returned by :meth:`Quantizer.codes` reproduce the forward values bit-exactly.

Backward rule (all quantizers but fp): identity, gradient clamped to [-1, 1], zero where the latent
weight has |w| > 1.
"""

from __future__ import annotations

import math

import torch

from plumsim.errors import PlumsimError


class _StraightThrough(torch.autograd.Function):
    """Forward: the precomputed quantized tensor. Backward: clamped identity, masked where |w| > 1."""

    @staticmethod
    def forward(ctx, w, q):  # noqa: D401 - autograd signature
        ctx.save_for_backward(w)
        return q.clone()

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        g = grad.clamp(-1.0, 1.0) * (w.abs() <= 1.0).to(grad.dtype)
        return g, None


def _ste(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return _StraightThrough.apply(w, q.detach())


def _bcast(scale: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """View a per-region [K] vector so it broadcasts against w [K, ...]."""
    return scale.view(-1, *([1] * (w.dim() - 1)))


def _check_weight(w: torch.Tensor) -> None:
    if w.dim() < 1 or w.shape[0] < 1:
        raise PlumsimError(f"weight must have at least one region along dim 0, got shape {tuple(w.shape)}",
                           field="weight")


# ---------------------------------------------------------------- codes (integer) + scale per scheme
def signed_binary_codes(w: torch.Tensor, positive_fraction: float = 0.5, delta_ratio: float = 0.05,
                        scale=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed-binary codes (int8, values in {-1, 0, +1}) and per-filter scale (float32 [K]).

    Filter o < floor(positive_fraction*K) is positive: code 1 where w >= Delta_o else 0; the others are
    negative: code -1 where w <= -Delta_o else 0, with Delta_o = delta_ratio * max|W_o| (weight units).
    Note: an all-zero filter has Delta_o = 0, so a positive one codes every weight as 1 (w >= 0), as
    the rule says. ``scale``: None -> 1 (the BatchNorm after the conv carries the scale), a float, or a
    tensor [K].
    """
    _check_weight(w)
    if not 0.0 <= float(positive_fraction) <= 1.0:
        raise PlumsimError(f"positive_fraction must be within [0, 1], got {positive_fraction}",
                           field="positive_fraction")
    if not float(delta_ratio) >= 0.0:
        raise PlumsimError(f"delta_ratio must be >= 0, got {delta_ratio}", field="delta_ratio")
    with torch.no_grad():
        k = w.shape[0]
        n_pos = int(math.floor(float(positive_fraction) * k + 1e-9))
        flat = w.detach().reshape(k, -1)
        delta = float(delta_ratio) * flat.abs().amax(dim=1)            # [K]
        d = _bcast(delta, w)
        pos = (w >= d).to(torch.int8)
        neg = -(w <= -d).to(torch.int8)
        is_pos = _bcast(torch.arange(k, device=w.device) < n_pos, w)
        codes = torch.where(is_pos, pos, neg)
        s = _scale_vector(scale, k, w)
    return codes, s


def _scale_vector(scale, k: int, w: torch.Tensor) -> torch.Tensor:
    if scale is None:
        return torch.ones(k, dtype=torch.float32, device=w.device)
    s = torch.as_tensor(scale, dtype=torch.float32, device=w.device).detach()
    if s.dim() == 0:
        return s.expand(k).clone()
    if s.shape != (k,):
        raise PlumsimError(f"scale must be a number or a tensor of shape [{k}], got {tuple(s.shape)}",
                           field="scale")
    return s.clone()


def binary_codes(w: torch.Tensor, per_filter_scale: bool = False,
                 keep_fraction: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary codes in {-1, +1} (sign, with sign(0) = +1 so exactly two values) and scale [K].

    scale = 1, or with ``per_filter_scale`` mean|W_o| per filter (XNOR-Net).
    ``keep_fraction`` (0..1, default None = keep all): a *thinned* binary layer that keeps only the
    round(keep_fraction * numel) largest-|w| weights of the layer and codes the rest 0; used to compare
    with signed-binary at an equal number of non-zero weights.
    """
    _check_weight(w)
    if keep_fraction is not None and not 0.0 <= float(keep_fraction) <= 1.0:
        raise PlumsimError(f"keep_fraction must be within [0, 1], got {keep_fraction}", field="keep_fraction")
    with torch.no_grad():
        codes = torch.where(w >= 0, 1, -1).to(torch.int8)
        if keep_fraction is not None and float(keep_fraction) < 1.0:
            n_keep = int(round(float(keep_fraction) * w.numel()))
            keep = torch.zeros(w.numel(), dtype=torch.bool, device=w.device)
            if n_keep > 0:
                keep[torch.topk(w.detach().abs().reshape(-1), n_keep).indices] = True
            codes = codes * keep.view_as(w).to(torch.int8)
        k = w.shape[0]
        if per_filter_scale:
            s = w.detach().reshape(k, -1).abs().mean(dim=1).to(torch.float32)
        else:
            s = torch.ones(k, dtype=torch.float32, device=w.device)
    return codes, s


def ternary_codes(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TWN codes in {-1, 0, +1} and scale [K] (one value for the whole layer, repeated per filter).

    Delta = 0.7 * mean|w| over the layer; code = sign(w) where |w| > Delta; alpha = mean |w| over the
    weights above Delta (1 if none).
    """
    _check_weight(w)
    with torch.no_grad():
        a = w.detach().abs()
        delta = 0.7 * a.mean()
        mask = a > delta
        codes = (torch.sign(w) * mask).to(torch.int8)
        alpha = a[mask].mean() if bool(mask.any()) else torch.tensor(1.0, device=w.device)
        s = alpha.to(torch.float32).expand(w.shape[0]).clone()
    return codes, s


def _dequant(codes: torch.Tensor, scale: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return (codes.to(torch.float32) * _bcast(scale, codes)).to(like.dtype)


# ---------------------------------------------------------------- the public STE functions
def signed_binary(w: torch.Tensor, positive_fraction: float = 0.5, delta_ratio: float = 0.05,
                  scale=None) -> torch.Tensor:
    """PLUM signed-binary weights (values in {-1, 0, +1} times scale), straight-through gradient."""
    c, s = signed_binary_codes(w, positive_fraction, delta_ratio, scale)
    return _ste(w, _dequant(c, s, w))


def binary(w: torch.Tensor, per_filter_scale: bool = False, keep_fraction: float | None = None) -> torch.Tensor:
    """Binary weights {-1, +1} (optionally times mean|W_o|), straight-through gradient.

    ``keep_fraction``: see :func:`binary_codes` (thinned binary; None keeps every weight).
    """
    c, s = binary_codes(w, per_filter_scale, keep_fraction)
    return _ste(w, _dequant(c, s, w))


def ternary(w: torch.Tensor) -> torch.Tensor:
    """TWN ternary weights {-alpha, 0, +alpha}, straight-through gradient."""
    c, s = ternary_codes(w)
    return _ste(w, _dequant(c, s, w))


def fp(w: torch.Tensor) -> torch.Tensor:
    """Full precision: the weights unchanged (ordinary gradient)."""
    return w

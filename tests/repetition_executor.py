"""Test support (not part of the package): a functional executor that computes a layer's output through the factorized dataflow and counts its work.

It is the executable proof of :mod:`plumsim.accel.repetition`: the output must equal an ordinary
convolution of the quantized weights, and the multiplies / adds it performs (counted as it performs
them, per output column) must equal the model's MULTIPLIER.MULTIPLICATION and ADDER.ADD_2_1 counters.
numpy only (float64 arithmetic).
"""

from __future__ import annotations

import numpy as np

from plumsim.accel.repetition import MODES, check_mode, region_plan


def im2col(x: np.ndarray, shape, group: int = 0) -> np.ndarray:
    """Streamed matrix of one group: float64 [C/G*R*S, X_out*Y_out*N] (rows in (c, r, s) order,
    columns in (n, x_out, y_out) order); ``x`` is [N, C, X, Y] (linear: [N, C])."""
    s = shape
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None, None]
    cg = s.C // s.G
    x = x[:, group * cg:(group + 1) * cg]
    p = s.padding
    if p:
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((cg, s.R, s.S, s.N, s.X_out, s.Y_out))
    for r in range(s.R):
        for t in range(s.S):
            cols[:, r, t] = x[:, :, r:r + s.stride * s.X_out:s.stride,
                              t:t + s.stride * s.Y_out:s.stride].transpose(1, 0, 2, 3)
    return cols.reshape(cg * s.R * s.S, -1)


def execute(layer, x: np.ndarray, mode: str = "skip+repeat", *, summerge: bool = True):
    """Output of ``layer`` on input ``x`` [N, C, X, Y] (linear: [N, C]) computed the way ``mode`` does.

    Returns ``(y, counts)``: ``y`` float64 [N, K, X_out, Y_out] (linear: [N, K]); ``counts`` =
    {"multiplies", "adds"} performed (events). Weight values are ``codes * scale`` (FP layers: weights).
    """
    check_mode(mode)
    s = layer.shape
    out = np.zeros((s.K, s.N_gemm))
    n_mult = n_add = 0
    kg = s.K // s.G
    scale = np.asarray(layer.scale, dtype=np.float64)
    for g in range(s.G):
        X = im2col(x, s, g)
        N = X.shape[1]
        codes = np.asarray(layer.code_matrix(g))
        plan = region_plan(codes, mode, summerge)  # the plan (which rows use SumMerge); work counted below
        T = None
        if plan["shared_adds"]:
            T = X.sum(axis=0)
            n_add += (X.shape[0] - 1) * N
        for o in range(kg):
            k = g * kg + o
            a = 1.0 if layer.codes is None else scale[k]
            row = codes[o]
            if plan["summerge"][o]:
                va = plan["minority"][o]
                vb = [v for v in np.unique(row) if v != va][0]
                idx = np.flatnonzero(row == va)
                S_a = X[idx].sum(axis=0)
                n_add += (idx.size - 1) * N
                out[k] = (vb * a) * T + ((va - vb) * a) * S_a
                n_mult += 2 * N
                n_add += N
                continue
            pos = np.flatnonzero(row) if mode in ("skip", "skip+repeat") else np.arange(row.size)
            if pos.size == 0:
                continue
            if mode in ("dense", "skip"):
                prod = (row[pos].astype(np.float64) * a)[:, None] * X[pos]
                n_mult += pos.size * N
                out[k] = prod.sum(axis=0)
                n_add += (pos.size - 1) * N
                continue
            terms = []
            for v in np.unique(row[pos]):  # factorization: sum inputs sharing a value, multiply once
                idx = pos[row[pos] == v]
                terms.append((float(v) * a) * X[idx].sum(axis=0))
                n_add += (idx.size - 1) * N
                n_mult += N
            out[k] = np.sum(terms, axis=0)
            n_add += (len(terms) - 1) * N
    if layer.kind == "linear" and s.X == 1 and s.Y == 1:
        y = out.T.reshape(s.N, s.K)
    else:
        y = out.reshape(s.K, s.N, s.X_out, s.Y_out).transpose(1, 0, 2, 3)
    return y, {"multiplies": int(n_mult), "adds": int(n_add)}


__all__ = ["MODES", "execute", "im2col"]

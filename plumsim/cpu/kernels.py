"""CPU kernels for quantized conv2d / linear layers, one family per dataflow, compiled with numba.

numpy + numba only (no torch). Every dataflow runs the *same* loop nest, so that the time ratio between
two dataflows (or two schemes under one dataflow) reflects their arithmetic::

    prange over filters k (output channels; thread count = numba.set_num_threads)
      for every image n, every output row ox
        for every weight entry of filter k (an input channel c, kernel row r, kernel column s)
          for every output column oy          <- innermost, contiguous for stride 1 (SIMD)
            ... x[n, c, ox*stride + r, oy*stride + s] ...

What changes per dataflow is only the list of entries of a filter and what is done with them:

``dense``        every weight of the filter (zeros included): ``out += w * x`` (float32 multiply-add).
``skip``         only the non-zeros (compressed per filter): ``out += w * x`` (gather, multiply-add).
``repeat``       the filter's weights grouped by value (0 is a value too): per value, ``acc = sum x`` over
                 the entries holding it, then one multiply ``out += v * acc``. With ``summerge`` (on by
                 default, as SumMerge / ICS 2021): a group's filters that have no zeros and exactly two
                 values v_a (the less frequent one) and v_b (binary) compute ``v_b*T + (v_a - v_b)*S_a``:
                 ``T``, the sum of the whole window, is computed once per group and shared by all of
                 them, ``S_a`` sums only the positions of v_a. The group uses it only when that saves
                 adds (the rule of :func:`plumsim.accel.repetition.region_plan`).
``skip+repeat``  as ``repeat`` on the non-zeros only. A signed-binary filter (one non-zero value) is one
                 signed gather-sum ``acc = sum x`` followed by one multiply by the filter's value
                 (``scale * sign``).

Dense and skip share the multiply-add kernel (:func:`_mac`); repeat and skip+repeat the factorised kernel
(:func:`_factored`, plus :func:`_window_sum` for SumMerge). Weight preprocessing (entry lists, value
groups, SumMerge choice) is :func:`prepare` and runs once, outside any timed call; :func:`run` is the
call to time. Kernels compile lazily, once per process (one signature each: float32 activations,
int32 indices); numba's on-disk cache is off unless ``PLUMSIM_NUMBA_CACHE=1`` (then numba writes its
cache where it is told, e.g. ``NUMBA_CACHE_DIR``; by default nothing is written).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

DATAFLOWS = ("dense", "skip", "repeat", "skip+repeat")

_KERNELS: dict | None = None


def _cache_enabled() -> bool:
    return os.environ.get("PLUMSIM_NUMBA_CACHE", "") == "1"


def _build() -> dict:
    """Define (not yet compile) the numba kernels; compilation happens on their first call.

    Layout: the padded input of every image is split into stride x stride phase planes of Hp x Wp
    (``[N, C, stride, stride, Hp, Wp]``, flat), so that every entry (c, r, s) reads a *contiguous* run: output
    (ox, oy) of entry j is input ``off[j] + ox*Wp + oy`` (``off[j]`` = start of the entry's phase plane +
    (r//stride)*Wp + s//stride, memoised per input size in the plan). A block of output rows is one flat
    run of ``(rows-1)*Wp + Yo`` positions (the Wp - Yo positions past each row's end are computed and
    dropped), accumulated in a small per-thread buffer, then stored."""
    import numba
    from numba import prange

    opts = dict(fastmath=True, cache=_cache_enabled(), nogil=True)
    jit = numba.njit(parallel=True, **opts)
    inline = numba.njit(**opts)

    @inline
    def store(acc, of, ob, rows, Wp, Yo):  # pragma: no cover - compiled
        for i in range(rows):
            of[ob + i * Yo:ob + (i + 1) * Yo] = acc[i * Wp:i * Wp + Yo]

    @jit
    def mac(xf, img, Wp, fptr, off, wv, BR, Xo, Yo, of):  # pragma: no cover - compiled
        K = fptr.size - 1
        N = xf.size // img
        for k in prange(K):
            acc = np.empty(BR * Wp, dtype=np.float32)
            j0 = fptr[k]
            j1 = fptr[k + 1]
            for n in range(N):
                for ox0 in range(0, Xo, BR):
                    rows = min(BR, Xo - ox0)
                    P = (rows - 1) * Wp + Yo
                    rb = n * img + ox0 * Wp
                    for q in range(P):
                        acc[q] = 0.0
                    for j in range(j0, j1):
                        w = wv[j]
                        a = rb + off[j]
                        xv = xf[a:a + P]
                        for q in range(P):
                            acc[q] += w * xv[q]
                    store(acc, of, ((n * K + k) * Xo + ox0) * Yo, rows, Wp, Yo)

    @jit
    def factored(xf, img, Wp, fptr, tptr, off, tval, smk, tbase, T, Kg, G, BR, Xo, Yo, of):  # pragma: no cover
        K = fptr.size - 1
        N = xf.size // img
        for k in prange(K):
            g = k // Kg
            acc = np.empty(BR * Wp, dtype=np.float32)
            tmp = np.empty(BR * Wp, dtype=np.float32)
            t0 = fptr[k]
            t1 = fptr[k + 1]
            for n in range(N):
                for ox0 in range(0, Xo, BR):
                    rows = min(BR, Xo - ox0)
                    P = (rows - 1) * Wp + Yo
                    rb = n * img + ox0 * Wp
                    for q in range(P):
                        acc[q] = 0.0
                    for t in range(t0, t1):
                        v = tval[t]
                        if t == t0:
                            # the first value group sums straight into the output: one multiply after
                            for j in range(tptr[t], tptr[t + 1]):
                                a = rb + off[j]
                                xv = xf[a:a + P]
                                for q in range(P):
                                    acc[q] += xv[q]
                            for q in range(P):
                                acc[q] *= v
                        else:
                            for q in range(P):
                                tmp[q] = 0.0
                            for j in range(tptr[t], tptr[t + 1]):
                                a = rb + off[j]
                                xv = xf[a:a + P]
                                for q in range(P):
                                    tmp[q] += xv[q]
                            for q in range(P):
                                acc[q] += v * tmp[q]
                    if smk[k]:
                        b = tbase[k]
                        tb = ((n * G + g) * Xo + ox0) * Wp
                        for q in range(P):
                            acc[q] += b * T[tb + q]
                    store(acc, of, ((n * K + k) * Xo + ox0) * Yo, rows, Wp, Yo)

    @jit
    def window_sum(xf, img, Hp, Wp, gmask, Cg, R, S, st, BR, Xo, Yo, T):  # pragma: no cover - compiled
        # T: [N, G, Xo, Wp] flat; the sum of every input of group g's window (SumMerge), shared by its filters
        N = xf.size // img
        G = gmask.size
        nb = (Xo + BR - 1) // BR
        for idx in prange(N * G * nb):
            n = idx // (G * nb)
            g = (idx // nb) % G
            ox0 = (idx % nb) * BR
            if gmask[g] == 0:
                continue
            rows = min(BR, Xo - ox0)
            P = (rows - 1) * Wp + Yo
            rb = n * img + ox0 * Wp
            tb = ((n * G + g) * Xo + ox0) * Wp
            acc = np.zeros(P, dtype=np.float32)
            for c in range(g * Cg, (g + 1) * Cg):
                for r in range(R):
                    for s in range(S):
                        a = rb + ((c * st + r % st) * st + s % st) * Hp * Wp + (r // st) * Wp + s // st
                        xv = xf[a:a + P]
                        for q in range(P):
                            acc[q] += xv[q]
            T[tb:tb + P] = acc

    return {"mac": mac, "factored": factored, "window_sum": window_sum}


def kernels() -> dict:
    """The numba kernels (defined on first use; each compiles on its first call)."""
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _build()
    return _KERNELS


def max_threads() -> int:
    """Most threads numba can use in this process (NUMBA_NUM_THREADS, by default the CPU count)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def set_threads(n: int) -> int:
    """Set numba's thread count for the kernels; returns it. 1 <= n <= :func:`max_threads`."""
    import numba

    top = max_threads()
    if not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= top:
        raise ValueError(f"threads must be an integer in 1..{top} (NUMBA_NUM_THREADS), got {n!r}")
    numba.set_num_threads(int(n))
    return int(n)


# ---------------------------------------------------------------------------------------------- plans
@dataclass
class Plan:
    """A layer's weights preprocessed for one dataflow (see module doc). Build with :func:`prepare`."""

    dataflow: str
    kind: str                # conv | linear
    K: int
    C: int
    G: int
    R: int
    S: int
    stride: int
    padding: int
    kernel: str              # mac | factored
    fptr: np.ndarray         # int64 [K+1]: filter -> entries (mac) or value groups (factored)
    ch: np.ndarray           # int32 [E]: global input channel of each entry
    rr: np.ndarray           # int32 [E]: kernel row
    ss: np.ndarray           # int32 [E]: kernel column
    wv: np.ndarray           # float32 [E]: weight of each entry (mac)
    tptr: np.ndarray         # int64 [T+1]: value group -> entries (factored)
    tval: np.ndarray         # float32 [T]: the value a group is multiplied by (SumMerge rows: v_a - v_b)
    smk: np.ndarray          # int8 [K]: 1 where the filter uses the shared window sum (SumMerge)
    tbase: np.ndarray        # float32 [K]: SumMerge v_b (multiplies the window sum)
    gmask: np.ndarray        # int8 [G]: groups that need the window sum
    stats: dict = field(default_factory=dict)
    _off: dict = field(default_factory=dict, repr=False)   # flat input offsets per padded input size

    @property
    def summerge(self) -> bool:
        return bool(self.gmask.any())


def _entries(cg: int, R: int, S: int):
    """(c, r, s) of every position of a filter row, im2col order."""
    c, r, s = np.meshgrid(np.arange(cg), np.arange(R), np.arange(S), indexing="ij")
    return c.reshape(-1), r.reshape(-1), s.reshape(-1)


def _summerge_rows(wg: np.ndarray):
    """SumMerge choice for one group's rows ``wg`` [M, L] (values): (use [M] bool, minority [M], other [M]).

    A row qualifies with no zeros and exactly two values; v_a is the less frequent one (ties: the
    smaller), v_b the other. The group uses it only when sum(L-1-m) over such rows > L-1 (the shared
    window sum costs L-1 adds), as :func:`plumsim.accel.repetition.region_plan` decides."""
    M, L = wg.shape
    use = np.zeros(M, dtype=bool)
    va = np.zeros(M, dtype=np.float32)
    vb = np.zeros(M, dtype=np.float32)
    saved = 0
    for o in range(M):
        row = wg[o]
        if np.count_nonzero(row) != L:
            continue
        vals, counts = np.unique(row, return_counts=True)
        if vals.size != 2:
            continue
        i = 0 if (counts[0], vals[0]) <= (counts[1], vals[1]) else 1
        use[o] = True
        va[o], vb[o] = vals[i], vals[1 - i]
        saved += L - 1 - int(counts[i])
    if not saved > L - 1:
        use[:] = False
    return use, va, vb


def prepare(weights: np.ndarray, dataflow: str, *, stride: int = 1, padding: int = 0, groups: int = 1,
            kind: str = "conv", summerge: bool = True) -> Plan:
    """Preprocess ``weights`` (float32 [K, C/G, R, S], or [K, C] for linear) for ``dataflow``.

    The weights are the quantized values (codes * scale; FP weights as they are). Runs once per layer and
    dataflow, outside the timed call."""
    if dataflow not in DATAFLOWS:
        raise ValueError(f"unknown dataflow {dataflow!r}; valid: {', '.join(DATAFLOWS)}")
    w = np.asarray(weights, dtype=np.float32)
    if kind == "linear":
        if w.ndim != 2:
            raise ValueError(f"linear weights must be [K, C], got shape {w.shape}")
        w = w[:, :, None, None]
        stride, padding, groups = 1, 0, 1
    if w.ndim != 4:
        raise ValueError(f"conv weights must be [K, C/G, R, S], got shape {w.shape}")
    K, cg, R, S = w.shape
    G = int(groups)
    if G < 1 or K % G:
        raise ValueError(f"groups={groups} must divide K={K}")
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}")
    kg = K // G
    L = cg * R * S
    c_l, r_l, s_l = _entries(cg, R, S)
    flat = w.reshape(K, L)
    chs, rs, ss, wvs, counts = [], [], [], [], np.zeros(K, dtype=np.int64)
    tvals, tcounts, tper = [], [], np.zeros(K, dtype=np.int64)
    smk = np.zeros(K, dtype=np.int8)
    tbase = np.zeros(K, dtype=np.float32)
    gmask = np.zeros(G, dtype=np.int8)
    factored = dataflow in ("repeat", "skip+repeat")
    skip = dataflow in ("skip", "skip+repeat")
    for g in range(G):
        wg = flat[g * kg:(g + 1) * kg]
        use_sm, va, vb = (_summerge_rows(wg) if factored and summerge
                          else (np.zeros(kg, dtype=bool), None, None))
        if use_sm.any():
            gmask[g] = 1
        for o in range(kg):
            k = g * kg + o
            row = wg[o]
            if not factored:
                pos = np.flatnonzero(row) if skip else np.arange(L)
                chs.append(g * cg + c_l[pos]); rs.append(r_l[pos]); ss.append(s_l[pos]); wvs.append(row[pos])
                counts[k] = pos.size
                continue
            if use_sm[o]:
                groups_k = [(float(va[o] - vb[o]), np.flatnonzero(row == va[o]))]
                smk[k], tbase[k] = 1, vb[o]
            else:
                vals = np.unique(row)
                if skip:
                    vals = vals[vals != 0]
                groups_k = [(float(v), np.flatnonzero(row == v)) for v in vals]
            for v, pos in groups_k:
                chs.append(g * cg + c_l[pos]); rs.append(r_l[pos]); ss.append(s_l[pos])
                tvals.append(v); tcounts.append(pos.size)
            tper[k] = len(groups_k)
    cat = (lambda parts, dt: np.ascontiguousarray(np.concatenate(parts).astype(dt)) if parts
           else np.zeros(0, dtype=dt))
    ch, rr, sc = cat(chs, np.int32), cat(rs, np.int32), cat(ss, np.int32)
    if factored:
        fptr = np.concatenate([[0], np.cumsum(tper)]).astype(np.int64)
        tptr = np.concatenate([[0], np.cumsum(np.asarray(tcounts, dtype=np.int64))]).astype(np.int64)
        tval = np.asarray(tvals, dtype=np.float32)
        wv = np.zeros(0, dtype=np.float32)
    else:
        fptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        tptr, tval = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.float32)
        wv = cat(wvs, np.float32)
    stats = {"entries": int(ch.size), "value_groups": int(tval.size) if factored else 0,
             "summerge_filters": int(smk.sum()), "L": L}
    return Plan(dataflow=dataflow, kind=kind, K=K, C=cg * G, G=G, R=R, S=S, stride=int(stride),
                padding=int(padding), kernel="factored" if factored else "mac", fptr=fptr, ch=ch, rr=rr,
                ss=sc, wv=wv, tptr=tptr, tval=tval, smk=smk, tbase=tbase, gmask=gmask, stats=stats)


_DUMMY_T = np.zeros(1, dtype=np.float32)

#: output positions per accumulator block (floats): 16 KiB, comfortably inside a core's L1 data cache
BLOCK = 4096


def _offsets(plan: Plan, Hp: int, Wp: int) -> np.ndarray:
    """Flat offsets of the plan's entries inside one phase-split image (memoised per input size)."""
    key = (int(Hp), int(Wp))
    off = plan._off.get(key)
    if off is None:
        st = plan.stride
        ch, rr, ss = (a.astype(np.int64) for a in (plan.ch, plan.rr, plan.ss))
        off = np.ascontiguousarray(((ch * st + rr % st) * st + ss % st) * Hp * Wp + (rr // st) * Wp + ss // st)
        plan._off[key] = off
    return off


def _phases(x: np.ndarray, padding: int, st: int) -> np.ndarray:
    """Zero-pad ``x`` [N, C, X, Y] and split it into stride x stride phase planes [N, C, st, st, Hp, Wp]."""
    N, C, X, Y = x.shape
    Xp, Yp = X + 2 * padding, Y + 2 * padding
    if st == 1:
        if not padding:
            return np.ascontiguousarray(x).reshape(N, C, 1, 1, X, Y)
        xp = np.zeros((N, C, 1, 1, Xp, Yp), dtype=np.float32)
        xp[:, :, 0, 0, padding:padding + X, padding:padding + Y] = x
        return xp
    Hp, Wp = -(-Xp // st), -(-Yp // st)
    xp = np.zeros((N, C, Hp * st, Wp * st), dtype=np.float32)
    xp[:, :, padding:padding + X, padding:padding + Y] = x
    return np.ascontiguousarray(xp.reshape(N, C, Hp, st, Wp, st).transpose(0, 1, 3, 5, 2, 4))


def _run_phases(plan: Plan, ph: np.ndarray, Xo: int, Yo: int) -> np.ndarray:
    kern = kernels()
    N, C, st, _, Hp, Wp = ph.shape
    img = C * st * st * Hp * Wp
    xf = ph.reshape(-1)
    off = _offsets(plan, Hp, Wp)
    BR = max(1, min(Xo, BLOCK // Wp))
    of = np.empty(N * plan.K * Xo * Yo, dtype=np.float32)
    if plan.kernel == "mac":
        kern["mac"](xf, img, Wp, plan.fptr, off, plan.wv, BR, Xo, Yo, of)
        return of.reshape(N, plan.K, Xo, Yo)
    if plan.summerge:
        T = np.empty(N * plan.G * Xo * Wp, dtype=np.float32)
        kern["window_sum"](xf, img, Hp, Wp, plan.gmask, plan.C // plan.G, plan.R, plan.S, st, BR, Xo, Yo, T)
    else:
        T = _DUMMY_T
    kern["factored"](xf, img, Wp, plan.fptr, plan.tptr, off, plan.tval, plan.smk, plan.tbase, T,
                     plan.K // plan.G, plan.G, BR, Xo, Yo, of)
    return of.reshape(N, plan.K, Xo, Yo)


def run(plan: Plan, x: np.ndarray) -> np.ndarray:
    """Apply a prepared layer to activations ``x`` (conv: float32 [N, C, X, Y]; linear: [N, C]).

    Returns float32 [N, K, X_out, Y_out] (linear: [N, K]). This is the call to time (it includes the
    padding / phase split of the input, the same for every dataflow)."""
    x = np.asarray(x, dtype=np.float32)
    if plan.kind == "linear":
        if x.ndim != 2 or x.shape[1] != plan.C:
            raise ValueError(f"linear input must be [N, {plan.C}], got shape {x.shape}")
        # the batch becomes the output row: [1, C, 1, 1, 1, N], a 1x1 "conv" whose columns are the images
        ph = np.ascontiguousarray(x.T).reshape(1, plan.C, 1, 1, 1, x.shape[0])
        return _run_phases(plan, ph, 1, x.shape[0])[0, :, 0, :].T
    if x.ndim != 4 or x.shape[1] != plan.C:
        raise ValueError(f"conv input must be [N, {plan.C}, X, Y], got shape {x.shape}")
    p, st = plan.padding, plan.stride
    Xo = (x.shape[2] + 2 * p - plan.R) // st + 1
    Yo = (x.shape[3] + 2 * p - plan.S) // st + 1
    if Xo < 1 or Yo < 1:
        raise ValueError(f"input {x.shape[2]}x{x.shape[3]} is smaller than the kernel {plan.R}x{plan.S}")
    return _run_phases(plan, _phases(x, p, st), Xo, Yo)


# ------------------------------------------------------------------------------------ convenience API
def conv2d(x, weights, dataflow: str = "dense", *, stride: int = 1, padding: int = 0, groups: int = 1,
           summerge: bool = True) -> np.ndarray:
    """One-shot conv2d (prepare + run); for timing, call :func:`prepare` once and :func:`run` repeatedly."""
    return run(prepare(weights, dataflow, stride=stride, padding=padding, groups=groups, summerge=summerge), x)


def linear(x, weights, dataflow: str = "dense", *, summerge: bool = True) -> np.ndarray:
    """One-shot linear layer ``x @ weights.T`` (weights [K, C])."""
    return run(prepare(weights, dataflow, kind="linear", summerge=summerge), x)


def layer_weights(layer) -> np.ndarray:
    """Quantized weights of a :class:`plumsim.workload.layer.Layer` in the kernels' layout (codes * scale)."""
    w = layer.weight_tensor()
    return w.reshape(w.shape[0], -1) if layer.kind == "linear" else w


def prepare_layer(layer, dataflow: str, *, summerge: bool = True) -> Plan:
    """:func:`prepare` for a workload layer (its stride, padding, groups and kind)."""
    s = layer.shape
    return prepare(layer_weights(layer), dataflow, stride=s.stride, padding=s.padding, groups=s.G,
                   kind=layer.kind, summerge=summerge)

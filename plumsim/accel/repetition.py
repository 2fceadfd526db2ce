"""Repetition-aware arithmetic: what dense, zero skipping, UCNN-style factorization, both, and SumMerge
compute, and the weight format each keeps. The timing of every dataflow is the controller's own
STONNE-faithful model (:mod:`plumsim.accel.dataflow`); this module counts only what a dataflow changes.

No existing simulator models weight repetition; this is plumsim's own count (docs/design.md, "Dataflows and repetition").
numpy only. For one output (one region = one filter row of the GEMM, reduction length L, ``nnz``
non-zeros, ``U`` distinct non-zero values, ``U0`` distinct values counting 0 when the row has zeros):

======================  ============  =============  ==============================================
mode                    multiplies    adds           operands placed on multipliers ("slots")
======================  ============  =============  ==============================================
``dense``               L             L-1            L
``skip``                nnz           nnz-1          nnz (only non-zeros are packed)
``repeat``              U0            L-1            L   (inputs sharing a value are summed by the
                                                          adder tree, one multiply per value at the root)
``skip+repeat``         U             nnz-1          nnz
SumMerge row            2             m              m   (+ one shared window-sum row of L per group)
======================  ============  =============  ==============================================

SumMerge (``repeat`` and ``skip+repeat``, option ``summerge``, SIGMA only): a row with no zeros and
exactly two values v_a, v_b (binary {-a, +a}) is computed as ``v_b*T + (v_a - v_b)*S_a`` where ``T`` = sum
of the whole window, shared by every such filter of the group, and ``S_a`` = sum over the m positions of
the *less frequent* value. The group uses it only when it saves adds: sum over such rows of (L-1-m) >
L-1. Zeros never count as one of the two values, so ternary / signed-binary rows never use it.

Weight format and traffic per region (stationary weights are read once): ``dense`` reads L weight
codes of ceil(log2 |alphabet|) bits (GLOBALBUFFER weight reads); ``skip`` reads an L-bit bitmap
(INDEX.READ, in bits; none when the group has no zeros) and its nnz non-zero codes (weight reads);
``repeat`` reads L value indices of ceil(log2 U0) bits plus a table of the U0 values (INDEX.READ); when
the region uses the whole alphabet the index *is* the code, read like the dense codes (weight reads);
``skip+repeat`` reads the bitmap, nnz indices of ceil(log2 U) bits and a table of U values, again left
out when U covers the non-zero alphabet (signed-binary: bitmap + one sign bit per filter).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from plumsim.accel.lru import LRUMemo, freeze, weights_key

MODES = ("dense", "skip", "repeat", "skip+repeat")
FP_VALUE_BITS = 32


def check_mode(mode: str) -> None:
    from plumsim.errors import ConfigError

    if mode not in MODES:
        raise ConfigError(f"unknown dataflow mode {mode!r}; valid: {', '.join(MODES)}", field="mode")


def code_bits(n: int) -> int:
    """Bits to tell n things apart (0 for one thing)."""
    return 0 if n <= 1 else int(math.ceil(math.log2(n)))


def region_plan(w: np.ndarray, mode: str, summerge: bool = True) -> dict:
    """Per-row plan of one group's weight matrix ``w`` [M, L] (codes or values) under ``mode``.

    Returns arrays over rows: ``slots`` (operands placed on multipliers), ``mults`` and ``adds`` per
    output column, ``values`` (distinct values used), ``summerge`` (bool), ``minority`` (the value
    summed in a SumMerge row, else 0), and ``shared_adds`` (adds per column of the shared window sum,
    0 when the group does not use SumMerge), ``shared_slots``.
    """
    M, L = w.shape
    nnz = np.count_nonzero(w, axis=1)
    vals = np.unique(w)
    counts = np.stack([(w == v).sum(axis=1) for v in vals], axis=1) if vals.size <= 64 else None
    if counts is not None:
        nzcols = vals != 0
        u_nz = (counts[:, nzcols] > 0).sum(axis=1)
        u_all = (counts > 0).sum(axis=1)
    else:  # float weights: distinct values per row from each row sorted (0.0 and -0.0 are one value)
        srt = np.sort(w, axis=1)
        u_all = 1 + np.count_nonzero(srt[:, 1:] != srt[:, :-1], axis=1) if L else np.zeros(M, dtype=np.int64)
        u_nz = u_all - (nnz < L)
    skip = mode in ("skip", "skip+repeat")
    repeat = mode in ("repeat", "skip+repeat")
    P = nnz if skip else np.full(M, L)
    slots = P.copy()
    mults = (u_nz if skip else u_all) if repeat else P.copy()
    adds = np.maximum(P - 1, 0)
    sm = np.zeros(M, dtype=bool)
    minority = np.zeros(M, dtype=w.dtype)
    m = np.zeros(M, dtype=np.int64)
    if repeat and summerge and counts is not None:
        eligible = (nnz == L) & (u_nz == 2)
        for o in np.flatnonzero(eligible):
            present = [(int(counts[o, j]), j) for j in range(vals.size) if counts[o, j] > 0]
            cnt, j = min(present)  # less frequent value; ties: the smaller value
            m[o], minority[o] = cnt, vals[j]
        if eligible.any() and int((L - 1 - m[eligible]).sum()) > L - 1:
            sm = eligible
    shared = L - 1 if sm.any() else 0
    slots = np.where(sm, m, slots)
    mults = np.where(sm, 2, mults)
    adds = np.where(sm, m, adds)  # (m-1) to sum S_a, 1 to add the two products
    return {"nnz": nnz, "u_nz": u_nz, "u_all": u_all, "slots": slots.astype(np.int64),
            "mults": mults.astype(np.int64), "adds": adds.astype(np.int64), "summerge": sm,
            "minority": minority, "shared_adds": shared, "shared_slots": L if shared else 0}


_ARITH = LRUMemo(max_items=1024)


def layer_arithmetic(layer, mode: str, *, summerge: bool = True) -> dict:
    """What ``mode`` computes and stores for ``layer`` (all groups, all GEMM columns N_gemm).

    Returns ``mults``, ``adds`` (events), ``wreads`` (weight values read from the global buffer),
    ``index`` (metadata bits read: bitmaps, value indices, value tables), ``storage`` (bits of the weight
    format), ``format`` (its name) and ``summerge_occupancy``: a layer whose non-zeros are the positions a
    SumMerge dataflow places on the multipliers (one shared window-sum row first in every group), or None
    when no group uses SumMerge. Cached per weights (bounded LRU)."""
    check_mode(mode)
    key = (weights_key(layer), mode, bool(summerge))
    return _ARITH.get_or_compute(key, lambda: _arithmetic(layer, mode, summerge))


def _arithmetic(layer, mode: str, summerge: bool) -> dict:
    s = layer.shape
    N = s.N_gemm
    w_all = np.asarray(layer.codes if layer.codes is not None else layer.weights)
    alphabet = np.unique(w_all)
    nz_alphabet = alphabet[alphabet != 0]
    fp = layer.codes is None
    dense_bits = FP_VALUE_BITS if fp else max(1, code_bits(alphabet.size))
    value_bits = FP_VALUE_BITS if fp else max(1, code_bits(nz_alphabet.size))
    tot = dict(mults=0, adds=0, wreads=0, index=0, storage=0)
    occupancy, used_summerge = [], False
    for g in range(s.G):
        w = layer.code_matrix(g)
        M, L = w.shape
        plan = region_plan(w, mode, summerge)
        tot["mults"] += int(plan["mults"].sum()) * N
        tot["adds"] += (int(plan["adds"].sum()) + plan["shared_adds"]) * N
        sm = plan["summerge"]
        occ = (w != 0) if mode in ("skip", "skip+repeat") else np.ones((M, L), dtype=bool)
        if sm.any():
            used_summerge = True
            occ = occ.copy()
            occ[sm] = w[sm] == plan["minority"][sm][:, None]
            occ = np.concatenate([np.ones((1, L), dtype=bool), occ])
        occupancy.append(occ)
        nnz, u_nz, u_all = plan["nnz"], plan["u_nz"], plan["u_all"]
        # a group without zeros keeps no bitmap: there is nothing to skip (binary under `skip` = dense)
        bitmap = M * L if int(nnz.sum()) < M * L else 0
        if mode == "dense":
            tot["wreads"] += M * L
            tot["storage"] += M * L * dense_bits
        elif mode == "skip":
            tot["wreads"] += int(nnz.sum())
            tot["index"] += bitmap
            tot["storage"] += bitmap + int(nnz.sum()) * value_bits
        elif mode == "repeat":
            # per-position value index; when a region uses the whole code alphabet the index *is* the
            # code: it is read as the dense codes are (weight reads), no value table; else an index of
            # ceil(log2 U0) bits per position and a table of U0 codes per region (INDEX.READ)
            whole = (u_all >= alphabet.size) & (not fp)
            idx_bits = int(sum(code_bits(int(u)) for u in u_all)) * L
            part_bits = int(sum(code_bits(int(u)) for u, w_ in zip(u_all, whole) if not w_)) * L
            table = 0 if fp else int(sum(int(u) * dense_bits for u in u_all if u < alphabet.size))
            table = int(u_all.sum()) * dense_bits if fp else table
            tot["wreads"] += int(whole.sum()) * L
            tot["index"] += part_bits + table
            tot["storage"] += idx_bits + table
        else:
            # as repeat, on the non-zeros: an index that is the non-zero code is read like the codes
            whole = (u_nz >= nz_alphabet.size) & (not fp)
            idx_bits = int(sum(code_bits(int(u)) * int(n) for u, n in zip(u_nz, nnz)))
            part_bits = int(sum(code_bits(int(u)) * int(n) for u, n, w_ in zip(u_nz, nnz, whole) if not w_))
            table = int(sum(int(u) * value_bits for u in u_nz if fp or u < nz_alphabet.size))
            tot["wreads"] += int(nnz[whole].sum())
            tot["index"] += bitmap + part_bits + table
            tot["storage"] += bitmap + idx_bits + table
    fmt = {"dense": f"{dense_bits}-bit codes", "skip": f"bitmap + {value_bits}-bit non-zero codes",
           "repeat": "value indices + value table", "skip+repeat": "bitmap + value indices + value table"}[mode]
    if mode == "skip+repeat" and layer.scheme == "signed-binary":
        fmt = "bitmap + one sign bit per filter"
    tot["format"] = fmt
    tot["summerge_occupancy"] = _occupancy_layer(layer, occupancy) if used_summerge else None
    return tot


def _occupancy_layer(layer, occupancy: list) -> object:
    """A layer whose weights are 1 where ``occupancy`` (one [rows, L] mask per group) places an operand."""
    s = layer.shape
    cg = s.C // s.G
    rows = [o.shape[0] for o in occupancy]
    K = sum(rows)
    if any(r != rows[0] for r in rows):   # groups must stay equal for the GEMM view: pad with empty rows
        top = max(rows)
        occupancy = [np.concatenate([o, np.zeros((top - o.shape[0], o.shape[1]), dtype=bool)]) for o in occupancy]
        K = top * s.G
    codes = np.concatenate(occupancy).astype(np.int8).reshape(K, cg, s.R, s.S)
    freeze(codes)   # cached and shared; frozen arrays are keyed in O(1) (lru.weights_key)
    return replace(layer, shape=replace(s, K=K), codes=codes, weights=None, scheme="occupancy",
                   scale=np.ones(K, dtype=np.float32), sign=np.ones(K, dtype=np.int8),
                   name=f"{layer.name}[summerge]")

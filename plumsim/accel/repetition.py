"""Repetition-aware dataflow: dense, zero skipping, UCNN-style factorization, both, and SumMerge reuse.

No existing simulator models weight repetition; this is plumsim's own model (DESIGN.md, "Repetition").
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

SumMerge (``repeat`` and ``skip+repeat``, option ``summerge``): a row with no zeros and exactly two
values v_a, v_b (binary {-a, +a}) is computed as ``v_b*T + (v_a - v_b)*S_a`` where ``T`` = sum of the
whole window, shared by every such filter of the group, and ``S_a`` = sum over the m positions of the
*less frequent* value. The group uses it only when it saves adds: sum over such rows of (L-1-m) > L-1.
Zeros never count as one of the two values, so ternary / signed-binary rows never use it.

Cycles, SIGMA-style (``style="sigma"``): the mode's *occupancy* (which reduction indices each row
places on multipliers: the bitmap for ``skip``, full rows for ``dense``/``repeat``, the minority positions
plus one shared window-sum row for SumMerge) goes through ACCEL's SIGMA model
(:func:`plumsim.accel.sigma.sigma_gemm`, calibrated on STONNE): rows packed greedily, in order, whole into
``ms_size`` multipliers, folding rows longer than that, one configuration + one distribution cycle,
N_gemm streaming cycles times the port contention, and a drain per iteration. That model also gives the
streamed-input and partial-sum traffic, wires and instances; this module replaces the arithmetic
(multiplies, adds) and the weight traffic with the mode's own. So zero skipping saves cycles by packing
fewer slots; factorization alone saves multiplies (energy) but not slots, except via SumMerge, which
shrinks a binary row to its minority positions.

MAERI-style (``style="maeri"``): uniform virtual neurons: every row is padded to the largest row of the
layer (a dense tile can only shrink when every filter shrinks), packed the same greedy way; an
iteration costs 1 + 1 + N_gemm * c + ``DRAIN`` cycles with c = 1 when dn_bw == ms_size, else the most
distinct reduction indices held by the ms_size/dn_bw multipliers of one read port. SumMerge is off there
(the shared window-sum row would set the virtual-neuron size to L and only add work).

Storage and buffer traffic per region (stationary weights are read once): ``dense`` reads L weight
codes of ceil(log2 |alphabet|) bits (GLOBALBUFFER weight reads); ``skip`` reads an L-bit bitmap
(INDEX.READ, in bits; none when the group has no zeros) and its nnz non-zero codes (weight reads);
``repeat`` reads L value indices of ceil(log2 U0) bits plus a table of the U0 values (INDEX.READ); the
table is left out when the region uses the whole alphabet (then the index *is* the code);
``skip+repeat`` reads the bitmap, nnz indices of ceil(log2 U) bits and a table of U values, again left
out when U covers the non-zero alphabet (signed-binary: bitmap + one sign bit per filter).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.accel.sigma import sigma_gemm, sigma_instances

MODES = ("dense", "skip", "repeat", "skip+repeat")
STYLES = ("sigma", "maeri")
DRAIN = 9  # cycles between iterations (STONNE: 7 to 11, 9 most often; DESIGN.md)
FP_VALUE_BITS = 32
# counters the repetition model computes itself (arithmetic, weight traffic); the rest come from timing
_ARITHMETIC = ("MULTIPLIER.MULTIPLICATION", "ADDER.ADD_2_1", "ADDER.ADD_3_1", "RN_WIRE.WRITE",
               "GLOBALBUFFER.READ")


def _check(mode: str, style: str) -> None:
    from plumsim.errors import ConfigError

    if mode not in MODES:
        raise ConfigError(f"unknown dataflow mode {mode!r}; valid: {', '.join(MODES)}", field="mode")
    if style not in STYLES:
        raise ConfigError(f"unknown dataflow style {style!r}; valid: {', '.join(STYLES)}", field="style")


def _bits(n: int) -> int:
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
    else:  # float weights: one np.unique per row
        u_nz = np.array([np.unique(r[r != 0]).size for r in w])
        u_all = np.array([np.unique(r).size for r in w])
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


def _pack(row_slots: list, ms: int):
    """Greedy in-order packing of whole rows into ``ms`` slots; a row longer than ms folds.

    Returns (iteration id per row chunk, list of (row, start, length, iteration)), and the number of
    iterations. Folded rows take their own iterations.
    """
    chunks, it, fill = [], -1, ms  # fill = slots used in the current iteration (start "full")
    for r, p in row_slots:
        if p == 0:
            continue
        if p > ms:
            for start in range(0, p, ms):
                it += 1
                chunks.append((r, start, min(ms, p - start), it))
            fill = ms
            continue
        if fill + p > ms:
            it += 1
            fill = 0
        chunks.append((r, 0, p, it))
        fill += p
    return chunks, it + 1


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: the keys come in long sorted runs, which timsort eats fast;
    numpy's hash-based np.unique is an order of magnitude slower here)."""
    if keys.size == 0:
        return keys
    s = np.sort(keys, kind="stable")
    return s[np.concatenate(([True], s[1:] != s[:-1]))]


def _sigma_cycles(row_k: dict, row_slots: list, cfg: AcceleratorConfig, N: int):
    """Iterations, cycles, streamed packets and folds for one group; see the module doc."""
    ms, dn = cfg.ms_size, cfg.dn_bw
    chunks, iters = _pack(row_slots, ms)
    if iters == 0:
        return 0, 0, 0, 0
    width = max(1, ms // dn)
    it_ids, ports, ks = [], [], []
    fill = {}
    for r, start, length, it in chunks:
        pos0 = fill.get(it, 0)
        fill[it] = pos0 + length
        k = row_k[r][start:start + length]
        it_ids.append(np.full(length, it, dtype=np.int64))
        ports.append((pos0 + np.arange(length)) // width)
        ks.append(k)
    it_a, port_a, k_a = np.concatenate(it_ids), np.concatenate(ports), np.concatenate(ks).astype(np.int64)
    kmax = int(k_a.max()) + 1 if k_a.size else 1
    # distinct reduction indices per iteration: one streamed packet per index per column
    distinct_it = _distinct(it_a * kmax + k_a)
    per_it = np.bincount(distinct_it // kmax, minlength=iters)
    if dn >= ms:
        c = np.ones(iters, dtype=np.int64)
    else:
        key = _distinct((it_a * (dn + 1) + port_a) * kmax + k_a)
        per_port = np.bincount(key // kmax, minlength=iters * (dn + 1))
        c = np.maximum(per_port.reshape(iters, dn + 1).max(axis=1), 1)
    cycles = int(iters * (2 + DRAIN) + N * c.sum())
    folds = sum(1 for r, start, _, _ in chunks if start > 0)
    return iters, cycles, int(per_it.sum()) * N, folds


def simulate_repetition(layer, config: AcceleratorConfig, mode: str = "skip+repeat", *,
                        style: str = "sigma", summerge: bool = True) -> SimResult:
    """Cycles and counters of ``layer`` on ``config`` under one dataflow ``mode`` (see module doc).

    Counters (events, STONNE names): MULTIPLIER.MULTIPLICATION, ADDER.ADD_2_1, GLOBALBUFFER.READ
    (weight values + streamed inputs + partial sums), GLOBALBUFFER.WRITE (outputs + partial sums),
    SWITCH.ROUTE_UNICAST (packets sent), DN_WIRE.WRITE (operands delivered to multipliers),
    MULTIPLIER.CONFIGURATION (slots configured), RN_WIRE.WRITE (adder outputs), CB_WIRE.WRITE (outputs
    collected); plus plumsim's INDEX.READ (metadata bits read) and WEIGHT_STORAGE.BITS (bits of the
    stored weight representation). ``sram``: weight_reads, input_reads, psum_reads, psum_writes,
    reconfigurations (iterations). ``cycles``: see the module doc.
    """
    _check(mode, style)
    s = layer.shape
    N = s.N_gemm
    w_all = np.asarray(layer.codes if layer.codes is not None else layer.weights)
    alphabet = np.unique(w_all)
    nz_alphabet = alphabet[alphabet != 0]
    fp = layer.codes is None
    dense_bits = FP_VALUE_BITS if fp else max(1, _bits(alphabet.size))
    value_bits = FP_VALUE_BITS if fp else max(1, _bits(nz_alphabet.size))
    tot = dict(mults=0, adds=0, iters=0, cycles=0, stream=0, folds=0, slots=0, wreads=0, index=0,
               storage=0, psum=0, outputs=0)
    skip = mode in ("skip", "skip+repeat")
    timing = None
    sigma_cfg = config if config.controller_type == "SIGMA_SPARSE_GEMM" else \
        replace(config, controller_type="SIGMA_SPARSE_GEMM")
    for g in range(s.G):
        w = layer.code_matrix(g)
        M, L = w.shape
        plan = region_plan(w, mode, summerge and style == "sigma")
        tot["mults"] += int(plan["mults"].sum()) * N
        tot["adds"] += (int(plan["adds"].sum()) + plan["shared_adds"]) * N
        # which reduction indices each row places on multipliers
        row_k = {}
        for o in range(M):
            if plan["summerge"][o]:
                row_k[o] = np.flatnonzero(w[o] == plan["minority"][o])
            elif skip:
                row_k[o] = np.flatnonzero(w[o])
            else:
                row_k[o] = np.arange(L)
        rows = [(o, int(plan["slots"][o])) for o in range(M)]
        if plan["shared_slots"]:
            row_k[-1] = np.arange(L)
            rows = [(-1, L)] + rows
        if style == "sigma":
            # the real SIGMA model (plumsim.accel.sigma, calibrated on STONNE) on the occupancy this mode
            # places on the multipliers: skip = the weights' bitmap, dense/repeat = full rows, SumMerge
            # = minority positions plus the shared window-sum row
            occ = np.zeros((len(rows), L), dtype=np.int8)
            for i, (r, _) in enumerate(rows):
                occ[i, row_k[r]] = 1
            t = sigma_gemm(occ, N, sigma_cfg)
            timing = t if timing is None else timing + t
        else:  # MAERI-style uniform virtual neurons: pad every row to the longest one
            vn = max(p for _, p in rows)
            for r, p in rows:  # padding slots hold the skipped positions (still streamed, gated off)
                unused = np.setdiff1d(np.arange(L), row_k[r])[:vn - p]
                row_k[r] = np.sort(np.concatenate([row_k[r], unused]))
            rows = [(r, vn) for r, _ in rows]
            iters, cycles, stream, folds = _sigma_cycles(row_k, rows, config, N)
            tot["iters"] += iters
            tot["cycles"] += cycles
            tot["stream"] += stream
            tot["folds"] += folds
            tot["slots"] += sum(p for _, p in rows)
            tot["psum"] += folds * N
        tot["outputs"] += M * N
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
            # code and no value table is needed, else a table of U0 codes per region
            idx_bits = int(sum(_bits(int(u)) for u in u_all)) * L
            table = 0 if fp else int(sum(int(u) * dense_bits for u in u_all if u < alphabet.size))
            table = int(u_all.sum()) * dense_bits if fp else table
            tot["index"] += idx_bits + table
            tot["storage"] += idx_bits + table
        else:
            idx_bits = int(sum(_bits(int(u)) * int(n) for u, n in zip(u_nz, nnz)))
            table = int(sum(int(u) * value_bits for u in u_nz if fp or u < nz_alphabet.size))
            tot["index"] += bitmap + idx_bits + table
            tot["storage"] += bitmap + idx_bits + table
    ms = config.ms_size
    if timing is not None:  # SIGMA style: timing, traffic and instances from the SIGMA model
        counters = {k: v for k, v in timing.counters.items() if k not in _ARITHMETIC}
        counters.update({
            "MULTIPLIER.MULTIPLICATION": tot["mults"],
            "ADDER.ADD_2_1": tot["adds"],
            "ADDER.ADD_3_1": 0,
            "RN_WIRE.WRITE": tot["mults"] + tot["adds"],
            "GLOBALBUFFER.READ": tot["wreads"] + timing.sram["input_reads"] + timing.sram["psum_reads"],
            "INDEX.READ": tot["index"],
            "WEIGHT_STORAGE.BITS": tot["storage"],
        })
        sram = dict(timing.sram, weight_reads=tot["wreads"])
        info = {"mode": mode, "style": style, "summerge": summerge, "layer": layer.name,
                "scheme": layer.scheme, "dense_code_bits": dense_bits}
        return SimResult(cycles=int(timing.cycles), counters={k: float(v) for k, v in counters.items()},
                         instances=sigma_instances(config), sram={k: float(v) for k, v in sram.items()},
                         info=info)
    counters = {
        "MULTIPLIER.MULTIPLICATION": tot["mults"],
        "MULTIPLIER.CONFIGURATION": tot["slots"],
        "ADDER.ADD_2_1": tot["adds"],
        "RN_WIRE.WRITE": tot["adds"],
        "GLOBALBUFFER.READ": tot["wreads"] + tot["stream"] + tot["psum"],
        "GLOBALBUFFER.WRITE": tot["outputs"] + tot["psum"],
        "SWITCH.ROUTE_UNICAST": tot["wreads"] + tot["stream"],
        "DN_WIRE.WRITE": tot["slots"] * (N + 1),
        "CB_WIRE.WRITE": tot["outputs"] + tot["psum"],
        "INDEX.READ": tot["index"],
        "WEIGHT_STORAGE.BITS": tot["storage"],
    }
    instances = {"MULTIPLIER": ms, "ADDER": ms - 1, "GLOBALBUFFER": 1}
    if ms > config.dn_bw:
        instances["SWITCH"] = ms - config.dn_bw
    sram = {"weight_reads": tot["wreads"], "input_reads": tot["stream"], "psum_reads": tot["psum"],
            "psum_writes": tot["psum"], "reconfigurations": tot["iters"]}
    info = {"mode": mode, "style": style, "summerge": summerge and style == "sigma", "layer": layer.name,
            "scheme": layer.scheme, "dense_code_bits": dense_bits}
    return SimResult(cycles=int(tot["cycles"]), counters={k: float(v) for k, v in counters.items()},
                     instances=instances, sram={k: float(v) for k, v in sram.items()}, info=info)

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
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.accel.sigma import (_empty_result, _gemm_result, _plan, sigma_instances,
                                 weights_fingerprint)

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


def _uniform_cycles(kmat: np.ndarray, cfg: AcceleratorConfig, N: int):
    """Iterations, cycles, streamed packets and folds of one group whose rows all hold ``vn`` operands
    (MAERI style). ``kmat`` [M, vn]: the reduction indices of each row's slots, ascending.

    Same packing as :func:`_pack` (greedy, in order, whole rows; a row longer than ms folds into its own
    iterations), but with equal rows the layout is arithmetic: q = ms // vn rows per iteration."""
    ms, dn = cfg.ms_size, cfg.dn_bw
    M, vn = kmat.shape
    if M == 0 or vn == 0:
        return 0, 0, 0, 0
    width = max(1, ms // dn)
    L = int(kmat.max()) + 1
    if vn > ms:  # every row folds: chunk j of row o is iteration o * nch + j, from multiplier 0
        nch = -(-vn // ms)
        iters = M * nch
        length = np.minimum(ms, vn - ms * np.arange(nch))           # slots of each chunk
        per_it = np.tile(length, M)                                   # a row's indices are distinct
        # one row per iteration: a port's indices are distinct, port 0 is the fullest
        c_sum = iters if dn >= ms else int(np.maximum(np.minimum(width, length), 1).sum()) * M
        return iters, int(iters * (2 + DRAIN) + N * c_sum), int(per_it.sum()) * N, M * (nch - 1)
    q = ms // vn
    iters = -(-M // q)
    row_it = np.arange(M) // q
    # distinct reduction indices per iteration: one streamed packet per index per column
    present = np.zeros((iters, L), dtype=bool)
    present[np.repeat(row_it, vn), kmat.ravel()] = True
    stream = int(np.count_nonzero(present))
    if dn >= ms:
        c_sum = iters
    else:
        # slots of each iteration (rows back to back from multiplier 0, -1 = empty), cut into ports
        slots = np.full((iters, q * vn), -1, dtype=np.int64)
        slots.reshape(iters * q, vn)[:M] = kmat
        full = np.full((iters, ms), -1, dtype=np.int64)
        full[:, :q * vn] = slots
        per_port = full.reshape(iters, dn, ms // dn) if ms % dn == 0 else None
        if per_port is None:  # ports of width ms//dn, the last ones may hold more slots: general path
            port = np.arange(ms) // width
            key = (np.arange(iters)[:, None] * (dn + 1) + port[None, :]) * (L + 1) + (full + 1)
            key = key[full >= 0]
            key = _distinct(key)
            cnt = np.bincount(key // (L + 1), minlength=iters * (dn + 1))
            c = np.maximum(cnt.reshape(iters, dn + 1).max(axis=1), 1)
        else:
            if _rows_align(vn, width):
                # every port lies inside one row: its indices are distinct
                cnt = np.count_nonzero(per_port >= 0, axis=2)
            else:
                srt = np.sort(per_port, axis=2)
                new = np.ones(srt.shape, dtype=bool)
                new[:, :, 1:] = srt[:, :, 1:] != srt[:, :, :-1]
                cnt = np.count_nonzero(new & (srt >= 0), axis=2)
            c = np.maximum(cnt.max(axis=1), 1)
        c_sum = int(c.sum())
    return iters, int(iters * (2 + DRAIN) + N * c_sum), stream * N, 0


def _rows_align(vn: int, width: int) -> bool:
    """True when no read port (width consecutive multipliers) straddles two rows of vn slots."""
    return vn % width == 0


# Config-independent per-(layer, mode, style) work, reused across configurations and sweeps: an LRU
# bounded by the bytes of the arrays it holds (a ResNet-18 in all four modes of one style: ~20-50 MiB).
_PLAN_CACHE: "OrderedDict[tuple, dict]" = OrderedDict()
_PLAN_CACHE_BYTES = [0]
PLAN_CACHE_MAX_BYTES = 192 * 2**20


def clear_plan_cache() -> None:
    """Drop every cached per-layer plan (see :func:`_layer_plan`)."""
    _PLAN_CACHE.clear()
    _PLAN_CACHE_BYTES[0] = 0


def _full_rows(M: int, L: int, dtype=np.int64) -> np.ndarray:
    """[M, L] read-only view whose every row is 0..L-1 (no memory per row)."""
    return np.broadcast_to(np.arange(L, dtype=dtype), (M, L))


def _layer_plan(layer, mode: str, style: str, summerge: bool) -> dict:
    """Everything of :func:`simulate_repetition` that does not depend on the configuration: per group,
    the occupancy (SIGMA style) or padded slot indices (MAERI style), and the totals of arithmetic,
    weight traffic and storage. Cached (bounded LRU, keyed on the weights' content)."""
    key = (weights_fingerprint(layer), mode, style, bool(summerge))
    hit = _PLAN_CACHE.get(key)
    if hit is not None:
        try:  # (another thread may have evicted it meanwhile)
            _PLAN_CACHE.move_to_end(key)
        except KeyError:
            pass
        return hit
    nbytes = 0
    s = layer.shape
    N = s.N_gemm
    w_all = np.asarray(layer.codes if layer.codes is not None else layer.weights)
    alphabet = np.unique(w_all)
    nz_alphabet = alphabet[alphabet != 0]
    fp = layer.codes is None
    dense_bits = FP_VALUE_BITS if fp else max(1, _bits(alphabet.size))
    value_bits = FP_VALUE_BITS if fp else max(1, _bits(nz_alphabet.size))
    tot = dict(mults=0, adds=0, slots=0, wreads=0, index=0, storage=0, outputs=0)
    skip = mode in ("skip", "skip+repeat")
    groups = []
    for g in range(s.G):
        w = layer.code_matrix(g)
        M, L = w.shape
        plan = region_plan(w, mode, summerge and style == "sigma")
        tot["mults"] += int(plan["mults"].sum()) * N
        tot["adds"] += (int(plan["adds"].sum()) + plan["shared_adds"]) * N
        # which reduction indices each row places on multipliers, as a mask [M, L] (None: every index)
        sm = plan["summerge"]
        mask = (w != 0) if skip else None
        if mask is not None and mask.all():
            mask = None
        if sm.any():
            mask = np.ones((M, L), dtype=bool) if mask is None else mask
            mask[sm] = w[sm] == plan["minority"][sm][:, None]
        shared = bool(plan["shared_slots"])
        if style == "sigma":
            if mask is None:  # full rows: a broadcast view costs no memory
                occ = np.broadcast_to(np.ones(1, dtype=bool), (M + shared, L))
            else:
                occ = np.concatenate([np.ones((1, L), dtype=bool), mask]) if shared else mask
                occ.flags.writeable = False
                nbytes += occ.nbytes
            groups.append({"occ": occ, "empty": not occ.any(), "sigma_plans": {}})
        else:  # MAERI-style uniform virtual neurons: pad every row to the longest one
            rows = M + shared
            if mask is None:
                kmat = _full_rows(rows, L)
                vn = L
            else:
                slots = plan["slots"]
                if shared:
                    mask = np.concatenate([np.ones((1, L), dtype=bool), mask])
                    slots = np.concatenate(([L], slots))
                vn = int(slots.max())
                # padding slots hold the first skipped positions (still streamed, gated off)
                free = ~mask
                full = mask | (free & (np.cumsum(free, axis=1) <= (vn - slots)[:, None]))
                kdt = np.int16 if L <= np.iinfo(np.int16).max else np.int32
                kmat = np.nonzero(full)[1].astype(kdt).reshape(rows, vn)
                kmat.flags.writeable = False
                nbytes += kmat.nbytes
            groups.append({"kmat": kmat})
            tot["slots"] += rows * vn
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
    out = {"groups": groups, "tot": tot, "dense_bits": dense_bits, "N": N}
    out["nbytes"] = 0
    _PLAN_CACHE[key] = out
    _account(out, nbytes)
    return out


def _account(entry: dict, nbytes: int) -> None:
    """Add ``nbytes`` to a cached plan's size, then evict the least recently used plans over budget."""
    entry["nbytes"] += nbytes
    _PLAN_CACHE_BYTES[0] += nbytes
    while len(_PLAN_CACHE) > 1 and _PLAN_CACHE_BYTES[0] > PLAN_CACHE_MAX_BYTES:
        _, old = _PLAN_CACHE.popitem(last=False)
        _PLAN_CACHE_BYTES[0] -= old["nbytes"]


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
    lp = _layer_plan(layer, mode, style, summerge)
    N, dense_bits = lp["N"], lp["dense_bits"]
    tot = dict(lp["tot"], iters=0, cycles=0, stream=0, folds=0, psum=0)
    timing = None
    sigma_cfg = config if config.controller_type == "SIGMA_SPARSE_GEMM" else \
        replace(config, controller_type="SIGMA_SPARSE_GEMM")
    for grp in lp["groups"]:
        if style == "sigma":
            # the real SIGMA model (plumsim.accel.sigma, calibrated on STONNE) on the occupancy this mode
            # places on the multipliers: skip = the weights' bitmap, dense/repeat = full rows, SumMerge
            # = minority positions plus the shared window-sum row
            # (as sigma_gemm(occ, N, sigma_cfg), with the bitmap's plan kept per (ms_size, dn_bw): it does
            # not depend on the other parameters, and a sweep grid repeats each pair several times)
            occ = grp["occ"]
            if N == 0 or grp["empty"]:
                t = _empty_result(sigma_cfg)
            else:
                pk = (sigma_cfg.ms_size, sigma_cfg.dn_bw)
                sp = grp["sigma_plans"].get(pk)
                if sp is None:
                    sp = grp["sigma_plans"][pk] = _plan(occ, sigma_cfg.ms_size, sigma_cfg.dn_bw)
                    _account(lp, int(sp["c"].nbytes) + 512)
                t = _gemm_result(sp, N, occ.shape[1] * N, sigma_cfg)
            timing = t if timing is None else timing + t
        else:
            iters, cycles, stream, folds = _uniform_cycles(grp["kmat"], config, N)
            tot["iters"] += iters
            tot["cycles"] += cycles
            tot["stream"] += stream
            tot["folds"] += folds
            tot["psum"] += folds * N
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

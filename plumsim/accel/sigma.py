"""SIGMA_SPARSE_GEMM (STONNE), dataflow MK_STA_KN_STR: cycles and counters from the weight bitmap.

Mechanism (read in STONNE's SparseSDMemory.cpp, ASNetwork.cpp, CollectionBus*.cpp and confirmed on
runs of a real STONNE; docs/design.md, "SIGMA"):

* The stationary matrix [M, K] is held as a bitmap. Rows are packed greedily, in order, whole, into
  ``ms_size`` multipliers; a row's size is its non-zero count. A row that does not fit starts the next
  iteration (a reconfiguration).
* A row longer than ``ms_size`` is folded: its first chunk takes ``ms_size`` non-zeros, each later chunk
  ``ms_size - 1`` (one multiplier receives the partial sum read back from memory). Each chunk is its own
  iteration; every chunk writes one partial sum per streamed column, every chunk after the first reads one.
* Read side: each of the dn_bw ports serves ms_size/dn_bw consecutive multipliers and sends one packet per
  cycle: first the iteration's stationary values (one each), then per streamed column one multicast
  packet per distinct k index it holds (plus the partial sum of a folded chunk). There is no limit on the
  distinct k of a column beyond the ports (with dn_bw = ms_size a whole column goes in one cycle).
* Write side: every virtual neuron (packed row) leaves the reduction tree at one adder; adders feed the
  rn_bw collection-bus lines round robin (pairs of linked adders share a line) and a line writes one sum
  per cycle. An iteration whose rows crowd one line is write-bound.
* An iteration costs 1 configuration cycle + max(read side, write side) + the latency of the last sums:
  reduction depth, the memory's write-FIFO backlog (:mod:`plumsim.accel.write_side`), two constants
  (:mod:`plumsim.accel.calibration`). Iterations do not overlap.

Counters follow STONNE's names (streamed values are multicast: one route per switch above their
destinations); formulas were checked against the reference .counters sums.
numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from plumsim.accel.adder_tree import reduction_depth, reduction_paths, three_way_adds
from plumsim.accel.config import AcceleratorConfig, require_config
from plumsim.accel.lru import LRUMemo, weights_key
from plumsim.accel.result import SimResult
from plumsim.accel.rules import BYTES_PER_SIGMA_WEIGHT, check_size
from plumsim.accel.write_side import asnetwork_bus_line, busiest_line, last_write
from plumsim.errors import ConfigError, WorkloadError

from plumsim.accel.calibration import SIGMA_DS_LATENCY, SIGMA_OUTPUT_LATENCY


def sigma_instances(config: AcceleratorConfig) -> dict[str, int]:
    """Component instances of a SIGMA machine (match the reference ``ninst_*`` columns)."""
    ms, dn, rn = config.ms_size, config.dn_bw, config.rn_bw
    g = ms // dn
    inst = {"MULTIPLIER": ms, "ADDER": ms - 1, "MN_WIRE": ms - 1, "GLOBALBUFFER": 1,
            "DN_WIRE": dn * (2 * g - 1), "CB_WIRE": 2 * rn + ms,
            "RN_WIRE": int(2.5 * ms - math.log2(ms) - 2)}
    if ms > dn:
        inst["SWITCH"] = ms - dn
    return inst


def _iterations(bitmap: np.ndarray, ms: int):
    """Greedy in-order packing. Returns (k-index rows padded with -1 [n_it, ms], row of each chunk,
    chunk index within its row, iteration id of each chunk)."""
    nnz = bitmap.sum(axis=1)
    rows_k = [np.flatnonzero(r) for r in bitmap]
    slots: list[np.ndarray] = []
    chunk_row: list[int] = []
    chunk_idx: list[int] = []
    chunk_it: list[int] = []
    cur: list[np.ndarray] = []
    used = 0

    def flush():
        nonlocal cur, used
        if cur:
            slots.append(np.concatenate(cur))
            cur, used = [], 0

    for i, r in enumerate(nnz):  # one step per stationary row (not per cycle or multiplier)
        ks = rows_k[i]
        if r > ms:
            flush()
            parts = [ks[:ms]] + [np.concatenate(([-2], ks[j:j + ms - 1])) for j in range(ms, r, ms - 1)]
            for j, p in enumerate(parts):
                chunk_row.append(i); chunk_idx.append(j); chunk_it.append(len(slots))
                slots.append(p)
            continue
        if used + r > ms:
            flush()
        cur.append(ks)
        used += r
        chunk_row.append(i); chunk_idx.append(0); chunk_it.append(len(slots))
    flush()
    n_it = len(slots)
    K = np.full((n_it, ms), -1, dtype=np.int64)
    for t, s in enumerate(slots):
        K[t, :len(s)] = s
    return K, np.array(chunk_row), np.array(chunk_idx), np.array(chunk_it)


def _chunk_layout(row_nnz: np.ndarray, chunk_row: np.ndarray, chunk_idx: np.ndarray, chunk_it: np.ndarray,
                  ms: int):
    """Virtual neurons of the ASNETWORK reductions: (first multiplier, size, iteration) of every chunk.

    A chunk is a whole row (its non-zeros), the first ``ms`` non-zeros of a folded row, or a later chunk of
    up to ``ms - 1`` non-zeros plus the slot of the partial sum read back. Chunks are packed back to back
    from multiplier 0 in each iteration. All-zero rows occupy no multiplier and are left out.
    """
    n = row_nnz[chunk_row].astype(np.int64)
    later = np.minimum(ms - 1, n - ms - (chunk_idx - 1) * (ms - 1)) + 1
    size = np.where(n <= ms, n, np.where(chunk_idx == 0, ms, later))
    keep = size > 0
    size, it = size[keep], np.asarray(chunk_it, dtype=np.int64)[keep]
    end = np.cumsum(size)
    first = np.searchsorted(it, it)              # first chunk of each chunk's iteration (it is sorted)
    start = end - size - (end - size)[first] if size.size else size
    return start, size, it


def _distinct_per_group(K: np.ndarray, groups: int, count_psum: bool = True) -> np.ndarray:
    """Distinct values in each of ``groups`` equal slices of each row: [n_it, groups]. -1 (empty
    multiplier) never counts; -2 (the psum slot of a folded chunk) counts as a port delivery."""
    n_it, ms = K.shape
    G = np.sort(K.reshape(n_it, groups, ms // groups), axis=2)
    new = np.ones(G.shape, dtype=bool)
    new[:, :, 1:] = G[:, :, 1:] != G[:, :, :-1]
    keep = (G != -1) if count_psum else (G >= 0)
    return (new & keep).sum(axis=2)


def _pack(row_nnz: list[int], ms: int):
    """Greedy in-order packing on row sizes only (same rule as :func:`_iterations`, without k indices).

    Returns (row_it: iteration of each row's first chunk, row_nch: chunks per row, row_slot: first
    multiplier of the row in its iteration (0 for folded rows), n_it). A plain loop over stationary rows
    (hundreds), integers only."""
    M = len(row_nnz)
    row_it = [0] * M
    row_nch = [1] * M
    row_slot = [0] * M
    n_it = 0
    cur_rows = used = 0
    for i, r in enumerate(row_nnz):
        if r > ms:
            if ms < 2:
                raise ConfigError(f"stationary row {i} has {r} non-zeros (STONNE's frontend keeps at least "
                                  f"{FRONTEND_MIN_ROW_NNZ}) but ms_size={ms}: a row longer than the array is folded "
                                  "into chunks that keep one multiplier for the partial sum, which leaves none "
                                  "for weights on one multiplier", field="[MSNetwork] ms_size")
            if cur_rows:
                n_it += 1
                cur_rows = used = 0
            nch = 1 + -(-(r - ms) // (ms - 1))
            row_it[i], row_nch[i] = n_it, nch
            n_it += nch
            continue
        if used + r > ms and cur_rows:
            n_it += 1
            cur_rows = used = 0
        row_it[i], row_slot[i] = n_it, used
        cur_rows += 1
        used += r
    if cur_rows:
        n_it += 1
    return row_it, row_nch, row_slot, n_it


def _distinct_keys(keys: np.ndarray) -> np.ndarray:
    """The distinct values of an int64 array (sorted); a plain sort is faster here than np.unique."""
    srt = np.sort(keys)
    keep = np.ones(srt.size, dtype=bool)
    keep[1:] = srt[1:] != srt[:-1]
    return srt[keep]


def _streaming_cost(bitmap: np.ndarray, row_nnz: np.ndarray, row_it: np.ndarray, row_nch: np.ndarray,
                    row_slot: np.ndarray, n_it: int, ms: int, dn: int) -> np.ndarray:
    """Per iteration: packets per streamed column on the busiest read port (c, int64 [n_it]) and the
    stationary values queued on that port before the first column (w).

    An iteration holding one chunk has distinct k indices in every slot (a row's non-zeros are distinct),
    so its per-port counts follow from its size alone; only iterations packing several rows need the k
    indices, to find k shared by two rows on one port."""
    width = ms // dn
    it_rows = np.bincount(row_it, minlength=n_it)          # rows starting in each iteration
    single = row_nch > 1                                    # folded rows: one chunk per iteration
    # occupancy (multipliers, psum slot included) and non-zeros of every single-chunk iteration
    occ = np.zeros(n_it, dtype=np.int64)
    nzs = np.zeros(n_it, dtype=np.int64)
    if single.any():
        fr = np.flatnonzero(single)
        nch = row_nch[fr]
        its = np.repeat(row_it[fr], nch) + (np.arange(int(nch.sum())) - np.repeat(np.cumsum(nch) - nch, nch))
        j = its - np.repeat(row_it[fr], nch)                # chunk index within the row
        n = np.repeat(row_nnz[fr], nch)
        later = np.minimum(ms - 1, n - ms - (j - 1) * (ms - 1))
        nzs[its] = np.where(j == 0, ms, later)
        occ[its] = np.where(j == 0, ms, later + 1)
    alone = (~single) & (it_rows[row_it] == 1)
    occ[row_it[alone]] = row_nnz[alone]
    nzs[row_it[alone]] = row_nnz[alone]
    c_port = np.minimum(width, occ)                        # port 0 is the fullest of a lone chunk
    # weights on port 0 (a later chunk's first multiplier takes the partial sum, not a weight)
    w_first = np.minimum(width, nzs)
    if single.any():
        # (unless a second port is as busy and holds only weights)
        w_first[its] = np.where((j > 0) & (occ[its] < 2 * width), np.minimum(width, occ[its]) - 1,
                                np.minimum(width, occ[its]))
    shared = (~single) & (it_rows[row_it] > 1)
    if shared.any():
        check_size("work_bytes", 24 * n_it * dn, "dn_bw", dn,
                   f"SIGMA's per-port counts ({n_it} iterations x {dn} read ports) hold")
        rows = np.flatnonzero(shared)
        flat = np.flatnonzero(bitmap[rows])                # row-major: in slot order (np.nonzero on 2-D
        r_idx = flat // bitmap.shape[1]                    # is several times slower)
        k = flat - r_idx * bitmap.shape[1]
    if shared.any() and r_idx.size:                       # (iterations of all-zero rows cost nothing)
        rr = rows[r_idx]
        first = np.concatenate(([0], np.cumsum(row_nnz[rows])[:-1]))
        slot = row_slot[rr] + (np.arange(r_idx.size) - first[r_idx])
        it = row_it[rr]
        per_port, w_port, shared_hops = _shared_ports(it, slot, k, bitmap.shape[1], n_it, ms, dn)
        sh_its = it[np.concatenate(([True], it[1:] != it[:-1]))]   # it is non-decreasing
        kmax = per_port[sh_its].max(axis=1)
        c_port[sh_its] = kmax
        # weights queued ahead of the streamed values on the port that streams the most
        w_first[sh_its] = np.where(per_port[sh_its] == kmax[:, None], w_port[sh_its], 0).max(axis=1)
    else:
        shared_hops = (0, 0)
    return c_port, w_first, shared_hops


def _shared_ports(it: np.ndarray, slot: np.ndarray, k: np.ndarray, Kd: int, n_it: int, ms: int, dn: int):
    """The read side of iterations that hold several rows, from their non-zeros (iteration ``it``,
    multiplier ``slot``, streamed index ``k``; ``Kd`` streamed indices): distinct k per read port and
    stationary values per port (int64 [n_it, dn] each), and the switch routes and wire writes one
    streamed column saves against one unicast per multiplier ((routes, wires)): a streamed value goes once
    through every switch (and wire) above the multipliers of its port that need it (DSwitch::route_packages
    counts one route per switch and cycle, DN_WIRE one write per link used).

    One sort by (iteration, k, multiplier) serves every level of the distribution tree: a value reaches a
    switch once however many multipliers below it take it, so at each level the repeats are the
    neighbours in that order with the same (iteration, k) under the same switch."""
    width = ms // dn
    levels = width.bit_length() - 1
    lg = ms.bit_length() - 1                 # ms_size is a power of two: shifts, not divisions
    v = np.sort(((it * Kd + k) << lg) | slot)
    s = v & (ms - 1)
    itk = v >> lg
    same = itk[1:] == itk[:-1]
    routes = wires = 0
    for d in range(levels + 1):          # d = 0: the port's root switch (and the port's wire)
        shift = levels - d
        repeat = same & ((s[1:] >> shift) == (s[:-1] >> shift))
        if d == 0:
            new_on_port = np.concatenate(([True], ~repeat))
        dup = int(np.count_nonzero(repeat))
        wires += dup
        if d < levels:
            routes += dup
    grp = (itk // Kd) * dn + (s >> levels)
    per_port = np.bincount(grp[new_on_port], minlength=n_it * dn).reshape(n_it, dn)
    w_port = np.bincount(grp, minlength=n_it * dn).reshape(n_it, dn)
    return per_port, w_port, (routes, wires)


def _write_side(level: np.ndarray, index: np.ndarray, depth: np.ndarray, it: np.ndarray, n_it: int, ms: int,
                dn: int, rn: int):
    """Per iteration: sums per streamed column on the busiest collection-bus line (int64 [n_it]; each line
    writes one sum per cycle) and the latency from the last packet sent to the last sum stored (cycles):
    each VN's sum leaves its output adder (``level``, ``index``: :func:`output_adders`) after its reduction
    ``depth``, queues on its bus line and in the memory's write FIFO
    (:func:`plumsim.accel.write_side.last_write`), + SIGMA_OUTPUT_LATENCY, + SIGMA_DS_LATENCY when a read
    port feeds a distribution tree (ms_size > dn_bw); and the last column's queue on its bus lines
    (cycles), counted only when the ports set the pace. The only part of a plan that depends on rn_bw."""
    bus = np.zeros(n_it, dtype=np.int64)
    latency = np.zeros(n_it, dtype=np.int64)
    if depth.size == 0:
        return bus, latency, latency.copy()
    line = asnetwork_bus_line(level, index, ms, rn)
    bus = busiest_line(line, it, n_it, rn)
    last, backlog = last_write(depth, line, it, n_it)
    deepest = np.zeros(n_it, dtype=np.int64)
    np.maximum.at(deepest, it, depth)
    latency = deepest + backlog + SIGMA_OUTPUT_LATENCY + SIGMA_DS_LATENCY * (ms > dn)
    # the last column's queue on its bus lines (already in the cycles when the lines set the pace)
    return bus, latency, last - deepest


def _layout(bitmap: np.ndarray, ms: int, dn: int) -> dict:
    """The part of a SIGMA GEMM's plan that depends on the stationary bitmap, ms_size and dn_bw (not on
    rn_bw nor the streamed columns): the packing of rows into iterations, cycles per streamed column on
    the read ports, the virtual neurons' output adders, 3:1 adds. A sweep over rn_bw reuses it."""
    row_nnz = np.count_nonzero(bitmap, axis=1).astype(np.int64)
    row_it, row_nch, row_slot, n_it = _pack(row_nnz.tolist(), ms)
    row_it = np.asarray(row_it, dtype=np.int64)
    row_nch = np.asarray(row_nch, dtype=np.int64)
    row_slot = np.asarray(row_slot, dtype=np.int64)
    c, w, (saved_routes, saved_wires) = _streaming_cost(bitmap, row_nnz, row_it, row_nch, row_slot, n_it, ms, dn)
    n_chunks = int(row_nch.sum())
    if n_chunks == row_nnz.size:         # no row folds: one chunk per row, where the packing put it
        keep = row_nnz > 0
        chunk_it = row_it
        start, size, it = row_slot[keep], row_nnz[keep], row_it[keep]
    else:
        chunk_row = np.repeat(np.arange(row_nnz.size), row_nch)
        chunk_idx = np.arange(n_chunks) - np.repeat(np.cumsum(row_nch) - row_nch, row_nch)
        chunk_it = np.repeat(row_it, row_nch) + chunk_idx
        start, size, it = _chunk_layout(row_nnz, chunk_row, chunk_idx, chunk_it, ms)
    # one decomposition of every VN's range gives its output adder, its depth and its 3:1 adds (the
    # chunks are packed in order, within the array: no argument checks needed)
    level, index, top, left, right = reduction_paths(start, size, ms, layout=it, validate=False)
    depth = reduction_depth(top, left, right)
    folded = row_nch > 1
    return {
        "nnz": int(row_nnz.sum()), "n_it": n_it, "c": c, "w": w, "it": it, "level": level, "index": index,
        "depth": depth, "saved_routes": int(saved_routes), "saved_wires": int(saved_wires),
        "n_chunks": n_chunks,
        "later_chunks": n_chunks - row_nnz.size,
        "folded_rows": int(np.count_nonzero(folded)), "fold_its": int(row_nch[folded].sum()),
        "nonzero_rows": int(np.count_nonzero(row_nnz)),
        "add3": int(three_way_adds(left, right, size).sum()),
        "rows_per_iteration_max": int(np.bincount(chunk_it).max()),
    }


_LAYOUT_ARRAYS = ("it", "level", "index", "depth")


def _finish(layout: dict, ms: int, dn: int, rn: int) -> dict:
    """A plan: the layout plus its write side on ``rn`` collection-bus lines (:func:`_write_side`)."""
    n_it, c, w = layout["n_it"], layout["c"], layout["w"]
    bus, latency, line_queue = _write_side(layout["level"], layout["index"], layout["depth"], layout["it"],
                                           n_it, ms, dn, rn)
    lines_set_pace = bus > c
    plan = {k: v for k, v in layout.items() if k not in _LAYOUT_ARRAYS}
    plan.update(bus=bus, latency=latency, line_queue=line_queue,
                fixed=int(np.sum(1 + w + latency + np.where(lines_set_pace, 0, line_queue))),
                per_column=int(np.sum(np.maximum(c, bus))))
    return plan


def _plan(bitmap: np.ndarray, ms: int, dn: int, rn: int | None = None) -> dict:
    """Everything of a SIGMA GEMM that depends on the stationary bitmap only (not on the streamed columns):
    iterations, cycles per streamed column, chunks, 3:1 adds per column; ``rn`` defaults to ``dn``."""
    return _finish(_layout(bitmap, ms, dn), ms, dn, dn if rn is None else rn)


def _gemm_result(plan: dict, N: int, str_nnz: int, config: AcceleratorConfig) -> SimResult:
    """Cycles, counters and SRAM accesses of a planned GEMM streaming ``N`` columns whose non-zeros
    number ``str_nnz`` (per full read of the streamed operand)."""
    ms, dn = config.ms_size, config.dn_bw
    nnz, n_it = plan["nnz"], plan["n_it"]
    # per iteration: 1 configuration cycle, then the busiest read port (its stationary values, then c
    # packets per column) or the busiest bus line (bus sums per column), whichever is slower, then the
    # latency of the last sums
    # (max(w + N*c, w + N*bus) = w + N*max(c, bus): the columns' part is linear in N, so any batch is
    # two terms, exact in Python integers; plan["fixed"] and plan["per_column"] are summed once per plan)
    cycles = plan["fixed"] + N * plan["per_column"]

    # streamed reads: each packing of whole rows reads the whole streamed operand once (its non-zeros);
    # the chunks of a folded row together read it once (each chunk its own k range)
    input_reads = (n_it - plan["fold_its"] + plan["folded_rows"]) * str_nnz

    psum_writes = N * plan["n_chunks"]
    psum_reads = N * plan["later_chunks"]
    mult = nnz * N
    adds = (nnz - plan["nonzero_rows"]) * N  # ADD_2_1 + 2*ADD_3_1 in STONNE
    add3 = N * plan["add3"]
    levels = math.log2(ms // dn)
    deliveries = nnz * (N + 1) + psum_reads
    counters = {
        "MULTIPLIER.MULTIPLICATION": mult,
        "MULTIPLIER.FORWARD_PSUM": psum_reads,
        "MULTIPLIER.CONFIGURATION": nnz,
        # the ASNETWORK does some of the adds with 3 inputs (rows straddling subtrees); same total work
        "ADDER.ADD_2_1": adds - 2 * add3,
        "ADDER.ADD_3_1": add3,
        "GLOBALBUFFER.READ": nnz + input_reads + psum_reads,
        "GLOBALBUFFER.WRITE": psum_writes,
        "DN_WIRE.WRITE": deliveries * (levels + 1) - N * plan["saved_wires"],
        "RN_WIRE.WRITE": mult + adds - add3,  # one wire write per product and per add (a 3:1 add is one)
        "CB_WIRE.WRITE": 2 * psum_writes,
    }
    if levels > 0:
        counters["SWITCH.ROUTE_UNICAST"] = deliveries * levels - N * plan["saved_routes"]
    sram = {"weight_reads": nnz, "input_reads": input_reads, "psum_reads": psum_reads,
            "psum_writes": psum_writes, "reconfigurations": n_it}
    return SimResult(cycles=cycles, counters=counters, instances=sigma_instances(config), sram=sram,
                     info={"controller": "SIGMA_SPARSE_GEMM", "iterations": n_it,
                           "rows_per_iteration_max": plan["rows_per_iteration_max"]})


def _empty_result(config: AcceleratorConfig) -> SimResult:
    return SimResult(cycles=0, counters={}, instances=sigma_instances(config),
                     sram={"weight_reads": 0, "input_reads": 0, "psum_reads": 0, "psum_writes": 0,
                           "reconfigurations": 0}, info={"controller": "SIGMA_SPARSE_GEMM"})


def _nbytes(value) -> int:
    """Bytes of a plan's or layout's arrays (what bounds the caches below)."""
    if value is None:
        return 512
    return 512 + sum(int(v.nbytes) for v in value.values() if isinstance(v, np.ndarray))


CONV_PLAN_CACHE_MAX_BYTES = 64 * 2**20
#: layouts of conv layers' groups, per (weights, group, ms_size, dn_bw), and their plans, per rn_bw too: a
#: sweep grid repeats each (ms_size, dn_bw) pair over rn_bw and other parameters; LRU bounded by bytes
_CONV_LAYOUTS = LRUMemo(max_items=4096, max_bytes=CONV_PLAN_CACHE_MAX_BYTES, sizeof=_nbytes)
_CONV_PLANS = LRUMemo(max_items=4096, max_bytes=CONV_PLAN_CACHE_MAX_BYTES // 4, sizeof=_nbytes)


def _conv_plan(fp, g: int, W: np.ndarray, config: AcceleratorConfig, n_cols: int) -> dict | None:
    """The plan of group ``g`` of a conv layer (None when it has nothing to compute), cached."""
    ms, dn, rn = config.ms_size, config.dn_bw, config.rn_bw

    def layout():
        bitmap = frontend_bitmap(W)
        return _layout(bitmap, ms, dn) if n_cols and bitmap.any() else None

    def plan():
        lay = _CONV_LAYOUTS.get_or_compute((fp, g, ms, dn, n_cols > 0), layout)
        return None if lay is None else _finish(lay, ms, dn, rn)

    return _CONV_PLANS.get_or_compute((fp, g, ms, dn, rn, n_cols > 0), plan)


#: STONNE's frontend gives every stationary row (and streamed column) at least this many bitmap entries:
#: the first zeros of a shorter row are marked as non-zeros, read and multiplied (utility.cpp,
#: generateBitMapFromDense).
FRONTEND_MIN_ROW_NNZ = 3


def frontend_bitmap(W: np.ndarray) -> np.ndarray:
    """The stationary bitmap STONNE's frontend builds from ``W`` [M, K]: ``W != 0`` with every row that has
    fewer than 3 non-zeros topped up with its first zero entries among columns 0..2."""
    bm = np.asarray(W) != 0
    short = np.flatnonzero(bm.sum(axis=1) < FRONTEND_MIN_ROW_NNZ)
    if short.size:
        head = bm[short, :FRONTEND_MIN_ROW_NNZ]
        need = FRONTEND_MIN_ROW_NNZ - bm[short].sum(axis=1, keepdims=True)
        zeros = ~head
        bm[short, :head.shape[1]] = head | (zeros & (np.cumsum(zeros, axis=1) <= need))
    return bm


def _check_sigma(config: AcceleratorConfig, W: np.ndarray) -> None:
    if config.controller_type != "SIGMA_SPARSE_GEMM":
        raise ConfigError(f"sigma_gemm needs controller SIGMA_SPARSE_GEMM, got {config.controller_type}",
                          field="[SDMemory] controller_type")
    require_config(config)  # checked against plumsim.accel.rules when built
    if W.ndim != 2:
        raise ConfigError(f"weights must be a 2-D [M, K] array, got shape {W.shape}", field="weights")
    check_size("work_bytes", BYTES_PER_SIGMA_WEIGHT * W.size, "weights", f"{W.shape[0]}x{W.shape[1]}",
               f"SIGMA's bitmap plan of one GEMM ({BYTES_PER_SIGMA_WEIGHT} B per weight) holds", error=WorkloadError)


def sigma_gemm(weights: np.ndarray, n_cols: int, config: AcceleratorConfig,
               streamed: np.ndarray | None = None, streamed_nnz: int | None = None) -> SimResult:
    """One SIGMA sparse GEMM: stationary ``weights`` [M, K] (zeros = the bitmap) times ``n_cols`` columns.

    ``streamed``: optional [K, n_cols] streamed operand; its non-zeros set the input SRAM reads (STONNE
    skips zero streamed values when reading, never when computing). ``streamed_nnz``: the same count
    given directly (wins over ``streamed``). When both are None the streamed operand is taken as dense.
    Returns cycles (cycles), counters (events), sram (accesses), instances.
    """
    W = np.asarray(weights)
    _check_sigma(config, W)
    N = int(n_cols)
    bitmap = frontend_bitmap(W)
    if N == 0 or not bitmap.any():
        return _empty_result(config)
    if streamed_nnz is not None:
        str_nnz = int(streamed_nnz)
    elif streamed is None:
        str_nnz = W.shape[1] * N
    else:
        str_nnz = int(np.count_nonzero(streamed))
    return _gemm_result(_plan(bitmap, config.ms_size, config.dn_bw, config.rn_bw), N, str_nnz, config)


def im2col(x: np.ndarray, R: int, S: int, stride: int, padding: int) -> np.ndarray:
    """[C, X, Y] input -> [C*R*S, X_out*Y_out] (order c, r, s; zero padding), numpy stride tricks."""
    C, X, Y = x.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    Xo = (X + 2 * padding - R) // stride + 1
    Yo = (Y + 2 * padding - S) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (R, S), axis=(1, 2))[:, ::stride, ::stride][:, :Xo, :Yo]
    return win.transpose(0, 3, 4, 1, 2).reshape(C * R * S, Xo * Yo)


def _taps_per_index(size: int, kernel: int, stride: int, padding: int, out: int) -> np.ndarray:
    """For each input index 0..size-1 along one axis: how many (kernel offset r, output position) pairs read
    it, i.e. in how many im2col entries of one channel it appears along that axis (int64 [size])."""
    pos = (np.arange(out) * stride - padding)[None, :] + np.arange(kernel)[:, None]
    pos = pos[(pos >= 0) & (pos < size)]
    return np.bincount(pos, minlength=size).astype(np.int64)


def im2col_nnz(x: np.ndarray | None, C: int, X: int, Y: int, R: int, S: int, stride: int, padding: int) -> int:
    """Non-zeros of ``im2col(x, R, S, stride, padding)`` without building it ([C, X, Y] input).

    Each input value appears in (windows covering its row) x (windows covering its column) entries, so the
    count is taps_x . (non-zeros over channels per pixel) . taps_y, exact in integers; ``x`` None: a dense
    input (no zeros but the padding)."""
    Xo = (X + 2 * padding - R) // stride + 1
    Yo = (Y + 2 * padding - S) // stride + 1
    tx = _taps_per_index(X, R, stride, padding, Xo)
    ty = _taps_per_index(Y, S, stride, padding, Yo)
    if x is None:
        return int(C * tx.sum() * ty.sum())
    per_pixel = (np.asarray(x).reshape(-1, X, Y) != 0).sum(axis=0)       # int64 counts
    return int(tx @ per_pixel @ ty)


#: operations a group's plan costs besides its row-packing loop (for the work_ops estimate)
SIGMA_GROUP_OPS = 1000


def sigma_conv(layer, config: AcceleratorConfig) -> SimResult:
    """A conv layer on SIGMA like STONNE's PyTorch frontend: im2col, M = filters, K = C*R*S/G,
    N = output pixels, one sparse GEMM per batch item and group, results summed.

    The layer's ``input_sample`` (if any) sets the streamed non-zeros (input SRAM reads); otherwise the
    im2col matrix is taken as dense except for the zero padding. The weight-bitmap part of each group's
    GEMM is planned once and reused for every batch item (only the streamed non-zeros differ).
    """
    s = layer.shape
    total = None
    cg = s.C // s.G
    n_cols = s.X_out * s.Y_out
    sample = layer.input_sample
    if sample is not None and np.asarray(sample).ndim == 4:
        sample = np.asarray(sample)
    else:
        sample = None
    dense_nnz = None
    check_size("work_ops", s.G * (s.M_gemm + SIGMA_GROUP_OPS), "G", s.G,
               f"planning {s.G} groups of {s.M_gemm} stationary rows takes", error=WorkloadError)
    fp = weights_key(layer)
    for g in range(s.G):
        W = np.asarray(layer.code_matrix(g))
        _check_sigma(config, W)
        plan = _conv_plan(fp, g, W, config, n_cols)
        # batch items with the same streamed non-zeros cost the same: scaled in closed form, not looped
        items = [(None, s.N)] if sample is None else [
            (i, (s.N - i + len(sample) - 1) // len(sample)) for i in range(min(len(sample), s.N))]
        for i, times in items:
            if plan is None:
                r = _empty_result(config)
            else:
                if i is not None:
                    x = sample[i, g * cg:(g + 1) * cg]
                    nnz = im2col_nnz(x, cg, s.X, s.Y, s.R, s.S, s.stride, s.padding)
                else:
                    if dense_nnz is None:
                        dense_nnz = im2col_nnz(None, cg, s.X, s.Y, s.R, s.S, s.stride, s.padding)
                    nnz = dense_nnz
                r = _gemm_result(plan, n_cols, nnz, config).scaled(times)
            total = r if total is None else total + r
    total.instances = sigma_instances(config)
    total.info = {"controller": "SIGMA_SPARSE_GEMM", "op": "conv", "gemms": s.N * s.G}
    return total


def sigma_linear(layer, config: AcceleratorConfig) -> SimResult:
    """A linear layer like the frontend's SparseLinear (MK_STR_KN_STA): the weights [out, in] are the
    stationary operand (one stationary row per output feature), the input rows are streamed."""
    W = layer.code_matrix(0).reshape(layer.shape.K, -1)
    n_rows = layer.shape.N
    x = None
    if layer.input_sample is not None:
        x = np.asarray(layer.input_sample).reshape(-1, W.shape[1]).T  # [in, rows]
        n_rows = x.shape[1]
    r = sigma_gemm(W, n_rows, config, streamed=x)
    r.info["op"] = "linear"
    return r

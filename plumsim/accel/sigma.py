"""SIGMA_SPARSE_GEMM (STONNE), dataflow MK_STA_KN_STR: cycles and counters from the weight bitmap.

Mechanism (DESIGN.md "SIGMA sparse GEMM", plus what the 26 reference cases pin down):

* The stationary matrix [M, K] is held as a bitmap. Rows are packed greedily, in order, whole, into
  ``ms_size`` multipliers; a row's size is its non-zero count. A row that does not fit starts the next
  iteration (a reconfiguration).
* A row longer than ``ms_size`` is folded: its first chunk takes ``ms_size`` non-zeros, each later chunk
  ``ms_size - 1`` (one multiplier receives the partial sum read back from memory). Each chunk is its own
  iteration; every chunk writes one partial sum per streamed column, every chunk after the first reads one.
* Each iteration costs 1 configuration cycle + 1 stationary-distribution cycle + ``n_cols * c`` streaming
  cycles + a drain L. ``c`` = max over read ports of the distinct k indices held by that port's
  ``ms_size/dn_bw`` consecutive multipliers, and at least ceil(distinct k of the iteration / 128)
  (one reference case, 129 distinct k on 256 ports, needs two cycles per column).
* Drain L = DRAIN_A + DRAIN_B*log2(ms_size) + DRAIN_C*log2(ms_size/dn_bw) cycles: the reduction tree and the
  distribution tree depths; the three constants are a least-squares fit over the 26 reference cases
  (median |err| 0.3 %, max 2.3 %). Total cycles are rounded to an integer.

Counters follow STONNE's names; formulas were checked against the reference .counters sums.
numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from plumsim.accel.adder_tree import three_way_adds_per_vn
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError

DRAIN_A, DRAIN_B, DRAIN_C = -1.27, 1.73, 1.01   # cycles, fitted (see module docstring)
STREAM_K_PER_CYCLE = 128                        # distinct streamed k indices deliverable per cycle


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


def _three_way_adds(row_nnz: np.ndarray, chunk_row: np.ndarray, chunk_idx: np.ndarray, chunk_it: np.ndarray,
                    ms: int) -> int:
    """ADD_3_1 events of one streamed column, summed over all iterations (one reduction each); see
    :func:`_chunk_layout` and :mod:`plumsim.accel.adder_tree`."""
    start, size, it = _chunk_layout(row_nnz, chunk_row, chunk_idx, chunk_it, ms)
    return int(three_way_adds_per_vn(start, size, ms, layout=it).sum())


def _distinct_per_group(K: np.ndarray, groups: int, count_psum: bool = True) -> np.ndarray:
    """Distinct values in each of ``groups`` equal slices of each row: [n_it, groups]. -1 (empty
    multiplier) never counts; -2 (the psum slot of a folded chunk) counts as a port delivery."""
    n_it, ms = K.shape
    G = np.sort(K.reshape(n_it, groups, ms // groups), axis=2)
    new = np.ones(G.shape, dtype=bool)
    new[:, :, 1:] = G[:, :, 1:] != G[:, :, :-1]
    keep = (G != -1) if count_psum else (G >= 0)
    return (new & keep).sum(axis=2)


def sigma_gemm(weights: np.ndarray, n_cols: int, config: AcceleratorConfig,
               streamed: np.ndarray | None = None) -> SimResult:
    """One SIGMA sparse GEMM: stationary ``weights`` [M, K] (zeros = the bitmap) times ``n_cols`` columns.

    ``streamed``: optional [K, n_cols] streamed operand; its non-zeros set the input SRAM reads (STONNE
    skips zero streamed values when reading, never when computing). When None it is taken as dense.
    Returns cycles (cycles), counters (events), sram (accesses), instances.
    """
    if config.controller_type != "SIGMA_SPARSE_GEMM":
        raise ConfigError(f"sigma_gemm needs controller SIGMA_SPARSE_GEMM, got {config.controller_type}",
                          field="[SDMemory] controller_type")
    W = np.asarray(weights)
    if W.ndim != 2:
        raise ConfigError(f"weights must be a 2-D [M, K] array, got shape {W.shape}", field="weights")
    bitmap = W != 0
    M, Kd = bitmap.shape
    ms, dn = config.ms_size, config.dn_bw
    N = int(n_cols)
    nnz = int(bitmap.sum())
    inst = sigma_instances(config)
    if nnz == 0 or N == 0:
        return SimResult(cycles=0, counters={}, instances=inst,
                         sram={"weight_reads": 0, "input_reads": 0, "psum_reads": 0, "psum_writes": 0,
                               "reconfigurations": 0}, info={"controller": "SIGMA_SPARSE_GEMM"})
    Kmap, chunk_row, chunk_idx, chunk_it = _iterations(bitmap, ms)
    n_it = Kmap.shape[0]
    c_port = _distinct_per_group(Kmap, dn).max(axis=1)
    c_total = _distinct_per_group(Kmap, 1, count_psum=False)[:, 0]
    c = np.maximum(c_port, -(-c_total // STREAM_K_PER_CYCLE))
    drain = DRAIN_A + DRAIN_B * math.log2(ms) + DRAIN_C * math.log2(ms / dn)
    cycles = int(round(float(np.sum(2 + N * c)) + n_it * drain))

    # streamed reads: each packing of whole rows reads the whole streamed operand once (its non-zeros);
    # the chunks of a folded row together read it once (each chunk its own k range)
    if streamed is None:
        str_nnz = Kd * N
    else:
        str_nnz = int(np.count_nonzero(streamed))
    folded_rows = np.unique(chunk_row[chunk_idx > 0])
    fold_its = np.unique(chunk_it[np.isin(chunk_row, folded_rows)])
    input_reads = (n_it - len(fold_its) + len(folded_rows)) * str_nnz

    n_chunks = len(chunk_row)
    psum_writes = N * n_chunks
    psum_reads = N * int(np.count_nonzero(chunk_idx > 0))
    mult = nnz * N
    adds = (nnz - int(np.count_nonzero(bitmap.any(axis=1)))) * N  # ADD_2_1 + 2*ADD_3_1 in STONNE
    add3 = N * _three_way_adds(bitmap.sum(axis=1), chunk_row, chunk_idx, chunk_it, ms)
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
        "DN_WIRE.WRITE": deliveries * (levels + 1),
        "RN_WIRE.WRITE": mult + adds,
        "CB_WIRE.WRITE": 2 * psum_writes,
    }
    if levels > 0:
        counters["SWITCH.ROUTE_UNICAST"] = deliveries * levels
    sram = {"weight_reads": nnz, "input_reads": input_reads, "psum_reads": psum_reads,
            "psum_writes": psum_writes, "reconfigurations": n_it}
    return SimResult(cycles=cycles, counters=counters, instances=inst, sram=sram,
                     info={"controller": "SIGMA_SPARSE_GEMM", "iterations": n_it,
                           "rows_per_iteration_max": int(np.bincount(chunk_it).max())})


def im2col(x: np.ndarray, R: int, S: int, stride: int, padding: int) -> np.ndarray:
    """[C, X, Y] input -> [C*R*S, X_out*Y_out] (order c, r, s; zero padding), numpy stride tricks."""
    C, X, Y = x.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    Xo = (X + 2 * padding - R) // stride + 1
    Yo = (Y + 2 * padding - S) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (R, S), axis=(1, 2))[:, ::stride, ::stride][:, :Xo, :Yo]
    return win.transpose(0, 3, 4, 1, 2).reshape(C * R * S, Xo * Yo)


def sigma_conv(layer, config: AcceleratorConfig) -> SimResult:
    """A conv layer on SIGMA like STONNE's PyTorch frontend: im2col, M = filters, K = C*R*S/G,
    N = output pixels, one sparse GEMM per batch item and group, results summed.

    The layer's ``input_sample`` (if any) sets the streamed non-zeros (input SRAM reads); otherwise the
    im2col matrix is taken as dense except for the zero padding.
    """
    s = layer.shape
    total = None
    cg = s.C // s.G
    for n in range(s.N):
        for g in range(s.G):
            W = layer.code_matrix(g)
            if layer.input_sample is not None and np.asarray(layer.input_sample).ndim == 4:
                x = np.asarray(layer.input_sample)[n % len(layer.input_sample), g * cg:(g + 1) * cg]
            else:
                x = np.ones((cg, s.X, s.Y), dtype=np.float32)
            cols = im2col(x, s.R, s.S, s.stride, s.padding)
            r = sigma_gemm(W, cols.shape[1], config, streamed=cols)
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

"""TPU_OS_DENSE on an OS_MESH (STONNE): output-stationary systolic mesh, dense GEMM and conv via im2col.

GEMM convention (STONNE CLI): output [M, N], reduction length K. The output is cut into T_M x T_N
tiles (T_M <= ms_rows, T_N <= ms_cols); per tile of actual size m x n:

    cycles = 1 (configuration) + K * lanes (distribution) + m + n + 2 (drain through the mesh)

``lanes``: the mesh has ms_rows + ms_cols input lanes (one per row, one per column); each of the
dn_bw read ports serves (rows+cols)/dn_bw consecutive lanes (rows first, then columns) and sends one
value per cycle, so lanes = max over ports of the lanes of that port the tile uses. Exact on the
reference full and remainder tiles with lanes <= 2; a few % high with 4 lanes per port.
numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from plumsim.accel.cfg import validate_tpu_tile
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.lru import LRUMemo
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError


def tpu_instances(config: AcceleratorConfig) -> dict[str, int]:
    """Component instances of a TPU mesh (match the reference ``ninst_*`` columns)."""
    r, c, dn = config.ms_rows, config.ms_cols, config.dn_bw
    lanes = (r + c) // dn
    inst = {"MULTIPLIER": config.ms_size, "ACCUMULATOR": config.ms_size, "RN_WIRE": config.ms_size,
            "MN_WIRE": 2 * r * (c - 1), "DN_WIRE": dn * (2 * lanes - 1), "CB_WIRE": 2 * config.rn_bw + config.ms_size,
            "GLOBALBUFFER": 1}
    if lanes > 1:
        inst["SWITCH"] = dn * (lanes - 1)
    return inst


def _port_lanes(m: np.ndarray, n: np.ndarray, config: AcceleratorConfig) -> np.ndarray:
    """Values each tile's busiest read port sends per reduction step (vectorised over tiles)."""
    r, c, dn = config.ms_rows, config.ms_cols, config.dn_bw
    per_port = (r + c) // dn
    lane = np.arange(r + c)
    port = lane // per_port
    # lane i active when i < m (rows) or r <= i < r + n (columns)
    active = (lane[None, :] < m[:, None]) | ((lane[None, :] >= r) & (lane[None, :] < r + n[:, None]))
    loads = np.zeros((len(m), dn), dtype=np.int64)
    for p in range(dn):  # dn_bw ports (tens at most), vectorised over tiles
        loads[:, p] = active[:, port == p].sum(axis=1)
    return np.maximum(loads.max(axis=1), 1)


def tpu_gemm(M: int, N: int, K: int, config: AcceleratorConfig, T_M: int, T_N: int) -> SimResult:
    """Dense GEMM [M,K] x [K,N] on the mesh with output tiles T_M x T_N. cycles in cycles, counters in
    events, sram in accesses (weight_reads = N-side operand reads as STONNE labels them)."""
    if config.controller_type != "TPU_OS_DENSE":
        raise ConfigError(f"tpu_gemm needs controller TPU_OS_DENSE, got {config.controller_type}",
                          field="[SDMemory] controller_type")
    validate_tpu_tile(T_M, T_N, config)
    iM, iN = -(-M // T_M), -(-N // T_N)
    m_sizes = np.minimum(T_M, M - T_M * np.arange(iM))
    n_sizes = np.minimum(T_N, N - T_N * np.arange(iN))
    mm, nn = np.meshgrid(m_sizes, n_sizes, indexing="ij")
    mm, nn = mm.ravel(), nn.ravel()
    lanes = _port_lanes(mm, nn, config)
    cycles = int(np.sum(1 + K * lanes + mm + nn + 2))
    tiles = iM * iN
    macs = M * N * K
    weight_reads = N * K * iM   # STONNE's "weight" = the operand indexed by N (its naming)
    input_reads = M * K * iN
    reads = weight_reads + input_reads
    levels = math.log2((config.ms_rows + config.ms_cols) // config.dn_bw)
    counters = {
        "MULTIPLIER.MULTIPLICATION": macs,
        "MULTIPLIER.CONFIGURATION": tiles * config.ms_size,
        "ACCUMULATOR.WRITE": macs,
        "ACCUMULATOR.READ": M * N * (K - 1),
        "ACCUMULATOR.ADD": M * N * (K - 1),
        "GLOBALBUFFER.READ": reads,
        "GLOBALBUFFER.WRITE": M * N,
        "DN_WIRE.WRITE": reads * (levels + 1),
        "MN_WIRE.WRITE": int(K * np.sum(mm * (nn - 1) + nn * (mm - 1))),
        "RN_WIRE.WRITE": macs,
        "CB_WIRE.WRITE": 2 * M * N,
    }
    if levels > 0:
        counters["SWITCH.ROUTE_UNICAST"] = reads * levels
    return SimResult(cycles=cycles, counters=counters, instances=tpu_instances(config),
                     sram={"weight_reads": weight_reads, "input_reads": input_reads, "psum_reads": 0,
                           "psum_writes": M * N},
                     info={"controller": "TPU_OS_DENSE", "T_M": T_M, "T_N": T_N, "tiles": tiles})


def tpu_cycles(M: int, N: int, K: int, config: AcceleratorConfig, T_M: int, T_N: int) -> int:
    """Cycles only (for the tile search)."""
    return tpu_gemm(M, N, K, config, T_M, T_N).cycles


#: Tile searches remembered per (M, N, K, ms_rows, ms_cols, dn_bw) (the cycles depend on nothing else);
#: a sweep grid repeats them over rn_bw and the like. Entries are tiny; the oldest go first.
_TILES = LRUMemo(max_items=4096)


def choose_tpu_tile(M: int, N: int, K: int, config: AcceleratorConfig) -> tuple[int, int]:
    """The (T_M, T_N) with the fewest cycles (ties: larger tiles, then the first in T_M-major order),
    searched over 1..ms_rows x 1..ms_cols. Vectorised: a tile's cycles depend only on the sizes of its
    full and remainder output tiles, whose port lanes are looked up in one table of every m x n."""
    key = (int(M), int(N), int(K), int(config.ms_rows), int(config.ms_cols), int(config.dn_bw))
    return _TILES.get_or_compute(key, lambda: _search_tile(M, N, K, config))


def _search_tile(M: int, N: int, K: int, config: AcceleratorConfig) -> tuple[int, int]:
    tms = np.arange(1, min(M, config.ms_rows) + 1, dtype=np.int64)
    tns = np.arange(1, min(N, config.ms_cols) + 1, dtype=np.int64)
    if tms.size == 0 or tns.size == 0:
        raise ConfigError(f"no TPU tile for an empty GEMM (M={M}, N={N})", field="T_M")
    mg, ng = np.meshgrid(tms, tns, indexing="ij")
    lanes = _port_lanes(mg.ravel(), ng.ravel(), config).reshape(mg.shape)   # lanes[m-1, n-1]
    tm, tn = mg.ravel(), ng.ravel()
    cycles = np.zeros(tm.shape, dtype=np.int64)
    # four kinds of output tile: full / remainder rows x full / remainder columns
    for cnt_m, m in ((M // tm, tm), ((M % tm > 0).astype(np.int64), M % tm)):
        for cnt_n, n in ((N // tn, tn), ((N % tn > 0).astype(np.int64), N % tn)):
            cnt = cnt_m * cnt_n
            mi, ni = np.maximum(m, 1) - 1, np.maximum(n, 1) - 1
            cycles += np.where(cnt > 0, cnt * (1 + K * lanes[mi, ni] + m + n + 2), 0)
    best = np.lexsort((-(tm * tn), cycles))[0]   # stable: the first in T_M-major order among ties
    return int(tm[best]), int(tn[best])


def tpu_conv(layer, config: AcceleratorConfig, tile: tuple[int, int] | None = None) -> SimResult:
    """Conv (or linear) via im2col: per group, M = K/G filters, K = C*R*S/G, N = output pixels x batch."""
    s = layer.shape
    M, Kg, N = s.M_gemm, s.K_gemm, s.N_gemm
    T_M, T_N = tile if tile is not None else choose_tpu_tile(M, N, Kg, config)
    one = tpu_gemm(M, N, Kg, config, T_M, T_N)
    total = one
    for _ in range(s.G - 1):
        total = total + one
    total.instances = tpu_instances(config)
    total.info = {**one.info, "op": layer.kind, "groups": s.G}
    return total

"""TPU_OS_DENSE on an OS_MESH (STONNE): output-stationary systolic mesh, dense GEMM and conv via im2col.

GEMM convention (STONNE CLI): output [M, N], reduction length K. The output is cut into T_M x T_N
tiles (T_M <= ms_rows, T_N <= ms_cols), one after the other; a tile of actual size m x n (rows x
columns used) takes, from its configuration cycle to the cycle the memory stores its last output::

    cycles = 5 + e + G + drain + backlog

read from STONNE's source (OSMeshSDMemory.cpp, DSNetwork*.cpp, OSMeshMN.cpp, MultiplierOS.cpp,
TemporalRN.cpp / Accumulator.cpp, CollectionBus*.cpp, STONNEModel.cpp's per-cycle order):

* The memory spends one cycle configuring, then pushes one reduction step per cycle: n column values
  (mesh lanes 0..n-1) then m row values (lanes ms_cols..ms_cols+m-1). Read port p serves lanes
  [p*L, (p+1)*L) with L = (ms_rows+ms_cols)/dn_bw and sends one value per cycle from its FIFO, so step
  k's values leave a port with a active lanes at k*a + (their place among those lanes).
* ``e``: a value reaches its edge multiplier one cycle later through a distribution tree (L > 1), in the
  same cycle when the port feeds the multiplier directly (L = 1: no tree, the mesh cycles after the
  memory).
* ``G``: a multiplier fires when it holds both operands and forwards them right/down one hop per cycle,
  so multiplier (i, j) does its last multiply at D + e + G + i + j (D: first distribution cycle), G the
  latest entry of the last step along any path: with the lanes of rows and columns in separate ports
  (every mesh but one port) G = (K-1) * min(L, max(m, n)); with one port for all lanes (dn_bw = 1)
  G = (K-1) * (m+n) + n (the rows queue behind the columns).
* Each output then takes one cycle in its accumulator, one on its collection-bus line and one to the
  memory: ``drain`` is the last bus departure counted from multiplier (0, 0)'s, m + n - 2 when no bus line
  gets two outputs in one cycle. Output (i, j) uses bus line (i*ms_cols + j) % rn_bw, each line sends one
  per cycle, so with few write ports (rn_bw < min(m, n), rn_bw a power of two) the lines queue:
  drain = m*ceil(n/rn_bw) + (n-1) % rn_bw - 1.
* The memory's write FIFO stores only ceil(s/2) of its s waiting outputs per cycle (its loop pops while
  counting up to the shrinking size), so the last output waits ``backlog`` = bit_length(b) more cycles,
  b = floor(sum over outputs of 2^-(age+1)) its queue when the last output arrives (age: cycles since the
  output arrived). With one output per cycle (m or n = 1, or one bus line) b = 0; else 1 for every
  power-of-two rn_bw.
* The next tile is configured the cycle after.

Other rn_bw values (a .cfg may give any; STONNE's CLI takes powers of two only) take the same two queues
evaluated per tile shape (the per-line departures in max-plus form, the write FIFO from the dyadic sum).
Counters are exact. No fitted constant. numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from plumsim.accel.config import AcceleratorConfig, require_config
from plumsim.accel.lru import LRUMemo
from plumsim.accel.result import SimResult
from plumsim.accel.rules import check_tpu_tile, is_pow2
from plumsim.accel.write_side import last_write
from plumsim.errors import ConfigError


def tpu_instances(config: AcceleratorConfig) -> dict[str, int]:
    """Component instances of a TPU mesh (match the reference ``ninst_*`` columns). CB_WIRE: every bus
    line has ms_size // rn_bw + 1 input wires and one output wire (CollectionBus.cpp)."""
    r, c, dn = config.ms_rows, config.ms_cols, config.dn_bw
    lanes = (r + c) // dn
    inst = {"MULTIPLIER": config.ms_size, "ACCUMULATOR": config.ms_size, "RN_WIRE": config.ms_size,
            "MN_WIRE": 2 * r * (c - 1), "DN_WIRE": dn * (2 * lanes - 1), "CB_WIRE": config.rn_bw * (config.ms_size // config.rn_bw + 2),
            "GLOBALBUFFER": 1}
    if lanes > 1:
        inst["SWITCH"] = dn * (lanes - 1)
    return inst


#: (drain, backlog) of one m x n tile shape for a non-power-of-two rn_bw, per (m, n, ms_cols, rn_bw).
_DRAINS = LRUMemo(max_items=65536)


def _drain_one(m: int, n: int, c: int, rn: int) -> tuple[int, int]:
    """(drain, backlog) of an m x n tile for any rn_bw: output (i, j) reaches bus line (i*c + j) % rn at
    i + j; :func:`plumsim.accel.write_side.last_write` gives the line queues and the write FIFO."""
    i, j = np.divmod(np.arange(m * n, dtype=np.int64), n)
    last, backlog = last_write(i + j, (i * c + j) % rn)
    return int(last[0]), int(backlog[0])


def _drain(m: np.ndarray, n: np.ndarray, c: int, rn: int) -> tuple[np.ndarray, np.ndarray]:
    """(drain, backlog) per tile shape (vectorised); see the module docstring."""
    lo = np.minimum(m, n)
    if is_pow2(rn):
        queued = rn < lo
        drain = np.where(queued, m * -(-n // rn) + (n - 1) % rn - 1, m + n - 2)
        return drain, (np.minimum(lo, rn) >= 2).astype(np.int64)
    # other rn_bw: a bus line gets two outputs at once iff rn/gcd(c-1, rn) <= min(m, n) - 1; those
    # shapes take the general rule, once per distinct shape
    shape = np.broadcast(m, n).shape
    m, n = (np.broadcast_to(v, shape).ravel() for v in (m, n))
    queued = rn // math.gcd(c - 1, rn) < np.minimum(m, n)
    drain, backlog = m + n - 2, (np.minimum(m, n) >= 2).astype(np.int64)
    if queued.any():
        shapes, inv = np.unique(np.stack([m[queued], n[queued]], axis=-1), axis=0, return_inverse=True)
        got = np.array([_DRAINS.get_or_compute((int(a), int(b), c, rn),
                                               lambda a=int(a), b=int(b): _drain_one(a, b, c, rn))
                        for a, b in shapes], dtype=np.int64).reshape(-1, 2)
        drain[queued], backlog[queued] = got[inv.ravel(), 0], got[inv.ravel(), 1]
    return drain.reshape(shape), backlog.reshape(shape)


def tile_cycles(m, n, K, config: AcceleratorConfig) -> np.ndarray:
    """Cycles of output tiles of m x n (rows x columns used; arrays, vectorised) with reduction K."""
    m, n = np.asarray(m, dtype=np.int64), np.asarray(n, dtype=np.int64)
    r, c, dn = config.ms_rows, config.ms_cols, config.dn_bw
    L = (r + c) // dn
    e = int(L > 1)
    if L > c:   # one port for every lane (dn_bw = 1): rows behind the columns
        G = (K - 1) * (m + n) + n
    else:       # ports hold columns or rows, never both (r, c powers of two)
        G = (K - 1) * np.minimum(L, np.maximum(m, n))
    drain, backlog = _drain(m, n, c, config.rn_bw)
    return 5 + e + G + drain + backlog


def _exact_needed(M: int, N: int, K: int, config: AcceleratorConfig) -> bool:
    """True when a GEMM's cycles may pass 62 bits (a huge batch): a bound on tiles x cycles per tile,
    in Python integers (O(1))."""
    r, c = int(config.ms_rows), int(config.ms_cols)
    per_tile = 8 + int(K) * (r + c + 1) + r * c + int(config.rn_bw)
    return int(M) * int(N) * per_tile >= 2**62


def _py(a) -> np.ndarray:
    """An integer array as Python integers (object dtype; 0-d too), so products do not wrap."""
    return np.asarray(a).astype(object)


#: which of the four kinds of tile (full x full, full x remainder, remainder x full, remainder x
#: remainder) have remainder rows / remainder columns
_REM_ROWS = np.array([False, False, True, True])
_REM_COLS = np.array([False, True, False, True])


def _gemm_cycles(M: int, N: int, K: int, config: AcceleratorConfig, tm, tn) -> np.ndarray:
    """Cycles of the whole GEMM per tile (tm, tn) (arrays): full and remainder tiles, counted, not listed.
    int64, or exact Python integers (an object array) when the count may pass 62 bits: a batch of any
    size costs the same few operations."""
    tm, tn = np.asarray(tm, dtype=np.int64), np.asarray(tn, dtype=np.int64)
    # the four kinds of tile (full or remainder rows x full or remainder columns) on a leading axis, timed
    # in one call
    lead = (4,) + (1,) * max(tm.ndim, tn.ndim)
    rem_rows, rem_cols = _REM_ROWS.reshape(lead), _REM_COLS.reshape(lead)
    m, n = np.where(rem_rows, M % tm, tm), np.where(rem_cols, N % tn, tn)
    cnt_m = np.where(rem_rows, M % tm > 0, M // tm)
    cnt_n = np.where(rem_cols, N % tn > 0, N // tn)
    t = tile_cycles(np.maximum(m, 1), np.maximum(n, 1), K, config)
    if _exact_needed(M, N, K, config):
        cnt = _py(cnt_m) * _py(cnt_n)
        return np.asarray((cnt * _py(t) * np.asarray(cnt > 0)).sum(axis=0), dtype=object)
    cnt = cnt_m * cnt_n
    return np.where(cnt > 0, cnt * t, 0).sum(axis=0)


def tpu_gemm(M: int, N: int, K: int, config: AcceleratorConfig, T_M: int, T_N: int) -> SimResult:
    """Dense GEMM [M,K] x [K,N] on the mesh with output tiles T_M x T_N. cycles in cycles, counters in
    events, sram in accesses (weight_reads = N-side operand reads as STONNE labels them)."""
    if config.controller_type != "TPU_OS_DENSE":
        raise ConfigError(f"tpu_gemm needs controller TPU_OS_DENSE, got {config.controller_type}",
                          field="[SDMemory] controller_type")
    require_config(config)  # checked against plumsim.accel.rules when built
    check_tpu_tile(T_M, T_N, config)
    cycles = int(_gemm_cycles(M, N, K, config, T_M, T_N))
    iM, iN = -(-M // T_M), -(-N // T_N)
    tiles = iM * iN
    macs = M * N * K
    weight_reads = N * K * iM   # STONNE's "weight" = the operand indexed by N (its naming)
    input_reads = M * K * iN
    reads = weight_reads + input_reads
    levels = math.log2((config.ms_rows + config.ms_cols) // config.dn_bw)
    # mesh forwards: per step, m*(n-1) right + n*(m-1) down in every tile; the sum over tiles is
    # 2*M*N - M*iN - N*iM (each tile row/column loses one link per tile edge)
    counters = {
        "MULTIPLIER.MULTIPLICATION": macs,
        "MULTIPLIER.CONFIGURATION": tiles * config.ms_size,
        "ACCUMULATOR.WRITE": macs,
        "ACCUMULATOR.READ": M * N * (K - 1),
        "ACCUMULATOR.ADD": M * N * (K - 1),
        "GLOBALBUFFER.READ": reads,
        "GLOBALBUFFER.WRITE": M * N,
        "DN_WIRE.WRITE": reads * (levels + 1),
        "MN_WIRE.WRITE": K * (2 * M * N - M * iN - N * iM),
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
    """Cycles only (the rule the tile search uses)."""
    check_tpu_tile(T_M, T_N, config)
    return int(_gemm_cycles(M, N, K, config, T_M, T_N))


#: Tile searches remembered per (M, N, K, ms_rows, ms_cols, dn_bw, rn_bw) (the cycles depend on nothing
#: else); a sweep grid repeats them. Entries are tiny; the oldest go first.
_TILES = LRUMemo(max_items=4096)


def choose_tpu_tile(M: int, N: int, K: int, config: AcceleratorConfig) -> tuple[int, int]:
    """The (T_M, T_N) with the fewest cycles (ties: larger tiles, then the first in T_M-major order),
    searched over 1..ms_rows x 1..ms_cols with the same cycle rule as :func:`tpu_gemm`, vectorised."""
    key = (int(M), int(N), int(K), int(config.ms_rows), int(config.ms_cols), int(config.dn_bw),
           int(config.rn_bw))
    return _TILES.get_or_compute(key, lambda: _search_tile(M, N, K, config))


def _search_tile(M: int, N: int, K: int, config: AcceleratorConfig) -> tuple[int, int]:
    tms = np.arange(1, min(M, config.ms_rows) + 1, dtype=np.int64)
    tns = np.arange(1, min(N, config.ms_cols) + 1, dtype=np.int64)
    if tms.size == 0 or tns.size == 0:
        raise ConfigError(f"no TPU tile for an empty GEMM (M={M}, N={N})", field="T_M")
    tm, tn = (g.ravel() for g in np.meshgrid(tms, tns, indexing="ij"))
    cycles = _gemm_cycles(M, N, K, config, tm, tn)
    best = np.lexsort((-(tm * tn), cycles))[0]   # stable: the first in T_M-major order among ties
    return int(tm[best]), int(tn[best])


def _drain_ops(a: int, b: int) -> int:
    """Operations of the per-shape bus-line queues (a non-power-of-two rn_bw) over every tile shape up to
    a x b: 2 per output of every shape plus 2000 per shape (measured: a 128 x 128 mesh ~15 s)."""
    return 2 * (a * (a + 1) // 2) * (b * (b + 1) // 2) + 2000 * a * b


def check_tpu_work(M: int, N: int, K: int, config: AcceleratorConfig, tile: tuple[int, int] | None) -> None:
    """Refuse (ConfigError) a TPU GEMM whose tile search or drain queues would exceed the size limits
    (:mod:`plumsim.accel.rules`, "size limits"), from the sizes only (O(1))."""
    from plumsim.accel.rules import BYTES_PER_TPU_CANDIDATE, check_size

    r, c, rn = int(config.ms_rows), int(config.ms_cols), int(config.rn_bw)
    a, b = (min(int(M), r), min(int(N), c)) if tile is None else (int(tile[0]), int(tile[1]))
    if tile is None:
        check_size("work_bytes", BYTES_PER_TPU_CANDIDATE * a * b, "ms_rows*ms_cols", f"{r}*{c}",
                   f"the tile search over {a} x {b} candidate tiles holds")
    if not is_pow2(rn):
        ops = _drain_ops(a, b) if tile is None else 4 * (2 * a * b + 2000)
        check_size("work_ops", ops, "rn_bw", rn, f"the bus-line queues of every tile shape up to {a} x {b} "
                   "(a non-power-of-two rn_bw has no closed form) take",
                   detail="; a power-of-two rn_bw is closed form"
                   + (", and a given tile (T_M, T_N) needs 4 shapes only" if tile is None else ""))


def tpu_conv(layer, config: AcceleratorConfig, tile: tuple[int, int] | None = None) -> SimResult:
    """Conv (or linear) via im2col: per group, M = K/G filters, K = C*R*S/G, N = output pixels x batch.
    The G groups are G runs of the same GEMM: cycles and counters are one run's times G."""
    s = layer.shape
    M, Kg, N = s.M_gemm, s.K_gemm, s.N_gemm
    check_tpu_work(M, N, Kg, config, tile)
    T_M, T_N = tile if tile is not None else choose_tpu_tile(M, N, Kg, config)
    one = tpu_gemm(M, N, Kg, config, T_M, T_N)
    G = int(s.G)
    return SimResult(cycles=one.cycles * G, counters={k: v * G for k, v in one.counters.items()},
                     instances=tpu_instances(config), sram={k: v * G for k, v in one.sram.items()},
                     info={**one.info, "op": layer.kind, "groups": G})

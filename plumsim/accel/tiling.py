"""Tile choosers for MAERI: the valid tile with the fewest model cycles (STONNE's "performance" target).

numpy only. Search: every combination of per-field candidates (divisors of the dimension plus powers of
two below it; T_X'/T_Y' only divisors of X'/Y', since STONNE's MAERI gives wrong results otherwise; T_N
only 1 or a divisor of N) that fits ms_size and that STONNE can run. A vectorised lower bound on each
candidate's cycles (:func:`plumsim.accel.maeri_timing.cycles_lower_bound`: steps, packets over ports, bus
lines, the partial-sum loop, drains) orders the candidates; the exact model
(:func:`plumsim.accel.maeri_timing.conv_cycles_batch`, blocks of candidates) is evaluated in that order
while the bound is at most the best exact cycles found (branch and bound: the result is the exact optimum
over the candidate set, with a tie rule that does not depend on the bound).
"""

from __future__ import annotations

import numpy as np

from plumsim.accel.config import AcceleratorConfig, require_config
from plumsim.accel.lru import LRUMemo
from plumsim.accel.maeri import MaeriTile, conv_cycles_batch, gemm_as_conv, stonne_problems
from plumsim.accel.maeri_timing import cycles_lower_bound
from plumsim.errors import ConfigError

#: Safety cap on exact evaluations per search: the bound stops far earlier (on the shipped ResNet-18
#: MAERI grid: median 19, at most 763 candidates at or below the best; benchmarks/ notes)
MAX_EXACT = 4096
#: candidates timed exactly before the bound is used to pick the rest (a call costs about as much as
#: a few candidates)
FIRST_BLOCK = 8


def _divisors(n: int) -> list[int]:
    """Divisors of n in increasing order, from the pairs (d, n // d) with d <= sqrt(n): O(sqrt n)."""
    small, large = [], []
    d = 1
    while d * d <= n:
        if n % d == 0:
            small.append(d)
            if d * d != n:
                large.append(n // d)
        d += 1
    return small + large[::-1]


def _options(dim: int, limit: int, powers: bool = True) -> np.ndarray:
    vals = set(d for d in _divisors(dim) if d <= limit)
    if powers:
        p = 1
        while p <= min(dim, limit):
            vals.add(p)
            p *= 2
    return np.array(sorted(vals), dtype=np.int64)


#: Searches remembered, per layer and machine (every field the timing reads: ms_size, dn_bw, rn_bw, which
#: sets the collection bus and the drain, and the accumulation buffer); entries are a few hundred bytes,
#: the oldest go first. (rn_bw was once left out of the key: a sweep then reused the tile searched for
#: another rn_bw, and results depended on the order the configurations ran in.)
_SEARCHES = LRUMemo(max_items=4096)


def _search(N, G, C, K, R, S, X, Y, stride, config: AcceleratorConfig, cand: dict[str, np.ndarray]) -> MaeriTile:
    require_config(config)  # checked against plumsim.accel.rules when built
    key = (N, G, C, K, R, S, X, Y, stride, int(config.ms_size), int(config.dn_bw), int(config.rn_bw),
           bool(config.accumulation_buffer), tuple(tuple(cand[f].tolist()) for f in sorted(cand)))
    return _SEARCHES.get_or_compute(key, lambda: _search_exact(N, G, C, K, R, S, X, Y, stride, config, cand))


def _search_exact(N, G, C, K, R, S, X, Y, stride, config: AcceleratorConfig,
                  cand: dict[str, np.ndarray]) -> MaeriTile:
    T, used, lb = _candidates(N, G, C, K, R, S, X, Y, stride, config, cand)
    return _scan(N, G, C, K, R, S, X, Y, stride, config, T, used, lb)


_FIELDS = ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X", "T_Y")


def _candidates(N, G, C, K, R, S, X, Y, stride, config: AcceleratorConfig, cand: dict[str, np.ndarray]):
    """The tiles STONNE can run that fit the array (field -> int array [B]), their multipliers used [B]
    and a lower bound on each one's cycles [B] (STONNE cycles)."""
    ms = int(config.ms_size)
    fields = _FIELDS
    grids = np.meshgrid(*[cand[f] for f in fields], indexing="ij")
    T = {f: g.ravel() for f, g in zip(fields, grids)}
    used = T["T_R"] * T["T_S"] * T["T_C"] * T["T_K"] * T["T_G"] * T["T_N"] * T["T_X"] * T["T_Y"]
    X_out = (X - R + stride) // stride
    Y_out = (Y - S + stride) // stride
    problems = stonne_problems(T, R, S, C // G, X_out, Y_out, stride, ms, bool(config.accumulation_buffer))
    keep = (used <= ms) & ~problems[-1][1]          # the tile (widened for folding) fits the array
    if not keep.any():
        raise ConfigError(f"no MAERI tile fits ms_size={ms}", field="ms_size")
    # only tiles STONNE can run; a layer with none (e.g. a 1x1 depthwise conv: every VN one multiplier)
    # keeps the others, and `plumsim stonne export` says why it cannot run there
    bad = np.zeros(keep.shape, dtype=bool)
    for _, b in problems:
        bad |= b
    if (keep & ~bad).any():
        keep &= ~bad
    T = {f: v[keep] for f, v in T.items()}
    used = used[keep]

    lb = cycles_lower_bound(N, G, C, K, R, S, X, Y, stride, T, config)
    return T, used, lb


def _scan(N, G, C, K, R, S, X, Y, stride, config: AcceleratorConfig, T: dict, used: np.ndarray,
          lb: np.ndarray) -> MaeriTile:
    """Branch and bound: exact cycles (:func:`conv_cycles_batch`, blocks of candidates at once) in the
    bound's order while the bound is at most the best found. The tile chosen is the one with the fewest
    cycles, ties to the most multipliers used, then to the first in candidate order (T_R, T_S, ... T_Y
    ascending): the same tile whatever the bound, as long as it is a lower bound."""
    order = np.lexsort((-used, lb))[:MAX_EXACT]
    lb_o = lb[order]
    best, best_i = None, None
    # a few candidates first; then every candidate the bound cannot rule out yet (in blocks, so a better
    # tile found on the way shortens the rest)
    start, block = 0, FIRST_BLOCK
    while start < order.size and (best is None or lb_o[start] <= best[0]):
        stop = start + block if best is None else min(start + block, int(np.searchsorted(lb_o, best[0], "right")))
        idx = order[start:stop]
        cyc = conv_cycles_batch(N, G, C, K, R, S, X, Y, stride, {f: T[f][idx] for f in _FIELDS}, config)
        for c, i in zip(cyc.tolist(), idx.tolist()):
            key = (c, -int(used[i]), i)
            if best is None or key < best:
                best, best_i = key, i
        start = stop
        block *= 2
    return MaeriTile(**{f: int(T[f][best_i]) for f in _FIELDS})


def conv_search_space(shape, ms_size: int) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """The layer as the timing takes it (N, G, C, K, R, S, X, Y padded, stride) and each tile field's
    candidate values (int arrays) for a conv ``shape`` (a LayerShape) on ``ms_size`` multipliers."""
    p = int(getattr(shape, "padding", 0))
    N, G, C, K, R, S = (int(getattr(shape, a)) for a in "NGCKRS")
    X, Y = int(shape.X) + 2 * p, int(shape.Y) + 2 * p
    stride = int(getattr(shape, "stride", 1))
    ms = int(ms_size)
    X_out = (X - R + stride) // stride
    Y_out = (Y - S + stride) // stride
    if X_out < 1 or Y_out < 1:
        raise ConfigError(f"input {X}x{Y} (after padding) is smaller than the kernel {R}x{S}", field="X")
    cand = {
        "T_R": _options(R, ms, powers=False), "T_S": _options(S, ms, powers=False),
        "T_C": _options(C // G, ms), "T_K": _options(K // G, ms), "T_G": _options(G, ms, powers=False),
        "T_N": np.array([1] + ([d for d in _divisors(N) if 1 < d <= ms] if N > 1 else []), dtype=np.int64),
        "T_X": _options(X_out, ms, powers=False), "T_Y": _options(Y_out, ms, powers=False),
    }
    return dict(N=N, G=G, C=C, K=K, R=R, S=S, X=X, Y=Y, stride=stride), cand


def choose_maeri_tile(shape, config: AcceleratorConfig) -> MaeriTile:
    """The MAERI conv tile with the fewest model cycles for ``shape`` (a LayerShape; padding applied)."""
    dims, cand = conv_search_space(shape, int(config.ms_size))
    return _search(**dims, config=config, cand=cand)


def choose_maeri_gemm_tile(M: int, N: int, K: int, config: AcceleratorConfig) -> tuple[int, int, int]:
    """(T_M, T_N, T_K) with the fewest model cycles for an M x N output, K reduction dense GEMM."""
    ms = int(config.ms_size)
    dims, _ = gemm_as_conv(M, N, K, 1, 1, 1)
    cand = {"T_R": np.array([1]), "T_S": _options(int(K), ms), "T_C": np.array([1]),
            "T_K": _options(int(N), ms), "T_G": np.array([1]), "T_N": np.array([1]),
            "T_X": _options(int(M), ms, powers=False), "T_Y": np.array([1])}
    t = _search(**dims, config=config, cand=cand)
    return t.T_X, t.T_K, t.T_S



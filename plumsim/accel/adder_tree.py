"""Adds of STONNE's ASNETWORK reduction tree: how many 2:1 and 3:1 adds one reduction costs.

numpy only. The ASNETWORK is a binary tree of adders over ``ms_size`` multipliers: ``ms_size/2`` leaf
adders (one per multiplier pair, called *units* here), then ``ms_size/4`` adders above them, ... up to
the root. Neighbouring adders of one level that have *different* parents are joined by an augmented
(forwarding) link: an odd-indexed adder links to its right neighbour, an even-indexed one to its left
neighbour. A virtual neuron (VN: one dot product, or one packed SIGMA row) occupies a contiguous range
of multipliers; one reduction sums each VN's products into one value.

Mechanism (read from the per-switch configurations and statistics in STONNE's JSON output under
tests/data/stonne/raw/, and checked against the ADD_2_1 / ADD_3_1 counters of every reference row):

* An adder whose subtree holds only one VN's values works for that VN (an adder whose leaves are partly
  unused multipliers counts too, but only at the leaf level: a higher adder with one child entirely
  unused is *not* part of the VN). The maximal such subtrees of a VN are the blocks of the canonical
  (segment-tree) decomposition of the VN's range of units.
* A leaf adder whose two multipliers belong to two VNs (a VN boundary at an odd multiplier) sends one
  value up to its parent and forwards the other, unreduced, over its augmented link: an even-indexed
  unit keeps the right VN (its sibling lies to the right) and forwards the left multiplier to the left;
  an odd-indexed unit keeps the left VN and forwards the right multiplier to the right. The forwarded
  multiplier is one more block of the VN it belongs to.
* The blocks of a VN are merged pairwise over augmented links: each merge makes the receiving adder add
  three inputs (its two children and the link) instead of two, i.e. one ADD_3_1 replaces two ADD_2_1.
  A VN of B blocks costs B - 1 ADD_3_1 and (size - 1) - 2*(B - 1) ADD_2_1 (size = its multipliers,
  including a SIGMA partial-sum slot): the total of additions, ADD_2_1 + 2*ADD_3_1 = size - 1, does not
  depend on the placement, only the split does.

Hence a VN sitting on an aligned power-of-two range costs no 3:1 add, and one straddling subtree
boundaries costs up to about 2*log2(size) of them. All counts are STONNE adder events (one event per
adder firing per reduction).
"""

from __future__ import annotations

import numpy as np

from plumsim.errors import ConfigError


def _layout_arrays(starts, sizes, ms_size: int, layout, validate: bool):
    """A layout's VNs as flat int64 arrays (starts, sizes, layout ids; no ids = one layout), checked by
    :func:`_check` when ``validate``."""
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1)
    layout = (np.zeros(starts.shape, dtype=np.int64) if layout is None
              else np.asarray(layout, dtype=np.int64).reshape(-1))
    if validate:
        _check(starts, sizes, layout, ms_size)
    return starts, sizes, layout


def _check(starts: np.ndarray, sizes: np.ndarray, layout: np.ndarray, ms_size: int) -> None:
    ms = int(ms_size)
    if ms < 2 or ms & (ms - 1):
        raise ConfigError(f"ms_size={ms} must be a power of two >= 2", field="ms_size")
    if starts.shape != sizes.shape or starts.shape != layout.shape or starts.ndim != 1:
        raise ConfigError(f"starts {starts.shape}, sizes {sizes.shape} and layout {layout.shape} must be "
                          "1-D arrays of one length", field="sizes")
    if starts.size == 0:
        return
    if sizes.min() < 1:
        raise ConfigError(f"virtual neuron size {int(sizes.min())} must be >= 1", field="sizes")
    if starts.min() < 0 or int((starts + sizes).max()) > ms:
        raise ConfigError(f"virtual neurons must lie within the {ms} multipliers (0..{ms - 1}); "
                          f"got the range {int(starts.min())}..{int((starts + sizes).max()) - 1}", field="starts")
    if np.any(layout[1:] < layout[:-1]):
        raise ConfigError("layout ids must be non-decreasing (one layout's virtual neurons together)",
                          field="layout")
    same = layout[1:] == layout[:-1]
    if np.any(same & (starts[1:] < starts[:-1] + sizes[:-1])):
        raise ConfigError("virtual neurons must be given in order of their first multiplier and must not "
                          "overlap", field="starts")


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Bits of each non-negative int64 (0 for 0), exact below 2**53."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


def _split(lo: np.ndarray, hi: np.ndarray):
    """The canonical (segment-tree) decomposition of [lo, hi) in closed form, element-wise, for lo < hi - 1.

    lo and hi - 1 first differ in bit L; ``mid`` = hi - 1 with bits below L cleared is the aligned point
    that every block lies on one side of. The blocks of [lo, mid) are the set bits of mid - lo (growing
    towards mid), those of [mid, hi) the set bits of hi - mid (shrinking away from it), except that the
    two halves are one block when both are whole 2**L blocks. Returns (mid, left, right, merged):
    left = mid - lo, right = hi - mid (units), merged (bool)."""
    L = _bit_length(lo ^ (hi - 1)) - 1
    mid = ((hi - 1) >> L) << L
    left, right = mid - lo, hi - mid
    whole = np.int64(1) << L
    return mid, left, right, (left == whole) & (right == whole)


def three_way_adds_per_vn(starts, sizes, ms_size: int, layout=None) -> np.ndarray:
    """ADD_3_1 events of each virtual neuron in one reduction (int64 array, one entry per VN).

    ``starts``: first multiplier of each VN, increasing; ``sizes``: multipliers of each VN (>= 1);
    the VNs must not overlap and must fit in ``ms_size`` multipliers. Multipliers not covered by any VN
    are unused. ``layout``: optional non-decreasing ids that split the VNs into independent layouts
    (e.g. one per SIGMA iteration), each placed on the whole tree; None = one layout. Vectorised over VNs.
    """
    _, _, _, left, right = reduction_paths(starts, sizes, ms_size, layout)
    return three_way_adds(left, right, np.asarray(sizes, dtype=np.int64).reshape(-1))


def three_way_adds(left_merges, right_merges, sizes) -> np.ndarray:
    """ADD_3_1 events of each VN from its merges (:func:`reduction_paths`): one 3-input add per block merged
    into the top block, never more adds than the VN has (degenerate 2-3 multiplier VNs)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.minimum(np.maximum(left_merges + right_merges, 0), (sizes - 1) // 2)


def _owned_units(starts: np.ndarray, ends: np.ndarray, left_used: np.ndarray, right_used: np.ndarray):
    """Per VN: unit range [lo, hi) whose adders work for it, and the multipliers it gets forwarded as
    single values from a shared leaf adder (left_single: its first multiplier, forwarded to the right;
    right_single: its last one, forwarded to the left)."""
    lo = starts // 2
    hi = (ends - 1) // 2 + 1
    left_single = (starts & 1).astype(bool) & left_used & (lo & 1).astype(bool)
    right_single = ((ends - 1) & 1 == 0) & right_used & ((hi - 1) & 1 == 0)
    return lo + left_single, hi - right_single, left_single, right_single


def three_way_adders(starts, sizes, ms_size: int) -> list[tuple[int, int]]:
    """Which adders do the 3:1 adds of one reduction: a list of (level, index), level 0 = the root (one
    adder) down to level log2(ms_size) - 1 (the ms_size/2 leaf adders), index from the left; the layout
    of STONNE's ``ASwitchConfiguration``. One entry per ADD_3_1 event (before the clamp for VNs of 2-3
    multipliers), so ``len()`` equals ``three_way_adds_per_vn(...).sum()`` on ordinary layouts.

    Per VN, the blocks of its canonical decomposition are merged towards the largest block: a block left
    of it sends over its augmented link to the right neighbour at its level, a block right of it to the
    left neighbour (with two largest blocks, the right one sends to the left one: pinned by the per-switch
    statistics of tests/data/stonne/raw/A_sigma_conv_01). A multiplier forwarded
    from a shared leaf adder lands on the neighbouring leaf adder. A plain Python loop over VNs and levels
    (for inspection and tests; the counts above are the vectorised path).
    """
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1)
    layout = np.zeros(starts.shape, dtype=np.int64)
    _check(starts, sizes, layout, ms_size)
    leaf = int(np.log2(int(ms_size))) - 1
    ends = starts + sizes
    touch = ends[:-1] == starts[1:]
    left_used = np.concatenate(([False], touch))
    right_used = np.concatenate((touch, [False]))
    lo, hi, ls, rs = _owned_units(starts, ends, left_used, right_used)
    out: list[tuple[int, int]] = []
    for v in range(starts.size):
        a, b, depth = int(lo[v]), int(hi[v]), 0
        left_blocks, right_blocks = [], []          # (depth above the leaves, node index)
        while a < b:
            if a & 1:
                left_blocks.append((depth, a))
                a += 1
            if a < b and b & 1:
                b -= 1
                right_blocks.append((depth, b))
            a, b, depth = a >> 1, b >> 1, depth + 1
        blocks = left_blocks + right_blocks[::-1]   # left to right
        if blocks:
            top = max(d for d, _ in blocks)
            peak = next(i for i, (d, _) in enumerate(blocks) if d == top)
            for i, (d, j) in enumerate(blocks):
                if i < peak:
                    out.append((leaf - d, j + 1))
                elif i > peak:
                    out.append((leaf - d, j - 1))
        if ls[v]:
            out.append((leaf, int(starts[v]) // 2 + 1))
        if rs[v]:
            out.append((leaf, (int(ends[v]) - 1) // 2 - 1))
    return out


def reduction_adds(starts, sizes, ms_size: int) -> tuple[int, int]:
    """(ADD_2_1, ADD_3_1) events of one reduction of all the given virtual neurons on the ASNETWORK.

    ADD_2_1 + 2*ADD_3_1 = sum(sizes - 1) always; see the module docstring for the placement rule.
    """
    sizes_a = np.asarray(sizes, dtype=np.int64).reshape(-1)
    n3 = three_way_adds_per_vn(starts, sizes_a, ms_size)
    total = int(np.sum(sizes_a - 1))
    three = int(n3.sum())
    return total - 2 * three, three


def packed_reduction_adds(sizes, ms_size: int) -> tuple[int, int]:
    """(ADD_2_1, ADD_3_1) of one reduction of VNs of the given sizes packed back to back from multiplier 0
    (MAERI's tile layout, a SIGMA iteration's packed rows)."""
    sizes_a = np.asarray(sizes, dtype=np.int64).reshape(-1)
    starts = np.concatenate(([0], np.cumsum(sizes_a)[:-1])) if sizes_a.size else sizes_a
    return reduction_adds(starts, sizes_a, ms_size)


def uniform_reduction_adds(vn_size: int, num_vns: int, ms_size: int) -> tuple[int, int]:
    """(ADD_2_1, ADD_3_1) of one reduction of ``num_vns`` VNs of ``vn_size`` multipliers each, back to back
    from multiplier 0 (a MAERI tile)."""
    return packed_reduction_adds(np.full(int(num_vns), int(vn_size), dtype=np.int64), ms_size)


def multiplier_paths(starts, sizes, ms_size: int, layout=None, validate: bool = True) -> np.ndarray:
    """Cycles from each multiplier's product to its VN's output adder, one adder per cycle (int64, one
    entry per multiplier: VN after VN, each from its first multiplier; arguments as
    :func:`three_way_adds_per_vn`; ``layout`` and ``validate`` as :func:`reduction_paths`).

    A product climbs its block to the block's top adder, crosses the augmented link to the next block
    towards the VN's top block (entering it at that level) and climbs on, so a multiplier of the top block
    takes top_levels cycles and one of the i-th block counted outwards from it (either side, 1 = adjacent)
    top_levels + i: blocks shrink away from the top block, and every hop into a larger block lands one
    level above its leaves. A multiplier forwarded from a shared leaf adder is the outermost block of its
    side. Confirmed on STONNE's adder traces (a VN of 13 multipliers: 8 at 3 cycles, 4 at 4, 1 at 5) and
    by the event-level MAERI model on every stored folding run. :func:`reduction_paths` keeps only the
    outermost block of each side (its left/right merges), the longest path.
    """
    starts, sizes, layout = _layout_arrays(starts, sizes, ms_size, layout, validate)
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64)
    return tree_paths(starts, sizes, ms_size, layout, validate=False)[5]


def tree_paths(starts, sizes, ms_size: int, layout=None, validate: bool = True):
    """:func:`reduction_paths`' five arrays and :func:`multiplier_paths` from one walk of the tree (the
    layout of a MAERI tile needs both). Arguments as :func:`reduction_paths`; int64 arrays."""
    starts, sizes, layout = _layout_arrays(starts, sizes, ms_size, layout, validate)
    if starts.size == 0:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(6))
    if starts.size <= SMALL_LAYOUT_VNS:
        st, sz = starts.tolist(), sizes.tolist()
        walks = _paths_loop(st, sz, layout.tolist(), int(ms_size))
        cols = np.array([w[:5] for w in walks], dtype=np.int64).T
        return (*cols, np.array(_multiplier_paths_loop(st, sz, walks), dtype=np.int64))
    parts = _paths_vectorised(starts, sizes, layout, ms_size)
    return (*parts[:5], _multiplier_paths_vectorised(starts, sizes, parts))


def _multiplier_paths_vectorised(starts, sizes, parts) -> np.ndarray:
    """:func:`multiplier_paths` in numpy from :func:`_paths_vectorised`' arrays ``parts``."""
    _, _, top_levels, nl, nr, lo, hi, ls, rs, ts, te = parts
    ends = starts + sizes
    vn = np.repeat(np.arange(starts.size), sizes)
    m = np.arange(vn.size) - np.repeat(np.cumsum(sizes) - sizes, sizes) + starts[vn]
    u = m // 2
    T, a, b = top_levels[vn], ts[vn], te[vn]

    def outward(length, offset):
        # position (1 = nearest) of the block holding ``offset`` among the blocks of ``length`` units
        # laid out largest first: the set bits of length from the one where offset and length part
        k = _bit_length(length ^ offset) - 1
        return np.bitwise_count(length >> np.maximum(k, 0)).astype(np.int64)

    right_side = u >= b
    left_side = u < a
    path = np.where(right_side, T + outward(np.where(right_side, hi[vn] - b, 0), np.where(right_side, u - b, 0)), T)
    path = np.where(left_side, T + outward(np.where(left_side, a - lo[vn], 0), np.where(left_side, a - 1 - u, 0)),
                    path)
    path = np.where(ls[vn] & (m == starts[vn]), T + nl[vn], path)
    path = np.where(rs[vn] & (m == ends[vn] - 1), T + nr[vn], path)
    # a VN owning no unit (two multipliers on two shared leaf adders): each is its side's forwarded value
    none = (hi - lo < 1)[vn]
    return np.where(none, T + np.where(m == starts[vn], nl[vn], nr[vn]), path)


def _multiplier_paths_loop(starts: list, sizes: list, walks: list) -> list[int]:
    """:func:`multiplier_paths` VN by VN in Python integers (short layouts, see :data:`SMALL_LAYOUT_VNS`)
    from the VNs' walks (:func:`_paths_loop`): a VN's owned units are its top block, then on each side
    blocks of the sizes of the set bits of that side's length, largest first, the i-th from the top block
    i cycles further."""
    out: list[int] = []
    for s, size, (_, _, T, nl, nr, a, b, ls, rs, ts, te) in zip(starts, sizes, walks):
        e = s + size
        if b - a < 1:                      # no unit of its own: each multiplier is its side's forwarded one
            out.extend([T + nl] + [T + nr] * (size - 1))
            continue
        # the path of every multiplier of the owned units a..b-1 (two per unit), block by block
        mults = [T] * (2 * (te - ts))
        length, i = ts - a, 0              # left side: blocks shrink away from the top block
        for bit in range(length.bit_length() - 1, -1, -1):
            if length >> bit & 1:
                i += 1
                mults[:0] = [T + i] * (2 << bit)
        length, i = b - te, 0
        for bit in range(length.bit_length() - 1, -1, -1):
            if length >> bit & 1:
                i += 1
                mults.extend([T + i] * (2 << bit))
        if ls:
            out.append(T + nl)
        out.extend(mults[s + ls - 2 * a:e - rs - 2 * a])
        if rs:
            out.append(T + nr)
    return out


def output_adders(starts, sizes, ms_size: int, layout=None):
    """Where each virtual neuron's sum leaves the tree, and how long its reduction takes: (level, index,
    depth) as :func:`reduction_paths`, depth = top_levels + max(left_merges, right_merges) cycles."""
    level, index, top, nl, nr = reduction_paths(starts, sizes, ms_size, layout)
    return level, index, reduction_depth(top, nl, nr)


def reduction_depth(top_levels, left_merges, right_merges):
    """Cycles of each VN's reduction from its products to its output adder (:func:`reduction_paths`'
    parts): the top block's levels, then the merges of the longer side (the two sides run in parallel)."""
    return top_levels + np.maximum(left_merges, right_merges)


def reduction_paths(starts, sizes, ms_size: int, layout=None, validate: bool = True):
    """The paths of each virtual neuron's reduction to the adder where its sum leaves the tree.

    That adder is the top of the largest block of the VN's canonical decomposition (the leftmost if two are
    largest, as in :func:`three_way_adders`); every other block is merged into it over augmented links.
    The output adder is checked on STONNE's per-switch ``N_memory_send``. Arguments as
    :func:`three_way_adds_per_vn`; closed form per VN (:func:`_split`), no loop over tree levels.
    ``validate=False`` skips the checks of the arguments, for callers that build the layout themselves.

    Returns int64 arrays (level, index, top_levels, left_merges, right_merges): the output adder's level
    (0 = the root) and index from the left; the cycles from a multiplier of the top block up to that adder
    (top_levels); and the blocks merged into it from the left and from the right (one cycle each, the two
    sides in parallel), so a value from the left of the top block takes top_levels + left_merges cycles.
    """
    starts, sizes, layout = _layout_arrays(starts, sizes, ms_size, layout, validate)
    if starts.size == 0:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(5))
    return _paths(starts, sizes, layout, ms_size)[:5]


#: up to this many VNs the tree's walks run as plain Python loops over VNs: a numpy call costs about a
#: microsecond whatever its length, a VN's walk in Python about half of one, so short layouts (one
#: MAERI tile, a small SIGMA GEMM) are several times faster that way. Both forms give the same integers
#: (tests/test_accel_fastpaths.py checks them against each other on random layouts); not a fitted
#: constant.
SMALL_LAYOUT_VNS = 48


def _paths(starts, sizes, layout, ms_size: int):
    """:func:`reduction_paths`' five arrays (checked arguments, at least one VN), then the owned units
    [lo, hi), the forwarded singles (ls, rs) and the top block's units [ts, te) (``lo``/``hi`` where the VN
    owns at most one unit)."""
    if starts.size <= SMALL_LAYOUT_VNS:
        cols = np.array(_paths_loop(starts.tolist(), sizes.tolist(), layout.tolist(), int(ms_size)),
                        dtype=np.int64).T
        return (cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7].astype(bool),
                cols[8].astype(bool), cols[9], cols[10])
    return _paths_vectorised(starts, sizes, layout, ms_size)


def _paths_loop(starts: list, sizes: list, layout: list, ms_size: int) -> list[tuple]:
    """:func:`_paths` VN by VN in Python integers: one tuple (level, index, top_levels, left_merges,
    right_merges, lo, hi, ls, rs, ts, te) per VN, the same values as :func:`_paths_vectorised`."""
    n = len(starts)
    leaf = ms_size.bit_length() - 2
    out = []
    for i in range(n):
        s = starts[i]
        e = s + sizes[i]
        lo, hi = s >> 1, ((e - 1) >> 1) + 1
        ls = int(i > 0 and starts[i - 1] + sizes[i - 1] == s and layout[i - 1] == layout[i] and (s & lo & 1) == 1)
        rs = int(i < n - 1 and e == starts[i + 1] and layout[i] == layout[i + 1] and ((e - 1) | (hi - 1)) & 1 == 0)
        a, b = lo + ls, hi - rs
        if b - a > 1:                      # :func:`_split`
            L = (a ^ (b - 1)).bit_length() - 1
            mid = ((b - 1) >> L) << L
            left, right = mid - a, b - mid
            dl, dr = left.bit_length() - 1, right.bit_length() - 1
            if left == right == 1 << L:    # both halves whole: one block
                top, index, nl, nr, ts, te = dl + 1, a >> (dl + 1), 0, 0, a, b
            elif dl >= dr:                 # the largest block on the left (the leftmost of two)
                top, index = dl, (mid >> dl) - 1
                nl, nr, ts, te = left.bit_count() - 1, right.bit_count(), mid - (1 << dl), mid
            else:
                top, index = dr, mid >> dr
                nl, nr, ts, te = left.bit_count(), right.bit_count() - 1, mid, mid + (1 << dr)
        elif b - a == 1:
            top, index, nl, nr, ts, te = 0, a, 0, 0, a, b
        else:                              # no unit of its own: the walk's values
            top, index, nl, nr, ts, te = -1, 0, -1, 0, a, max(a, b)
        out.append((leaf - top, index, top + 1, nl + ls, nr + rs, a, b, ls, rs, ts, te))
    return out


def _paths_vectorised(starts, sizes, layout, ms_size: int):
    """:func:`_paths` in numpy, for long layouts (many tiles of the tile search, large SIGMA GEMMs)."""
    ends = starts + sizes
    touch = (ends[:-1] == starts[1:]) & (layout[:-1] == layout[1:])
    left_used = np.concatenate(([False], touch))
    right_used = np.concatenate((touch, [False]))
    a, b, ls, rs = _owned_units(starts, ends, left_used, right_used)
    # closed form of the bottom-up walk (:func:`_split`); a VN owning no unit keeps the walk's values
    # (top level -1, index 0, left_merges -1 before its forwarded multipliers)
    top = np.where(a < b, 0, -1)
    index = np.where(a < b, a, 0)
    nl = np.where(a < b, 0, -1)
    nr = np.zeros(starts.shape, dtype=np.int64)
    ts, te = a.copy(), np.maximum(b, a)
    many = b - a > 1
    if many.any():
        if many.all():
            many = slice(None)           # every VN (the common case): views, not copies
        mid, left, right, merged = _split(a[many], b[many])
        dl, dr = _bit_length(left) - 1, _bit_length(right) - 1
        peak_left = dl >= dr
        pl, pr = np.bitwise_count(left).astype(np.int64), np.bitwise_count(right).astype(np.int64)
        top[many] = np.where(merged, dl + 1, np.maximum(dl, dr))
        index[many] = np.where(merged, a[many] >> (dl + 1),
                               np.where(peak_left, (mid >> dl) - 1, mid >> dr))
        nl[many] = np.where(merged, 0, pl - peak_left)
        nr[many] = np.where(merged, 0, pr - ~peak_left)
        # the top block: the largest block (leftmost of two), or both halves when they merge
        one = np.int64(1)
        ts[many] = np.where(merged, a[many], np.where(peak_left, mid - (one << np.maximum(dl, 0)), mid))
        te[many] = np.where(merged, b[many], np.where(peak_left, mid, mid + (one << np.maximum(dr, 0))))
    leaf = int(ms_size).bit_length() - 2
    return leaf - top, index, top + 1, nl + ls, nr + rs, a, b, ls, rs, ts, te

"""The write side shared by STONNE's controllers: collection-bus lines and the memory's write FIFO.

numpy only. Read from STONNE's source, restated in our words (see docs/design.md, "The write side"):

* **Collection bus** (CollectionBus.cpp, CollectionBusLine.cpp): rn_bw lines; every line takes its inputs
  in FIFOs and sends one output per cycle to memory (round robin over its inputs).
* **Which line an ASNETWORK adder feeds** (ASNetwork.cpp, fixed when the network is built): the adders
  joined by augmented links are listed as pairs (level by level, left to right; both adders of a pair
  feed one line), the others (the root, then the first and last adder of every level) after them, and
  both lists are dealt round robin over the rn_bw lines. :func:`asnetwork_bus_port`.
* **The memory's write FIFO** (SDMemory.cpp, OSMeshSDMemory.cpp): of s waiting outputs the memory stores
  ceil(s/2) per cycle. The last output therefore waits a backlog of bit_length(b) cycles after it
  arrives, b = floor(sum over outputs of 2**-(age+1)), age = cycles between an output's arrival and the
  last one's. :func:`last_write`.

No fitted constant.
"""

from __future__ import annotations

import collections
import itertools

import numpy as np


#: cycles of write-FIFO history that decide the backlog (see :func:`last_write`)
WRITE_FIFO_WINDOW = 64

#: up to this many outputs (or adders) :func:`last_write`, :func:`asnetwork_bus_line` and
#: :func:`busiest_line` run as plain Python loops: a numpy call costs about a microsecond whatever its
#: length, and one SIGMA GEMM's or MAERI tile's outputs are few. Same integers either way
#: (tests/test_accel_fastpaths.py); not a fitted constant.
SMALL_WRITE_OUTPUTS = 96


def _dealing(level, index, ms_size: int):
    """Where each adder stands in the two lists dealt over the lines: (inner: in a linked pair, pair
    number, single number, adders in pairs). Arrays, vectorised."""
    level = np.asarray(level, dtype=np.int64)
    index = np.asarray(index, dtype=np.int64)
    levels = int(ms_size).bit_length() - 1

    # linked pairs on the levels above a level ``lv`` (a level of 2**i adders has 2**(i-1)-1 of them)
    def pairs_before(lv):
        return np.where(lv >= 2, (np.int64(1) << np.maximum(lv - 1, 0)) - lv, 0)

    n_level = np.int64(1) << level
    inner = (index > 0) & (index < n_level - 1)
    pair = pairs_before(level) + (index + (index & 1)) // 2 - 1
    single = np.where(level == 0, 0, np.where(level == 1, 1 + index, 2 * level - 1 + (index > 0)))
    doubles = 2 * ((1 << (levels - 1)) - levels if levels >= 2 else 0)
    return inner, pair, single, doubles


def asnetwork_bus_line(level, index, ms_size: int, rn_bw: int) -> np.ndarray:
    """Collection-bus line (0..rn_bw-1) fed by ASNETWORK adder (``level``, ``index``): level 0 = the
    root, index from the left (arrays, vectorised). See the module docstring."""
    if np.size(level) <= SMALL_WRITE_OUTPUTS:
        levels = int(ms_size).bit_length() - 1
        doubles = 2 * ((1 << (levels - 1)) - levels if levels >= 2 else 0)
        lines = []
        for lv, ix in zip(np.asarray(level).reshape(-1).tolist(), np.asarray(index).reshape(-1).tolist()):
            if 0 < ix < (1 << lv) - 1:            # in a linked pair (levels 2 and below only)
                lines.append(((1 << (lv - 1)) - lv + (ix + (ix & 1)) // 2 - 1) % rn_bw)
            else:
                single = 0 if lv == 0 else (1 + ix if lv == 1 else 2 * lv - 1 + (ix > 0))
                lines.append((single + doubles) % rn_bw)
        return np.array(lines, dtype=np.int64).reshape(np.shape(level))
    inner, pair, single, doubles = _dealing(level, index, ms_size)
    return np.where(inner, pair % rn_bw, (single + doubles) % rn_bw)


def asnetwork_bus_port(level, index, ms_size: int, rn_bw: int) -> tuple[np.ndarray, np.ndarray]:
    """Collection-bus line fed by ASNETWORK adder (``level``, ``index``), as :func:`asnetwork_bus_line`,
    and the adder's input on that line, which sets the line's round-robin order (arrays, vectorised).
    Pair k of adders takes inputs 2 (k // rn_bw) (its odd-indexed adder) and one more (the even one); the
    i-th single takes (adders in pairs) // rn_bw + 1 + i // rn_bw. Where rn_bw does not deal the pairs
    evenly, a pair's second adder and a later one get the same input and share it."""
    inner, pair, single, doubles = _dealing(level, index, ms_size)
    index = np.asarray(index, dtype=np.int64)
    line = np.where(inner, pair % rn_bw, (single + doubles) % rn_bw)
    port = np.where(inner, 2 * (pair // rn_bw) + (index % 2 == 0), doubles // rn_bw + 1 + single // rn_bw)
    return line, port


def runs(sorted_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of equal values of a sorted key (e.g. one id per (group, line)): (first index of each
    run, its length), int64 arrays."""
    n = sorted_key.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    change = np.empty(n, dtype=bool)
    change[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=change[1:])
    heads = np.flatnonzero(change)
    length = np.empty_like(heads)
    length[:-1] = heads[1:] - heads[:-1]
    length[-1] = n - heads[-1]
    return heads, length


def busiest_line(line, group, n_groups: int, rn_bw: int) -> np.ndarray:
    """Outputs on the busiest collection-bus line of each group (int64 [n_groups]; 0 for a group without
    outputs): the cycles its lines need, at one output per line and cycle, for one output per item."""
    if np.size(line) <= SMALL_WRITE_OUTPUTS:
        on_line = collections.Counter(zip(np.asarray(group).reshape(-1).tolist(),
                                          np.asarray(line).reshape(-1).tolist()))
        out = [0] * int(n_groups)
        for (g, _), count in on_line.items():
            if count > out[g]:
                out[g] = count
        return np.array(out, dtype=np.int64)
    key = np.sort(np.asarray(group, dtype=np.int64) * rn_bw + np.asarray(line, dtype=np.int64))
    out = np.zeros(int(n_groups), dtype=np.int64)
    if key.size:
        heads, count = runs(key)
        np.maximum.at(out, key[heads] // rn_bw, count)
    return out


def _last_write_loop(arrive: list, line: list, group: list, n_groups: int, s_arrive, s_group):
    """:func:`last_write` in Python integers: (last, backlog) lists, or None for outputs that arrive after
    their group's last one leaves (left to the numpy form, which rejects them)."""
    queues: dict = {}
    for a, l, g in zip(arrive, line, group):
        queues.setdefault((g, l), []).append(a)
    last = [0] * n_groups
    leaves = []
    for (g, _), q in queues.items():
        q.sort()
        best = q[0]
        for k, a in enumerate(q):
            if a - k > best:
                best = a - k
            leaves.append((g, best + k))
    for g, t in leaves:
        if t > last[g]:
            last[g] = t
    # the write FIFO's backlog: floor(sum 2^-(age+1)) over outputs less than WRITE_FIFO_WINDOW cycles old
    total = [0] * n_groups
    for g, t in itertools.chain(leaves, zip(s_group, s_arrive)):
        age = last[g] - t
        if age < 0:
            return None
        if age < WRITE_FIFO_WINDOW:
            total[g] += 1 << (WRITE_FIFO_WINDOW - 1 - age)
    return last, [(x >> WRITE_FIFO_WINDOW).bit_length() for x in total]


def last_write(arrive, line, group=None, n_groups: int | None = None, settled=None):
    """When the last output of each group is stored in memory.

    ``arrive``: cycle each output reaches its collection-bus line; ``line``: that line; ``group``: which
    independent drain the output belongs to (e.g. one per tile; None = all one group). Each line sends one
    output per cycle in arrival order (the k-th arrival on a line leaves at max over q <= k of
    (A_q - q) + k), and the write FIFO stores ceil(s/2) of s waiting outputs per cycle. ``settled``:
    optionally (arrive, group) of more outputs that leave their lines the cycle they arrive, before their
    group's last output leaves (a VN's earlier outputs on a line of its own); only the write FIFO's
    backlog counts them, and they cost no sort.

    Returns (last, backlog) int64 arrays [n_groups]: the cycle the group's last output leaves its line
    (absolute, like ``arrive``) and the cycles it then waits in the write FIFO; the group is stored at
    last + backlog. A group without outputs gets (0, 0).
    """
    arrive = np.asarray(arrive, dtype=np.int64).reshape(-1)
    line = np.asarray(line, dtype=np.int64).reshape(-1)
    group = np.zeros(arrive.shape, dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64).reshape(-1)
    n_groups = int(group.max()) + 1 if n_groups is None else int(n_groups)
    n_settled = 0 if settled is None else np.asarray(settled[0]).size
    if 0 < arrive.size + n_settled <= SMALL_WRITE_OUTPUTS:
        got = _last_write_loop(arrive.tolist(), line.tolist(), group.tolist(), n_groups,
                               () if settled is None else np.asarray(settled[0]).reshape(-1).tolist(),
                               () if settled is None else np.asarray(settled[1]).reshape(-1).tolist())
        if got is not None:
            return np.array(got[0], dtype=np.int64), np.array(got[1], dtype=np.int64)
    last = np.zeros(n_groups, dtype=np.int64)
    backlog = np.zeros(n_groups, dtype=np.int64)
    n = arrive.size
    if n == 0:
        return last, backlog
    n_lines = int(line.max()) + 1
    key = group * n_lines + line
    order = np.lexsort((arrive, key))
    arrive, key, group = arrive[order], key[order], group[order]
    first, run = runs(key)
    k = np.arange(n) - np.repeat(first, run)
    # one running max over all (group, line) queues: shift each queue above the previous ones
    span = int(arrive.max() - arrive.min()) + n + 1
    shift = np.repeat(np.arange(first.size, dtype=np.int64), run) * span
    leave = np.maximum.accumulate(arrive - k + shift) - shift + k
    np.maximum.at(last, group, leave)
    age = last[group] - leave
    if settled is not None:
        s_group = np.asarray(settled[1], dtype=np.int64).reshape(-1)
        age = np.concatenate([age, last[s_group] - np.asarray(settled[0], dtype=np.int64).reshape(-1)])
        group = np.concatenate([group, s_group])
    # the FIFO left over when the last output arrives: q <- floor((q + arrivals) / 2), oldest cycle first
    # (exact integers; equals floor(sum 2^-(age+1))). Outputs that arrived WRITE_FIFO_WINDOW or more
    # cycles before the last add less than 2^-WINDOW each; they are left out (they could only matter with
    # several of them at one age completing a sum exactly one 2^-WINDOW short of an integer).
    keep = age < WRITE_FIFO_WINDOW
    width = int(min(age.max(), WRITE_FIFO_WINDOW - 1)) + 1
    count = np.bincount(group[keep] * width + age[keep], minlength=n_groups * width).reshape(n_groups, width)
    # the nested halvings are floor(sum_a count_a * 2^-(a+1)): ages < 32 scaled by 2^32 and the rest by
    # 2^64, in int64 (exact while a tile has fewer than 2^31 outputs in the window)
    a = np.arange(width)
    near = a < 32
    s1 = count[:, near] @ (np.int64(1) << (31 - a[near]))
    s2 = count[:, ~near] @ (np.int64(1) << (63 - a[~near]))
    q = (s1 + (s2 >> 32)) >> 32
    backlog = np.zeros(n_groups, dtype=np.int64)
    nz = q > 0
    backlog[nz] = np.floor(np.log2(q[nz])).astype(np.int64) + 1
    return last, backlog

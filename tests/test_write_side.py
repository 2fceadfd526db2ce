"""The write side's closed forms (plumsim.accel.write_side.last_write) against a cycle-by-cycle replay of
the collection-bus lines and the memory's write FIFO as docs/design.md describes them ("The write side"):
each line sends its oldest waiting output per cycle, and of s outputs in the FIFO the memory stores
ceil(s/2) per cycle, oldest first."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from plumsim.accel.write_side import last_write


def _replay(arrive, line):
    """(cycle the last output leaves its line, cycles it then waits in the FIFO) by stepping cycles."""
    waiting = collections.defaultdict(list)
    for a, l in sorted(zip(arrive.tolist(), line.tolist())):
        waiting[l].append(a)
    fifo: collections.deque = collections.deque()
    left, n, t, last_leave, stored = 0, len(arrive), min(arrive.tolist()), None, None
    while left < n:
        for queue in waiting.values():
            if queue and queue[0] <= t:
                queue.pop(0)
                fifo.append(t)
                last_leave = t
        pops = (len(fifo) + 1) // 2
        for _ in range(pops):
            fifo.popleft()
            left += 1
        if left == n:
            stored = t
        t += 1
    return last_leave, stored - last_leave


@pytest.mark.parametrize("seed", range(40))
def test_last_write_matches_a_cycle_replay(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    arrive = rng.integers(0, int(rng.integers(1, 90)), n)
    line = rng.integers(0, int(rng.integers(1, 6)), n)
    last, backlog = last_write(arrive, line)
    assert (int(last[0]), int(backlog[0])) == _replay(arrive, line)


@pytest.mark.parametrize("seed", range(40))
def test_settled_outputs_count_only_in_the_fifo(seed):
    """Outputs passed as ``settled`` (alone on their line, earlier than the group's last) cost the same
    as passing them as ordinary outputs on lines of their own."""
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(1, 60)), int(rng.integers(1, 300))
    arrive = rng.integers(50, 120, n)
    line = rng.integers(0, 4, n)
    earlier = rng.integers(0, 50, m)             # before every ordinary output: they cannot be the last
    own = 10 + np.arange(m)                      # one line each: they leave the cycle they arrive
    group = np.zeros(n, dtype=np.int64)
    got = last_write(arrive, line, group, 1, settled=(earlier, np.zeros(m, dtype=np.int64)))
    full = last_write(np.concatenate([arrive, earlier]), np.concatenate([line, own]))
    assert (int(got[0][0]), int(got[1][0])) == (int(full[0][0]), int(full[1][0]))
    assert (int(full[0][0]), int(full[1][0])) == _replay(np.concatenate([arrive, earlier]),
                                                         np.concatenate([line, own]))

"""An event-level model of one MAERI folding tile (accumulation buffer off), cycle by cycle.

numpy only; a reference for the closed form of :mod:`plumsim.accel.maeri_timing`, not used by it yet
(it steps through every cycle, too slow for the tile search and sweeps: see docs/design.md, "MAERI",
known residuals). Built from debug traces of STONNE's SDMemory, multiplier and adder switches and from its
collection-bus source, and checked against every stored run it applies to (tests/test_maeri_fold_events.py):
exact on 889 of the 891 single-tile folding runs of tests/data/stonne, where the closed form is exact on 489.

What happens in a tile of VNs (one per output channel and position of the tile), with F folds per
output position and the positions one after another:

* **Read ports** send one packet a cycle: first the weights of every fold, then, step by step (a position's
  folds in order, positions in order), the distinct inputs of their multipliers in increasing input id
  (:func:`plumsim.accel.maeri_timing.operand_ids`; with input forwarding along rows, a row's later
  positions send only the new column). A partial sum waiting for a port goes first. A packet reaches its
  multipliers the same cycle (one cycle later through a distribution tree, ms_size > dn_bw), which
  multiply and pass the product up at once.
* **The tree**: a value takes one cycle per adder level and per augmented link on its way to its VN's
  output adder (:func:`plumsim.accel.adder_tree.reduction_paths`); a VN's sum of a step leaves when its
  last product and its partial-sum multiplier's value are in.
* **Partial-sum multiplier**: sends a zero for the first fold of the first position at cycle 1; forwards
  each partial sum the cycle it arrives; sends the next position's zero one cycle after it forwarded
  the position's last partial sum.
* **Collection bus**: a line takes a sum one cycle after the adder sent it and sends one a cycle, round
  robin over its inputs (:func:`plumsim.accel.write_side.asnetwork_bus_port`).
* **Memory**: takes what the lines sent one cycle later, in line order, into its write FIFO and stores
  ceil(s/2) of the s waiting each cycle; a stored sum that is not a position's last fold goes straight
  back to its VN's partial-sum multiplier's port.

The tile ends with its last store: :func:`fold_tile_cycles` returns that cycle.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from plumsim.accel.adder_tree import reduction_paths
from plumsim.accel.config import AcceleratorConfig, require_config
from plumsim.accel.maeri import MaeriTile, tile_geometry, uses_forwarding
from plumsim.accel.maeri_timing import operand_ids, partial_sum_path
from plumsim.accel.write_side import asnetwork_bus_port
from plumsim.errors import ConfigError


def fold_tile_cycles(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig,
                     max_cycles: int = 10_000_000) -> int:
    """Cycles of one (n, g, k) tile of a folding MAERI conv (X, Y already padded) with the accumulation
    buffer off: T_K x T_X' x T_Y' VNs of T_R x T_S x T_C multipliers plus the partial-sum one, more than
    one fold per output position, the positions one after another (folds, positions and input forwarding
    as :func:`plumsim.accel.maeri.maeri_conv` has them). T_N = T_G = 1 only. Returns the cycle (1-based,
    STONNE's count) of the tile's last store. Raises ConfigError for a tile it does not model,
    RuntimeError past ``max_cycles``."""
    require_config(config)
    geo = tile_geometry(N, G, C, K, R, S, X, Y, stride, tile, config)
    if config.accumulation_buffer or geo.nfold < 2 or tile.T_N != 1 or tile.T_G != 1:
        raise ConfigError(f"the event-level model times folding tiles with the accumulation buffer off and "
                          f"T_N = T_G = 1; got {geo.nfold} fold(s), buffer "
                          f"{'on' if config.accumulation_buffer else 'off'}, T_N={tile.T_N}, T_G={tile.T_G}",
                          field="tile")
    forwarding = uses_forwarding(tile, S, stride, geo.iY)
    T_R, T_S, T_C, T_K, T_X, T_Y = tile.T_R, tile.T_S, tile.T_C, tile.T_K, tile.T_X, tile.T_Y
    ms, dn, rn = int(config.ms_size), int(config.dn_bw), int(config.rn_bw)
    F, rows, cols = geo.nfold, geo.iX, geo.iY
    P = rows * cols
    size = T_R * T_S * T_C + 1
    nv = T_K * T_X * T_Y
    width = ms // dn
    ds = int(ms > dn)
    start = np.arange(nv, dtype=np.int64) * size
    level, index, top, left, right = reduction_paths(start, np.full(nv, size), ms)
    span = ms >> level
    top_lo = np.maximum(index * span, start)
    top_hi = np.minimum((index + 1) * span, start + size)
    h = partial_sum_path(start, top_lo, top, left).tolist()       # partial-sum multiplier -> output adder
    line, line_in = (a.tolist() for a in asnetwork_bus_port(level, index, ms, rn))

    m = np.arange(nv * size)
    mv, mo = m // size, m % size - 1                               # VN, offset (-1: partial-sum multiplier)
    path = np.where((m >= top_lo[mv]) & (m < top_hi[mv]), top[mv],
                    np.where(m < top_lo[mv], top[mv] + left[mv], top[mv] + right[mv])).tolist()
    wid, iid, s = operand_ids(mv, np.maximum(mo, 0), T_R, T_S, T_C, T_K, 1, 1, T_X, T_Y, stride)
    mv = mv.tolist()

    # per read port: weight packets, and per kind of step the packets (each the multipliers it feeds)
    ports = []
    for p in range(dn):
        mults = [j for j in range(p * width, min((p + 1) * width, nv * size)) if mo[j] >= 0]
        full, new = {}, {}
        for j in mults:
            full.setdefault(int(iid[j]), []).append(j)
            if not forwarding or s[j] == T_S - 1:
                new.setdefault(int(iid[j]), []).append(j)
        forwarded = [j for j in mults if forwarding and s[j] != T_S - 1]
        ports.append({"weights": F * len({int(wid[j]) for j in mults}),
                      "full": [full[k] for k in sorted(full)], "new": [new[k] for k in sorted(new)],
                      "forwarded": forwarded})
    steps = [(x * cols + y, f, y == 0) for x in range(rows) for y in range(cols) for f in range(1, F + 1)]

    need = size - 1
    products: dict = {}          # (vn, position, fold) -> [latest product at the output adder, count]
    psum_at: dict = {v: {} for v in range(nv)}
    leaving: dict = {}           # cycle -> sums leaving output adders
    for v in range(nv):
        psum_at[v][(0, 1)] = 1 + h[v]

    def ready(v, pos, f):
        got = products.get((v, pos, f))
        if got is not None and got[1] == need and (pos, f) in psum_at[v]:
            leaving.setdefault(max(got[0], psum_at[v][(pos, f)]), []).append((v, pos, f))

    def product(j, pos, f, at):
        got = products.setdefault((mv[j], pos, f), [0, 0])
        got[0] = max(got[0], at + path[j])
        got[1] += 1
        if got[1] == need:
            ready(mv[j], pos, f)

    cursor = [[0, 0] for _ in range(dn)]
    weights_left = [pt["weights"] for pt in ports]
    psum_queue = [deque() for _ in range(dn)]
    line_queues: dict = {}
    rr = {}
    inputs_on = {}
    for v in range(nv):
        inputs_on[line[v]] = max(inputs_on.get(line[v], 0), line_in[v] + 1)
    fifo: deque = deque()
    sent: list = []
    stored, total, t, last = 0, nv * F * P, 0, 0
    while stored < total:
        t += 1
        if t > max_cycles:
            raise RuntimeError(f"folding tile did not finish within {max_cycles} cycles")
        # memory: last cycle's line outputs in line order, then ceil(s/2) stores; partial sums go back
        fifo.extend(item for _, item in sorted(sent, key=lambda e: e[0]))
        sent = []
        for _ in range(-(-len(fifo) // 2)):
            v, pos, f = fifo.popleft()
            stored += 1
            last = t
            if f < F:
                psum_queue[int(start[v]) // width].append((v, pos, f + 1))
        # read ports: one packet each, partial sums first
        for p in range(dn):
            if psum_queue[p]:
                v, pos, f = psum_queue[p].popleft()
                arrive = t + ds
                psum_at[v][(pos, f)] = arrive + h[v]
                ready(v, pos, f)
                if f == F and pos + 1 < P:
                    psum_at[v][(pos + 1, 1)] = arrive + 1 + h[v]
                    ready(v, pos + 1, 1)
                continue
            port = ports[p]
            if weights_left[p]:
                weights_left[p] -= 1
                continue
            cur = cursor[p]
            while cur[0] < len(steps):
                pos, f, first = steps[cur[0]]
                packets = port["full"] if first or not forwarding else port["new"]
                if packets:
                    break
                for j in port["forwarded"] if forwarding and not first else ():
                    product(j, pos, f, t + ds)      # nothing new on this port: only forwarded values
                cur[0] += 1
            if cur[0] == len(steps):
                continue
            pos, f, first = steps[cur[0]]
            packets = port["full"] if first or not forwarding else port["new"]
            arrive = t + ds
            for j in packets[cur[1]]:
                product(j, pos, f, arrive)
            cur[1] += 1
            if cur[1] == len(packets):
                if forwarding and not first:
                    for j in port["forwarded"]:
                        product(j, pos, f, arrive)
                cur[0] += 1
                cur[1] = 0
        # collection bus: last cycle's sums into the lines' inputs, one out per line (round robin)
        for v, pos, f in leaving.pop(t - 1, ()):
            line_queues.setdefault((line[v], line_in[v]), deque()).append((v, pos, f))
        for ln, n_in in inputs_on.items():
            ptr = rr.get(ln, 0)
            for k in range(n_in):
                i = (ptr + k) % n_in
                q = line_queues.get((ln, i))
                if q:
                    sent.append((ln, q.popleft()))
                    rr[ln] = (i + 1) % n_in
                    break
    return last

"""MAERI's timing (STONNE's MAERI_DENSE_WORKLOAD): cycles of a conv layer for many tiles at once.

numpy only. The one rule for MAERI cycles: :func:`plumsim.accel.maeri.maeri_conv` and the tile search both
call :func:`conv_cycles_batch`. Read from STONNE's source (SDMemory.cpp, MSwitch.cpp, ASNetwork.cpp,
CollectionBus*.cpp, STONNEModel.cpp) and confirmed on probe runs (docs/design.md, "MAERI"):

* **Layout.** A tile maps ``T_K*T_G*T_N*T_X'*T_Y'`` virtual neurons (VNs) back to back from multiplier 0,
  each ``T_R*T_S*T_C`` multipliers, in order n, g, k, x', y' (y' fastest), inside a VN c, r, s. With the
  accumulation buffer off and more than one fold, STONNE gives every VN one more multiplier, first, that
  receives the partial sum of the previous fold (STONNE's model switches this on when a tile folds).
* **Issue order** (SDMemory::cycle): per (n, g, k) tile, first the weights of every fold (one step per
  fold), then for each output position (x' rows, y' inside) one input step per fold. A step reaches the
  read ports in one cycle; each of the dn_bw ports sends one packet per cycle (one per distinct value among
  the multipliers it feeds); when T_Y' = 1, T_S > 1, stride 1 and T_S divides S only the new input column is
  sent after the first position of a row (the multipliers forward the rest).
* **Read side.** A port's last packet leaves at max over steps s of (s + its packets from step s on).
* **Accumulation buffer off, folding.** A position's fold f needs fold f-1's sum back: the sum leaves the
  tree (the partial-sum multiplier's path to the VN's output adder), is written, read back at once
  (partial sums have priority on their port) and goes down again: a loop of ``MAERI_PSUM_LOOP`` + path
  (+1 through a distribution tree) cycles, one more when the step has more sums than the loop has cycles
  (they cannot all reach the write FIFO alone). Multipliers multiply only once they hold every fold's
  weight, so the weights come first. A position then takes (folds - 1) loops + 1 cycle, or its port
  loads (partial sums included), or its bus-line loads, whichever is longest.
* **Write side.** Every output (every fold's with the buffer off, the last fold's with it on) takes one
  slot on its collection-bus line (:mod:`plumsim.accel.write_side`); a tile is never shorter than its
  busiest line, and a line carrying m VNs sends their last outputs no earlier than m x (positions - 1)
  cycles after its first one.
* **Drain.** The next (n, g, k) tile starts once every output of this one is stored (SDMemory's
  iteration check). A VN's last sum leaves its output adder once the last of its products has climbed
  its own path (:func:`plumsim.accel.adder_tree.multiplier_paths`), counted from the last packet of the
  ports feeding it, queues on its bus line and in the write FIFO (:func:`plumsim.accel.write_side.last_write`; the FIFO still
  holds earlier positions' outputs, :func:`_earlier_outputs`) and is stored
  ``MAERI_OUTPUT_LATENCY_*`` cycles later (+1 through a distribution tree). With T_N > 1 the iteration check
  lets the next tile start early, so only the last tile's drain counts (the event-level model of
  :mod:`plumsim.accel.maeri_fold_events` runs such tiles one after another; this closed form does not).

Returned cycles are STONNE cycles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from plumsim.accel.adder_tree import three_way_adds, tree_paths
from plumsim.accel.calibration import MAERI_OUTPUT_LATENCY_AB_OFF, MAERI_OUTPUT_LATENCY_AB_ON, MAERI_PSUM_LOOP
from plumsim.accel.lru import LRUMemo
from plumsim.accel.write_side import WRITE_FIFO_WINDOW, asnetwork_bus_line, busiest_line, last_write, runs

TILE_FIELDS = ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X", "T_Y")


def operand_ids(v, o, TR, TS, TC, TK, TG, TN, TX, TY, stride):
    """Which weight and which input element the multiplier at offset ``o`` of virtual neuron ``v`` holds in
    one step of a tile (VNs y'-fastest, then x', k, g, n; inside a VN c, r, s). Returns (weight id, input
    id, s) as integer arrays, unique within the tile: a packet = one distinct id, multicast = the same id
    at several multipliers. Input ids increase in the order SDMemory sends the packets (window row, then
    column, then n, g, c), so a port sends a step's packets in increasing id. Broadcasts over tile fields
    given as arrays."""
    # (successive divmods: the fewest numpy calls; wid and iid as the layout above, c*T_R*T_S + r*T_S + s
    # being o itself)
    rows, y = np.divmod(v, TY)
    knx, x = np.divmod(rows, TX)               # knx = (n*T_G + g)*T_K + k
    ng = knx // TK                             # n*T_G + g
    c, rs = np.divmod(o, TR * TS)
    r, s = np.divmod(rs, TS)
    yin = TS + (TY - 1) * stride
    wid = knx % (TG * TK) * (TR * TS * TC) + o
    iid = ((x * stride + r) * yin + (y * stride + s)) * (TN * TG * TC) + ng * TC + c
    return wid, iid, s


#: per-port loads remembered per (ms_size, dn_bw, stride, tile, forwarding, partial-sum slot): they do not
#: depend on the layer's sizes or rn_bw, and a sweep times the same tiles for many layers and machines.
#: Values: (int64 [4, dn_bw] loads, int64 [2, ms_size] leads, the step traffic of :func:`tile_traffic`;
#: read-only arrays, used as they are); bounded by bytes.
_LOADS = LRUMemo(max_items=1 << 16, max_bytes=128 << 20, sizeof=lambda v: v[0].nbytes + v[1].nbytes + 64)


def _loads_key(ms: int, dn: int, stride: int, fields, fwd, slot) -> tuple:
    return (ms, dn, int(stride), *fields, int(fwd), int(slot))


def port_loads(T: dict, stride: int, fwd, slot, ms: int, dn: int):
    """Packets each read port sends per step of each kind, for many tiles: (weight step, first position
    of a row, other positions, partial sums per position), int64 [B, dn] each; and per multiplier the
    packets its port sends after its own in a first-position step and in an other-position step, int64
    [B, ms] each (-1: no packet in that step; tiles with a partial-sum multiplier, whose drain does not
    read them: -1 throughout). ``T``: tile field -> int array [B] or [B, 1]; ``fwd`` /
    ``slot``: [B] bools (inputs forwarded along rows; a partial-sum multiplier per VN)."""
    cols = [np.asarray(T[k], dtype=np.int64).reshape(-1) for k in TILE_FIELDS]
    fwd = np.asarray(fwd, dtype=bool).reshape(-1)
    slot = np.asarray(slot, dtype=np.int64).reshape(-1)
    B = cols[0].size
    rows = zip(*(c.tolist() for c in cols)) if B > 1 else [tuple(int(c[0]) for c in cols)]
    keys = [_loads_key(ms, dn, stride, r, f, q) for r, f, q in zip(rows, fwd.tolist(), slot.tolist())]
    hits = [_LOADS.get(key) for key in keys]
    miss = [b for b, h in enumerate(hits) if h is None]
    if miss:
        m = np.asarray(miss)
        fresh, fresh_lead, traffic = _port_loads_exact({k: c[m][:, None] for k, c in zip(TILE_FIELDS, cols)},
                                                       stride, fwd[m][:, None], slot[m][:, None], ms, dn)
        for j, b in enumerate(miss):
            # one tile: views of the fresh arrays; several: copies, so an entry holds only its own bytes
            load, lead = (fresh[j], fresh_lead[j]) if len(miss) == 1 else (fresh[j].copy(), fresh_lead[j].copy())
            load.setflags(write=False)        # (shared with the cache: read only)
            lead.setflags(write=False)
            hits[b] = (load, lead, tuple(traffic[j].tolist()))
            _LOADS.put(keys[b], hits[b])
    if B == 1:
        out, lead = hits[0][0][None], hits[0][1][None]
    else:
        out = np.stack([h[0] for h in hits])
        lead = np.stack([h[1] for h in hits])
    return out[:, 0], out[:, 1], out[:, 2], out[:, 3], lead[:, 0], lead[:, 1]


def tile_traffic(T: dict, stride: int, fwd: bool, slot: bool, ms: int, dn: int) -> tuple[int, ...]:
    """Distribution-network traffic of one tile's steps (``T``: tile field -> int): (multipliers fed per
    weight or full-window step, multipliers fed per new-column step, switch routes per weight step, per
    full-window step, per new-column step). A route is one distinct packet through one switch (a
    multicast goes once through every switch above its destinations); the partial-sum multiplier gets
    none. From the same sort as :func:`port_loads`, and remembered with it."""
    key = _loads_key(ms, dn, stride, [int(T[k]) for k in TILE_FIELDS], fwd, slot)
    hit = _LOADS.get(key)
    if hit is None:
        port_loads({k: [int(T[k])] for k in TILE_FIELDS}, stride, [bool(fwd)], [int(slot)], ms, dn)
        hit = _LOADS.get(key)
    return hit[2]


def _port_loads_exact(T: dict, stride: int, fwd, slot, ms: int, dn: int):
    """:func:`port_loads` computed: int64 [B, 4, dn] loads, [B, 2, ms] leads and [B, 5] step traffic
    (:func:`tile_traffic`). Arrays [B, 1].

    One stable sort of each port's keys (weight, input, new-column input ids; -1 = no packet) gives all
    three: a port sends one packet per distinct key, in increasing key; and at every switch level a key
    goes once through each switch above its multipliers, which in key-then-multiplier order are the
    entries where the key or the switch changes."""
    TR, TS, TC, TK, TG, TN, TX, TY = (T[k] for k in TILE_FIELDS)
    B, width = TR.shape[0], ms // dn
    levels = width.bit_length() - 1
    size = TR * TS * TC + slot
    nv = TK * TG * TN * TX * TY
    m = np.arange(ms, dtype=np.int64)[None, :]
    v, o = np.divmod(m, size)
    o = o - slot
    valid = m < size * nv
    op = valid & (o >= 0)
    wid, iid, s = operand_ids(v, np.maximum(o, 0), TR, TS, TC, TK, TG, TN, TX, TY, stride)
    wid, iid = np.where(op, wid, -1), np.where(op, iid, -1)
    nid = np.where(~fwd | (s == TS - 1), iid, -1)
    keys = np.concatenate([wid, iid, nid])                  # [3B, ms]
    k2 = keys.reshape(-1, width)                           # one row per (kind, tile, port)
    # flat positions of each row's keys in sorted order (fancy indexing, not take/put_along_axis: cheaper
    # on the small arrays of one tile); stable: equal keys stay in multiplier order
    order = np.argsort(k2, axis=1, kind="stable")
    idx = (order + (np.arange(k2.shape[0]) * width)[:, None]).reshape(-1)
    srt = keys.reshape(-1)[idx].reshape(-1, width)
    sent = srt != -1
    new = np.ones(srt.shape, dtype=bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    new &= sent
    # (np.stack and axis-wise counts cost several microseconds each on arrays this small: one buffer)
    loads = np.empty((4, B, dn), dtype=np.int64)
    loads[:3] = new.sum(axis=1).reshape(3, B, dn)
    loads[3] = (valid & (o < 0)).reshape(B, dn, width).sum(axis=2)     # partial-sum slots per port
    loads = loads.transpose(1, 0, 2)
    # switch routes: level j's switches each cover width >> j multipliers of a port (j = 0: its root). A
    # new key goes through one switch per level; a repeat of the key through those levels where its
    # multiplier's switch differs from the previous one's, i.e. bit_length(offset xor previous offset) - 1
    # of them
    routes = levels * new.reshape(3, B, ms).sum(axis=2)
    if levels:
        hops = np.maximum(np.frexp(order[:, 1:] ^ order[:, :-1])[1] - 1, 0)
        repeat = sent[:, 1:] & ~new[:, 1:]
        routes += np.where(repeat, hops, 0).reshape(3, B, -1).sum(axis=2)
    fed = sent.reshape(3, B, ms).sum(axis=2)
    traffic = np.concatenate([fed[0::2], routes]).T
    # leads: only the drain of a tile without a partial-sum loop reads them; a port feeding one
    # multiplier sends its packet last
    rank = np.cumsum(new, axis=1) - 1
    lead_all = np.empty(keys.size, dtype=np.int64)
    lead_all[idx] = (rank[:, -1:] - rank).reshape(-1)
    lead_all = np.where(keys == -1, -1, lead_all.reshape(3 * B, ms))
    lead = np.full((B, 2, ms), -1, dtype=np.int64)
    plain = slot[:, 0] == 0
    lead[:, 0] = np.where(plain[:, None], lead_all[B:2 * B], -1)
    lead[:, 1] = np.where(plain[:, None], lead_all[2 * B:], -1)
    return loads, lead, traffic


#: VN layouts remembered per (ms_size, rn_bw, VN size, VNs): where each VN's sum leaves the tree and on
#: which bus line; they do not depend on the layer or the read ports. Values: (int64 [7, VNs] per-VN
#: fields, outputs on the busiest line, 3:1 adds of one reduction, int64 [VNs x size] multiplier paths;
#: read-only arrays); bounded by bytes.
_LAYOUTS = LRUMemo(max_items=1 << 15, max_bytes=64 << 20, sizeof=lambda v: v[0].nbytes + v[3].nbytes)


class VNLayout(NamedTuple):
    """The VNs of many tiles laid back to back from multiplier 0, tile after tile: per VN (int64 [sum nv])
    its first multiplier, the levels from its top block to the output adder, the blocks merged from the
    left and from the right, its top block's multipliers [top_lo, top_hi) and its bus line; per tile
    (int64 [B]) the outputs on its busiest line and the ADD_3_1 events of one reduction of its VNs; per
    multiplier (int64 [sum nv x size], VN after VN) the cycles from its product to its VN's output adder
    (:func:`plumsim.accel.adder_tree.multiplier_paths`)."""

    start: np.ndarray
    top_depth: np.ndarray
    left_merges: np.ndarray
    right_merges: np.ndarray
    top_lo: np.ndarray
    top_hi: np.ndarray
    line: np.ndarray
    busiest: np.ndarray
    three_way_adds: np.ndarray
    paths: np.ndarray


def vn_layout(size: np.ndarray, nv: np.ndarray, ms: int, rn: int) -> VNLayout:
    """:class:`VNLayout` of tiles of ``nv`` [B] VNs of ``size`` [B] multipliers each (a partial-sum slot
    included) on ``ms`` multipliers and ``rn`` bus lines."""
    B = size.size
    keys = [(ms, rn, a, b) for a, b in zip(size.tolist(), nv.tolist())]
    got = [_LAYOUTS.get(k) for k in keys]
    miss: dict = {}
    for i, k in enumerate(keys):
        if got[i] is None:
            miss.setdefault(k, []).append(i)
    if miss:
        ks = list(miss)
        sz = np.array([k[2] for k in ks], dtype=np.int64)
        n = np.array([k[3] for k in ks], dtype=np.int64)
        tile = np.repeat(np.arange(len(ks)), n)
        start = (np.arange(tile.size) - np.repeat(np.cumsum(n) - n, n)) * sz[tile]
        vsize = sz[tile]
        # packed back to back within ms (the caller's tiles fit): no argument checks
        level, index, top_depth, left, right, paths = tree_paths(start, vsize, ms, layout=tile, validate=False)
        span = ms >> level
        top_lo = np.maximum(index * span, start)
        top_hi = np.minimum((index + 1) * span, start + vsize)
        line = asnetwork_bus_line(level, index, ms, rn)
        busiest = busiest_line(line, tile, len(ks), rn).tolist()
        add3 = np.bincount(tile, weights=three_way_adds(left, right, vsize), minlength=len(ks)).tolist()
        fields = np.stack([start, top_depth, left, right, top_lo, top_hi, line])
        fields.setflags(write=False)          # (shared with the cache: read only)
        paths.setflags(write=False)
        cut, pcut = [0] + np.cumsum(n).tolist(), [0] + np.cumsum(n * sz).tolist()
        for j, k in enumerate(ks):
            entry = (fields[:, cut[j]:cut[j + 1]], int(busiest[j]), int(add3[j]), paths[pcut[j]:pcut[j + 1]])
            _LAYOUTS.put(k, entry)
            for i in miss[k]:
                got[i] = entry
    if B == 1:
        fields, paths = got[0][0], got[0][3]
    else:
        fields = np.concatenate([g[0] for g in got], axis=1)
        paths = np.concatenate([g[3] for g in got])
    return VNLayout(*fields, np.array([g[1] for g in got], dtype=np.int64),
                    np.array([g[2] for g in got], dtype=np.int64), paths)


def partial_sum_path(start, top_lo, top_depth, left_merges):
    """Cycles from a VN's partial-sum multiplier to its output adder (per VN, :class:`VNLayout` fields): the
    partial sum sits in the VN's first multiplier, in the top block or left of it (then it crosses the
    left merges too)."""
    return top_depth + np.where(start >= top_lo, 0, left_merges)


def port_finish(w, f, nl, nfold, iX, iY):
    """Cycle each port sends its last packet of an (n, g, k) tile, in STONNE's issue order (module
    docstring): max over steps s of (s + packets from step s on). Within a run of equal steps that is
    linear in s, so only the first and last step of each run count; rows are alike, so only the first and
    last row. Loads [B, dn] (w: weight step, f: first position of a row, nl: other positions); the
    counts [B, 1]."""
    row_load = nfold * (f + (iY - 1) * nl)
    total = nfold * w + iX * row_load
    out = np.maximum(total, nfold - 1 + total - (nfold - 1) * w)
    for r in ((0,) if (iX == 1).all() else (0, iX - 1)):    # (one row: its first is its last)
        s0 = nfold + r * nfold * iY                   # first step of row r
        rest = (iX - r) * row_load                    # packets from s0 on
        out = np.maximum(out, s0 + rest)
        out = np.maximum(out, s0 + nfold - 1 + rest - (nfold - 1) * f)
        more = iY > 1
        out = np.maximum(out, np.where(more, s0 + nfold + rest - nfold * f, 0))
        out = np.maximum(out, np.where(more, s0 + nfold * iY - 1 + nl, 0))
    return out


def conv_cycles_batch(N, G, C, K, R, S, X, Y, stride, T: dict, config) -> np.ndarray:
    """STONNE cycles of one conv layer for many tiles (int64 [B]). X, Y already padded; ``T``: tile field
    (T_R..T_Y) -> int array [B]; every tile must be valid for the layer (not re-checked here)."""
    return conv_timing(N, G, C, K, R, S, X, Y, stride, T, config)["cycles"]


#: tiles x multipliers evaluated at once (the timing holds ~100 B per pair): bounds a call's memory
TIMING_BLOCK_ELEMENTS = 2**20


def conv_timing(N, G, C, K, R, S, X, Y, stride, T: dict, config) -> dict[str, np.ndarray]:
    """Cycles and their parts per tile (int64 [B] each): ``cycles`` (the layer), ``finish`` (one (n, g, k)
    tile's last packet), ``drain`` (from then to its last output stored), ``loop`` (the partial-sum loop,
    cycles; 0 when there is none), ``three_way_adds`` (ADD_3_1 events of one reduction of the tile's VNs,
    from the same layout). Arguments as :func:`conv_cycles_batch`. Tiles are timed in blocks of
    at most :data:`TIMING_BLOCK_ELEMENTS` tile-multiplier pairs (memory bounded, same results); ``cycles``
    is an object array of exact Python integers when a layer's count may pass 63 bits."""
    B = int(np.asarray(T["T_R"]).size)
    step = max(1, TIMING_BLOCK_ELEMENTS // max(1, int(config.ms_size)))
    if B <= step:
        return _conv_timing(N, G, C, K, R, S, X, Y, stride, T, config)
    parts = [_conv_timing(N, G, C, K, R, S, X, Y, stride,
                          {f: np.asarray(T[f]).reshape(-1)[i:i + step] for f in TILE_FIELDS}, config)
             for i in range(0, B, step)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _conv_timing(N, G, C, K, R, S, X, Y, stride, T: dict, config) -> dict[str, np.ndarray]:
    ms, dn, rn = int(config.ms_size), int(config.dn_bw), int(config.rn_bw)
    ab = bool(config.accumulation_buffer)
    width = ms // dn
    f = {k: np.asarray(T[k], dtype=np.int64).reshape(-1, 1) for k in TILE_FIELDS}
    TR, TS, TC, TK, TG, TN, TX, TY = (f[k] for k in TILE_FIELDS)
    B = TR.shape[0]
    X_out = (X - R + stride) // stride
    Y_out = (Y - S + stride) // stride

    def cdiv(a, b):
        return -(-a // b)

    nfold = cdiv(R, TR) * cdiv(S, TS) * cdiv(C // G, TC)
    iX, iY = cdiv(X_out, TX), cdiv(Y_out, TY)
    fwd = (TY == 1) & (TS > 1) & (stride == 1) & (S % TS == 0) & (iY > 1)
    slot = ((not ab) & (nfold > 1)).astype(np.int64)      # the partial-sum multiplier of every VN
    size = TR * TS * TC + slot
    nv = TK * TG * TN * TX * TY

    # read side: packets per port of each kind of step
    w_load, f_load, n_load, q_load, f_lead, n_lead = port_loads(f, stride, fwd[:, 0], slot[:, 0], ms, dn)
    port_used = (w_load > 0) | (q_load > 0)

    # the tiles' VNs, one layout per tile, and where their sums leave the tree
    nv1, size1 = nv[:, 0], size[:, 0]
    tile = np.repeat(np.arange(B), nv1)
    lay = vn_layout(size1, nv1, ms, rn)
    start, top_depth, left_merges, right_merges, top_lo, top_hi, line, busiest = lay[:8]
    vsize = size1[tile]
    ds = int(ms > dn)

    nf, ix, iy = nfold[:, 0], iX[:, 0], iY[:, 0]
    weights = nf * w_load.max(axis=1)
    F_read = port_finish(w_load, f_load, n_load, nfold, iX, iY)
    # buffer on: a position's outputs leave once, after its last fold; a line carrying m VNs takes m
    # cycles a position, so when the lines set the pace the tile is not done before the busiest one is
    bus = weights + nf * f_load.max(axis=1) + (ix * iy - 1) * busiest
    F = np.where((bus > F_read.max(axis=1))[:, None], np.maximum(F_read, bus[:, None]), F_read)
    # buffer off, folding: the partial-sum loop
    folding = slot[:, 0] == 1
    any_folding = bool(folding.any())       # (buffer on: none; the loop below is then left out)
    loop = np.zeros(B, dtype=np.int64)
    if any_folding:
        path = partial_sum_path(start, top_lo, top_depth, left_merges)
        path_max = np.zeros(B, dtype=np.int64)
        np.maximum.at(path_max, tile, path)
        loop = MAERI_PSUM_LOOP + ds + path_max
        loop = np.where(folding, loop + (nv1 > loop), 0)

        # ports run ahead of the loop, so the loop chain, the ports' totals and the bus lines bound it
        # apart
        per_port = nf[:, None] * w_load + ix[:, None] * (nf[:, None] * f_load
                                                        + (iy - 1)[:, None] * nf[:, None] * n_load
                                                        + iy[:, None] * (nf - 1)[:, None] * q_load)
        # a position's loops run VN by VN; VNs sharing a bus line fall behind one another on it, and the
        # next position starts behind the last of them (the last position's queue is in the drain)
        # (and with as many sums as the loop has cycles, the next position finds the write FIFO busy)
        # The busiest line sends one sum a cycle from its first on; the drain below queues the last
        # position's sums on it once more, so the line's bound here leaves those (busiest - 1) out.
        behind = np.maximum(busiest - 1, (nv1 >= loop).astype(np.int64))
        chain = np.maximum.reduce([weights + ix * iy * ((nf - 1) * loop + 1) + (ix * iy - 1) * behind,
                                   weights + ix * iy * nf * busiest - (busiest - 1), per_port.max(axis=1)])
        F = np.where(folding[:, None], chain[:, None], F)
    F = np.where(port_used, F, 0)

    # drain: each VN's last sum from the last operands of its multipliers (folding: the loop chain's
    # end), then its bus line, which paces a line of m > 1 VNs from its first sum on, and the write FIFO
    vns = _VNs(tile, start, start + vsize, top_lo, top_hi, top_depth, left_merges, right_merges)
    paths = lay.paths
    out = _sums_out(vns, np.where(folding[:, None], F, np.where(port_used, F_read, 0)),
                    np.where((iY > 1), n_lead, f_lead), folding, width, paths)
    # buffer off: a read port whose partial sums alone fill the loop (as many VNs' partial-sum multipliers
    # on it as the loop has cycles) sends them back one a cycle, so the last fold's sums of those VNs
    # leave one a cycle, not together (they go in the order they were stored; VN order stands in for it)
    sat = np.flatnonzero(folding[tile]) if any_folding else ()
    if len(sat):
        key = tile[sat] * dn + start[sat] // width
        heads, count = runs(key)
        on_port = np.repeat(count, count)
        after = on_port - 1 - (np.arange(sat.size) - np.repeat(heads, count))
        out[sat] -= np.where(on_port >= loop[tile[sat]], after, 0)
    # the write FIFO still holds earlier positions' outputs when the last ones arrive (buffer on)
    period = nf * np.where(iy > 1, n_load.max(axis=1), f_load.max(axis=1))
    earlier = _earlier_outputs(out, np.where(folding, 1, ix * iy), period, busiest > 1, tile, line)
    v = np.flatnonzero((~folding & (busiest > 1) & (ix * iy > 1))[tile])
    if v.size:
        first = _sums_out(vns, np.where(port_used, _first_position_finish(w_load, f_load, nf), 0), f_lead,
                          folding, width, paths, v)
        out[v] = np.maximum(out[v], _line_paced(tile[v] * rn + line[v], first, (ix * iy)[tile[v]]))
    queued = (busiest > 1)[earlier[2]]      # on a line of several VNs they queue; alone they leave at once
    last, backlog = last_write(np.concatenate([out, earlier[0][queued]]),
                               np.concatenate([line, earlier[1][queued]]),
                               np.concatenate([tile, earlier[2][queued]]), B,
                               settled=(earlier[0][~queued], earlier[2][~queued]))
    stored = last + backlog + np.where(folding, MAERI_OUTPUT_LATENCY_AB_OFF, MAERI_OUTPUT_LATENCY_AB_ON) + ds
    finish = F.max(axis=1)
    drain = stored - finish
    iN, iG, iK = cdiv(N, TN)[:, 0], cdiv(G, TG)[:, 0], cdiv(K // G, TK)[:, 0]
    if int(iN.max()) * int(iG.max()) * int(iK.max()) * (int(finish.max()) + max(int(drain.max()), 0) + 1) >= 2**62:
        # a count that may pass 63 bits (a huge batch): exact Python integers instead of wrapping
        iN, iG, iK = iN.astype(object), iG.astype(object), iK.astype(object)
    cycles = iterated_cycles(finish, drain, weights, nv1, np.where(folding, nf, 1), ix * iy, X_out * Y_out,
                             TK[:, 0], TG[:, 0], int(K // G), iN, iG, iK)
    return {"cycles": cycles, "finish": finish, "drain": drain, "loop": loop,
            "three_way_adds": lay.three_way_adds}


class _VNs(NamedTuple):
    """The VNs of a batch of tiles (int64 arrays, one entry per VN, tile after tile): their tile, first
    and one-past-last multiplier, top block [top_lo, top_hi), the levels from the top block to the
    output adder and the blocks merged into it from the left and from the right."""

    tile: np.ndarray
    start: np.ndarray
    end: np.ndarray
    top_lo: np.ndarray
    top_hi: np.ndarray
    top_depth: np.ndarray
    left_merges: np.ndarray
    right_merges: np.ndarray


_LOW = np.iinfo(np.int64).min // 4


def _sums_out(vns: _VNs, port_time, lead, folding, width: int, paths, v=None) -> np.ndarray:
    """When VNs ``v`` (default: all) have their sum leave the output adder (cycles, int64): the latest of
    their multipliers' last operands (leaving their ports ``lead`` packets before ``port_time`` [B, dn])
    plus each multiplier's own path up the tree (``paths``, :func:`plumsim.accel.adder_tree.multiplier_paths`
    of every VN, VN after VN). A multiplier without a packet in that step holds a value forwarded earlier
    and does not wait. In folding tiles every multiplier takes its port's time as it is (the loop chain's
    end)."""
    n = vns.end - vns.start
    v = np.arange(n.size) if v is None else v
    sizes = n[v]
    heads = np.cumsum(sizes) - sizes
    vv = np.repeat(v, sizes)
    j = np.arange(vv.size) - np.repeat(heads, sizes)            # offset inside the VN
    t, m = vns.tile[vv], vns.start[vv] + j
    time = port_time[t, m // width]
    L = lead[t, m]
    fold = folding[t]
    time = np.where(fold | (L >= 0), np.where(fold, time, time - L), _LOW)
    return np.maximum.reduceat(time + paths[(np.cumsum(n) - n)[vv] + j], heads)


def _earlier_outputs(out, positions, period, shared, tile, line):
    """The outputs of each VN's positions before its last that still matter when the last ones arrive,
    one ``period`` (cycles per position on the read side, per tile) apart before ``out`` (its last
    output, not yet queued on its line): those less than WRITE_FIFO_WINDOW cycles older (the write FIFO's
    backlog), and on tiles whose bus lines carry several VNs (``shared``) those less than twice that
    (a line's queue reaches further back than the FIFO's window; its long-run pace is
    :func:`_line_paced`'s).
    Returns (arrival cycle, bus line, tile), int64 arrays, for :func:`plumsim.accel.write_side.last_write`."""
    B = period.size
    period = np.maximum(period, 1)
    # the FIFO is empty again before the next position's outputs come when a position's outputs (within
    # hi - lo cycles; at most nv of them left) are followed by enough idle cycles to halve them to 0;
    # then only the last position counts
    nv = np.bincount(tile, minlength=B)         # every tile has a VN; they are listed tile by tile
    heads = np.cumsum(nv) - nv
    lo, hi = np.minimum.reduceat(out, heads), np.maximum.reduceat(out, heads)
    idle = period - (hi - lo) - 1
    clears = ~shared & (idle > np.floor(np.log2(np.maximum(nv, 1))).astype(np.int64) + 1)
    per = period[tile]
    n = np.minimum(positions[tile] - 1,
                   np.where(shared[tile], 2 * (WRITE_FIFO_WINDOW - 1) // per, (WRITE_FIFO_WINDOW - 1) // per))
    n = np.where(clears[tile], 0, np.maximum(n, 0))
    vn = np.repeat(np.arange(out.size), n)
    j = np.arange(vn.size) - np.repeat(np.cumsum(n) - n, n) + 1
    return out[vn] - j * per[vn], line[vn], tile[vn]


def _first_position_finish(w_load, f_load, nf) -> np.ndarray:
    """Each port's last packet of a tile's first output position (its weight steps, then that
    position's steps; :func:`port_finish` with one position), cycles [B, dn]."""
    fw, ff = nf[:, None] * w_load, nf[:, None] * f_load
    return np.maximum.reduce([fw + ff, (nf - 1)[:, None] + w_load + ff, nf[:, None] + ff,
                              (2 * nf - 1)[:, None] + f_load])


def _line_paced(line_key, first, positions) -> np.ndarray:
    """The earliest cycle each VN's last sum can take its bus line, which sends one output a cycle: the
    line's earliest first-position sum + (its VNs) x (positions - 1). ``line_key``: one id per
    (tile, line); arrays per VN."""
    order = np.argsort(line_key, kind="stable")
    heads, count = runs(line_key[order])
    group = np.repeat(np.arange(heads.size), count)
    paced = np.empty(order.size, dtype=np.int64)
    paced[order] = np.minimum.reduceat(first[order], heads)[group] + count[group] * (positions[order] - 1)
    return paced


def release_outputs(g, k, TG, TK, Kg, out_pixels, vf):
    """SDMemory's iteration check: the outputs (partial sums included) that must be stored before any
    packet of the (n, g, k) tile leaves a read port: (g*T_G*K/G + k*T_K*T_G) x X'*Y' x (folds counted in
    memory, ``vf``). It ignores n: batch tiles after the first are never held. Integers or arrays."""
    return (g * TG * Kg + k * TK * TG) * out_pixels * vf


def iterated_cycles(finish, drain, weights, nv, vf, positions, out_pixels, TK, TG, Kg, iN, iG, iK):
    """Cycles of a layer of iN x iG x iK (n, g, k) tiles, each ``finish`` cycles from its first packet to
    its last and ``drain`` more to its last store, ``weights`` of them sending weights (arrays [B]; the
    other arguments as :func:`_barrier_waits`): the tiles one after another on the read side, each after the
    first held at the memory's iteration check (:func:`_barrier_waits`), then the last one's drain."""
    return iN * iG * iK * finish + _barrier_waits(finish, drain, weights, nv, vf, positions, out_pixels, TK, TG,
                                                  Kg, iN, iG, iK) + drain


def _barrier_waits(finish, drain, weights, nv, vf, positions, out_pixels, TK, TG, Kg, iN, iG, iK):
    """Cycles the (n, g, k) tiles after the first wait for SDMemory's iteration check, summed per tile.

    STONNE releases tile (n, g, k) once the outputs stored so far (every tile's, partial sums included)
    reach (g*T_G*K + k*T_K*T_G) * X'*Y'*(folds counted in memory), while each tile stores
    positions*VNs*(those folds). When the two agree (T_N = 1, T_X' | X', T_Y' | Y', n = 0) a tile waits for
    the previous one's whole drain; when fewer are needed it is released ``slack`` positions before the
    previous tile's last, saving slack positions' time from the drain; batch tiles (n > 0) and T_N > 1
    are not held at all. Arrays [B]; returns int64 [B] (object, exact, when ``iN`` is).

    Only the batch tiles that can still wait are scanned: tile t = n*iG*iK + j has
    slack(n) = slack(0) + n*iG*iK*positions exactly (per_tile is positions*VNs*folds), and its wait is 0
    once slack*per_pos >= drain, so every tile from batch tile ``n_lim`` (below) on waits 0 and a batch
    of 10^9 costs what a few batch tiles cost."""
    iters = iN * iG * iK
    per_tile = positions * nv * vf
    per_pos = np.maximum((finish - weights) // np.maximum(positions, 1), 1)
    # the common case in closed form: one batch tile and a threshold met exactly when the previous tile is
    # done (positions*VNs cover X'*Y' x T_K*T_G, T_K | K/G): every tile after the first waits the drain
    exact = (iN == 1) & (per_tile == out_pixels * TK * TG * vf) & (iK * TK == Kg)
    total = np.where(exact, (iters - 1) * drain, 0)
    total = total.astype(object if total.dtype == object else np.int64)
    for b in np.flatnonzero(~exact):
        igk, q = int(iG[b]) * int(iK[b]), int(nv[b]) * int(vf[b])
        need_max = release_outputs(int(iG[b]) - 1, int(iK[b]) - 1, int(TG[b]), int(TK[b]), Kg, int(out_pixels),
                                   int(vf[b]))
        # slack(0) >= -(need_max // q) - 1; waits end once slack >= ceil(drain / per_pos)
        settle = -(-int(drain[b]) // int(per_pos[b])) + need_max // q + 1
        n_lim = max(0, -(-settle // (igk * int(positions[b])))) + 1
        t = np.arange(1, min(int(iters[b]), n_lim * igk), dtype=np.int64)
        if t.size == 0:
            continue
        k, g = t % iK[b], (t // iK[b]) % iG[b]
        need = release_outputs(g, k, TG[b], TK[b], Kg, out_pixels, vf[b])
        slack = (t * per_tile[b] - need) // (nv[b] * vf[b])
        total[b] = int(np.maximum(0, drain[b] - np.maximum(slack, 0) * per_pos[b]).sum())
    return total


def cycles_lower_bound(N, G, C, K, R, S, X, Y, stride, T: dict, config) -> np.ndarray:
    """A lower bound on :func:`conv_cycles_batch` for each tile (int64 [B], STONNE cycles), from counts
    alone (no layout): the tile search's branch and bound. Per (n, g, k) tile, the longest of

    * the steps (one per cycle; the last one has a packet on some port);
    * every packet (weights, inputs, partial sums) over the ports that feed used multipliers (a multicast
      counted once per port it must reach, at least);
    * buffer on, or one fold: the weights, the first position's inputs, then one position per cycle on
      the busiest bus line (>= VNs / rn_bw outputs);
    * buffer off, folding: the weights, then per position (folds - 1) partial-sum loops (>= the loop
      constant + distribution tree + the top block's levels) + 1, and the bus (every fold's outputs);

    then the drain (>= the top block's levels + the output latency), waited again before every tile when
    SDMemory's iteration check holds each tile for the previous one's (:func:`_barrier_waits`)."""
    ms, dn, rn = int(config.ms_size), int(config.dn_bw), int(config.rn_bw)
    ab = bool(config.accumulation_buffer)
    width = ms // dn
    TR, TS, TC, TK, TG, TN, TX, TY = (np.asarray(T[k], dtype=np.int64).reshape(-1) for k in TILE_FIELDS)
    X_out = (X - R + stride) // stride
    Y_out = (Y - S + stride) // stride

    def cdiv(a, b):
        return -(-a // b)

    nfold = cdiv(R, TR) * cdiv(S, TS) * cdiv(C // G, TC)
    iN, iG, iK = cdiv(N, TN), cdiv(G, TG), cdiv(K // G, TK)
    iters = iN * iG * iK
    iX, iY = cdiv(X_out, TX), cdiv(Y_out, TY)
    positions = iX * iY
    folding = (not ab) & (nfold > 1)
    vsize = TR * TS * TC + folding
    nv = TK * TG * TN * TX * TY
    ports = cdiv(vsize * nv, width)
    ds = int(ms > dn)
    # distinct input rows/columns of a tile's window (a stride above the kernel leaves holes)
    xd = np.where(stride >= TR, TX * TR, TR + (TX - 1) * stride)
    yd = np.where(stride >= TS, TY * TS, TS + (TY - 1) * stride)
    chan = TN * TG * TC
    wp = TR * TS * TC * TK * TG
    fp = xd * yd * chan
    fwd = (TY == 1) & (TS > 1) & (stride == 1) & (S % TS == 0) & (iY > 1)
    np_ = np.where(fwd, xd * chan, fp)
    # a multicast costs a packet on every port it reaches: a VN's operands are distinct, and a port
    # feeds at most `shared` VNs, so the ports' packets add up to at least VNs x operands / shared
    ops = TR * TS * TC
    shared = cdiv(width - 1, vsize) + 1
    wp = np.maximum(wp, nv * ops // shared)
    fp = np.maximum(fp, nv * ops // shared)
    np_ = np.maximum(np_, nv * np.where(fwd, TR * TC, ops) // shared)
    steps = nfold * (1 + positions)
    packets = nfold * (wp + iX * (fp + (iY - 1) * np_)) + np.where(folding, positions * (nfold - 1) * nv, 0)
    lines = cdiv(nv, rn)
    weights = nfold * cdiv(wp, ports)
    bus = weights + nfold * cdiv(fp, ports) + (positions - 1) * lines
    # the output adder is the top of the VN's largest aligned block of leaf adders: >= floor(log2 units)
    units = np.maximum(1, vsize // 2 - 2)
    top = np.maximum(1, np.floor(np.log2(units)).astype(np.int64))
    loop = MAERI_PSUM_LOOP + ds + top
    chain = np.maximum(weights + positions * ((nfold - 1) * loop + 1) + (positions - 1) * (lines - 1),
                       weights + positions * nfold * lines - (lines - 1))
    per_tile = np.maximum.reduce([steps, cdiv(packets, ports), np.where(folding, chain, bus)])
    drain = top + ds + np.where(folding, MAERI_OUTPUT_LATENCY_AB_OFF, MAERI_OUTPUT_LATENCY_AB_ON)
    vf = np.where(folding, nfold, 1)
    held = (iN == 1) & (positions * nv * vf == X_out * Y_out * TK * TG * vf) & (iK * TK == K // G)
    return iters * per_tile + np.where(held, iters, 1) * drain

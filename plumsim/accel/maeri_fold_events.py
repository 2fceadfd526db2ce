"""The event-level model of one MAERI tile with the accumulation buffer off: the folding chain of
:mod:`plumsim.accel.maeri`'s cost model, cycle by cycle, with exact periodic extrapolation (and the same
read side, tree and write side for a tile of one fold, which has no partial sums to send back).

numpy only. Built from debug traces of STONNE's memory, multiplier and adder switches and from its
collection-bus source, and checked against every stored run it applies to (tests/test_maeri_fold_events.py):
exact on all 914 single-tile runs of tests/data/stonne and on the real ResNet-20 layers of set S.
With one fold the VNs have no partial-sum multiplier and a sum leaves when its products are in.

What happens in a tile of VNs (one per output channel and position of the tile), with F folds per
output position and the positions one after another (a *step* is one fold of one position; steps are
numbered position by position, fold by fold):

* **Read ports** send one packet a cycle: first the weights of every fold, then, step by step, the
  distinct inputs of their multipliers in increasing input id (:func:`plumsim.accel.maeri_timing.operand_ids`;
  with input forwarding along rows, a row's later positions send only the new column). A partial sum
  waiting for a port goes first. A packet reaches its multipliers the same cycle (one cycle later through a
  distribution tree, ms_size > dn_bw), which multiply and pass the product up at once (a multiplier
  computes at most once a cycle, after its own previous step).
* **Input forwarding**: in a row's later positions a multiplier that is not in the window's last column
  takes the value its right neighbour held in the same fold of the previous position; it computes one
  cycle after both its own previous step and that neighbour's (MSwitch forwards as it computes, and the
  multipliers cycle in index order, so the lower one receives a cycle later). Per multiplier, not per
  port: a port's last packet of a step may belong to another VN.
* **The tree**: a product takes one cycle per adder to its VN's output adder
  (:func:`plumsim.accel.adder_tree.multiplier_paths`); a VN's sum of a step leaves when its last product
  and its partial-sum multiplier's value are in.
* **Partial-sum multiplier**: sends a zero for the first step at cycle 1; forwards each partial sum the
  cycle it arrives; sends the next position's zero one cycle after it forwarded a position's last partial sum.
* **Collection bus**: a line takes a sum one cycle after the adder sent it and sends one a cycle, round
  robin over its inputs (:func:`plumsim.accel.write_side.asnetwork_bus_port`).
* **Memory**: takes what the lines sent one cycle later, in line order, into its write FIFO and stores
  ceil(s/2) of the s waiting each cycle; a stored sum that is not a position's last fold goes straight
  back to its VN's partial-sum multiplier's port.

**Exact extrapolation.** Two facts make a 146k-cycle layer cost about a thousand simulated cycles, with no
approximation:

1. *Ports ahead.* Once every read port has sent all packets of the steps the chain can reach soon (its
   sums, partial sums and queues, plus :data:`AHEAD_MARGIN` steps) and did so long enough ago for the
   products to be in, the inputs no longer decide anything: a sum leaves when its partial sum is in. The
   chain (partial sums, bus, FIFO) then runs alone, and each port's progress is counted, not simulated
   (it sends an input packet every cycle it sends no partial sum). That stays checked at every step
   boundary; should a port fall behind, the tile is simulated again without this shortcut.
2. *Periodic state.* The chain's whole state, with times taken relative to the current cycle and steps
   relative to the stored outputs, often repeats: fold after fold within a position, position after
   position. When the state at step q equals the one at step q - d, dt cycles earlier, and the steps the
   chain touches from there on are of the same kinds d steps apart (last fold of a position or not, last
   position or not) and the ports stay ahead, the next k periods are the same: the model moves the state
   k*d steps and k*dt cycles on in one go.
3. *Ports setting the pace.* While the ports are not ahead, the same holds for the whole state: the
   chain's, plus each port's cursor (step and packet) and the products in flight. The kinds then include a
   row's first position or not (with input forwarding it sends the whole window, later ones the new
   column). A cheap digest of the state (cursors, counts) comes first; the whole state is built only where
   the digest has been met before.

Each state is tried against its latest earlier occurrence, its latest at the same fold of a position and
its latest at the same place in a row: a period that crosses a position's (a row's) end is whole positions
(rows) long, and the latest occurrence may be a fold-level repeat that cannot cross it. The weight phase
at the start (every port sending weights only, nothing else moving) is passed in one go.

The tile ends with its last store: :func:`fold_tile_schedule` returns that cycle and the cycle of the
tile's last read-port packet.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np

from plumsim.accel.adder_tree import multiplier_paths, reduction_paths
from plumsim.accel.config import AcceleratorConfig, require_config
from plumsim.accel.maeri_tile import MaeriTile, tile_geometry, uses_forwarding
from plumsim.accel.maeri_timing import operand_ids, partial_sum_path
from plumsim.accel.write_side import asnetwork_bus_port
from plumsim.errors import ConfigError

#: steps beyond the chain's furthest step that every port must have sent before the chain runs alone:
#: more than the chain can advance between two checks and than a product's trip through the tree
AHEAD_MARGIN = 16
_NONE: dict = {}                 # a step nothing has computed yet (only read, never written)
#: work units of one product reaching the tree (a dictionary update, about a microsecond)
PRODUCT_WORK = 8


class FoldTileSchedule(NamedTuple):
    """One folding tile, timed event by event: ``stored`` is the cycle (1-based, STONNE's count) of its
    last store, ``last_packet`` that of its last read-port packet (weight, input or partial sum),
    ``weights`` the cycles its busiest port sends weights; ``simulated`` the cycles actually stepped
    through (the rest was extrapolated exactly); ``bus_pointers`` each collection-bus line's round-robin
    pointer at the end (the input it serves next), the state a tile held behind this one starts from."""

    last_packet: int
    stored: int
    weights: int
    simulated: int
    bus_pointers: tuple = ()


class OverBudget(RuntimeError):
    """The tile needs more simulated cycles than it was allowed (its chain did not become periodic soon
    enough): :func:`fold_tile_schedule`'s ``max_work``."""


class _PortsFellBehind(Exception):
    """The chain-alone shortcut no longer holds: time the tile again cycle by cycle."""


def fold_tile_cycles(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig,
                     max_work: int = 10**10) -> int:
    """Cycles of one (n, g, k) folding tile (its last store): :func:`fold_tile_schedule`'s ``stored``."""
    return fold_tile_schedule(N, G, C, K, R, S, X, Y, stride, tile, config, max_work).stored


def fold_tile_schedule(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig,
                       max_work: int = 10**10, extrapolate: bool = True,
                       probe_work: int | None = None, bus_pointers: tuple | None = None) -> FoldTileSchedule:
    """One (n, g, k) tile from a fresh start (the bus lines' round-robin pointers ``bus_pointers``, all 0
    by default): :func:`tile_sequence_schedule` of one tile."""
    return tile_sequence_schedule(N, G, C, K, R, S, X, Y, stride, tile, config, (0,), max_work, extrapolate,
                                  probe_work, bus_pointers)


def tile_sequence_schedule(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig,
                           gates=(0,), max_work: int = 10**10, extrapolate: bool = True,
                           probe_work: int | None = None, bus_pointers: tuple | None = None) -> FoldTileSchedule:
    """Time ``len(gates)`` consecutive (n, g, k) tiles of a MAERI conv (X, Y already padded) with the
    accumulation buffer off, from a fresh start (nothing in flight): T_N x T_G x T_K x T_X' x T_Y' VNs of
    T_R x T_S x T_C multipliers, plus the partial-sum one when a position takes more than one fold (folds,
    positions and input forwarding as :func:`plumsim.accel.maeri.maeri_conv` has them). Every tile sends the
    same packets (SDMemory sends an edge tile's missing operands as zeros); a read port goes on to the next
    tile's weights after its last input packet, but sends none of tile j's packets before ``gates[j]``
    outputs (partial sums included) are stored, counted at the start of the cycle: SDMemory's iteration
    check (docs/design.md, "tiles one after another"). The partial-sum multiplier sends the next position's
    zero after a tile's last position too. A tile of one fold has no chain to run alone (its ports always
    set the pace). ``bus_pointers``: the collection-bus lines' round-robin pointers at the start (a tile
    released only once the one before is stored in full starts from those it left, nothing else; default
    all 0). Cycles in STONNE cycles; ``stored`` is the last tile's last store. ``extrapolate=False`` steps
    through every cycle, the weight phase included (the reference the extrapolation is tested against).
    Raises ConfigError for a tile it does not model, :class:`OverBudget` past ``max_work`` units of
    simulation work (both tries together; about a tenth of a microsecond each): per simulated cycle 32
    plus the read ports and bus lines it visits, :data:`PRODUCT_WORK` per VN's products sent to the tree
    together, 4 per partial sum and 2 per store, one per step a port passes without a packet, with input
    forwarding 2 per multiplier computing from a packet and 4 per forwarded value it passes on, and the
    cost of the period checks (2 per step referenced in the state, the ports' digest, 4 per entry of a
    whole state, 64 plus 2 per period and port of a ports-ahead check).
    ``probe_work``: also raise :class:`OverBudget` once that much work is spent without a single periodic
    jump (a chain that repeats shows it early; see :data:`plumsim.accel.maeri.EVENT_PROBE_WORK`)."""
    require_config(config)
    geo = tile_geometry(N, G, C, K, R, S, X, Y, stride, tile, config)
    if config.accumulation_buffer:
        raise ConfigError("the event-level model times tiles with the accumulation buffer off; got it on",
                          field="accumulation_buffer")
    gates = tuple(int(g) for g in gates)
    if not gates or gates[0] != 0:
        raise ConfigError(f"the first tile of a sequence starts at once (gate 0); got gates {gates[:4]}",
                          field="gates")
    tile_ = _Tile(geo, tile, S, stride, config, gates)
    spent = [0, 0]               # cycles and work of a try given up
    if extrapolate:
        try:
            return _run(tile_, max_work, True, spent, probe_work=probe_work, bus_pointers=bus_pointers)
        except _PortsFellBehind:
            pass
    return _run(tile_, max_work, False, spent, skip_weights=extrapolate, bus_pointers=bus_pointers)


class _Tile:
    """The static part of a folding tile: per read port its packets, per VN its paths and bus input."""

    def __init__(self, geo, tile: MaeriTile, S: int, stride: int, config: AcceleratorConfig, gates: tuple):
        fwd = uses_forwarding(tile, S, stride, geo.iY)
        T_R, T_S, T_C, T_K, T_X, T_Y = tile.T_R, tile.T_S, tile.T_C, tile.T_K, tile.T_X, tile.T_Y
        ms, dn, rn = int(config.ms_size), int(config.dn_bw), int(config.rn_bw)
        F, rows, cols = geo.nfold, geo.iX, geo.iY
        slot = int(geo.nfold > 1)
        size = T_R * T_S * T_C + slot
        nv = tile.T_N * T_K * tile.T_G * T_X * T_Y
        width = ms // dn
        start = np.arange(nv, dtype=np.int64) * size
        level, index, top, left, _ = reduction_paths(start, np.full(nv, size), ms)
        span = ms >> level
        top_lo = np.maximum(index * span, start)
        path = multiplier_paths(start, np.full(nv, size), ms).tolist()
        m = np.arange(nv * size)
        mv, mo = m // size, m % size - slot                               # VN, offset (-1: partial-sum multiplier)
        wid, iid, s_of = operand_ids(mv, np.maximum(mo, 0), T_R, T_S, T_C, T_K, tile.T_G, tile.T_N, T_X, T_Y,
                                     stride)
        mv = mv.tolist()

        def per_vn(js):
            # the products one packet (or the forwarded values) brings: (VN, longest path, count) per VN
            out: dict = {}
            for j in js:
                e = out.setdefault(mv[j], [0, 0])
                e[0] = max(e[0], path[j])
                e[1] += 1
            return tuple((v, p, c) for v, (p, c) in out.items())

        self.full, self.new, weights = [], [], []
        # with input forwarding, per multiplier: its packets' multipliers (row-first and later steps) and
        # whether it takes forwarded values in later steps
        self.full_m, self.new_m = [], []
        self.mv, self.path = mv, path
        self.takes_forwarded = [bool(fwd and mo[j] >= 0 and s_of[j] != T_S - 1) for j in range(nv * size)]
        # the multiplier that takes j's value a position later (its left neighbour in the window), or -1
        self.left_taker = [j - 1 if j > 0 and self.takes_forwarded[j - 1] and mv[j - 1] == mv[j] else -1
                           for j in range(nv * size)]

        def info(js):
            # (multiplier, VN, path, whether a forwarded value waits for it) per multiplier of a packet
            return [(j, mv[j], path[j], self.left_taker[j] >= 0 or self.takes_forwarded[j]) for j in js]
        for p in range(dn):
            mults = [j for j in range(p * width, min((p + 1) * width, nv * size)) if mo[j] >= 0]
            full: dict = {}
            new: dict = {}
            for j in mults:
                full.setdefault(int(iid[j]), []).append(j)
                if not fwd or s_of[j] == T_S - 1:
                    new.setdefault(int(iid[j]), []).append(j)
            self.full.append([per_vn(full[k]) for k in sorted(full)])
            self.new.append([per_vn(new[k]) for k in sorted(new)] if fwd else self.full[-1])
            if fwd:
                self.full_m.append([info(full[k]) for k in sorted(full)])
                self.new_m.append([info(new[k]) for k in sorted(new)])
            weights.append(F * len({int(wid[j]) for j in mults}))
        self.F, self.rows, self.cols, self.P, self.nv, self.dn, self.fwd = F, rows, cols, rows * cols, nv, dn, fwd
        self.steps = rows * cols * F                 # per tile
        self.gates, self.tiles = gates, len(gates)
        self.end = self.tiles * self.steps
        self.last_gate = max(gates)
        # each gate at most one tile's outputs above the one before
        self.gates_rise_slowly = all(b - a <= nv * self.steps for a, b in zip(gates, gates[1:]))
        self.ds = int(ms > dn)
        self.need = size - slot
        self.h = partial_sum_path(start, top_lo, top, left).tolist()   # partial-sum multiplier -> output adder
        self.port_of = [int(s) // width for s in start]
        line, line_in = (a.tolist() for a in asnetwork_bus_port(level, index, ms, rn))
        self.lines = sorted(set(line))
        self.n_in = {ln: 1 + max(i for l_, i in zip(line, line_in) if l_ == ln) for ln in self.lines}
        self.bus_input = list(zip(line, line_in))
        # cycles from a packet to its products at the output adders, plus the longest run of partial sums
        # that can hold a port up (one outstanding per VN whose partial-sum multiplier it feeds)
        self.lead = max(path) + self.ds + 1 + max(np.bincount(np.asarray(self.port_of)).tolist())
        # packets per port: of a row's first position's step, of a later one's; the port's total
        self.n_full = np.array([len(x) for x in self.full], dtype=np.int64)
        self.n_new = np.array([len(x) for x in self.new], dtype=np.int64)
        self.W = np.array(weights, dtype=np.int64)    # weight packets per port
        self.row_packets = F * self.n_full + (cols - 1) * F * self.n_new
        self.active = np.flatnonzero(self.n_full > 0)   # ports with input multipliers
        self.tile_packets = self.W + rows * self.row_packets
        self.total_packets = self.tiles * self.tile_packets
        # a lower bound on the cycles: each port sends one packet a cycle, partial sums included
        psums = np.bincount(np.asarray(self.port_of), minlength=dn)[:dn] * (F - 1) * rows * cols
        self.min_cycles = self.tiles * int((self.tile_packets + psums).max())

    def packets_before(self, p: int, s: int) -> int:
        """Packets port ``p`` sends before step ``s`` (weights included, those of s's tile too)."""
        j, s = divmod(s, self.steps)
        r, rem = divmod(s, self.cols * self.F)
        a = min(rem, self.F)
        return int(j * self.tile_packets[p] + self.W[p] + r * self.row_packets[p] + a * self.n_full[p]
                   + (rem - a) * self.n_new[p])

    def steps_sent(self, packets: np.ndarray) -> np.ndarray:
        """Steps every active port has sent in full after ``packets`` packets (array [..., active]);
        a port with all its packets sent counts as ahead of everything."""
        A = self.active
        F, cols = self.F, self.cols
        W, nf, nn, rp = self.W[A], self.n_full[A], self.n_new[A], self.row_packets[A]
        j = packets // self.tile_packets[A]
        x = np.maximum(packets - j * self.tile_packets[A] - W, 0)
        r = x // rp
        rem = x - r * rp
        in_first = rem < F * nf
        later = np.where(nn > 0, (rem - F * nf) // np.maximum(nn, 1), (cols - 1) * F)
        within = np.where(in_first, rem // nf, F + np.minimum(later, (cols - 1) * F))
        done = packets >= self.total_packets[A]
        return np.where(done, np.iinfo(np.int64).max // 4, j * self.steps + r * cols * F + within)

    def kind_change(self, lo: int, d: int, tiles_repeat: bool, by_rows: bool = True) -> int:
        """:func:`first_kind_change` over a sequence of tiles: a period of whole tiles repeats up to the
        last tile's last position when ``tiles_repeat`` (no gate can hold the tiles ahead differently from
        the observed ones), and not at all otherwise; any other period stays inside one tile (a tile's last
        position is followed by weights). ``by_rows``: rows matter (the ports set the pace, with input
        forwarding)."""
        F, P, cols = self.F, self.P, self.cols if self.fwd and by_rows else 1
        if self.tiles == 1:
            return first_kind_change(lo, d, F, P, cols)
        if d % self.steps == 0:
            return first_kind_change(lo, d, F, self.tiles * P, cols) if tiles_repeat else lo
        if d > self.steps:
            return lo
        base = lo - lo % self.steps
        return base + first_kind_change(lo - base, d, F, P, cols)


def first_kind_change(lo: int, d: int, F: int, P: int, cols: int = 1) -> int:
    """The first step s >= lo whose kind differs from step s + d's (kind: a position's last fold or not,
    the last position or not, past the tile's last step or not and, with ``cols`` > 1, a row's first
    position or not), steps F to a position, P positions, ``cols`` positions to a row."""
    first = (P - 1) * F - d              # from here on s + d lies in the last position (or past it)
    a, b = divmod(d, F)
    if b:
        # the last-fold flag differs where s or s + d is a position's last fold; up to there s and s + d
        # each stay in one position
        r = lo % F
        gaps = [(F - 1 - r) % F, (F - 1 - b - r) % F]
        first = min(first, lo + min(gaps))
        if cols > 1 and ((lo // F) % cols == 0) != (((lo + d) // F) % cols == 0):
            first = lo
    elif cols > 1 and a % cols:
        # positions d / F apart: the row-first flags differ at the next position that starts a row, or
        # whose partial d / F positions on does
        p0 = lo // F
        p = min(-(-p0 // cols) * cols, p0 + (-a - p0) % cols)
        first = min(first, p * F)
    return max(lo, first)


def _run(tt: _Tile, max_work: int, extrapolate: bool, spent: list, skip_weights: bool = True,
         probe_work: int | None = None, bus_pointers: tuple | None = None) -> FoldTileSchedule:
    F, P, nv, dn, fwd, ds, need = tt.F, tt.P, tt.nv, tt.dn, tt.fwd, tt.ds, tt.need
    cols, total, h, port_of = tt.cols, tt.steps, tt.h, tt.port_of
    n_steps, gates, P_all = tt.end, tt.gates, tt.tiles * tt.P     # steps of the whole sequence, its positions
    full, new, full_m, new_m = tt.full, tt.new, tt.full_m, tt.new_m
    MV, PATH, TAKES, LEFT = tt.mv, tt.path, tt.takes_forwarded, tt.left_taker
    lines, bus_input = tt.lines, tt.bus_input
    psum_ports = sorted(set(port_of))

    products: dict = {}          # (vn, step) -> [latest product at the output adder, count]
    # (vn, step) -> its partial sum at the output adder (a zero first; none with one fold)
    psum: dict = {(v, 0): 1 + h[v] for v in range(nv)} if F > 1 else {}
    leaving: dict = {}           # cycle -> sums leaving output adders
    line_q = {ln: [deque() for _ in range(tt.n_in[ln])] for ln in lines}
    queued = dict.fromkeys(lines, 0)
    rr = dict.fromkeys(lines, 0) if bus_pointers is None else dict(zip(lines, bus_pointers))
    alone = False                # the chain runs alone (ports ahead)

    def ready(key):
        if alone:
            leaving.setdefault(psum.pop(key), []).append(key)
            return
        got = products.get(key)
        if got is not None and got[1] == need:
            at = psum.get(key) if F > 1 else 0
            if at is not None:
                del products[key]
                if F > 1:
                    del psum[key]
                leaving.setdefault(max(got[0], at), []).append(key)

    def product(v, s, at, c):
        key = (v, s)
        got = products.get(key)
        if got is None:
            got = products[key] = [at, c]
        else:
            if at > got[0]:
                got[0] = at
            got[1] += c
        if got[1] == need:
            ready(key)

    def send_psum(p, t):
        v, s = psum_q[p].popleft()
        psum_sent[p] += 1
        arrive = t + ds
        psum[(v, s)] = arrive + h[v]
        ready((v, s))
        if s % F == F - 1 and s // F + 1 < P_all:
            psum[(v, s + 1)] = arrive + 1 + h[v]         # the next position's zero
            ready((v, s + 1))

    cur_s = [0 if n else n_steps for n in tt.n_full.tolist()]     # a port with no input multiplier sends none
    cur_k = [0] * dn
    weights_left = tt.W.tolist()
    W = weights_left[:]
    w_tile = [0] * dn            # the tile whose weights each port has started
    held_at = -1                 # the last cycle a port waited for a tile's gate
    psum_q = [deque() for _ in range(dn)]
    psum_sent = np.zeros(dn, dtype=np.int64)
    fifo: deque = deque()
    sent: list = []
    stored = t = last = last_packet = simulated = work = 0
    # the work allowed until the first periodic jump (then the whole budget)
    limit = max_work if probe_work is None else min(max_work, probe_work)
    n_lines = len(lines)
    q_seen = front_prev = 0
    guard = -1                   # the chain may reach step `guard` before the ports are checked again
    seen: dict = {}
    digests: set = set()         # digests of the states met while the ports set the pace
    t_alone, packets_alone, psums_alone = 0, None, None
    A = tt.active
    active = A.tolist()

    def sent_lead_ago(pk):
        # at least the packets each active port had sent ``lead`` cycles before it sent ``pk`` (one a cycle
        # at most; ``pk`` counts every cycle without a partial sum, past the port's last packet too)
        return np.minimum(pk - tt.lead, tt.total_packets[A])

    def packets_now():
        return packets_alone + (t - t_alone) - (psum_sent[A] - psums_alone)

    def fell_behind():
        # the try is given up: its cycles and work count against the budget of the next
        spent[0] += simulated
        spent[1] += work
        return _PortsFellBehind()

    def over_budget():
        return OverBudget(f"folding tile did not finish within {max_work} units of simulation work")

    # with input forwarding: when each multiplier computed each step (step -> {multiplier: cycle})
    computed: dict = {}
    n_computed = 0

    def forwarded_values(stack, got):
        # multipliers ``stack`` [(j, q, cycle)] computed: the forwarded values that waited for them, their
        # products grouped in ``got`` ((VN, step) -> [latest at the output adder, count]). A multiplier
        # taking a forwarded value in step y computes one cycle after both its own step y - 1 and its right
        # neighbour's step y - F (the value it forwards then, received a cycle later: MSwitch cycles in
        # index order and forwards to the one below); a row's first position gets every value from its port
        nonlocal n_computed
        while stack:
            a, b, c = stack.pop()
            # a's left neighbour takes a's value a position later, once past its own step y - 1; a's own next
            # step takes its right neighbour's value of a position before
            for x, y, o_step, o_mult in ((LEFT[a], b + F, b + F - 1, LEFT[a]),
                                         (a if TAKES[a] else -1, b + 1, b + 1 - F, a + 1)):
                if x < 0 or y >= n_steps or not (y // F) % cols:
                    continue
                at_y = computed.get(y, _NONE)
                if x in at_y:
                    continue
                o = computed.get(o_step, _NONE).get(o_mult)
                if o is None:
                    continue
                cx = (o if o > c else c) + 1
                if at_y is _NONE:
                    at_y = computed[y] = {}
                at_y[x] = cx
                n_computed += 1
                stack.append((x, y, cx))
                e = got.get((MV[x], y))
                if e is None:
                    got[(MV[x], y)] = [cx + PATH[x], 1]
                else:
                    e[0] = max(e[0], cx + PATH[x])
                    e[1] += 1

    def new_values(js, q, arrive):
        # the multipliers of one packet compute as it arrives (after their own previous step)
        nonlocal work, n_computed
        got: dict = {}
        before = computed.get(q - 1, _NONE)
        at_q = computed.get(q)
        if at_q is None:
            at_q = computed[q] = {}
        n_computed += len(js)
        stack = []
        for j, v, pj, dep in js:
            c = before.get(j)
            c = arrive if c is None or c < arrive else c + 1
            at_q[j] = c
            e = got.get((v, q))
            if e is None:
                got[(v, q)] = [c + pj, 1]
            else:
                e[0] = max(e[0], c + pj)
                e[1] += 1
            if dep:
                stack.append((j, q, c))
        n = len(stack)
        if n:
            forwarded_values(stack, got)
        work += 2 * len(js) + 4 * n + PRODUCT_WORK * len(got)
        for (v, y), (at, m) in got.items():
            product(v, y, at, m)

    def enter_tile(p, s):
        # port p is through tile j - 1: it sends tile j's first weight once j's gate is open
        nonlocal held_at
        j = s // total
        if stored_before < gates[j]:
            held_at = t
            return False
        w_tile[p] = j
        weights_left[p] = W[p] - 1
        return True

    # the weight phase: until the first input port is through its weights nothing but weights leave
    skip = min(weights_left[p] for p in active) - 1
    if skip_weights and skip > 0:
        weights_left = [max(0, w - skip) for w in weights_left]
        t = last_packet = skip

    while stored < nv * n_steps:
        stored_before = stored   # what SDMemory's iteration check sees this cycle
        t += 1
        simulated += 1
        work += 32 + (len(psum_ports) if alone else dn) + n_lines
        if work + spent[1] > limit:
            if limit == max_work:
                raise over_budget()
            # no period yet: go on only if stepping through the rest at this pace fits the budget (the
            # read side's packets bound the cycles left from below)
            if work + spent[1] + work / simulated * (tt.min_cycles - t) > max_work:
                raise OverBudget(f"folding tile found no period within {probe_work} units of simulation work "
                                 f"and stepping through its {tt.min_cycles}+ cycles would take more than "
                                 f"{max_work}")
            limit = max_work
        # memory: last cycle's line outputs in line order, then ceil(s/2) stores; partial sums go back
        if sent:
            if len(sent) > 1:
                sent.sort(key=lambda e: e[0])
            fifo.extend(item for _, item in sent)
            sent = []
        if fifo:
            n_store = (len(fifo) + 1) // 2
            work += 2 * n_store
            for _ in range(n_store):
                v, s = fifo.popleft()
                stored += 1
                if s % F != F - 1:
                    psum_q[port_of[v]].append((v, s + 1))
            last = t
        # read ports: one packet each, partial sums first
        if alone:
            for p in psum_ports:
                if psum_q[p]:
                    send_psum(p, t)
                    work += 4
                    last_packet = t
        else:
            for p in range(dn):
                if psum_q[p]:
                    send_psum(p, t)
                    work += 4
                    last_packet = t
                    continue
                if weights_left[p]:
                    weights_left[p] -= 1
                    last_packet = t
                    continue
                s = cur_s[p]
                if s >= n_steps:
                    continue
                if s // total > w_tile[p]:
                    if not enter_tile(p, s):
                        continue
                    last_packet = t
                    continue
                first = (s // F) % cols == 0
                packets = full[p] if first else new[p]
                while not packets:
                    work += 1
                    if work + spent[1] > max_work:
                        raise over_budget()
                    s += 1
                    if s >= n_steps or s % total == 0:
                        break
                    first = (s // F) % cols == 0
                    packets = full[p] if first else new[p]
                cur_s[p] = s
                if s >= n_steps:
                    continue
                if s % total == 0 and s // total > w_tile[p]:
                    if enter_tile(p, s):
                        last_packet = t
                    continue
                arrive = t + ds
                k = cur_k[p]
                if fwd:
                    new_values((full_m[p] if first else new_m[p])[k], s, arrive)
                else:
                    work += PRODUCT_WORK * len(packets[k])
                    for v, d, c in packets[k]:
                        product(v, s, arrive + d, c)
                k += 1
                last_packet = t
                if k == len(packets):
                    cur_s[p] = s + 1
                    k = 0
                cur_k[p] = k
        # collection bus: last cycle's sums into the lines' inputs, one out per line (round robin)
        got = leaving.pop(t - 1, None)
        if got:
            for key in got:
                ln, i = bus_input[key[0]]
                line_q[ln][i].append(key)
                queued[ln] += 1
        for ln in lines:
            if queued[ln]:
                qs = line_q[ln]
                n = len(qs)
                ptr = rr[ln]
                for j in range(n):
                    i = (ptr + j) % n
                    if qs[i]:
                        sent.append((ln, qs[i].popleft()))
                        queued[ln] -= 1
                        rr[ln] = (i + 1) % n
                        break
        if not extrapolate or stored // nv <= q_seen or stored >= nv * n_steps:
            continue

        # a step boundary: q steps' worth of outputs stored
        q = q_seen = stored // nv
        refs = [s for d_ in psum_q for _, s in d_] + [s for _, s in fifo] + [s for _, (_, s) in sent]
        refs += [s for l_ in leaving.values() for _, s in l_]
        refs += [s for ln in lines for d_ in line_q[ln] for _, s in d_] + [s for _, s in psum]
        front = max(refs) + 1 if refs else q
        work += 2 * len(refs) + (dn + n_lines) // 4
        if not alone:
            if any(weights_left):
                continue
            if fwd:
                # forwarded values still to compute need no step before the slowest port's, less a position
                low = min(cur_s[p] for p in active) - F - 1
                for y in [y for y in computed if y < low]:
                    n_computed -= len(computed.pop(y))
                work += len(computed)
                if computed:
                    refs += [min(computed), max(computed)]
            # (one fold: no chain to run alone; a port's cursor bounds the steps it has sent)
            gates_open = stored >= tt.last_gate     # no tile from here on waits for the iteration check
            # a period of whole tiles repeats if no gate held a port in it and none can later: none is left
            # to hold one, or they rise no faster than the stores
            if F > 1 and gates_open and min(cur_s[p] for p in active) > front + AHEAD_MARGIN:
                # (a port at a tile's start that has not sent its first weight yet is W short)
                pk = np.array([tt.packets_before(p, cur_s[p]) + cur_k[p]
                               - (W[p] if cur_s[p] // total > w_tile[p] else 0) for p in A], dtype=np.int64)
                if np.all(tt.steps_sent(pk - tt.lead) > front + AHEAD_MARGIN):
                    alone = True
                    t_alone, packets_alone, psums_alone = t, pk, psum_sent[A].copy()
                    products = {}
                    computed = {}
                    n_computed = 0
                    front_prev = front
                    guard = -1
                    seen = {}
                    continue
            # the ports set the pace: the whole state, ports and products in flight included, may repeat
            # a cheap digest first; the whole state is built only where the digest has come up before
            ports = tuple((cur_s[p] - q, cur_k[p], cur_s[p] // total - w_tile[p]) for p in active)
            digest = (ports, stored - q * nv, len(products), len(psum), len(fifo), len(sent), len(leaving),
                      last_packet - t, last - t, n_computed)
            work += len(ports)
            if digest not in digests:
                digests.add(digest)
                continue
            refs += [cur_s[p] for p in active]
            work += 4 * (len(refs) + len(products) + n_computed)
            state = _chain_state(q, t, psum_q, psum, leaving, line_q, queued, rr, lines, fifo, sent,
                                 stored - q * nv) + (
                ports, tuple(sorted((v, s - q, at - t, c) for (v, s), (at, c) in products.items())),
                last_packet - t, last - t,
                tuple(sorted((y - q, tuple(sorted((j, c - t) for j, c in at.items()))) for y, at in computed.items())))
            for q0, t0, sent0 in _earlier(seen, state, (q, t, psum_sent.copy()), F, cols if fwd else 1, total):
                d, dt = q - q0, t - t0
                end = tt.kind_change(min(refs) - d, d, held_at < t0 and (gates_open or tt.gates_rise_slowly))
                k = (end + d - 1 - (max(refs) + 2)) // d - 1
                if k >= 1:
                    break
            else:
                continue
            per_period = psum_sent - sent0
        else:
            if front - front_prev > AHEAD_MARGIN:
                raise fell_behind()
            front_prev = front
            if front > guard:
                work += 64
                ahead = int(tt.steps_sent(sent_lead_ago(packets_now())).min()) - AHEAD_MARGIN - 1
                if ahead < front:
                    raise fell_behind()
                guard = ahead

            state = _chain_state(q, t, psum_q, psum, leaving, line_q, queued, rr, lines, fifo, sent,
                                 stored - q * nv)
            for q0, t0, sent0 in _earlier(seen, state, (q, t, psum_sent.copy()), F, 1, total):
                d, dt = q - q0, t - t0
                per_period = psum_sent - sent0
                # the kinds of the steps the chain touches must repeat every d steps for k more periods
                lo = min(refs) - d if refs else q - d
                end = tt.kind_change(lo, d, True, by_rows=False)
                k = (end + d - 1 - (front + 1)) // d - 1
                if k < 1:
                    continue
                # the ports must stay ahead at the start of every period (they send a packet each cycle
                # without a partial sum), up to where the chain is at its end
                work += 64 + 2 * k * A.size
                j = np.arange(1, k + 1)[:, None]
                pk = packets_now()[None, :] + (j - 1) * (dt - per_period[A])[None, :]
                ok = np.all(tt.steps_sent(sent_lead_ago(pk)) > front + j * d + AHEAD_MARGIN, axis=1)
                if not ok.all():
                    k = int(np.argmin(ok))
                if k >= 1:
                    break
            else:
                continue
        # k periods of d steps and dt cycles repeat from here: move the whole state on
        sh, th = k * d, k * dt
        limit = max_work
        psum_q, psum, leaving, line_q, fifo, sent = _shifted(psum_q, psum, leaving, line_q, lines, fifo, sent,
                                                             sh, th)
        if not alone:
            products = {(v, s + sh): [at + th, c] for (v, s), (at, c) in products.items()}
            computed = {y + sh: {j: c + th for j, c in at.items()} for y, at in computed.items()}
            for p in active:
                w_tile[p] += (cur_s[p] + sh) // total - cur_s[p] // total
                cur_s[p] += sh
        stored += sh * nv
        psum_sent = psum_sent + k * per_period
        t += th
        last += th
        last_packet += th
        q_seen = q + sh
        front_prev = front + sh
        guard = -1
    return FoldTileSchedule(last_packet=last_packet, stored=last, weights=int(tt.W.max()),
                            simulated=simulated + spent[0], bus_pointers=tuple(rr[ln] for ln in lines))


def _earlier(seen: dict, state: tuple, now: tuple, F: int, cols: int, tile_steps: int) -> list:
    """Earlier occurrences of ``state`` worth trying as a period's start, latest first: the latest one, and
    the latest at the same fold (a period that crosses a position's end is whole positions long) and, with
    ``cols`` > 1 positions to a row, the latest at the same place in a row (one that crosses a row's end is
    whole rows long) and the latest at the same place in a tile (``tile_steps`` steps: one that crosses a
    tile's end is whole tiles long). Records ``now`` = (step, cycle, partial sums sent)."""
    q = now[0]
    marks = seen.setdefault(state, {})
    keys = ("last", ("fold", q % F), ("row", q % (F * cols)), ("tile", q % tile_steps))
    got = [marks.get(k) for k in keys]
    for k in keys:
        marks[k] = now
    out = []
    for e in got:
        if e is not None and e not in out:
            out.append(e)
    return out


def _chain_state(q, t, psum_q, psum, leaving, line_q, queued, rr, lines, fifo, sent, stored_ahead) -> tuple:
    """The chain's state (partial sums queued and in flight, sums leaving the tree, bus lines, write FIFO,
    outputs stored beyond q steps), times relative to cycle ``t`` and steps to step ``q``: equal states
    evolve alike while the steps they reach are of the same kinds."""
    def rel(items):
        return tuple((v, s - q) for v, s in items)
    return (tuple((p, rel(d_)) for p, d_ in enumerate(psum_q) if d_),
            tuple(sorted((v, s - q, at - t) for (v, s), at in psum.items())),
            tuple(sorted((at - t, rel(l_)) for at, l_ in leaving.items())),
            tuple((ln, i, rel(d_)) for ln in lines if queued[ln] for i, d_ in enumerate(line_q[ln]) if d_),
            tuple(rr[ln] for ln in lines), rel(fifo), tuple((ln, v, s - q) for ln, (v, s) in sent), stored_ahead)


def _shifted(psum_q, psum, leaving, line_q, lines, fifo, sent, sh: int, th: int):
    """The chain's queues moved ``sh`` steps and ``th`` cycles on (a jump of whole periods)."""
    return ([deque((v, s + sh) for v, s in d_) for d_ in psum_q],
            {(v, s + sh): at + th for (v, s), at in psum.items()},
            {at + th: [(v, s + sh) for v, s in l_] for at, l_ in leaving.items()},
            {ln: [deque((v, s + sh) for v, s in d_) for d_ in line_q[ln]] for ln in lines},
            deque((v, s + sh) for v, s in fifo),
            [(ln, (v, s + sh)) for ln, (v, s) in sent])

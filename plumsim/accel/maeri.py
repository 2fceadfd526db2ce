"""MAERI dense-workload model (STONNE's MAERI_DENSE_WORKLOAD controller): CONV, FC and dense GEMM.

numpy only. Cycles come from :mod:`plumsim.accel.maeri_timing` (the one timing rule, shared with the tile
search; its docstring gives the mechanism read from STONNE's source). This module holds the tile, its
checks (:func:`validate_tile`; :func:`stonne_problem`: what STONNE's CLI cannot run) and the counters:

* A tile (T_R, T_S, T_C, T_K, T_G, T_N, T_X', T_Y') maps ``num_virtual_neurons`` virtual neurons (VNs) of
  ``virtual_neuron_size`` = T_R*T_S*T_C multipliers each onto consecutive multipliers (one more per VN with
  the accumulation buffer off and folding); VN index runs n, g, k, x', y' (y' fastest), and inside a VN
  the multiplier offset runs c, r, s (s fastest).
* Each of the dn_bw read ports feeds a distribution tree of ms_size/dn_bw consecutive multipliers; a packet
  multicast to several multipliers takes one slot on every port that has at least one destination.
* Global-buffer reads: every weight once per batch tile; an input only where it lies inside the fold's
  real kernel window (:func:`_input_reads`); partial sums (buffer off) once per fold after the first.
* Reduction: every input step reduces each VN once on the ASNETWORK; the split of its adds into ADD_2_1
  and ADD_3_1 depends on where the VNs sit in the adder tree (:mod:`plumsim.accel.adder_tree`).

Returned cycles are STONNE cycles; counters are STONNE event counts with STONNE's component/action names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plumsim.accel.config import AcceleratorConfig, require_config
from plumsim.accel.lru import LRUMemo
from plumsim.accel.maeri_fold_events import OverBudget, fold_tile_schedule, tile_sequence_schedule
from plumsim.accel.maeri_timing import (TILE_FIELDS, conv_cycles_batch, conv_timing, release_outputs,
                                        tile_traffic, vn_layout)
from plumsim.accel.maeri_tile import MaeriTile, TileGeometry, tile_geometry, uses_forwarding, validate_tile
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError


# ----------------------------------------------------------------------------------------------
# what STONNE's CLI can run


def stonne_problems(T: dict, R: int, S: int, Cg: int, X_out: int, Y_out: int, stride: int,
                    ms_size: int, accumulation_buffer: bool) -> list[np.ndarray]:
    """Why STONNE's MAERI CLI cannot run each tile (vectorised: ``T`` maps T_R..T_Y to int arrays [B]).

    Returns (reason, mask [B]) pairs, mask True where the tile breaks the rule: a virtual neuron of one
    multiplier (STONNE aborts in Accumulator.cpp); T_X' or T_Y' not dividing X' or Y' (its functional check
    fails); T_X' or T_Y' > 1 at stride > 1 (wrong results); T_N > 1 with T_G > 1 (SDMemory sends batch item
    n's inputs to the VNs n*T_K*T_X'*T_Y' on, leaving T_G out of the offset its weights use: wrong results,
    set U's C_mbatchg_011/012/023/024); with the accumulation buffer off and folding, VNs one multiplier
    wider than the array (STONNE's extra partial-sum multiplier per VN)."""
    g = {k: np.asarray(T[k], dtype=np.int64) for k in TILE_FIELDS}
    vns = g["T_R"] * g["T_S"] * g["T_C"]
    nv = g["T_K"] * g["T_G"] * g["T_N"] * g["T_X"] * g["T_Y"]
    nfold = -(-R // g["T_R"]) * -(-S // g["T_S"]) * -(-Cg // g["T_C"])
    slot = (not accumulation_buffer) & (nfold > 1)
    return [
        ("a virtual neuron of one multiplier (T_R*T_S*T_C = 1): STONNE aborts (Accumulator.cpp)", vns < 2),
        (f"T_X' or T_Y' does not divide X'={X_out} / Y'={Y_out}: STONNE's functional check fails then",
         (X_out % g["T_X"] != 0) | (Y_out % g["T_Y"] != 0)),
        (f"T_X' = T_Y' = 1 at stride {stride}: STONNE's MAERI gives wrong results otherwise",
         (stride > 1) & ((g["T_X"] > 1) | (g["T_Y"] > 1))),
        ("T_N > 1 with T_G > 1: STONNE's MAERI sends batch items' inputs to the wrong multipliers then "
         "(its input offset leaves T_G out) and fails its functional check", (g["T_N"] > 1) & (g["T_G"] > 1)),
        (f"with the accumulation buffer off and folding every VN takes one more multiplier: "
         f"(T_R*T_S*T_C + 1) * VNs must fit ms_size={ms_size}", slot & ((vns + 1) * nv > ms_size)),
    ]


def stonne_problem(tile: MaeriTile, shape, config: AcceleratorConfig) -> str | None:
    """The first reason STONNE's MAERI CLI cannot run ``tile`` on ``shape`` (a LayerShape), or None."""
    p = int(getattr(shape, "padding", 0))
    X, Y = int(shape.X) + 2 * p, int(shape.Y) + 2 * p
    stride = int(getattr(shape, "stride", 1))
    X_out, Y_out = (X - shape.R + stride) // stride, (Y - shape.S + stride) // stride
    T = {f: [getattr(tile, f)] for f in TILE_FIELDS}
    for reason, bad in stonne_problems(T, shape.R, shape.S, shape.C // shape.G, X_out, Y_out, stride,
                                       int(config.ms_size), bool(config.accumulation_buffer)):
        if bad[0]:
            return reason
    return None


# ----------------------------------------------------------------------------------------------
# per-port loads of one tile


@dataclass(frozen=True)
class _TileTraffic:
    """Distribution-network traffic of the three kinds of step (weights, input window, new column only)."""

    w_deliv: int           # multipliers fed from memory per step kind
    f_deliv: int
    n_deliv: int
    w_routes: int          # switch routes (distinct packet x switch) per step kind
    f_routes: int
    n_routes: int


def _tile_traffic(tile: MaeriTile, stride: int, ms_size: int, dn_bw: int, forwarding: bool,
                  psum_slot: bool) -> _TileTraffic:
    """Deliveries and switch routes per step, on STONNE's layout (with the partial-sum multiplier of
    every VN when ``psum_slot``: it gets no weight or input packets):
    :func:`plumsim.accel.maeri_timing.tile_traffic`, from the sort that gives the read ports' loads."""
    fed, fed_new, w_routes, f_routes, n_routes = tile_traffic(
        {f: getattr(tile, f) for f in TILE_FIELDS}, stride, forwarding, psum_slot, ms_size, dn_bw)
    return _TileTraffic(w_deliv=fed, f_deliv=fed, n_deliv=fed_new, w_routes=w_routes, f_routes=f_routes,
                        n_routes=n_routes)


# ----------------------------------------------------------------------------------------------
# the model


def _tree_adds_per_step(vn_size: int, num_vns: int, three_way: int, psum_slot: bool) -> tuple[int, int]:
    """(ADD_2_1, ADD_3_1) adder events of one input step: one reduction of the tile's virtual neurons,
    laid back to back from multiplier 0 on the ASNETWORK (see :mod:`plumsim.accel.adder_tree`); the
    ADD_3_1 count ``three_way`` comes from the timing's VN layout (``conv_timing``), and every VN's
    additions total its size - 1.

    ``psum_slot``: accumulation buffer off and folding on: STONNE widens every virtual neuron by one
    multiplier that receives the partial sum read back from memory (its tile_VN_Size is T_R*T_S*T_C + 1),
    in every step, also in the first fold; the tree then reduces ``vn_size + 1`` values per virtual
    neuron (the widened tile always fits: :func:`tile_geometry` checks it).
    """
    return num_vns * (vn_size + int(psum_slot) - 1) - 2 * three_way, three_way


def _input_reads(R: int, S: int, Cg: int, tile: MaeriTile, stride: int, geo: TileGeometry, fwd: bool) -> int:
    """Global-buffer input reads (events). STONNE sends every input packet of a step but reads (and counts)
    only those inside the fold's real kernel window: a window row, counted from the fold's first kernel
    row, below T_X' + R - 1, a column likewise below T_Y' + S - 1 (the bound leaves out the stride), and
    a real channel (below C/G). The count factorises over the fold's R, S and C offsets."""
    xin = tile.T_R + (tile.T_X - 1) * stride
    yin = tile.T_S + (tile.T_Y - 1) * stride

    def inside(n_iter, t, span, bound, lo=0):
        # entries i*t + j < bound, i < n_iter, lo <= j < span: whole rows of span - lo while
        # i*t + span <= bound, then a few partial rows (at most (span - lo) / t of them)
        full = min(n_iter, max(0, (bound - span) // t + 1)) if bound >= span else 0
        count = full * (span - lo)
        for i in range(full, n_iter):
            if bound - i * t <= lo:
                break
            count += bound - i * t - lo
        return count

    rows = inside(geo.iR, tile.T_R, xin, tile.T_X + R - 1)
    cols_full = inside(geo.iS, tile.T_S, yin, tile.T_Y + S - 1)
    cols_new = inside(geo.iS, tile.T_S, yin, tile.T_Y + S - 1, lo=yin - 1) if fwd else cols_full
    chans = inside(geo.iC, tile.T_C, tile.T_C, Cg)
    per_row = cols_full + (geo.iY - 1) * cols_new
    return geo.iters * tile.T_N * tile.T_G * chans * rows * geo.iX * per_row


#: simulation work (:func:`plumsim.accel.maeri_fold_events.fold_tile_schedule`'s units, about a tenth of a
#: microsecond each) the event-level model may take per tile before the closed form times the tile
#: instead: enough for every stored calibration run and for 7 of the 10 real layers of set S (the largest,
#: C_mfreal_007, takes 553k), 40-140 ms when spent in full on the 2-core VM of benchmarks/bench_accel.py.
#: Not a fitted constant: a cost limit.
EVENT_WORK_BUDGET = 600_000

#: of that budget, the work a tile may take before its first periodic jump unless stepping through the rest
#: fits the budget (:func:`plumsim.accel.maeri_fold_events.fold_tile_schedule`'s ``probe_work``): a chain
#: that repeats shows it early. Every stored calibration run that needs more than this had jumped by then
#: (the latest first jump: 93k units, C_mfreal_003 and 005, whose input forwarding is tracked per
#: multiplier), or is short enough to step through (C_maeri_conv_18, no period at all). On the 1,001
#: buffer-off tiles of the ResNet-18 sweep grid (benchmarks/bench_event_budget.py) 376 finish event-level
#: and 625 go to the closed form, 30 s in all on the 2-core VM (the model before forwarding was tracked
#: per multiplier: 397, 29.5 s, the same hour); without the probe 10 more finish and it takes 1.6x longer.
#: Not a fitted constant: a cost limit.
EVENT_PROBE_WORK = 150_000

#: event-level schedules (or None: over budget) per (layer, tile, machine): a network repeats its shapes
_SCHEDULES = LRUMemo(max_items=4096)


#: the most (n, g, k) tiles one event-level run takes in a row (tiles that overlap: batch tiles, or tiles
#: released before the previous one is stored); a longer run goes to the closed form. Not a fitted
#: constant: a cost limit.
EVENT_MAX_TILES = 4096


def event_timed(tile: MaeriTile, config: AcceleratorConfig) -> bool:
    """Whether a tile is timed event by event (:mod:`plumsim.accel.maeri_fold_events`): the accumulation
    buffer off (and, see :func:`_timing`, within :data:`EVENT_WORK_BUDGET` and :data:`EVENT_MAX_TILES`).
    Every other tile, and the tile search for all tiles, uses the closed form of
    :mod:`plumsim.accel.maeri_timing`."""
    return not config.accumulation_buffer


def tile_sequence(K: int, G: int, tile: MaeriTile, geo: TileGeometry) -> tuple[int, np.ndarray]:
    """How a layer's (n, g, k) tiles (n slowest, k fastest) follow each other on the read side: ``held``,
    the number of tiles at the start of which each is released only once the one before is stored in full
    (so each takes one tile's time, from the bus pointers the one before left), and the release gates of
    the tiles from there on (int64 [iters - held]: outputs stored since that point before the tile's first
    packet may leave, :func:`plumsim.accel.maeri_timing.release_outputs`; the first is 0). A tile stores
    VNs x positions x folds outputs; its release needs T_K*T_G*X'*Y' x folds more than the one before
    within a batch tile, the same when T_N = 1, T_X' | X', T_Y' | Y' and T_K | K/G, and none for a later
    batch tile. Tile counts that do not fit in memory raise nothing here: see :data:`EVENT_MAX_TILES`."""
    F = geo.nfold
    per_tile = tile.num_virtual_neurons * geo.iX * geo.iY * F
    round_ = geo.iG * geo.iK                                  # the tiles of one batch tile
    j = np.arange(round_, dtype=np.int64)
    first = release_outputs(j // geo.iK, j % geo.iK, tile.T_G, tile.T_K, K // G, geo.X_out * geo.Y_out, F)
    short = np.flatnonzero(first != j * per_tile)
    held = int(short[0]) - 1 if short.size else round_ - 1    # the last held tile starts the sequence
    count = geo.iters - held
    if count > EVENT_MAX_TILES:
        return held, np.zeros(0, dtype=np.int64)
    jj = np.arange(held, geo.iters, dtype=np.int64) % round_
    gates = np.maximum(first[jj] - held * per_tile, 0)
    gates[0] = 0
    return held, gates


def _timing(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig, geo: TileGeometry) -> dict:
    """The layer's cycles and their parts for one tile (as :func:`plumsim.accel.maeri_timing.conv_timing`,
    Python ints; ``loop`` is the closed form's partial-sum loop, None when the event-level model timed the
    tile), ``model`` naming what timed the tile's chain: ``"event-level"``, ``"closed form"``, or
    ``"closed form (event-level over budget)"`` for a layer the event-level model could not finish within
    :data:`EVENT_WORK_BUDGET` (long real layers whose chain never repeats, where the closed form is
    0.013-0.31% off STONNE on the stored runs of sets S and T) or :data:`EVENT_MAX_TILES`.

    Event-level: the ``held`` tiles of :func:`tile_sequence` one tile's time each (each from the
    collection bus's round-robin pointers the one before left, the only state a drained tile passes on),
    then the rest as one run of tiles in a row
    (:func:`plumsim.accel.maeri_fold_events.tile_sequence_schedule`)."""
    def closed_form(model):
        t = {k: int(v[0]) for k, v in conv_timing(N, G, C, K, R, S, X, Y, stride,
                                                  {f: [getattr(tile, f)] for f in TILE_FIELDS}, config).items()}
        t["model"] = model
        return t

    if not event_timed(tile, config):
        return closed_form("closed form")

    def schedule():
        held, gates = tile_sequence(K, G, tile, geo)
        if gates.size == 0:
            return None
        args = (N, G, C, K, R, S, X, Y, stride, tile, config)
        budget = {"max_work": EVENT_WORK_BUDGET, "probe_work": EVENT_PROBE_WORK}
        try:
            # the held tiles, each from the bus lines' round-robin pointers the one before left (all else is
            # drained); pointers that come back make the tiles from there on repeat
            def start(pointers):         # all 0 is how the first tile starts
                return None if pointers is None or not any(pointers) else pointers

            cycles, done, pointers, inputs, scheds = 0, 0, None, [], []
            while done < held:
                key = start(pointers)
                if key in inputs:
                    first = inputs.index(key)
                    loop = [x.stored for x in scheds[first:]]
                    reps, rest = divmod(held - done, len(loop))
                    cycles += reps * sum(loop) + sum(loop[:rest])
                    pointers = inputs[first + rest]
                    break
                one = fold_tile_schedule(*args, bus_pointers=pointers, **budget)
                inputs.append(key)
                scheds.append(one)
                cycles += one.stored
                done += 1
                pointers = one.bus_pointers
            if gates.size == 1 and start(pointers) in inputs:
                run = scheds[inputs.index(start(pointers))]    # the last tile, held too, repeats one timed
            else:
                run = tile_sequence_schedule(*args, gates.tolist(), bus_pointers=pointers, **budget)
        except OverBudget:
            return None
        return cycles + run.stored, run.stored - run.last_packet

    machine = (config.ms_size, config.dn_bw, config.rn_bw, bool(config.accumulation_buffer))
    sched = _SCHEDULES.get_or_compute((N, G, C, K, R, S, X, Y, stride, tile, machine), schedule)
    if sched is None:
        return closed_form("closed form (event-level over budget)")
    cycles, drain = sched
    slot = geo.nfold > 1
    lay = vn_layout(np.array([tile.virtual_neuron_size + slot]), np.array([tile.num_virtual_neurons]),
                    int(config.ms_size), int(config.rn_bw))
    return {"cycles": int(cycles), "finish": int(cycles - drain), "drain": int(drain), "loop": None,
            "three_way_adds": int(lay.three_way_adds[0]), "model": "event-level"}


def _simulate(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig,
              real_weights: int, real_outputs: int, op: str) -> SimResult:
    require_config(config)  # checked against plumsim.accel.rules when built
    ms, dn, rn = int(config.ms_size), int(config.dn_bw), int(config.rn_bw)
    geo = tile_geometry(N, G, C, K, R, S, X, Y, stride, tile, config)
    fwd = uses_forwarding(tile, S, stride, geo.iY)
    nfold, iX, iY, iters = geo.nfold, geo.iX, geo.iY, geo.iters
    tr = _tile_traffic(tile, stride, ms, dn, fwd, psum_slot=not config.accumulation_buffer and nfold > 1)
    timing = _timing(N, G, C, K, R, S, X, Y, stride, tile, config, geo)
    cycles = timing["cycles"]
    ab = bool(config.accumulation_buffer)

    nv, vns, used = tile.num_virtual_neurons, tile.virtual_neuron_size, tile.multipliers_used
    positions = iX * iY
    steps = iters * nfold * positions            # input steps (each multiplies on every used multiplier)
    vn_steps = steps * nv
    out_per_pass = iters * positions * nv         # padded outputs produced per fold
    in_steps_full = iters * nfold * iX            # first position of each row
    in_steps_new = iters * nfold * iX * (iY - 1)  # later positions (new column only when forwarding)
    w_steps = iters * nfold

    # input packets of zero-padded channels are sent but not read from SRAM
    input_reads = _input_reads(R, S, C // G, tile, stride, geo, fwd)
    weight_reads = geo.iN * real_weights
    psum_reads = 0 if ab else (nfold - 1) * out_per_pass
    psum_writes = real_outputs * (1 if ab else nfold)

    # adder events per input step; the total ADD_2_1 + 2*ADD_3_1 is fixed, the split follows the layout
    adds_per_pass, n3 = _tree_adds_per_step(vns, nv, timing["three_way_adds"], psum_slot=not ab and nfold > 1)
    deliv = w_steps * tr.w_deliv + in_steps_full * tr.f_deliv + in_steps_new * tr.n_deliv
    routes = w_steps * tr.w_routes + in_steps_full * tr.f_routes + in_steps_new * tr.n_routes
    # partial sums read back (accumulation buffer off) go down one port's tree to one multiplier
    routes += psum_reads * int(math.log2(ms // dn))
    deliv += psum_reads

    counters = {
        "MULTIPLIER.MULTIPLICATION": steps * used,
        "MULTIPLIER.FORWARD_PSUM": psum_reads,
        "MULTIPLIER.CONFIGURATION": used + (nv if not ab and nfold > 1 else 0),  # + the psum multipliers
        "ADDER.ADD_2_1": steps * adds_per_pass,
        "ADDER.ADD_3_1": steps * n3,
        "GLOBALBUFFER.READ": weight_reads + input_reads + psum_reads,
        "GLOBALBUFFER.WRITE": psum_writes,
        "SWITCH.ROUTE_UNICAST": routes,
        "SWITCH.ROUTE_BROADCAST": 0,
        "DN_WIRE.WRITE": routes + deliv,
        "MN_WIRE.WRITE": in_steps_new * (used - tr.n_deliv),
        "RN_WIRE.WRITE": steps * (nv * vns + adds_per_pass + n3) + (vn_steps if ab else 0),
        "CB_WIRE.WRITE": 2 * out_per_pass * (1 if ab else nfold),
    }
    if ab:
        counters["ACCUMULATOR.WRITE"] = vn_steps
        counters["ACCUMULATOR.ADD"] = vn_steps - out_per_pass
        counters["ACCUMULATOR.READ"] = vn_steps - out_per_pass
    counters = {k_: float(v_) for k_, v_ in counters.items()}
    instances = {
        "MULTIPLIER": ms, "ADDER": ms - 1, "MN_WIRE": ms - 1, "SWITCH": ms - dn, "DN_WIRE": 2 * ms - dn,
        "CB_WIRE": ms + 2 * rn, "GLOBALBUFFER": 1,
        # reduction-network wires: 2 per adder, the collection links, plus one per accumulator
        "RN_WIRE": 2 * (ms - 1) + ms // 2 - int(math.log2(ms)) + ((ms - 1) if ab else 0),
    }
    if ab:
        instances["ACCUMULATOR"] = ms - 1
    sram = {"weight_reads": float(weight_reads), "input_reads": float(input_reads),
            "psum_reads": float(psum_reads), "psum_writes": float(psum_writes)}
    info = {"controller": "MAERI_DENSE_WORKLOAD", "op": op, "tile": tile.as_dict(), "nfold": nfold,
            "iterations": iters, "steps_per_iteration": nfold * (1 + positions), "finish": timing["finish"],
            "drain": timing["drain"], "psum_loop": timing["loop"], "timing": timing["model"], "forwarding": fwd,
            "X_out": geo.X_out, "Y_out": geo.Y_out,
            "virtual_neuron_size": vns, "num_virtual_neurons": nv}
    return SimResult(cycles=int(cycles), counters=counters, instances=instances, sram=sram, info=info)


def maeri_conv(shape, config: AcceleratorConfig, tile: MaeriTile) -> SimResult:
    """Cycles (STONNE cycles) and counters (events) of one conv layer on MAERI.

    ``shape``: a :class:`plumsim.workload.layer.LayerShape` (padding is applied to X and Y first; STONNE's
    CLI has no padding of its own). ``tile``: a :class:`MaeriTile` that fits (else ConfigError).
    """
    p = int(getattr(shape, "padding", 0))
    N, G, C, K, R, S = (int(getattr(shape, a)) for a in "NGCKRS")
    X, Y = int(shape.X) + 2 * p, int(shape.Y) + 2 * p
    stride = int(getattr(shape, "stride", 1))
    if stride < 1:
        raise ConfigError(f"stride={stride} must be >= 1", field="stride")
    X_out = (X - R + stride) // stride
    Y_out = (Y - S + stride) // stride
    return _simulate(N, G, C, K, R, S, X, Y, stride, tile, config,
                     real_weights=K * (C // G) * R * S, real_outputs=N * K * X_out * Y_out, op="CONV")


def gemm_as_conv(M: int, N: int, K: int, T_M: int, T_N: int, T_K: int):
    """STONNE CLI's GEMM-as-conv mapping: X = M rows, K filters = N columns, R = 1, S = Y = K (reduction).

    Tile: T_X' = T_M, T_K = T_N, T_S = T_K (VN size = T_K, number of VNs = T_M*T_N). Returns
    (dims dict N,G,C,K,R,S,X,Y,stride) and the :class:`MaeriTile`.
    """
    dims = dict(N=1, G=1, C=1, K=int(N), R=1, S=int(K), X=int(M), Y=int(K), stride=1)
    return dims, MaeriTile(T_R=1, T_S=int(T_K), T_C=1, T_K=int(T_N), T_G=1, T_N=1, T_X=int(T_M), T_Y=1)


def maeri_gemm(M: int, N: int, K: int, config: AcceleratorConfig, T_M: int, T_N: int, T_K: int) -> SimResult:
    """Cycles (STONNE cycles) and counters (events) of a dense GEMM / FC layer on MAERI.

    STONNE CLI DenseGEMM/FC convention: output M x N, reduction length K; the tile (T_M, T_N, T_K) gives
    virtual neurons of T_K multipliers, T_M*T_N of them. A tile field out of range raises ConfigError
    naming T_M, T_N or T_K.
    """
    for name, v, lim in (("T_M", T_M, M), ("T_N", T_N, N), ("T_K", T_K, K)):
        if int(v) < 1 or int(v) > int(lim):
            raise ConfigError(f"tile {name}={v} must be in 1..{lim}", field=name)
    if int(T_M) * int(T_N) * int(T_K) > int(config.ms_size):
        raise ConfigError(f"tile needs T_M*T_N*T_K = {int(T_M) * int(T_N) * int(T_K)} multipliers but "
                          f"ms_size = {config.ms_size}", field="T_K")
    dims, tile = gemm_as_conv(M, N, K, T_M, T_N, T_K)
    res = _simulate(**dims, tile=tile, config=config, real_weights=int(N) * int(K),
                    real_outputs=int(M) * int(N), op="GEMM")
    res.info["gemm_tile"] = {"T_M": int(T_M), "T_N": int(T_N), "T_K": int(T_K)}
    return res


def conv_cycles(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig) -> int:
    """STONNE cycles only (no counters), for one tile. X, Y already padded. Same rule as maeri_conv."""
    require_config(config)  # checked against plumsim.accel.rules when built
    geo = tile_geometry(N, G, C, K, R, S, X, Y, stride, tile, config)
    return _timing(N, G, C, K, R, S, X, Y, stride, tile, config, geo)["cycles"]

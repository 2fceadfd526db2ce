"""One cost model per controller, the dataflow a parameter.

Every dataflow of a layer on a machine runs through that controller's STONNE-faithful model
(:func:`plumsim.accel.simulate.simulate_layer`: its ports, packing, tiles, drains and calibrated
constants); a dataflow changes only what it changes:

* **what sits on the multipliers** (the timing): the layer's weights as STONNE sees them, the same layer
  with every weight non-zero, or, for zero skipping on a dense machine, each group compressed to its
  longest row of non-zeros;
* **the arithmetic and the weight traffic** (multiplies, adds, weight reads, metadata reads), from the
  dataflow's own count (:func:`plumsim.accel.repetition.layer_arithmetic`).

=============  =====================  ==============================  =============================
dataflow       SIGMA (sparse)         MAERI, TPU mesh (dense)          STONNE-faithful?
=============  =====================  ==============================  =============================
``native``     STONNE's model         STONNE's model                   yes
``dense``      every weight non-zero  = native                         yes on MAERI/TPU; hypothetical
                                                                       on SIGMA (STONNE cannot turn off
                                                                       its bitmap)
``skip``       = native               rows compressed to the longest   SIGMA yes; MAERI/TPU
                                      row of non-zeros (or dense if    hypothetical
                                      that is not faster)
``repeat``     timing of ``dense``    timing of ``dense``              hypothetical everywhere
``skip+repeat`` timing of ``skip``    timing of ``skip``               hypothetical everywhere
=============  =====================  ==============================  =============================

What the hypothetical machines assume (see :data:`HYPOTHESES`, also in the results): zero skipping on
MAERI or the TPU needs a bitmap per filter and a gather of the inputs at the non-zero positions (one
index bit read per weight position, INDEX.READ), and can only shrink a dense tile as far as the filter
with the most non-zeros; factorization (UCNN-style, plus SumMerge on SIGMA for binary rows) needs a
value index per weight and adders that sum the inputs sharing a value before one multiply per value
(INDEX.READ for the index bits and the value table).

numpy only (no torch); results are :class:`~plumsim.accel.result.SimResult` in STONNE cycles and events.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.lru import LRUMemo, freeze, weights_key
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError

DATAFLOWS = ("native", "dense", "skip", "repeat", "skip+repeat")

#: the dataflows each controller runs as STONNE does (the rest are hypothetical machines)
FAITHFUL = {"SIGMA_SPARSE_GEMM": ("native", "skip"), "MAERI_DENSE_WORKLOAD": ("native", "dense"),
            "TPU_OS_DENSE": ("native", "dense")}

#: what each hypothetical dataflow adds to the machine, per controller kind (sparse: SIGMA; dense: MAERI, TPU)
HYPOTHESES = {
    ("sparse", "dense"): "SIGMA with its bitmap switched off: every weight is placed and multiplied",
    ("sparse", "repeat"): "factorization on SIGMA: a value index per weight (INDEX.READ) and a value "
                          "table; inputs sharing a value are summed before one multiply per value",
    ("sparse", "skip+repeat"): "factorization on SIGMA's non-zeros (SumMerge for binary rows): value "
                               "indices and table (INDEX.READ), one multiply per distinct value",
    ("dense", "skip"): "zero skipping on a dense array: a bitmap per filter (INDEX.READ) and an input "
                       "gather; a tile shrinks only to the filter with the most non-zeros",
    ("dense", "repeat"): "factorization on a dense array: a value index per weight (INDEX.READ) and a value "
                         "table; inputs sharing a value are summed before one multiply per value",
    ("dense", "skip+repeat"): "zero skipping and factorization on a dense array: bitmap, value indices "
                              "and table (INDEX.READ), input gather; tiles as for skip",
}


def _kind(config: AcceleratorConfig) -> str:
    ctrl = config.controller_type
    if ctrl not in FAITHFUL:
        raise ConfigError(f"no model for controller {ctrl!r}; supported: {', '.join(FAITHFUL)}",
                          field="[SDMemory] controller_type")
    return "sparse" if ctrl == "SIGMA_SPARSE_GEMM" else "dense"


def is_stonne_faithful(config: AcceleratorConfig, dataflow: str) -> bool:
    """True when STONNE runs ``dataflow`` on ``config``'s controller as modelled (see the module table)."""
    return dataflow in FAITHFUL.get(config.controller_type, ("native",))


def hypothesis(config: AcceleratorConfig, dataflow: str) -> str:
    """'' for a STONNE-faithful dataflow, else what the hypothetical machine assumes (one sentence)."""
    if is_stonne_faithful(config, dataflow):
        return ""
    return HYPOTHESES[(_kind(config), dataflow)]


def _check(dataflow: str) -> None:
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"unknown dataflow {dataflow!r}; valid: {', '.join(DATAFLOWS)}", field="mode")


# --------------------------------------------------------------------------------------------------
# the layers the timing runs on (cached per layer, so the controllers' own plan caches hit across a sweep)

_LAYERS = LRUMemo(max_items=512)


def _derived(layer, what: str):
    key = (weights_key(layer), layer.name, what)
    return _LAYERS.get_or_compute(key, lambda: _build(layer, what))


def _frozen_layer(layer):
    """The derived layer with its arrays read-only (it is cached and shared; and frozen arrays are keyed
    in O(1) by :func:`plumsim.accel.lru.weights_key`)."""
    freeze(layer.codes, layer.scale, layer.sign)
    return layer


def _build(layer, what: str):
    codes = np.asarray(layer.codes if layer.codes is not None else layer.weights)
    s = layer.shape
    if what == "all_nonzero":
        occ = np.ones(codes.shape, dtype=np.int8)
        return _frozen_layer(replace(layer, codes=occ, scale=np.ones(s.K, dtype=np.float32), weights=None,
                                     sign=np.ones(s.K, dtype=np.int8), scheme="occupancy"))
    if what == "compressed":
        # per group, every filter compressed to its non-zeros, padded to the group's longest filter:
        # a dense array runs it as a linear layer of that reduction length over the layer's GEMM columns
        out = []
        for g in range(s.G):
            w = np.asarray(layer.code_matrix(g))
            longest = int(np.count_nonzero(w, axis=1).max()) if w.size else 0
            shape = type(s)(N=s.N_gemm, G=1, C=max(longest, 1), K=s.K // s.G, R=1, S=1, X=1, Y=1)
            occ = np.ones((shape.K, shape.C, 1, 1), dtype=np.int8)
            out.append((longest, _frozen_layer(replace(
                layer, kind="linear", shape=shape, codes=occ, weights=None, scale=np.ones(shape.K, dtype=np.float32),
                sign=np.ones(shape.K, dtype=np.int8), input_sample=None, scheme="occupancy",
                name=f"{layer.name}[g{g}]"))))
        return out
    raise AssertionError(what)


def _compressed_timing(layer, config: AcceleratorConfig, native: SimResult):
    """A dense controller skipping zeros: the compressed GEMM of every group, unless the dense mapping
    is faster (the machine can always run its dense dataflow). Returns (timing, how, timed layers)."""
    from plumsim.accel.simulate import simulate_layer

    total, timed = None, []
    L = layer.shape.K_gemm
    if all(longest >= L for longest, _ in _derived(layer, "compressed")):
        return native, "dense mapping (no filter has a zero to skip)", [(layer, "dense")]
    for longest, lin in _derived(layer, "compressed"):
        if longest == 0:
            continue
        r = simulate_layer(lin, config)
        total = r if total is None else total + r
        timed.append((lin, "dense"))
    # the machine compresses only when that is faster without moving more inputs (reads, routes)
    moves = ("SWITCH.ROUTE_UNICAST", "SWITCH.ROUTE_BROADCAST", "DN_WIRE.WRITE")
    if total is None or total.cycles >= native.cycles or \
            total.sram.get("input_reads", 0) > native.sram.get("input_reads", 0) or \
            sum(total.counter(k) for k in moves) > sum(native.counter(k) for k in moves):
        return native, "dense mapping (compression does not pay)", [(layer, "dense")]
    total.instances = native.instances
    return total, "compressed rows", timed


def _timing(layer, config: AcceleratorConfig, dataflow: str, native: SimResult):
    """(timing result, how, [(layer timed, the mode whose arithmetic it performs)])."""
    from plumsim.accel.simulate import simulate_layer

    if _kind(config) == "sparse":
        if dataflow in ("dense", "repeat"):
            full = _derived(layer, "all_nonzero")
            return simulate_layer(full, config), "every weight placed", [(full, "dense")]
        return native, "the weights' bitmap", [(layer, "skip")]
    if dataflow in ("skip", "skip+repeat"):
        key = (weights_key(layer), layer.name, layer.shape, _machine(config))
        return _COMPRESSED.get_or_compute(key, lambda: _compressed_timing(layer, config, native))
    return native, "dense mapping", [(layer, "dense")]


def _with_arithmetic(timing: SimResult, arith: dict, ref: dict | None,
                     batch_items: int = 1) -> tuple[dict[str, float], str, float]:
    """The timing's counters doing the dataflow's share of the work, and (the sram key that holds the
    layer's weights, the dataflow's weight reads). ``ref``: the ideal arithmetic of what was timed on a
    dense array (multiplies, adds, weight reads, ``weights_in``); None on SIGMA, which places exactly the
    dataflow's operands, so its counts are the dataflow's own. Multiplies, adds (tree and accumulator,
    their 2:1 / 3:1 split kept) and reduction wires scale by the dataflow's over the timed work; weight
    reads and INDEX.READ are the dataflow's, times how often the mapping re-reads the weights."""
    c = dict(timing.counters)
    mult_t = float(c.get("MULTIPLIER.MULTIPLICATION", 0.0))
    add_t = sum(float(c.get(k, 0.0)) * w for k, w in (("ADDER.ADD_2_1", 1), ("ADDER.ADD_3_1", 2),
                                                     ("ACCUMULATOR.ADD", 1)))
    ref_mults, ref_adds = (mult_t, add_t) if ref is None else (ref["mults"], ref["adds"])
    fm = arith["mults"] / ref_mults if ref_mults else 0.0
    fa = arith["adds"] / ref_adds if ref_adds else 0.0
    for k in ("ADDER.ADD_2_1", "ADDER.ADD_3_1", "ACCUMULATOR.ADD"):
        if k in c:
            c[k] = float(c[k]) * fa
    c["MULTIPLIER.MULTIPLICATION"] = mult_t * fm
    if "RN_WIRE.WRITE" in c and mult_t + add_t:
        c["RN_WIRE.WRITE"] = float(c["RN_WIRE.WRITE"]) * (mult_t * fm + add_t * fa) / (mult_t + add_t)
    # the operand that holds the layer's weights, as the controller's model names it (STONNE calls the
    # TPU's and MAERI FC's weight matrix "inputs": the N-indexed operand is its "weights")
    key = "weight_reads" if ref is None else ref["weights_in"]
    wr_t = float(timing.sram.get(key, 0.0))
    if ref is None:   # SIGMA (STONNE's frontend) runs one GEMM per batch item of a conv, each reading the
        reread = float(batch_items)   # stationary weights once; a linear layer streams its rows: once
    else:   # a dense array reads its weights as often as its mapping does
        reread = wr_t / ref["wreads"] if ref["wreads"] else 0.0
    wreads = float(arith["wreads"]) * reread
    c["GLOBALBUFFER.READ"] = float(c.get("GLOBALBUFFER.READ", 0.0)) - wr_t + wreads
    c["INDEX.READ"] = float(arith["index"]) * reread
    c["WEIGHT_STORAGE.BITS"] = float(arith["storage"])
    return c, key, wreads


#: native results and compressed-row timings of the layers a sweep is working on, per (layer's weights,
#: name, machine): the four repetition dataflows of a layer all start from its native run, and skip and
#: skip+repeat share one timing
_NATIVE = LRUMemo(max_items=256)
_COMPRESSED = LRUMemo(max_items=256)


def _machine(config: AcceleratorConfig) -> tuple:
    return (config.controller_type, config.ms_type, config.rn_type, config.ms_size, config.dn_bw,
            config.rn_bw, config.ms_rows, config.ms_cols, bool(config.accumulation_buffer))


def _native(layer, config: AcceleratorConfig) -> SimResult:
    from plumsim.accel.simulate import simulate_layer

    key = (weights_key(layer), layer.name, layer.shape, _machine(config))
    return _NATIVE.get_or_compute(key, lambda: simulate_layer(layer, config))


def simulate_dataflow(layer, config: AcceleratorConfig, dataflow: str = "native", *,
                      summerge: bool = True) -> SimResult:
    """Cycles (STONNE cycles) and counters (events) of ``layer`` on ``config`` under ``dataflow``.

    ``native`` is :func:`plumsim.accel.simulate.simulate_layer` unchanged. The other dataflows keep the
    controller's model for the timing (module docstring) and take multiplies, adds, weight reads and the
    metadata reads (INDEX.READ, bits) from the dataflow's own count; WEIGHT_STORAGE.BITS gives the bits
    the dataflow's weight format holds (info ``weight_format``). ``info`` carries ``dataflow``,
    ``stonne_faithful`` and ``hypothesis`` ('' when faithful). A faithful dataflow returns STONNE's
    counters unchanged (plus WEIGHT_STORAGE.BITS). ``summerge``: SumMerge on binary rows (SIGMA's
    ``skip+repeat`` and ``repeat``)."""
    from plumsim.accel.repetition import layer_arithmetic
    from plumsim.accel.simulate import simulate_layer

    from plumsim.accel.simulate import check_layer

    _check(dataflow)
    _kind(config)
    check_layer(layer)   # O(1): refuse a malformed or oversized layer before any arithmetic on its weights
    native = _native(layer, config)
    if dataflow == "native":
        out = native.scaled(1)
        own = layer_arithmetic(layer, "skip" if _kind(config) == "sparse" else "dense")
        out.info = dict(native.info, dataflow="native", stonne_faithful=True, hypothesis="",
                        weight_format=own["format"])
        return out
    sparse = _kind(config) == "sparse"
    arith = layer_arithmetic(layer, dataflow, summerge=summerge and sparse)
    faithful = is_stonne_faithful(config, dataflow)
    if faithful:
        counters = dict(native.counters, **{"WEIGHT_STORAGE.BITS": float(arith["storage"])})
        return SimResult(cycles=native.cycles, counters=counters, instances=dict(native.instances),
                         sram=dict(native.sram),
                         info=dict(native.info, dataflow=dataflow, stonne_faithful=True, hypothesis="",
                                   weight_format=arith["format"]))
    timing, how, timed = _timing(layer, config, dataflow, native)
    if sparse and arith["summerge_occupancy"] is not None:   # binary rows shrunk to their minority
        occ = arith["summerge_occupancy"]
        timing, how, timed = simulate_layer(occ, config), "SumMerge occupancy", [(occ, "skip")]
    ref = None
    if not sparse:   # a dense array keeps its structure (padded tiles, accumulator): scale its work
        ref = {"mults": 0, "adds": 0, "wreads": 0}
        for lyr, mode in timed:
            a = layer_arithmetic(lyr, mode, summerge=False)
            for k in ref:
                ref[k] += a[k]
        timed_kind = timed[0][0].kind if timed else layer.kind
        ref["weights_in"] = ("input_reads" if config.controller_type == "TPU_OS_DENSE" or timed_kind == "linear"
                             else "weight_reads")
    elif dataflow == "skip+repeat":
        # SIGMA's own bitmap is part of its native cost, which STONNE does not price: charge only the
        # value indices and tables the factorization adds
        arith = dict(arith, index=arith["index"] - layer_arithmetic(layer, "skip")["index"])
    items = layer.shape.N if layer.kind == "conv" else 1
    counters, wkey, wreads = _with_arithmetic(timing, arith, ref, items)
    sram = dict(timing.sram, **{wkey: wreads})
    info = dict(timing.info, dataflow=dataflow, stonne_faithful=False, hypothesis=hypothesis(config, dataflow),
                timing=how, weight_format=arith["format"], layer=layer.name, scheme=layer.scheme)
    return SimResult(cycles=int(timing.cycles), counters=counters, instances=dict(native.instances),
                     sram=sram, info=info)

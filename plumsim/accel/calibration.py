"""The calibration record: every constant of the accelerator models that was fitted to STONNE runs.

One home for each fitted number (value, unit, what it means, the runs it was fitted on and its error
there). The models import the values from here; `plumsim stonne calibration` and docs/design.md print this
table. A constant that follows from STONNE's source (a tree depth, a port count) is a formula in the model,
not an entry here. numpy-free, stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Calibrated:
    """A fitted constant. ``value`` in ``unit``; ``fitted_on``: the reference runs (set and case ids or a
    selector); ``error``: the model's error on those runs with this value."""

    name: str
    value: float
    unit: str
    meaning: str
    fitted_on: str
    error: str


RECORD: dict[str, Calibrated] = {}


def _register(c: Calibrated) -> float:
    if c.name in RECORD:
        raise ValueError(f"calibrated constant {c.name!r} defined twice")
    RECORD[c.name] = c
    return c.value


# --- MAERI (MAERI_DENSE_WORKLOAD) ------------------------------------------------------------------------

_MAERI_PROBES = ("tests/data/stonne/c_maeri_probe (benchmarks/stonne_runs/maeri_probe.py): 984 single-tile MAERI CLI "
                 "runs: 300 one-step (buffer on, ms_size 16-256, dn_bw 1..ms, rn_bw 1..dn_bw, 1-8 VNs of 2-16 "
                 "multipliers), 684 folding (buffer off, 1-16 VNs of 2-17 multipliers, 2-16 folds, 1-36 positions)")

MAERI_OUTPUT_LATENCY_AB_ON = int(_register(Calibrated(
    "MAERI_OUTPUT_LATENCY_AB_ON", 3, "cycles",
    "accumulation buffer on: from a VN's sum leaving its output adder (and bus line) to it being stored, "
    "beyond the write FIFO's backlog (+1 through a distribution tree)", _MAERI_PROBES,
    "the 300 one-step probes: all 300 exact")))

MAERI_OUTPUT_LATENCY_AB_OFF = int(_register(Calibrated(
    "MAERI_OUTPUT_LATENCY_AB_OFF", 2, "cycles",
    "accumulation buffer off (folding): as MAERI_OUTPUT_LATENCY_AB_ON (no accumulator stage); used by the "
    "closed form only (the tile search, tiles over the event-level budget): the event-level model of "
    "plumsim.accel.maeri_fold_events needs no latency constant", _MAERI_PROBES,
    "closed form on the 684 folding probes (one and several positions): 57% exact (393), 81% within 1 "
    "cycle, max 10.8% (the event-level model: all 684 exact)")))

MAERI_PSUM_LOOP = int(_register(Calibrated(
    "MAERI_PSUM_LOOP", 2, "cycles",
    "accumulation buffer off: a fold's partial sum back at its multiplier, beyond the path from that "
    "multiplier to the VN's output adder (+1 through a distribution tree); closed form only, as "
    "MAERI_OUTPUT_LATENCY_AB_OFF", _MAERI_PROBES,
    "the 684 folding probes, as MAERI_OUTPUT_LATENCY_AB_OFF (fitted together)")))

# --- SIGMA (SIGMA_SPARSE_GEMM) ---------------------------------------------------------------------------

_PROBES = ("tests/data/stonne/c_sigma_probe (benchmarks/stonne_runs/probe_specs.py): 54 single-iteration GEMMs "
           "(1x1 SparseConv through torch_stonne), ms_size 64-256, dn_bw ms/64..ms, rn_bw 4..ms, 1-64 rows, "
           "4 and 16 columns each")

SIGMA_OUTPUT_LATENCY = int(_register(Calibrated(
    "SIGMA_OUTPUT_LATENCY", 2, "cycles",
    "from the last packet leaving a read port to the last sum written, beyond the reduction depth",
    _PROBES, "median 0, at most 2 cycles per iteration (2.1%) on those probes")))
SIGMA_DS_LATENCY = int(_register(Calibrated(
    "SIGMA_DS_LATENCY", 1, "cycles",
    "extra latency when a read port feeds a distribution tree (ms_size > dn_bw), for any tree depth",
    _PROBES, "median 0, at most 2 cycles per iteration (2.1%) on those probes")))


def record_rows() -> list[dict[str, object]]:
    """The record as rows (name, value, unit, meaning, fitted_on, error), in definition order."""
    return [dict(vars(c)) for c in RECORD.values()]

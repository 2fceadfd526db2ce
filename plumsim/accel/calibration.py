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

_MAERI_PROBES = ("tests/data/stonne/c_maeri_probe (benchmarks/stonne_runs/maeri_probe.py): single-tile MAERI CLI "
                 "runs, ms_size 16-256, dn_bw 1..ms, 1-8 VNs of 2-17 multipliers, 1-16 folds, buffer on and off")

MAERI_OUTPUT_LATENCY_AB_ON = int(_register(Calibrated(
    "MAERI_OUTPUT_LATENCY_AB_ON", 3, "cycles",
    "accumulation buffer on: from a VN's sum leaving its output adder (and bus line) to it being stored, "
    "beyond the write FIFO's backlog (+1 through a distribution tree)", _MAERI_PROBES,
    "exact on 88% of the single-step probes, 1 cycle over on the rest (odd VN sizes)")))

MAERI_OUTPUT_LATENCY_AB_OFF = int(_register(Calibrated(
    "MAERI_OUTPUT_LATENCY_AB_OFF", 2, "cycles",
    "accumulation buffer off (folding): as MAERI_OUTPUT_LATENCY_AB_ON (no accumulator stage)", _MAERI_PROBES,
    "exact on the one-position folding probes")))

MAERI_PSUM_LOOP = int(_register(Calibrated(
    "MAERI_PSUM_LOOP", 2, "cycles",
    "accumulation buffer off: a fold's partial sum back at its multiplier, beyond the path from that "
    "multiplier to the VN's output adder (+1 through a distribution tree)", _MAERI_PROBES,
    "exact per-fold slope on the one-position folding probes (1-16 VNs)")))

# --- SIGMA (SIGMA_SPARSE_GEMM) ---------------------------------------------------------------------------

_PROBES = ("benchmarks/stonne_runs/sigma_probe: single-iteration GEMMs (1x1 conv through torch_stonne), "
           "ms_size 64-256, dn_bw ms/64..ms, rn_bw 16..ms, 1-64 rows, two column counts each")

SIGMA_OUTPUT_LATENCY = int(_register(Calibrated(
    "SIGMA_OUTPUT_LATENCY", 2, "cycles",
    "from the last packet leaving a read port to the last sum written, beyond the reduction depth",
    _PROBES, "exact on aligned single rows; +-1 cycle per iteration on random layouts")))
SIGMA_SHARED_LATENCY = int(_register(Calibrated(
    "SIGMA_SHARED_LATENCY", 1, "cycles",
    "extra latency of an iteration that holds two or more virtual neurons", _PROBES,
    "exact on every contiguous two- to four-row probe")))
SIGMA_DS_LATENCY = int(_register(Calibrated(
    "SIGMA_DS_LATENCY", 1, "cycles",
    "extra latency when a read port feeds a distribution tree (ms_size > dn_bw), for any tree depth",
    _PROBES, "exact for ms_size/dn_bw = 2..64 on single rows")))


def record_rows() -> list[dict[str, object]]:
    """The record as rows (name, value, unit, meaning, fitted_on, error), in definition order."""
    return [dict(vars(c)) for c in RECORD.values()]

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

MAERI_DRAIN_BASE = int(_register(Calibrated(
    "MAERI_DRAIN_BASE", 6, "cycles",
    "drain after the last packet of an (n, g, k) tile is MAERI_DRAIN_BASE + log2(dn_bw)",
    "set A, MAERI rows with the accumulation buffer on (25 CONV, 1 FC, 2 GEMM)",
    "within 1 cycle per tile on every row")))

MAERI_PSUM_RT_SHORTER = int(_register(Calibrated(
    "MAERI_PSUM_RT_SHORTER", 3, "cycles",
    "accumulation buffer off: a later fold's step waits for its partial sum's round trip, drain minus this",
    "set A, the 3 MAERI rows with the accumulation buffer off and folding",
    "about 10% on those rows")))

# --- SIGMA (SIGMA_SPARSE_GEMM) ---------------------------------------------------------------------------

SIGMA_DRAIN_A = _register(Calibrated(
    "SIGMA_DRAIN_A", -1.27, "cycles",
    "per-iteration drain = A + B*log2(ms_size) + C*log2(ms_size/dn_bw)",
    "set A, the 26 SIGMA rows (least squares with B and C)", "median 0.3%, max 2.3% of cycles"))
SIGMA_DRAIN_B = _register(Calibrated(
    "SIGMA_DRAIN_B", 1.73, "cycles per tree level", "see SIGMA_DRAIN_A", "see SIGMA_DRAIN_A", "see SIGMA_DRAIN_A"))
SIGMA_DRAIN_C = _register(Calibrated(
    "SIGMA_DRAIN_C", 1.01, "cycles per tree level", "see SIGMA_DRAIN_A", "see SIGMA_DRAIN_A", "see SIGMA_DRAIN_A"))


def record_rows() -> list[dict[str, object]]:
    """The record as rows (name, value, unit, meaning, fitted_on, error), in definition order."""
    return [dict(vars(c)) for c in RECORD.values()]

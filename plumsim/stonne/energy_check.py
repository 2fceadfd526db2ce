"""Energy columns for `plumsim stonne validate`: STONNE's reported energy vs ours from our counters."""

from __future__ import annotations

import math
from pathlib import Path

from plumsim.stonne.validate import summarize
from plumsim.energy.breakdown import total_energy
from plumsim.energy.tables import load_energy_table
from plumsim.errors import PlumsimError


def reference_energy(csv_path: str | Path) -> dict[str, float]:
    """{case_id: STONNE's ``energy_total``} of a reference CSV; NaN for an empty cell or when the file has
    no ``energy_total`` column. A cell that is not a number >= 0 is a ConfigError naming row and column."""
    from plumsim.stonne.validate import number, read_cases

    return {str(row["case_id"]): number(row, "energy_total", ref) for ref, row in read_cases(csv_path, ("case_id",))}


def _model_energy(result, table) -> float:
    try:
        return total_energy(result, table) if result is not None else math.nan
    except PlumsimError:
        return math.nan


def add_energy_columns(report, csv_path: str | Path, table="stonne"):
    """Add ``energy_ref`` (STONNE's ``energy_total`` from the CSV), ``energy_model`` (our counters of
    ``report.results[case_id]`` priced with ``table``) and ``energy_rel_err`` ((model-ref)/ref) to
    ``report.cases``, in STONNE units (with the default table). Returns the report.
    A case whose model did not run, whose counters the table cannot price, or whose CSV has no energy
    (no ``energy_total`` column or an empty cell) gets NaN."""
    t = load_energy_table(table)
    ref = reference_energy(csv_path)
    cases = report.cases
    cases["energy_ref"] = [ref.get(str(cid), math.nan) for cid in cases["case_id"]]
    cases["energy_model"] = [_model_energy(report.results.get(str(cid)), t) for cid in cases["case_id"]]
    e_ref = cases["energy_ref"].where(cases["energy_ref"] > 0)
    cases["energy_rel_err"] = (cases["energy_model"] - e_ref) / e_ref
    report.summary = summarize(cases)
    return report

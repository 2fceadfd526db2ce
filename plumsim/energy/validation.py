"""Energy columns for `plumsim stonne validate`: STONNE's reported energy vs ours from our counters."""

from __future__ import annotations

import math
from pathlib import Path

from plumsim.energy.breakdown import total_energy
from plumsim.energy.tables import load_energy_table
from plumsim.errors import PlumsimError


def add_energy_columns(report, csv_path: str | Path, table="stonne"):
    """Add ``energy_ref`` (STONNE's ``energy_total`` from the CSV), ``energy_model`` (our counters of
    ``report.results[case_id]`` priced with ``table``) and ``energy_rel_err`` ((model-ref)/ref) to
    ``report.cases``, in STONNE units (with the default table). Returns the report.
    A case whose model did not run, or whose counters the table cannot price, gets NaN."""
    import pandas as pd

    t = load_energy_table(table)
    ref = pd.read_csv(csv_path, usecols=["case_id", "energy_total"]).set_index("case_id")["energy_total"]
    cases = report.cases
    model = []
    for cid in cases["case_id"]:
        r = report.results.get(str(cid))
        try:
            model.append(total_energy(r, t) if r is not None else math.nan)
        except PlumsimError:
            model.append(math.nan)
    cases["energy_ref"] = [float(ref.get(cid, math.nan)) for cid in cases["case_id"]]
    cases["energy_model"] = model
    cases["energy_rel_err"] = (cases["energy_model"] - cases["energy_ref"]) / cases["energy_ref"]
    return report

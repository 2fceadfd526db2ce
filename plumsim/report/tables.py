"""The report's tables (DataFrames) and the one glossary that explains every column they show.

Tables read the results through :mod:`plumsim.results` (the one schema and its aggregations), so a number
in the report is the number a figure shows. :data:`GLOSSARY` holds the meaning and unit of every column
the report's own tables add; results columns are explained by :func:`plumsim.results.describe`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from plumsim.results import (accuracy_runs, accuracy_summary, attribution_frame, describe, machine_note,
                             main_mode, reference_configs, workload_totals)

#: column -> (meaning, unit) for the columns of the report's tables that are not results columns
GLOSSARY: dict[str, tuple[str, str]] = {
    "item": ("what the summary row describes", ""),
    "value": ("its value", ""),
    "machine": ("STONNE-faithful (STONNE runs this mode on this controller as modelled) or hypothetical", ""),
    "pairs_computed": ("configuration x workload pairs computed in this run", "count"),
    "pairs_resumed": ("pairs kept from an earlier, interrupted run", "count"),
    "points_computed": ("layer x configuration x mode points computed", "count"),
    "seconds": ("wall-clock time", "s"),
    "points_per_second": ("points computed per second", "1/s"),
    "executor": ("local process pool or Dask cluster", ""),
    "workers": ("worker processes", "count"),
    "start": ("start time", "UTC"), "end": ("end time", "UTC"),
    "density": ("weight density of the quantized layers (non-zeros / weights)", "fraction"),
    "configs": ("configurations run on this workload", "count"),
    "least-energy config": ("the configuration with the least energy per inference", ""),
    "energy": ("energy per inference (sum over layers)", "unit column"),
    "its cycles": ("cycles per inference of the least-energy configuration", "cycles"),
    "fastest config": ("the configuration with the fewest cycles", ""),
    "cycles": ("cycles per inference (sum over layers)", "cycles"),
    "unit": ("unit of the energy columns of the row", ""),
    "config": ("configuration id (the accelerator's reference configuration: largest PE array)", ""),
    "dense energy": ("energy of the dense dataflow (every weight multiplied)", "unit column"),
    "skip+repeat energy": ("energy with zero skipping and repetition both exploited", "unit column"),
    "energy sparsity %": ("Shapley share of the dense - skip+repeat energy due to zero skipping, in % of the "
                          "dense binary energy of the same network", "%"),
    "energy repetition %": ("Shapley share due to repetition (identical values reused), same baseline", "%"),
    "energy left %": ("skip+repeat energy in % of the same baseline", "%"),
    "cycles sparsity %": ("Shapley share of the dense - skip+repeat cycles due to zero skipping, in % of the "
                          "dense binary cycles of the same network", "%"),
    "cycles repetition %": ("Shapley share of the cycles due to repetition, same baseline", "%"),
    "cycles left %": ("skip+repeat cycles in % of the same baseline", "%"),
    "baseline": ("the workload every % of the row is a share of (the network's dense binary)", ""),
    "seeds": ("training runs (seeds) of the scheme", "count"),
    "accuracy %": ("validation accuracy, mean over seeds", "%"),
    "± std %": ("sample standard deviation of the accuracy over seeds (0 for one seed)", "%"),
    "claim": ("the PLUM paper's claim", ""),
    "paper": ("the paper's figure", "unit column"),
    "plumsim": ("plumsim's figure for it, recomputed", "unit column"),
    "setting": ("network, weights (trained or synthetic), accelerator configuration, energy table, dataflow", ""),
    "note": ("why plumsim's figure differs, when it does", ""),
    "ms_size": ("multipliers", "count"), "mesh": ("TPU mesh (rows x columns)", ""),
    "reason": ("why STONNE cannot build this configuration", ""),
    "package": ("Python package", ""), "version": ("its installed version", ""),
}


def explain(column: str) -> tuple[str, str]:
    """(meaning, unit) of a column of the report: the glossary, else the results schema."""
    if column in GLOSSARY:
        return GLOSSARY[column]
    try:
        return describe(column)
    except KeyError:
        return ("as recorded in the sweep folder", "")


def machines_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per controller and mode: STONNE-faithful or hypothetical, and what the hypothetical machine
    assumes (from the results' ``stonne_faithful`` and ``hypothesis`` columns)."""
    if "stonne_faithful" not in df:
        return pd.DataFrame()
    g = df.groupby(["controller_type", "mode"], sort=False)[["stonne_faithful", "hypothesis"]].first()
    g = g.reset_index()
    g["machine"] = np.where(g["stonne_faithful"], "STONNE-faithful", "hypothetical")
    return g[["controller_type", "mode", "machine", "hypothesis"]]


def best_configs(df: pd.DataFrame) -> pd.DataFrame:
    """Per accelerator and workload (main mode): the configuration with the least energy, its cycles, and
    the fastest configuration."""
    mode = main_mode(df)
    tot = workload_totals(df[df["mode"] == mode])
    out = []
    for (acc, wl), g in tot.groupby(["accelerator", "workload"], sort=False):
        e = g.loc[g["energy"].idxmin()]
        c = g.loc[g["cycles"].idxmin()]
        out.append({"accelerator": acc, "workload": wl, "density": float(e["weight_density"]), "configs": len(g),
                    "least-energy config": e["config_id"], "energy": float(e["energy"]),
                    "its cycles": int(e["cycles"]), "fastest config": c["config_id"], "cycles": int(c["cycles"]),
                    "unit": e["energy_unit"], "machine": machine_note(df, e["config_id"], [mode])})
    return pd.DataFrame(out)


def attribution_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per accelerator (reference configuration) and workload: dense and skip+repeat energy, and the shares
    of energy and cycles in % of the network's dense binary workload (the figures' common baseline)."""
    rows = []
    for cid in reference_configs(df).values():
        e = attribution_frame(df, cid, metric="energy", normalize="baseline")
        if e.empty:
            continue
        a = attribution_frame(df, cid, metric="energy", normalize="absolute")
        c = attribution_frame(df, cid, metric="cycles", normalize="baseline")
        rows.append(pd.DataFrame({
            "config": cid, "workload": e["workload"], "dense energy": a["dense"],
            "skip+repeat energy": a["remaining"], "unit": a["unit"],
            "energy sparsity %": e["sparsity_share"], "energy repetition %": e["repetition_share"],
            "energy left %": e["remaining"], "cycles sparsity %": c["sparsity_share"],
            "cycles repetition %": c["repetition_share"], "cycles left %": c["remaining"],
            "baseline": e["baseline_workload"]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def accuracy_table(models: pd.DataFrame | None, df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per scheme of the trained models (models.csv): seeds, accuracy mean and std, density, and energy /
    cycles per inference of the lowered model; and a one-line note of where the cost was measured."""
    if models is None:
        return pd.DataFrame(), ""
    runs = accuracy_runs(models, df)
    s = accuracy_summary(runs)
    if s.empty:
        return s, ""
    out = pd.DataFrame({"scheme": s["scheme"], "seeds": s["seeds"], "accuracy %": 100 * s["acc_mean"],
                        "± std %": 100 * s["acc_std"], "density": s["density_mean"], "energy": s["energy_mean"],
                        "cycles": s["cycles_mean"], "unit": s["energy_unit"]})
    where = runs.attrs
    note = (f"energy and cycles of the lowered models on {where['config']}, mode {where['mode']}"
            if where.get("config") else "the lowered models are not in these results: no energy")
    return out, note


def load_claims(folder: str | Path) -> pd.DataFrame | None:
    """The paper's claims (``paper.json``: {"claims": [{claim, paper, plumsim, unit, setting, note}]}) of a
    folder as a table, or None when there is no such file (or it cannot be read)."""
    p = Path(folder) / "paper.json"
    if not p.is_file():
        return None
    try:
        claims = json.loads(p.read_text()).get("claims") or []
    except (OSError, ValueError, AttributeError):
        return None
    rows = []
    for c in claims:
        if not isinstance(c, dict):
            continue
        st = c.get("setting", "")
        if isinstance(st, dict):
            st = "; ".join(f"{k}: {v}" for k, v in st.items())
        rows.append({"claim": c.get("claim", ""), "paper": c.get("paper", ""), "plumsim": c.get("plumsim", ""),
                     "unit": c.get("unit", ""), "setting": str(st), "note": c.get("note", "")})
    return pd.DataFrame(rows, columns=["claim", "paper", "plumsim", "unit", "setting", "note"])

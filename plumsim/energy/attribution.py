"""Sparsity-vs-repetition attribution: the two-player Shapley split of a scheme's gain.

Every layer runs on the same accelerator in four modes of :mod:`plumsim.accel.repetition`: D (dense),
S (zero skipping), R (repetition: UCNN factorization + SumMerge), SR (both). Then

    sparsity_share   = ((D - S) + (R - SR)) / 2
    repetition_share = ((D - R) + (S - SR)) / 2

and sparsity_share + repetition_share = D - SR exactly (computed in exact rational arithmetic from the
float totals, then rounded once). Metrics: energy (table unit) and cycles. numpy/pandas only.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pandas as pd

from plumsim.accel.dataflow import hypothesis, is_stonne_faithful, simulate_dataflow
from plumsim.accel.repetition import code_bits
from plumsim.energy.breakdown import total_energy
from plumsim.energy.tables import EnergyTable, load_energy_table

MODE_OF = {"D": "dense", "S": "skip", "R": "repeat", "SR": "skip+repeat"}

#: the orderings a gain needs (cheaper <= dearer) and why each can fail for a real reason (docs/design.md,
#: "Dataflows and repetition"); a failure makes a share negative and is reported, never hidden
_SKIP_COSTS = ("zero skipping costs more here than it saves (typically its bitmap, one INDEX.READ per weight "
               "position, and input gather cost more than the multiplies and reads of the few zeros skipped)")
_FACTOR_COSTS = ("factorization costs more here than it saves (typically value indices and tables, INDEX.READ, "
                 "cost more than the multiplies of repeated values, e.g. FP weights with none; or SumMerge's "
                 "shared window-sum row takes multipliers: it saves adds, not cycles)")
ORDERINGS = (("S", "D", _SKIP_COSTS), ("SR", "R", _SKIP_COSTS), ("R", "D", _FACTOR_COSTS),
             ("SR", "S", _FACTOR_COSTS))


def ordering_notes(df: pd.DataFrame) -> list[str]:
    """One line per (metric, ordering) that fails on some rows of an attribution frame: S <= D,
    SR <= R (skipping pays), R <= D, SR <= S (factorization pays), with the layers and the reason."""
    notes = []
    for metric in ("energy", "cycles"):
        sub = df[df.metric == metric]
        for cheap, dear, why in ORDERINGS:
            bad = sub[sub[cheap] > sub[dear] * (1 + 1e-12)]
            if len(bad):
                names = list(bad["layer"])
                shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                notes.append(f"{metric}: {cheap} > {dear} on {shown}: {why}; the share this ordering feeds "
                             "is negative there")
    return notes
COLUMNS = ["layer", "scheme", "metric", "D", "S", "R", "SR", "sparsity_share", "repetition_share", "unit"]


def shapley(D, S, R, SR) -> tuple[float, float]:
    """(sparsity_share, repetition_share) of the gain D - SR, exact rational arithmetic, rounded once."""
    d, s, r, sr = (Fraction(x) for x in (D, S, R, SR))
    sp = ((d - s) + (r - sr)) / 2
    rep = ((d - r) + (s - sr)) / 2
    assert sp + rep == d - sr
    return float(sp), float(rep)


def layer_weight_bits(layer) -> int:
    """Bits of one dense weight code: ceil(log2 of the layer's code alphabet), >= 1; FP layers 32."""
    if layer.codes is None:
        return 32
    import numpy as np

    return max(1, code_bits(int(np.unique(layer.codes).size)))


def run_modes(layer, config, *, summerge: bool = True) -> dict:
    """{"D", "S", "R", "SR"} -> SimResult of ``layer`` on ``config``, each through the controller's one
    model (:func:`plumsim.accel.dataflow.simulate_dataflow`)."""
    return {k: simulate_dataflow(layer, config, m, summerge=summerge) for k, m in MODE_OF.items()}


def attribute(workload_or_layers, config, table="stonne", *, summerge: bool = True,
              include_fp: bool = False, bitwidths: dict | None = None) -> pd.DataFrame:
    """Energy and cycles of D, S, R, SR and the Shapley shares, per layer and in total.

    ``workload_or_layers``: a :class:`~plumsim.workload.Workload` or a list of layers. ``config``: an
    AcceleratorConfig. ``table``: an EnergyTable, or a shipped name / file path; when a name or path is
    given it is loaded per layer with ``weight_bits`` = the layer's dense code width (binary 1, ternary
    and signed-binary 2) plus ``bitwidths`` (e.g. ``{"activation": "int8"}``). Every mode runs through
    the controller's one model (:mod:`plumsim.accel.dataflow`); ``df.attrs["faithful"]`` says which of
    D, S, R, SR STONNE runs as modelled and ``df.attrs["hypotheses"]`` what the others assume. FP layers
    are left out unless ``include_fp`` (the paper keeps the first conv and the classifier in FP for
    every scheme, so they cancel in comparisons).

    Returns a DataFrame with columns ``layer`` ("total" for the sum), ``scheme``, ``metric``
    ("energy" or "cycles"), ``D``, ``S``, ``R``, ``SR``, ``sparsity_share``, ``repetition_share``
    (same unit as D), ``unit`` (the table's energy unit, or "cycles").
    """
    layers = list(getattr(workload_or_layers, "layers", workload_or_layers))
    n_all = len(layers)
    if not include_fp:
        layers = [lyr for lyr in layers if lyr.codes is not None]
    n_fp_out = n_all - len(layers)
    cache: dict = {}

    def table_for(layer) -> EnergyTable:
        if isinstance(table, EnergyTable):
            return table
        wb = min(32, layer_weight_bits(layer))
        if wb not in cache:
            cache[wb] = load_energy_table(table, **{"weight_bits": wb, **(bitwidths or {})})
        return cache[wb]

    rows, sums = [], {"energy": {k: [] for k in MODE_OF}, "cycles": {k: 0 for k in MODE_OF}}
    unit, schemes = None, set()
    for layer in layers:
        runs = run_modes(layer, config, summerge=summerge)
        t = table_for(layer)
        if unit is None:
            unit = t.unit
        schemes.add(layer.scheme)
        e = {k: total_energy(r, t) for k, r in runs.items()}
        c = {k: int(r.cycles) for k, r in runs.items()}
        for k in MODE_OF:
            sums["energy"][k].append(e[k])
            sums["cycles"][k] += c[k]
        rows.append((layer.name, layer.scheme, "energy", *e.values(), *shapley(*e.values()), t.unit))
        rows.append((layer.name, layer.scheme, "cycles", *c.values(), *shapley(*c.values()), "cycles"))
    scheme = "+".join(sorted(schemes))
    te = {k: math.fsum(v) for k, v in sums["energy"].items()}
    tc = sums["cycles"]
    rows.append(("total", scheme, "energy", *te.values(), *shapley(*te.values()), unit or ""))
    rows.append(("total", scheme, "cycles", *tc.values(), *shapley(*tc.values()), "cycles"))
    df = pd.DataFrame(rows, columns=COLUMNS)
    tables = list(cache.values()) + ([table] if isinstance(table, EnergyTable) else [])
    notes = sorted({t.unpriced_note() for t in tables} - {""})
    df.attrs.update({"accelerator": getattr(config, "name", ""), "summerge": summerge, "not_priced": notes,
                     "orderings": ordering_notes(df),
                     "totals": (f"the {len(layers)} attributed layers of {n_all}; " + (
                         f"{n_fp_out} full-precision layer(s) excluded (include_fp includes them)" if n_fp_out
                         else "no layer excluded")),
                     "faithful": {k: is_stonne_faithful(config, m) for k, m in MODE_OF.items()},
                     "hypotheses": {k: hypothesis(config, m) for k, m in MODE_OF.items()
                                    if not is_stonne_faithful(config, m)}})
    return df


def _block(row) -> dict:
    return {k: (int(row[k]) if row["metric"] == "cycles" and float(row[k]).is_integer() else float(row[k]))
            for k in ("D", "S", "R", "SR")} | {
        "sparsity_share": float(row["sparsity_share"]), "repetition_share": float(row["repetition_share"]),
        "unit": row["unit"]}


def attribution_json(df: pd.DataFrame) -> dict:
    """The CLI's JSON: {"total": {"energy": {...}, "cycles": {...}}, "layers": [{"name", "energy",
    "cycles"}, ...], "stonne_faithful": {"D": bool, ...}, "hypotheses": {mode: text}, "not_priced",
    "orderings", "totals_cover": which layers the totals add up (FP layers excluded unless include_fp)},
    each block with D, S, R, SR, sparsity_share, repetition_share, unit."""
    out = {"total": {}, "layers": [], "stonne_faithful": dict(df.attrs.get("faithful", {})),
           "hypotheses": dict(df.attrs.get("hypotheses", {})), "not_priced": list(df.attrs.get("not_priced", [])),
           "orderings": list(df.attrs.get("orderings", [])), "totals_cover": df.attrs.get("totals", "")}
    for _, row in df[df.layer == "total"].iterrows():
        out["total"][row["metric"]] = _block(row)
    for name, sub in df[df.layer != "total"].groupby("layer", sort=False):
        entry = {"name": name, "scheme": sub["scheme"].iloc[0]}
        for _, row in sub.iterrows():
            entry[row["metric"]] = _block(row)
        out["layers"].append(entry)
    return out

"""The work of one chunk: simulate (configuration x workload) pairs in every mode, price the counters with
an energy table, attribute the gains, return one row per (config, workload, layer, mode): the columns of
:mod:`plumsim.results.schema`.

Runs in worker processes (local pool or Dask), so it takes and returns plain picklable values. Workloads,
their statistics, energy tables and MAERI tiles are cached per process: a worker evaluates many
configurations of the same workload. Pricing and the Shapley split are :mod:`plumsim.energy`'s.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from plumsim.energy.attribution import shapley
from plumsim.energy.breakdown import group_energies
from plumsim.results.schema import STAT_COLUMNS, group_column, order_columns


@functools.lru_cache(maxsize=16)
def _workload(path: str):
    """(Workload, per-layer stats list) for a saved workload folder, loaded once per process."""
    from plumsim.accel.lru import freeze
    from plumsim.workload.format import Workload
    from plumsim.workload.stats import layer_stats

    from plumsim.energy.attribution import layer_weight_bits

    wl = Workload.load(path)
    stats = []
    for lyr in wl.layers:
        freeze(lyr.codes, lyr.weights, lyr.scale, lyr.sign, lyr.input_sample)  # caches key them in O(1)
        st = layer_stats(lyr)
        st["weight_bits"] = min(32, layer_weight_bits(lyr))
        stats.append(st)
    return wl, stats


@functools.lru_cache(maxsize=64)
def _energy_table(name: str, weight_bits: int):
    """The energy table for a layer whose dense weight codes take ``weight_bits`` bits (as
    :func:`plumsim.energy.attribute` loads it: tables priced by operand width, e.g. horowitz45, depend
    on it)."""
    from plumsim.energy import load_energy_table

    return load_energy_table(name, weight_bits=weight_bits)


def simulate_mode(layer, config, mode: str):
    """Cycles and counters of one layer on one configuration in one mode (a SimResult), through the
    controller's one model: :func:`plumsim.accel.dataflow.simulate_dataflow` (``native`` is STONNE's
    model unchanged; ``info["stonne_faithful"]`` says whether STONNE runs the mode as modelled)."""
    from plumsim.accel.dataflow import simulate_dataflow

    return simulate_dataflow(layer, config, mode)


def price(result, table) -> tuple[float, str, dict[str, float]]:
    """(total energy, unit, {energy group column: energy}) of one run, in the table's unit
    (:func:`plumsim.energy.breakdown.group_energies`)."""
    total, unit, groups = group_energies(result, table)
    return total, unit, {group_column(g): v for g, v in groups.items()}


def evaluate_pair(accel_fields: dict, config, workload: dict, modes: tuple[str, ...],
                  energy_table: str) -> pd.DataFrame:
    """All layers x modes of one (configuration, workload) pair as a DataFrame (columns: module doc)."""
    return order_columns(pd.DataFrame(pair_rows(accel_fields, config, workload, modes, energy_table)))


def pair_rows(accel_fields: dict, config, workload: dict, modes: tuple[str, ...], energy_table: str,
              pair_key: str | None = None) -> list[dict]:
    """The rows of :func:`evaluate_pair` as dicts (a chunk builds one DataFrame from all its pairs: a
    DataFrame per pair costs more than a fast accelerator model)."""
    wl, stats = _workload(workload["dir"])
    rows = []
    for li, (layer, st) in enumerate(zip(wl.layers, stats)):
        shape = layer.shape.as_dict()
        per_mode = {}
        table = _energy_table(energy_table, st["weight_bits"])
        for mode in modes:
            res = simulate_mode(layer, config, mode)
            energy, unit, groups = price(res, table)
            row = {"pair_key": pair_key} if pair_key is not None else {}
            row.update(accel_fields)
            row.update(workload=workload["name"], family=workload["family"], workload_source=workload["source"],
                       workload_scheme=workload["scheme"], density_target=workload["density"],
                       seed=workload["seed"], layer=layer.name, layer_index=li, kind=layer.kind,
                       scheme=layer.scheme, **shape, macs=int(layer.shape.macs), mode=mode,
                       stonne_faithful=bool(res.info.get("stonne_faithful", mode == "native")),
                       hypothesis=str(res.info.get("hypothesis", "")),
                       weight_format=str(res.info.get("weight_format", "")), cycles=int(res.cycles),
                       timing_model=str(res.info.get("timing", "closed form")),
                       multiplications=float(res.counter("MULTIPLIER.MULTIPLICATION")),
                       energy=energy, energy_unit=unit, **groups)
            row.update({k: st[k] for k in STAT_COLUMNS})
            per_mode[mode] = row
            rows.append(row)
        full = all(m in per_mode for m in ("dense", "skip", "repeat", "skip+repeat"))
        for metric in ("energy", "cycles"):
            if full:
                d, s, r, sr = (float(per_mode[m][metric]) for m in ("dense", "skip", "repeat", "skip+repeat"))
                sp, rp = shapley(d, s, r, sr)
                vals = {f"{metric}_dense": d, f"{metric}_sparsity_share": sp,
                        f"{metric}_repetition_share": rp, f"{metric}_remaining": sr}
            else:
                vals = {f"{metric}_{k}": np.nan for k in ("dense", "sparsity_share", "repetition_share",
                                                          "remaining")}
            for row in per_mode.values():
                row.update(vals)
    return rows


def evaluate_chunk(tasks: list[dict]) -> pd.DataFrame:
    """Evaluate a chunk: a list of ``{"pair_key", "accel_fields", "config", "workload", "modes",
    "energy_table"}`` dicts. Returns the rows of every pair (whole pairs only: a chunk is stored as a unit).
    """
    from plumsim.errors import PlumsimError

    rows = []
    for t in tasks:
        try:
            rows += pair_rows(t["accel_fields"], t["config"], t["workload"], tuple(t["modes"]),
                              t["energy_table"], pair_key=t["pair_key"])
        except PlumsimError as exc:  # say which point failed; the error type (and exit code 2) stays
            raise type(exc)(f"{t['pair_key']}: {exc}") from None
    return order_columns(pd.DataFrame(rows))

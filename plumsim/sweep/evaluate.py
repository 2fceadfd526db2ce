"""The work of one chunk: simulate (configuration x workload) pairs in every repetition mode, price the
counters with an energy table, attribute the gains, return one row per (config, workload, layer, mode).

Runs in worker processes (local pool or Dask), so it takes and returns plain picklable values. Workloads,
their statistics, energy tables and MAERI tiles are cached per process: a worker evaluates many
configurations of the same workload.

Result columns (one row per configuration x workload x layer x mode):

- identity: ``pair_key`` (``config_id|workload``), ``config_id``, ``accelerator`` (grid label),
  ``tile_policy``, ``base_cfg``, every :class:`~plumsim.accel.AcceleratorConfig` field
  (``controller_type, ms_type, rn_type, ms_size, dn_bw, rn_bw, ms_rows, ms_cols, accumulation_buffer,
  config_name``), ``workload``, ``family``, ``workload_source``, ``workload_scheme``, ``density_target``, ``seed``;
- layer: ``layer``, ``layer_index``, ``kind``, ``scheme`` (the layer's own: FP stem/classifier are "fp"),
  the shape ``N G C K R S X Y stride padding``, ``macs`` (dense multiply-accumulates, count);
- ``mode``: native | dense | skip | repeat | skip+repeat, every one through the controller's one model
  (:mod:`plumsim.accel.dataflow`); ``stonne_faithful`` (bool: STONNE runs this mode on this controller
  as modelled) and ``hypothesis`` ('' when faithful, else what the hypothetical machine assumes);
  ``weight_format``: how the mode stores the weights (e.g. "bitmap + one sign bit per filter"; its bits
  are the WEIGHT_STORAGE.BITS counter);
- ``cycles`` (cycles), ``multiplications`` (count), ``energy`` (in ``energy_unit``: "pJ" or
  "STONNE units"), ``energy_<group>`` per component group of the breakdown (same unit);
- attribution (same value on the four mode rows of a layer; NaN unless all four modes are in the grid):
  ``energy_dense``, ``energy_sparsity_share``, ``energy_repetition_share``, ``energy_remaining``
  (= skip+repeat energy), and ``cycles_dense``, ``cycles_sparsity_share``, ``cycles_repetition_share``,
  ``cycles_remaining``; the two shares add up to dense - skip+repeat exactly (two-player Shapley split);
- weight statistics of the layer (see :mod:`plumsim.workload.stats`): ``density`` (0..1), ``nnz``,
  ``numel``, ``nnz_per_region_mean``, ``mean_unique_nonzero_per_region``,
  ``max_unique_nonzero_per_region``, ``repetition`` (weights per distinct non-zero value in a region).
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pandas as pd

STAT_COLUMNS = ("density", "nnz", "numel", "nnz_per_region_mean", "mean_unique_nonzero_per_region",
                "max_unique_nonzero_per_region", "repetition")
SHAPE_FIELDS = ("N", "G", "C", "K", "R", "S", "X", "Y", "stride", "padding")


@functools.lru_cache(maxsize=256)
def group_column(group: str) -> str:
    """``"distribution network"`` -> ``"energy_distribution_network"``."""
    return "energy_" + re.sub(r"[^0-9a-z]+", "_", str(group).lower()).strip("_")


@functools.lru_cache(maxsize=16)
def _workload(path: str):
    """(Workload, per-layer stats list) for a saved workload folder, loaded once per process."""
    from plumsim.workload.format import Workload
    from plumsim.workload.stats import layer_stats

    from plumsim.energy.attribution import layer_weight_bits

    wl = Workload.load(path)
    stats = []
    for lyr in wl.layers:
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


def price_slow(result, table) -> tuple[float, str, dict[str, float]]:
    """(total energy, unit, energy per group column) via :func:`plumsim.energy.energy_breakdown` (the
    reference arithmetic; ~1 ms per call because it builds a DataFrame)."""
    from plumsim.energy import energy_breakdown

    br = energy_breakdown(result, table)
    unit = str(br["unit"].iloc[0]) if len(br) else table.unit
    groups = br.groupby("group", sort=False)["energy"].sum()
    return float(br["energy"].sum()), unit, {group_column(g): float(v) for g, v in groups.items()}


_READ_SPLIT = (("READ_WEIGHT", "weight_reads"), ("READ_INPUT", "input_reads"), ("READ_PSUM", "psum_reads"))


def price(result, table) -> tuple[float, str, dict[str, float]]:
    """Same numbers as :func:`price_slow` (tests check equality on real runs), computed with plain floats:
    the sweep prices hundreds of thousands of results, and the DataFrame of a breakdown costs more than the
    simulation. Anything unusual (an unpriced counter, ...) goes to :func:`price_slow` and its error."""
    from plumsim.energy.tables import GROUPS

    groups: dict[str, float] = {}
    try:
        for key, count in result.counters.items():
            comp, action = key.split(".", 1)
            group = GROUPS[comp]
            count = float(count)
            if key == "GLOBALBUFFER.READ" and all(table.has(comp, a) for a, _ in _READ_SPLIT) \
                    and "weight_reads" in result.sram and "input_reads" in result.sram:
                parts = [(a, float(result.sram.get(k, 0.0))) for a, k in _READ_SPLIT]
                if abs(sum(c for _, c in parts) - count) <= 1e-9 * max(1.0, count):
                    e = sum(c * table.dynamic[(comp, a)] for a, c in parts)
                    groups[group] = groups.get(group, 0.0) + e
                    continue
            groups[group] = groups.get(group, 0.0) + count * table.dynamic[(comp, action)]
        for comp, n in result.instances.items():
            groups["static"] = groups.get("static", 0.0) + float(result.cycles) * float(n) * table.static[comp]
    except (KeyError, ValueError):
        return price_slow(result, table)
    return math.fsum(groups.values()), table.unit, {group_column(g): v for g, v in groups.items()}


def shapley(d: float, s: float, r: float, sr: float) -> tuple[float, float]:
    """Two-player Shapley split of d - sr between sparsity and repetition: (sparsity, repetition), from
    :func:`plumsim.energy.attribution.shapley` (exact rational arithmetic, so the shares add up to d - sr)."""
    from plumsim.energy.attribution import shapley as _shapley

    return _shapley(d, s, r, sr)


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
                       weight_format=str(res.info.get("weight_format", "")), cycles=int(res.cycles), multiplications=float(res.counter("MULTIPLIER.MULTIPLICATION")),
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


# Component groups of plumsim.energy's breakdown, in the order figures stack them.
GROUP_ORDER = ("distribution network", "multipliers", "reduction network", "accumulators", "global buffer",
               "collection bus", "static")
LEADING = ("pair_key", "config_id", "accelerator", "tile_policy", "base_cfg", "controller_type", "ms_type",
           "rn_type", "ms_size", "dn_bw", "rn_bw", "ms_rows", "ms_cols", "accumulation_buffer", "config_name",
           "workload", "family", "workload_source", "workload_scheme", "density_target", "seed", "layer",
           "layer_index", "kind", "scheme", *SHAPE_FIELDS, "macs", "mode", "stonne_faithful", "hypothesis",
           "weight_format",
           "cycles", "multiplications",
           "energy", "energy_unit")


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order (whatever order the chunks produced them in), every energy group column present
    (0 where a run has no such component)."""
    groups = [group_column(g) for g in GROUP_ORDER]
    for g in groups:
        if g not in df.columns:
            df[g] = 0.0
    extra_groups = sorted(c for c in df.columns if c.startswith("energy_") and c not in groups
                          and c not in ATTR_COLUMNS and c != "energy_unit")
    gcols = groups + extra_groups
    df[gcols] = df[gcols].fillna(0.0)
    known = [c for c in LEADING if c in df.columns] + gcols + [c for c in STAT_COLUMNS if c in df.columns] \
        + [c for c in ATTR_COLUMNS if c in df.columns]
    rest = sorted(c for c in df.columns if c not in known)
    return df[known + rest]


ATTR_COLUMNS = tuple(f"{m}_{k}" for m in ("energy", "cycles")
                     for k in ("dense", "sparsity_share", "repetition_share", "remaining"))


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

"""The one schema of a sweep's results table (results.parquet / results.csv): one row per
configuration x workload x layer x mode. :data:`COLUMNS` gives every column's meaning and unit;
:func:`order_columns` puts them in the canonical order; :func:`group_column` names the energy columns of
the breakdown groups (:data:`plumsim.energy.tables.GROUP_ORDER`).

Columns (see :data:`COLUMNS` for each one):

- identity: ``pair_key`` (``config_id|workload``), ``config_id``, ``accelerator`` (grid label),
  ``tile_policy``, ``base_cfg``, every :class:`~plumsim.accel.AcceleratorConfig` field, ``workload``,
  ``family``, ``workload_source``, ``workload_scheme``, ``density_target``, ``seed``;
- layer: ``layer``, ``layer_index``, ``kind``, ``scheme`` (the layer's own: FP stem/classifier are "fp"),
  the shape ``N G C K R S X Y stride padding``, ``macs``;
- ``mode`` (native | dense | skip | repeat | skip+repeat, every one through the controller's one model,
  :mod:`plumsim.accel.dataflow`), ``stonne_faithful``, ``hypothesis``, ``weight_format``;
- ``cycles`` (and ``timing_model``: what timed them), ``multiplications``, ``energy`` (in
  ``energy_unit``), ``energy_<group>`` per breakdown group;
- attribution (same value on the four mode rows of a layer; NaN unless dense, skip, repeat and
  skip+repeat are all in the grid): ``energy_dense``, ``energy_sparsity_share``,
  ``energy_repetition_share``, ``energy_remaining`` and the same four for ``cycles_``; the two shares add
  up to dense - skip+repeat exactly (:func:`plumsim.energy.attribution.shapley`);
- weight statistics of the layer (:mod:`plumsim.workload.stats`): :data:`STAT_COLUMNS`.
"""

from __future__ import annotations

import functools
import re

import pandas as pd

from plumsim.energy.tables import GROUP_ORDER
from plumsim.workload.stats import STATS_COLUMNS

#: the layer's weight statistics carried into every row (meanings: :data:`plumsim.workload.stats.STATS_COLUMNS`)
STAT_COLUMNS = ("density", "nnz", "numel", "nnz_per_region_mean", "mean_unique_nonzero_per_region",
                "max_unique_nonzero_per_region", "repetition")
SHAPE_FIELDS = ("N", "G", "C", "K", "R", "S", "X", "Y", "stride", "padding")
ATTR_COLUMNS = tuple(f"{m}_{k}" for m in ("energy", "cycles")
                     for k in ("dense", "sparsity_share", "repetition_share", "remaining"))

#: column -> (meaning, unit); energy group columns (``energy_<group>``) are described by :func:`describe`
COLUMNS: dict[str, tuple[str, str]] = {
    "pair_key": ("configuration and workload of the row, 'config_id|workload'", ""),
    "config_id": ("configuration id: grid label plus the swept axis values", ""),
    "accelerator": ("accelerator label of the grid", ""),
    "tile_policy": ("how MAERI/TPU tiles were chosen ('auto': the model's tile chooser)", ""),
    "base_cfg": ("the STONNE .cfg the configuration started from", "path"),
    "controller_type": ("STONNE controller (MAERI_DENSE_WORKLOAD, SIGMA_SPARSE_GEMM, TPU_OS_DENSE)", ""),
    "ms_type": ("multiplier network type", ""),
    "rn_type": ("reduction network type", ""),
    "ms_size": ("multipliers", "count"),
    "dn_bw": ("distribution network bandwidth", "elements/cycle"),
    "rn_bw": ("reduction network bandwidth", "elements/cycle"),
    "ms_rows": ("TPU mesh rows (0 elsewhere)", "count"),
    "ms_cols": ("TPU mesh columns (0 elsewhere)", "count"),
    "accumulation_buffer": ("accumulation buffer enabled", "bool"),
    "config_name": ("configuration name", ""),
    "workload": ("workload name", ""),
    "family": ("network family (e.g. resnet20)", ""),
    "workload_source": ("where the layers came from: the workload folder, or 'table:<path>' for a synthesized layer table", ""),
    "workload_scheme": ("the workload's quantization scheme", ""),
    "density_target": ("target weight density of a synthetic workload (NaN: the scheme's own)", "fraction"),
    "seed": ("seed of a synthetic workload", ""),
    "layer": ("layer name", ""),
    "layer_index": ("position of the layer in the workload", ""),
    "kind": ("'conv' or 'linear'", ""),
    "scheme": ("the layer's own scheme ('fp' for full-precision stem/classifier)", ""),
    "macs": ("dense multiply-accumulates of the layer", "count"),
    "mode": ("dataflow: native | dense | skip | repeat | skip+repeat", ""),
    "stonne_faithful": ("STONNE runs this mode on this controller as modelled", "bool"),
    "hypothesis": ("'' when faithful, else the extra hardware the hypothetical machine assumes", ""),
    "weight_format": ("how the mode stores the weights (its bits: WEIGHT_STORAGE.BITS)", ""),
    "cycles": ("cycles of the layer", "cycles"),
    "timing_model": ("what timed the cycles: 'event-level' (MAERI, accumulation buffer off: the folding "
                     "chain event by event), 'closed form', 'closed form (event-level over budget)' where "
                     "the event-level model gave up past its work budget; a hypothetical mode: how it was "
                     "mapped and timed", ""),
    "multiplications": ("multiplier operations", "count"),
    "energy": ("total energy of the layer (dynamic + static)", "energy_unit"),
    "energy_unit": ("unit of every energy column: 'pJ' or 'STONNE units'", ""),
    "energy_dense": ("energy of the dense mode (attribution baseline)", "energy_unit"),
    "energy_sparsity_share": ("Shapley share of dense - skip+repeat energy due to zero skipping", "energy_unit"),
    "energy_repetition_share": ("Shapley share of dense - skip+repeat energy due to repetition", "energy_unit"),
    "energy_remaining": ("energy of skip+repeat", "energy_unit"),
    "cycles_dense": ("cycles of the dense mode", "cycles"),
    "cycles_sparsity_share": ("Shapley share of dense - skip+repeat cycles due to zero skipping", "cycles"),
    "cycles_repetition_share": ("Shapley share of dense - skip+repeat cycles due to repetition", "cycles"),
    "cycles_remaining": ("cycles of skip+repeat", "cycles"),
    **{k: (STATS_COLUMNS[k], "") for k in SHAPE_FIELDS},
    **{k: (STATS_COLUMNS[k], "") for k in STAT_COLUMNS},
}

LEADING = ("pair_key", "config_id", "accelerator", "tile_policy", "base_cfg", "controller_type", "ms_type",
           "rn_type", "ms_size", "dn_bw", "rn_bw", "ms_rows", "ms_cols", "accumulation_buffer", "config_name",
           "workload", "family", "workload_source", "workload_scheme", "density_target", "seed", "layer",
           "layer_index", "kind", "scheme", *SHAPE_FIELDS, "macs", "mode", "stonne_faithful", "hypothesis",
           "weight_format", "cycles", "timing_model", "multiplications", "energy", "energy_unit")


@functools.lru_cache(maxsize=256)
def group_column(group: str) -> str:
    """``"distribution network"`` -> ``"energy_distribution_network"``."""
    return "energy_" + re.sub(r"[^0-9a-z]+", "_", str(group).lower()).strip("_")


def energy_group_columns(df: pd.DataFrame) -> list[str]:
    """The breakdown group columns present in ``df`` (known groups in stacking order, then any other
    ``energy_<group>`` column), never ``energy``, ``energy_unit`` or an attribution column."""
    known = [group_column(g) for g in GROUP_ORDER]
    extra = sorted(c for c in df.columns if c.startswith("energy_") and c not in known
                   and c not in ATTR_COLUMNS and c != "energy_unit")
    return [c for c in known if c in df.columns] + extra


def describe(column: str) -> tuple[str, str]:
    """(meaning, unit) of a results column; KeyError for a column the schema does not know."""
    if column in COLUMNS:
        return COLUMNS[column]
    for g in GROUP_ORDER:
        if column == group_column(g):
            return (f"energy of the {g} group", "energy_unit")
    raise KeyError(column)


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order (whatever order the chunks produced them in), every energy group column present
    (0 where a run has no such component)."""
    for g in GROUP_ORDER:
        if group_column(g) not in df.columns:
            df[group_column(g)] = 0.0
    gcols = energy_group_columns(df)
    df[gcols] = df[gcols].fillna(0.0)
    known = [c for c in LEADING if c in df.columns] + gcols + [c for c in STAT_COLUMNS if c in df.columns] \
        + [c for c in ATTR_COLUMNS if c in df.columns]
    rest = sorted(c for c in df.columns if c not in known)
    return df[known + rest]

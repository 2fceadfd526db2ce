"""The results table, in one place: its columns (name, meaning, unit), their order, the energy group
columns, and the aggregations that figures and the report read (workload totals, reference
configurations, the main mode, which rows are hypothetical machines).

Used by :mod:`plumsim.sweep` (which writes results.parquet), :mod:`plumsim.plots` and
:mod:`plumsim.report` (which read it). pandas only; sits after :mod:`plumsim.energy` in the import order.
"""

from plumsim.results.aggregate import (METRICS, accuracy_runs, accuracy_summary, attribution_frame,
                                       check_choices, config_label, default_config, family_baselines,
                                       focus_workload, hypothetical_modes, machine_note, main_mode, metric_unit,
                                       mode_totals, reference_configs, unit_of, workload_totals)
from plumsim.results.schema import (ATTR_COLUMNS, COLUMNS, LEADING, SHAPE_FIELDS, STAT_COLUMNS, describe,
                                    energy_group_columns, group_column, order_columns)

__all__ = ["ATTR_COLUMNS", "COLUMNS", "LEADING", "METRICS", "SHAPE_FIELDS", "STAT_COLUMNS", "accuracy_runs",
           "accuracy_summary", "attribution_frame", "check_choices", "config_label", "default_config",
           "describe", "energy_group_columns", "family_baselines", "focus_workload", "group_column",
           "hypothetical_modes", "machine_note", "main_mode", "metric_unit", "mode_totals", "order_columns",
           "reference_configs", "unit_of", "workload_totals"]

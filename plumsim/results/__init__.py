"""The results table, in one place: its columns (name, meaning, unit), their order, the energy group
columns, and the aggregations that figures and the report read (workload totals, reference
configurations, the main mode, which rows are hypothetical machines).

Used by :mod:`plumsim.sweep` (which writes results.parquet), :mod:`plumsim.plots` and
:mod:`plumsim.report` (which read it). pandas only; sits after :mod:`plumsim.energy` in the import order.
"""

from plumsim.results.aggregate import (focus_workload, machine_note, main_mode, reference_configs, unit_of,
                                       workload_totals)
from plumsim.results.schema import (ATTR_COLUMNS, COLUMNS, LEADING, SHAPE_FIELDS, STAT_COLUMNS, describe,
                                    energy_group_columns, group_column, order_columns)

__all__ = ["ATTR_COLUMNS", "COLUMNS", "LEADING", "SHAPE_FIELDS", "STAT_COLUMNS", "describe",
           "energy_group_columns", "focus_workload", "group_column", "machine_note", "main_mode",
           "order_columns", "reference_configs", "unit_of", "workload_totals"]

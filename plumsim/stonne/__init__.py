"""STONNE interoperability, in one place: read STONNE's output files, check the models against stored
STONNE runs, export any workload as runnable STONNE jobs, compare STONNE's outputs with the models.

* :mod:`plumsim.stonne.io`: ``read_stonne_dir`` / ``run_frame`` (STONNE's ``.counters`` + ``.txt``/JSON
  statistics -> :class:`~plumsim.accel.result.SimResult`).
* :mod:`plumsim.stonne.validate`: ``validate_cases`` (a reference ``cases.csv`` -> per-case model error);
  :mod:`plumsim.stonne.energy_check`: ``add_energy_columns`` (STONNE's energy vs ours).
* :mod:`plumsim.stonne.export`: ``export_workload`` writes an export folder (``accel.cfg``, per-layer
  ``.npy`` weights and inputs, tile files, ``run.sh``, ``run_sigma.py``, ``manifest.json``,
  ``skipped.csv``); ``plan_layer`` decides how one layer runs on STONNE (CLI flags or a ``torch_stonne``
  call) or why it cannot.
* :mod:`plumsim.stonne.compare`: ``compare_export`` reads what STONNE wrote under ``DIR/out/<layer>/`` and
  puts it beside the model's cycles, counters and energy (STONNE's table).

Sits after :mod:`plumsim.energy` in the import order (docs/design.md, "Pipeline"); numpy/pandas only
(the generated ``run_sigma.py`` imports torch and torch_stonne, this package never does). Importing it has
no side effects.
"""

from plumsim.stonne.compare import CompareReport, compare_export
from plumsim.stonne.energy_check import add_energy_columns
from plumsim.stonne.export import ExportResult, LayerPlan, export_workload, plan_layer
from plumsim.stonne.io import read_stonne_dir, run_frame
from plumsim.stonne.validate import validate_cases

__all__ = ["CompareReport", "ExportResult", "LayerPlan", "add_energy_columns", "compare_export",
           "export_workload", "plan_layer", "read_stonne_dir", "run_frame", "validate_cases"]

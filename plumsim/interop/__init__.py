"""STONNE interoperability: export any workload as runnable STONNE jobs, compare STONNE's outputs with
the models.

* :func:`export_workload` writes an export folder (``accel.cfg``, per-layer ``.npy`` weights and inputs,
  tile files, ``run.sh``, ``run_sigma.py``, ``manifest.json``, ``skipped.csv``); :func:`plan_layer`
  decides how one layer runs on STONNE (CLI flags or a ``torch_stonne`` call) or why it cannot.
* :func:`compare_export` reads what STONNE wrote under ``DIR/out/<layer>/`` and puts it beside the
  model's cycles, counters and energy (STONNE's table).

Sits after :mod:`plumsim.energy` in the import order; numpy/pandas only (the generated ``run_sigma.py``
imports torch and torch_stonne, this package never does). Importing it has no side effects.
"""

from plumsim.interop.compare import CompareReport, compare_export
from plumsim.interop.export import ExportResult, LayerPlan, export_workload, plan_layer

__all__ = ["CompareReport", "ExportResult", "LayerPlan", "compare_export", "export_workload", "plan_layer"]

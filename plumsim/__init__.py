"""plumsim: accelerator simulation of signed-binary (PLUM), binary and ternary networks.

Pipeline (imports go one way; docs/design.md, "Pipeline"): quant -> workload -> accel -> energy -> stonne
-> results -> sweep -> plots -> report -> pipeline -> cli. Importing the package has no side effects and
does not import torch.

Python API (:mod:`plumsim.api`, loaded on first use): ``plumsim.lower``, ``plumsim.synth``,
``plumsim.load_workload``, ``plumsim.workload_stats``, ``plumsim.simulate``, ``plumsim.attribute``,
``plumsim.run_sweep``, ``plumsim.plot``. Columns of every returned table: ``docs/api.md``.
(``plumsim.sweep`` is the sweep subpackage; ``plumsim.run_sweep`` runs a grid.)
"""

__version__ = "0.1.0"

_API = ("lower", "synth", "load_workload", "workload_stats", "simulate", "attribute", "run_sweep", "plot")


def __getattr__(name):
    if name in _API:
        from plumsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'plumsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))

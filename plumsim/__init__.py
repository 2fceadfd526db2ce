"""plumsim: accelerator simulation of signed-binary (PLUM), binary and ternary networks.

Pipeline (imports go one way): quant -> workload -> accel -> energy -> sweep -> plots/report -> cli.
Importing the package has no side effects and does not import torch.

Python API (:mod:`plumsim.api`, loaded on first use): ``plumsim.lower``, ``plumsim.synth``,
``plumsim.load_workload``, ``plumsim.workload_stats``, ``plumsim.simulate``, ``plumsim.attribute``,
``plumsim.sweep``, ``plumsim.plot``. Columns of every returned table: ``docs/api.md``.
"""

import sys as _sys
import types as _types

__version__ = "0.1.0"

_API = ("lower", "synth", "load_workload", "workload_stats", "simulate", "attribute", "sweep", "plot")


class _CallableSweepPackage(_types.ModuleType):
    """The ``plumsim.sweep`` subpackage, callable as :func:`plumsim.api.sweep`."""

    def __call__(self, *args, **kwargs):
        from plumsim.api import sweep

        return sweep(*args, **kwargs)


def _callable(module):
    if type(module) is _types.ModuleType:
        module.__class__ = _CallableSweepPackage
    return module


class _Plumsim(_types.ModuleType):
    # ``plumsim.sweep`` is both the subpackage and the API function: the name always gives the subpackage
    # (imported on first access, so `import plumsim.sweep.evaluate` keeps working), made callable.
    @property
    def sweep(self):
        import importlib

        return _callable(importlib.import_module("plumsim.sweep"))

    @sweep.setter
    def sweep(self, module):  # the import system sets the subpackage here
        _callable(module)


_sys.modules[__name__].__class__ = _Plumsim


def __getattr__(name):
    if name in _API:
        from plumsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'plumsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))

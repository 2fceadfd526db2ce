"""Sweeps: grids (YAML), executors (local process pool, Dask), the crash-safe results store, the demo.

    from plumsim.sweep import load_grid, run_sweep, load_results
    summary = run_sweep("accel_configs/sweeps/demo.yaml", "results/demo-grid")
    df = load_results("results/demo-grid")      # one row per config x workload x layer x mode

Result columns: :mod:`plumsim.sweep.evaluate`. Grid format: :mod:`plumsim.sweep.grid`.
"""

from plumsim.sweep.grid import MODES, Grid, load_grid
from plumsim.sweep.runner import run_sweep
from plumsim.sweep.store import ResultStore, load_results

__all__ = ["MODES", "Grid", "ResultStore", "load_grid", "load_results", "run_sweep"]

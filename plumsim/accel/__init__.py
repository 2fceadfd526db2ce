"""Accelerator models after STONNE (MAERI, SIGMA, TPU-like mesh). numpy only: never imports torch.

Public API: ``load_config``/``dump_config`` (STONNE .cfg), ``simulate_layer``/``simulate_workload``,
``sigma_gemm``, ``tpu_gemm``
(reading STONNE's outputs and validating against them: :mod:`plumsim.stonne`). Submodules are imported lazily
by the functions that need them; importing this package has no side effects.
"""

from plumsim.accel.cfg import dump_config, load_config, loads_config, validate_tile
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.accel.sigma import sigma_gemm
from plumsim.accel.simulate import simulate_layer, simulate_workload
from plumsim.accel.tpu import choose_tpu_tile, tpu_gemm

__all__ = ["AcceleratorConfig", "SimResult", "load_config", "loads_config", "dump_config", "validate_tile",
           "simulate_layer", "simulate_workload", "sigma_gemm", "tpu_gemm", "choose_tpu_tile"]

"""Accelerator models after STONNE (MAERI, SIGMA, TPU-like mesh). numpy only: never imports torch."""

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult

__all__ = ["AcceleratorConfig", "SimResult"]

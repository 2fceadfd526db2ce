"""Workloads: lowering trained layers, the on-disk format, synthetic layer tables, statistics.

numpy only at import time: torch is imported lazily by the lowering code.
"""

from plumsim.workload.layer import KINDS, Layer, LayerShape

__all__ = ["KINDS", "Layer", "LayerShape"]

"""Workloads: lowering trained layers, the on-disk format, synthetic layer tables, statistics.

numpy only at import time: torch is imported lazily by the lowering code (``plumsim.workload.lowering``),
because plumsim.accel imports this package.
"""

from plumsim.workload.format import FORMAT_VERSION, Workload
from plumsim.workload.layer import KINDS, Layer, LayerShape
from plumsim.workload.schemes import SCHEMES
from plumsim.workload.stats import STATS_COLUMNS, workload_stats
from plumsim.workload.synth import load_table, synth


def lower(model_or_checkpoint_dir, example_input=None, **kwargs):
    """Lower a torch model (or a checkpoint folder) to a :class:`Workload`; see
    :func:`plumsim.workload.lowering.lower` (imported here lazily: it needs torch)."""
    from plumsim.workload.lowering import lower as _lower

    return _lower(model_or_checkpoint_dir, example_input, **kwargs)


__all__ = ["FORMAT_VERSION", "KINDS", "Layer", "LayerShape", "SCHEMES", "STATS_COLUMNS", "Workload",
           "load_table", "lower", "synth", "workload_stats"]

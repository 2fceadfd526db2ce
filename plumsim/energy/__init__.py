"""Energy tables with units and sources, counters -> energy, sparsity-vs-repetition attribution.

numpy/pandas only: never imports torch.
"""

from plumsim.energy.breakdown import energy_breakdown, energy_by_group, total_energy
from plumsim.energy.tables import EnergyTable, load_energy_table

__all__ = ["EnergyTable", "load_energy_table", "energy_breakdown", "energy_by_group", "total_energy",
           "attribute"]


def attribute(*args, **kwargs):
    """Sparsity-vs-repetition attribution; see :func:`plumsim.energy.attribution.attribute`."""
    from plumsim.energy.attribution import attribute as _attribute

    return _attribute(*args, **kwargs)

"""MAERI dense-workload model (STONNE's MAERI_DENSE_WORKLOAD controller): CONV, FC and dense GEMM.

numpy only. Work in progress: signatures are final, bodies are being calibrated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError

TILE_FIELDS = ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X", "T_Y")


@dataclass(frozen=True)
class MaeriTile:
    """A MAERI conv tile in STONNE's names (T_X/T_Y are STONNE's T_X'/T_Y', output positions)."""

    T_R: int = 1
    T_S: int = 1
    T_C: int = 1
    T_K: int = 1
    T_G: int = 1
    T_N: int = 1
    T_X: int = 1
    T_Y: int = 1

    @property
    def virtual_neuron_size(self) -> int:
        """Multipliers per virtual neuron (one dot-product slice): T_R*T_S*T_C."""
        return self.T_R * self.T_S * self.T_C

    @property
    def num_virtual_neurons(self) -> int:
        """Virtual neurons mapped at once: T_K*T_G*T_N*T_X*T_Y."""
        return self.T_K * self.T_G * self.T_N * self.T_X * self.T_Y

    @property
    def multipliers_used(self) -> int:
        """Multipliers the tile occupies."""
        return self.virtual_neuron_size * self.num_virtual_neurons

    @classmethod
    def from_dict(cls, d: dict) -> "MaeriTile":
        """Build from a dict with keys T_R..T_Y (also accepts STONNE's T_X_/T_Y_ spelling)."""
        vals = {}
        for f in TILE_FIELDS:
            v = d.get(f, d.get(f + "_", 1))
            vals[f] = int(v)
        return cls(**vals)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def maeri_conv(shape, config: AcceleratorConfig, tile: MaeriTile) -> SimResult:
    """Cycles and counters of one conv layer on MAERI (see module doc)."""
    raise NotImplementedError


def maeri_gemm(M: int, N: int, K: int, config: AcceleratorConfig, T_M: int, T_N: int, T_K: int) -> SimResult:
    """Cycles and counters of a dense GEMM (STONNE CLI DenseGEMM/FC convention)."""
    raise NotImplementedError

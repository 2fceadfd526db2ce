"""Tile choosers: the tile with the fewest model cycles (STONNE's "performance" target). numpy only."""

from __future__ import annotations

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri import MaeriTile


def choose_maeri_tile(shape, config: AcceleratorConfig) -> MaeriTile:
    """The valid MAERI conv tile with the fewest model cycles."""
    raise NotImplementedError


def choose_maeri_gemm_tile(M: int, N: int, K: int, config: AcceleratorConfig) -> tuple[int, int, int]:
    """(T_M, T_N, T_K) with the fewest model cycles for a dense GEMM."""
    raise NotImplementedError

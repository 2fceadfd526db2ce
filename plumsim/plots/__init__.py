"""Figures of sweep results (matplotlib is imported only when a figure is drawn)."""

from __future__ import annotations

from pathlib import Path

from plumsim.plots.figures import FIGURES


def plot_results(out: str | Path, only=None) -> list[Path]:
    """Draw every figure of the sweep folder ``out`` into ``out/plots/`` (PNG, PDF, SVG); returns the paths."""
    from plumsim.plots.figures import plot_frame
    from plumsim.sweep.store import load_results

    return plot_frame(load_results(out), Path(out) / "plots", only=only)


__all__ = ["FIGURES", "plot_results"]

"""Figures of sweep results, sized for papers (matplotlib is imported only when a figure is drawn).

- :mod:`plumsim.plots.figures`: figures of the results table (energy vs density, attribution, per-layer
  attribution, dataflows, size scaling, Pareto, per-layer breakdown); :mod:`plumsim.plots.accuracy`:
  accuracy of trained models vs energy and vs density. Each takes a DataFrame and returns (fig, ax).
- :mod:`plumsim.plots.style`: sizes (column 3.5 in, double 7 in), fonts, colours, markers, and
  :func:`~plumsim.plots.style.save` (PNG at 300 dpi, PDF with TrueType fonts, SVG with text as text).
- :func:`plot_results` / :func:`plot_frame`: draw them all for a sweep folder (``plumsim plot``).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from plumsim.plots.style import FORMATS, SIZES, output_name

#: every figure, in the report's order
FIGURES = ("energy_vs_density", "attribution", "layer_attribution", "modes", "size_scaling", "pareto",
           "layer_breakdown", "accuracy_vs_energy", "accuracy_vs_density")
#: figures drawn only when the sweep folder holds trained models (models.csv)
ACCURACY_FIGURES = ("accuracy_vs_energy", "accuracy_vs_density")
#: figures with an energy / cycles version; the default run draws both for these
BOTH_METRICS = ("attribution", "layer_attribution")
METRIC_FIGURES = ("energy_vs_density", "attribution", "layer_attribution", "modes", "accuracy_vs_energy")
MODELS_CSV = "models.csv"


def _functions() -> dict:
    from plumsim.plots import accuracy, figures

    return {name: getattr(accuracy if name in ACCURACY_FIGURES else figures, name) for name in FIGURES}


def figure_files(only=None, metrics=None) -> list[tuple[str, str, str]]:
    """(figure, metric, file name without extension) of every file a run draws."""
    out = []
    for name in FIGURES:
        if only and name not in only:
            continue
        if name not in METRIC_FIGURES:
            out.append((name, "energy", name))
            continue
        ms = metrics or (("energy", "cycles") if name in BOTH_METRICS else ("energy",))
        out += [(name, m, output_name(name, m)) for m in ms]
    return out


def load_models(folder: str | Path):
    """models.csv of a sweep folder (trained models: scheme, seed, val_acc, ...), or None."""
    import pandas as pd

    p = Path(folder) / MODELS_CSV
    if not p.is_file():
        return None
    try:
        return pd.read_csv(p)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def plot_frame(df, out: str | Path, only=None, *, models=None, workload=None, config=None, mode=None,
               metrics=None, formats=FORMATS, size: str = "column", normalize: str = "baseline",
               log=None) -> list[Path]:
    """Draw the figures (those named in ``only``, default all) of results table ``df`` into folder ``out``;
    returns the written paths. ``models``: trained runs (models.csv) for the accuracy figures, which are
    skipped, with a note on ``log`` (default stderr), when there are none. ``metrics``: e.g. ("cycles",);
    default energy, plus cycles for the attribution figures. Other keywords: see
    :mod:`plumsim.plots.figures`."""
    from plumsim.plots import style
    from plumsim.results import accuracy_runs, check_choices

    check_choices(df, workload=workload, config=config, mode=mode)
    for m in metrics or ():
        check_choices(df, metric=m)
    style.check_size(size)
    if workload is not None and config is None:   # a configuration that ran the chosen workload
        from plumsim.results import default_config

        config = default_config(df[df["workload"] == workload])
    fns = _functions()
    runs = None
    paths: list[Path] = []
    for name, metric, fname in figure_files(only, metrics):
        fn = fns[name]
        if name in ACCURACY_FIGURES:
            if runs is None:
                runs = accuracy_runs(models, df, config=config, mode=mode) if models is not None else None
            need = "density" if name == "accuracy_vs_density" else metric
            if runs is None or runs.empty or runs[need].isna().all():
                print(f"note: {fname} skipped: no trained models (models.csv with val_acc) for these results",
                      file=log or sys.stderr)
                continue
            data = runs
        else:
            data = df
        accepted = inspect.signature(fn).parameters
        kw = {k: v for k, v in dict(workload=workload, config=config, mode=mode, metric=metric,
                                    normalize=normalize).items() if k in accepted and v is not None}
        fig, _ = fn(data, size=size, **kw)
        paths += style.save(fig, out, fname, formats)
    return paths


def plot_results(out: str | Path, only=None, **kw) -> list[Path]:
    """Draw the figures of the sweep folder ``out`` into ``out/plots/`` (PNG, PDF, SVG); returns the paths.
    Keywords: those of :func:`plot_frame`; the trained models are read from ``out/models.csv``."""
    from plumsim.sweep.store import load_results

    kw.setdefault("models", load_models(out))
    return plot_frame(load_results(out), Path(out) / "plots", only=only, **kw)


__all__ = ["ACCURACY_FIGURES", "FIGURES", "FORMATS", "SIZES", "figure_files", "load_models", "plot_frame",
           "plot_results"]

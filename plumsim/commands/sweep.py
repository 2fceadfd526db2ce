"""CLI: ``plumsim sweep GRID.yaml --out DIR``, ``plumsim plot DIR``, ``plumsim report DIR``."""

from __future__ import annotations

import argparse
import errno
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="sweep accelerator configurations x workloads x repetition modes (resumable)",
        description="Run every valid configuration of a grid YAML (see accel_configs/sweeps/) on every "
        "workload in every repetition mode; store results/NAME/results.parquet + results.csv + manifest.json, "
        "then draw the plots. Invalid axis combinations are listed (and written to invalid_configs.csv), "
        "not run. A killed sweep resumes where it stopped when the same command is run again.")
    p.add_argument("grid", help="grid YAML file")
    p.add_argument("--out", required=True, help="results folder, e.g. results/NAME")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local process pool (default) or a Dask distributed cluster")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (tcp://host:port); default: a LocalCluster on 127.0.0.1")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--chunk-points", type=int, default=None,
                   help="points (layer x config x mode) per task (default: automatic, <= 2000)")
    p.add_argument("--fresh", action="store_true", help="discard earlier results in --out and start over")
    p.add_argument("--max-points", type=int, default=None, metavar="N",
                   help="allow a grid of up to N points (configurations x workloads x modes; default: the "
                   "grid's max_points, else 100000)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots at the end")
    p.add_argument("--format", choices=("table", "json"), default="table", help="summary format")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("plot", help="draw the figures of a sweep (PNG 300 dpi, PDF, SVG in DIR/plots)",
                       description="Draw the figures of DIR/results.parquet into DIR/plots/, sized for a paper "
                       "(--size column: 3.5 in, 7 pt text; double: 7 in, 8 pt): energy vs density, attribution "
                       "(energy and cycles, % of the dense binary workload of each network), per-layer "
                       "attribution, dataflows, size scaling, Pareto, per-layer breakdown, and accuracy vs "
                       "energy / density when DIR/models.csv holds trained models. Hypothetical machines "
                       "(modes STONNE cannot run on a controller) are named in each figure.")
    p.add_argument("results", help="sweep results folder (results/NAME)")
    p.add_argument("--only", nargs="+", default=None, metavar="FIGURE",
                   help="draw only these: " + " ".join(_figures()))
    p.add_argument("--workload", default=None, help="workload of the one-workload figures (default: the "
                   "largest run on the most configurations, signed-binary if any)")
    p.add_argument("--config", default=None, metavar="CONFIG_ID", help="configuration of the one-configuration "
                   "figures (default: reference configuration of the accelerator that ran the most workloads)")
    p.add_argument("--mode", default=None, help="dataflow shown (default: skip+repeat when swept)")
    p.add_argument("--metric", choices=("energy", "cycles"), default=None,
                   help="energy or cycles (default: energy, and both for the attribution figures)")
    p.add_argument("--format", default="png,pdf,svg", help="comma-separated file formats (default png,pdf,svg)")
    p.add_argument("--size", choices=("column", "double"), default="column",
                   help="column (3.5 in wide, default) or double (7 in)")
    p.add_argument("--absolute", action="store_true",
                   help="attribution in the metric's unit instead of %% of the dense binary workload")
    p.set_defaults(func=_plot)

    p = sub.add_parser("report", help="write a self-contained HTML report of a sweep",
                       description="Write DIR/report.html: figures embedded, summary tables (every column "
                       "explained), accuracy of trained models (DIR/models.csv), the paper's claims "
                       "(DIR/paper.json), the grid, invalid configurations and package versions; paths are "
                       "relative to DIR. Draws missing figures first.")
    p.add_argument("results", help="sweep results folder (results/NAME)")
    p.add_argument("--output", default=None, help="HTML file (default: DIR/report.html)")
    p.set_defaults(func=_report)


def _sweep(args: argparse.Namespace) -> int:
    from plumsim.commands._output import print_json
    from plumsim.sweep.runner import run_sweep

    grid = args.grid
    if args.max_points is not None:
        from plumsim.sweep.grid import load_grid

        grid = load_grid(args.grid, max_points=args.max_points)
    summary = run_sweep(grid, args.out, executor=args.executor, workers=args.workers,
                        scheduler=args.scheduler, fresh=args.fresh, chunk_points=args.chunk_points)
    if not args.no_plots:
        from plumsim.plots import plot_results

        from plumsim.errors import StorageError

        try:
            with _whole_figures(summary["out"]):
                summary["plots"] = [str(p) for p in plot_results(summary["out"])]
        except StorageError as exc:
            # a finished sweep run again on a read-only copy: nothing changed, its figures stay as drawn
            current = _current_plots(summary["out"]) if summary.get("unchanged") and exc.errno in (
                errno.EROFS, errno.EACCES, errno.EPERM) else None
            if not current:
                raise
            print(f"note: figures not redrawn (read-only folder); kept: {summary['out']}/plots/", file=sys.stderr)
            summary["plots"] = current
    if args.format == "json":
        print_json(summary)
    else:
        print(f"{summary['grid']}: {summary['rows']} rows ({summary['pairs']} config x workload pairs; "
              f"{summary['pairs_computed']} computed, {summary['pairs_resumed']} resumed) in "
              f"{summary['seconds']:.1f} s, {summary['points_per_second'] or 0:.0f} points/s "
              f"[{summary['executor']}, {summary['workers']} workers]")
        if summary["invalid_configs"]:
            print(f"invalid configurations not run: {summary['invalid_configs']} "
                  f"(see {summary['out']}/invalid_configs.csv)")
        print(f"results: {summary['out']}/results.parquet (and .csv)")
        if summary.get("plots"):
            print(f"plots:   {summary['out']}/plots/")
    return 0


def _whole_figures(out):
    """Figures are written straight into OUT/plots/: a disk that fills up mid-figure must not leave it cut
    short (it is removed, and the one-line error names it)."""
    from pathlib import Path

    from plumsim.fileio import no_partial_files

    return no_partial_files(Path(out) / "plots")


def _current_plots(out) -> list[str] | None:
    """The figure files of ``OUT/plots`` when every one was drawn after results.parquet was written, else
    None (what a finished sweep run again on a read-only copy reports instead of redrawing them)."""
    from pathlib import Path

    try:
        table = (Path(out) / "results.parquet").stat().st_mtime
        files = sorted(p for p in (Path(out) / "plots").iterdir() if p.is_file() and not p.name.startswith("."))
        if files and all(p.stat().st_mtime >= table for p in files):
            return [str(p) for p in files]
    except OSError:
        pass
    return None


def _figures() -> tuple:
    from plumsim.plots import FIGURES

    return FIGURES


def _plot(args: argparse.Namespace) -> int:
    import sys

    from plumsim.errors import ConfigError
    from plumsim.plots import FIGURES, FORMATS, plot_results

    bad = [f for f in args.only or [] if f not in FIGURES]
    if bad:
        raise ConfigError(f"unknown figure {bad[0]!r}; valid: {', '.join(FIGURES)}", field="--only")
    formats = [f.strip().lower().lstrip(".") for f in str(args.format).split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"unknown format {(bad or [args.format])[0]!r}; valid: {', '.join(FORMATS)}",
                          field="--format")
    with _whole_figures(args.results):
        paths = plot_results(args.results, only=args.only, workload=args.workload, config=args.config,
                             mode=args.mode, metrics=(args.metric,) if args.metric else None,
                             formats=tuple(dict.fromkeys(formats)), size=args.size,
                             normalize="absolute" if args.absolute else "baseline", log=sys.stderr)
    for p in paths:
        print(p)
    return 0


def _report(args: argparse.Namespace) -> int:
    from plumsim.report import write_report

    with _whole_figures(args.results):  # it draws missing figures first
        print(write_report(args.results, args.output))
    return 0

"""CLI: ``plumsim sweep GRID.yaml --out DIR``, ``plumsim plot DIR``, ``plumsim report DIR``."""

from __future__ import annotations

import argparse


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

    p = sub.add_parser("plot", help="draw the figures of a sweep (PNG + SVG in DIR/plots)",
                       description="Draw energy-vs-density, attribution, size-scaling, Pareto and per-layer "
                       "breakdown figures from DIR/results.parquet into DIR/plots/.")
    p.add_argument("results", help="sweep results folder (results/NAME)")
    p.add_argument("--only", nargs="+", default=None, metavar="FIGURE",
                   help="draw only these: energy_vs_density attribution size_scaling pareto layer_breakdown")
    p.set_defaults(func=_plot)

    p = sub.add_parser("report", help="write a self-contained HTML report of a sweep",
                       description="Write DIR/report.html: figures embedded, summary tables, the grid, "
                       "invalid configurations and package versions. Draws missing figures first.")
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

        # nothing changed (a finished sweep run again): figures newer than the table are kept, not redrawn
        current = _current_plots(summary["out"]) if summary.get("unchanged") else None
        summary["plots"] = current or [str(p) for p in plot_results(summary["out"])]
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


def _current_plots(out) -> list[str] | None:
    """The figure files of ``OUT/plots`` when every one was drawn after results.parquet was written, else
    None: a finished sweep run again (nothing changed) then need not redraw them."""
    from pathlib import Path

    try:
        table = (Path(out) / "results.parquet").stat().st_mtime
        files = sorted(p for p in (Path(out) / "plots").iterdir() if p.is_file() and not p.name.startswith("."))
        if files and all(p.stat().st_mtime >= table for p in files):
            return [str(p) for p in files]
    except OSError:
        pass
    return None


def _plot(args: argparse.Namespace) -> int:
    from plumsim.errors import ConfigError
    from plumsim.plots import FIGURES, plot_results

    bad = [f for f in args.only or [] if f not in FIGURES]
    if bad:
        raise ConfigError(f"unknown figure {bad[0]!r}; allowed: {', '.join(FIGURES)}", field="--only")
    for p in plot_results(args.results, only=args.only):
        print(p)
    return 0


def _report(args: argparse.Namespace) -> int:
    from plumsim.report import write_report

    print(write_report(args.results, args.output))
    return 0

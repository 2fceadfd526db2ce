"""CLI: ``plumsim demo --out results/demo`` (``make demo``): the whole pipeline on embedded defaults."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="end-to-end demo: train, lower, sweep MAERI/SIGMA/TPU, attribute, plot, report",
        description="Train the digits CNN with fp, binary, ternary and signed-binary weights, lower it, add the "
        "ResNet-20 and ResNet-18 layer tables, sweep accel_configs/sweeps/demo.yaml, attribute, plot and "
        "write OUT/report.html. Re-running reuses what is done (a few seconds).")
    p.add_argument("--out", default="results/demo", help="output folder (default results/demo)")
    p.add_argument("--grid", default=None, help="sweep grid (default accel_configs/sweeps/demo.yaml)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the fast recipe's)")
    p.add_argument("--workers", type=int, default=None, help="sweep worker processes (default: all cores)")
    p.add_argument("--executor", choices=("local", "dask"), default="local", help="sweep executor")
    p.add_argument("--fresh", action="store_true", help="retrain and recompute everything")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from plumsim.errors import ConfigError
    from plumsim.pipeline.demo import run_demo

    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {args.epochs}", field="--epochs")
    r = run_demo(args.out, grid=args.grid, epochs=args.epochs, workers=args.workers, executor=args.executor,
                 fresh=args.fresh)
    s = r["sweep"]
    print(f"\ndemo done in {r['seconds']:.0f} s: {s['rows']} result rows, {s['pairs']} config x workload pairs "
          f"({s['pairs_computed']} computed now).")
    print(f"  report:  {r['report']}   <- start here (open in a browser)")
    print(f"  plots:   {r['plots']}/*.png (300 dpi; and .pdf, .svg with real text)")
    print(f"  table:   {r['results']} (and results.csv)")
    print(f"  models:  {args.out}/models.csv (digits accuracy and density per scheme)")
    return 0

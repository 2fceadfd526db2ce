"""Sweep throughput and Dask overhead.

Measures, on this machine (default 2 worker processes):
1. points/s (one point = layer x configuration x mode) of a local sweep of ResNet-18/ImageNet signed-binary
   on the shipped SIGMA grid (accel_configs/sweeps/resnet18-sigma.yaml, 119 configurations) and MAERI grid
   (resnet18-maeri.yaml, 182 configurations), every configuration in all five dataflows (native, dense,
   skip, repeat, skip+repeat), each run --repeats times from an empty folder (median kept; wall clock,
   worker start-up included);
2. the share of a sweep's time spent inside the accelerator models (the rest: pricing, statistics, rows,
   store);
3. Dask vs local on the same grid and modes: a LocalCluster started by the sweep (what
   ``--executor dask`` costs end to end), an already running cluster (``--scheduler``), and that cluster
   again once its workers are warm (imports done, workload cached).

    .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--repeats 3] [--out results/bench_sweep]

Prints a table and writes OUT/bench_sweep.json.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plumsim.sweep.grid import load_grid  # noqa: E402
from plumsim.sweep.runner import run_sweep  # noqa: E402

GRIDS = {"sigma": ROOT / "accel_configs" / "sweeps" / "resnet18-sigma.yaml",
         "maeri": ROOT / "accel_configs" / "sweeps" / "resnet18-maeri.yaml"}


def subgrid(name: str, modes):
    """The shipped grid ``name`` with its dataflows set to ``modes``."""
    g = load_grid(GRIDS[name])
    g.modes = tuple(modes)
    return g


def sweep(grid, out: Path, **kw) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_sweep(grid, out, progress=False, log=io.StringIO(), **kw)
    s["wall_s"] = round(time.perf_counter() - t0, 2)
    s["points_per_s_wall"] = round(s["points_computed"] / s["wall_s"], 1)
    return s


def model_share(grid, pairs: int = 6) -> float:
    """Fraction of a chunk's time spent inside the accelerator models (simulate_mode), in-process."""
    import plumsim.sweep.evaluate as ev
    from plumsim.sweep.runner import materialise_workloads
    from plumsim.sweep.store import ResultStore

    store = ResultStore(ROOT / "results" / "bench_sweep" / "share")
    store.out.mkdir(parents=True, exist_ok=True)
    wl = materialise_workloads(grid, store)[0]
    ev._workload(wl["dir"])  # load once, as a worker would
    inside = [0.0]
    orig = ev.simulate_mode

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            inside[0] += time.perf_counter() - t

    ev.simulate_mode = timed
    try:
        t0 = time.perf_counter()
        tasks = [{"pair_key": str(i), "accel_fields": acc.fields(), "config": acc.config, "workload": wl,
                  "modes": list(grid.modes), "energy_table": grid.energy_table}
                 for i, acc in enumerate(grid.accels[:pairs])]
        ev.evaluate_chunk(tasks)  # what a worker runs for a chunk
        total = time.perf_counter() - t0
    finally:
        ev.simulate_mode = orig
    return inside[0] / total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs per grid (median kept; default 3)")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench_sweep"))
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--native-only", action="store_true", help="native dataflow only (fast)")
    args = ap.parse_args()
    out = Path(args.out)
    import os
    import platform
    import statistics

    rows = []
    for name in GRIDS:
        modes = ["native"] if args.native_only else ["native", "dense", "skip", "repeat", "skip+repeat"]
        g = subgrid(name, modes)
        runs = []
        for i in range(args.repeats):
            load = os.getloadavg()[0]
            s = sweep(g, out / f"{name}-all", workers=args.workers)
            runs.append(s["points_per_s_wall"])
            print(f"{name} run {i + 1}: {s['points_computed']} points in {s['wall_s']} s = "
                  f"{s['points_per_s_wall']} points/s (load average before {load:.2f})", flush=True)
        share = model_share(g)
        rows.append({"grid": name, "modes": "+".join(modes) if len(modes) < 5 else "all five",
                     "configs": len(g.accels), "points": s["points_computed"], "executor": "local",
                     "runs_points_per_s": runs, "points_per_s": statistics.median(runs),
                     "model_time_share": round(share, 3)})
        print(rows[-1], flush=True)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "load_average_end": os.getloadavg()[0]}
    dask_rows = []
    if not args.skip_dask:
        from distributed import Client, LocalCluster

        for name in GRIDS:
            g = subgrid(name, ["native"])
            loc = sweep(g, out / f"{name}-native-local", workers=args.workers)
            s = sweep(g, out / f"{name}-dask-own", executor="dask", workers=args.workers)
            from plumsim.sweep.runner import dask_worker_settings

            with dask_worker_settings():  # as the sweep's own cluster
                cl = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cl)
            try:
                s2 = sweep(g, out / f"{name}-dask-running", executor="dask", workers=args.workers,
                           scheduler=cl.scheduler_address)
                # the same sweep again on the now warm workers (imports done, workload cached)
                s3 = sweep(g, out / f"{name}-dask-warm", executor="dask", workers=args.workers,
                           scheduler=cl.scheduler_address)
            finally:
                client.close()
                cl.close()
            for lab, ss in (("dask (starts its LocalCluster)", s), ("dask (running cluster)", s2),
                            ("dask (warm workers)", s3)):
                dask_rows.append({"grid": name, "modes": "native", "configs": len(g.accels),
                                  "points": ss["points_computed"], "executor": lab, "wall_s": ss["wall_s"],
                                  "points_per_s": ss["points_per_s_wall"],
                                  "overhead_vs_local": round(ss["wall_s"] / loc["wall_s"] - 1, 3)})
                print(dask_rows[-1], flush=True)
    import pandas as pd

    print()
    print(pd.DataFrame(rows).to_string(index=False))
    if dask_rows:
        print()
        print(pd.DataFrame(dask_rows).to_string(index=False))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_sweep.json").write_text(json.dumps({"local": rows, "dask": dask_rows, "machine": machine,
                                                      "workers": args.workers}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

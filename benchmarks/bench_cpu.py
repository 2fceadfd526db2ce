"""Real CPU kernels on ResNet-18/ImageNet (issue 14): signed-binary vs binary vs ternary on this processor.

Synthetic latents (seed 0) of workloads/resnet18-imagenet.yaml at batch 1: signed-binary at density 0.36
(the issue's figure), binary, ternary (TWN rule). Every layer x dataflow (dense, skip, repeat,
skip+repeat) x thread count (1 and 2 by default) is timed with the plumsim.cpu numba kernels (warm-up,
median of --repeats), with torch's conv2d/linear on the same weights as a reference. Speedups:
signed-binary (its best repetition-aware dataflow) vs binary and ternary (each in its best
repetition-aware dataflow, and dense), measured beside the model's predicted ratio of
mults + adds + index bits. The paper reports 1.26x over binary and 1.75x over ternary on an Intel Xeon.

Writes results/benchmarks/bench_cpu.json (machine, settings, per-layer rows, totals, speedups) and
bench_cpu_{layers,speedups}.csv, and prints the total speedups.
Run: .venv/bin/python benchmarks/bench_cpu.py [--threads 1,2] [--repeats 5] [--layers NAME,..]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "workloads" / "resnet18-imagenet.yaml"
OUT = ROOT / "results" / "benchmarks"


def main(argv=None) -> int:
    from plumsim.commands._output import jsonable
    from plumsim.commands.experiment import torch_reference
    from plumsim.cpu import experiment as E
    from plumsim.workload.format import Workload
    from plumsim.workload.synth import synth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--layers", default=None, help="comma-separated subset of layer names (default: all)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    wls = [synth(TABLE, scheme=s, seed=0, density=d)
           for s, d in (("signed-binary", 0.36), ("binary", None), ("ternary", None))]
    if args.layers:
        keep = set(args.layers.split(","))
        wls = [Workload(name=w.name, layers=[lyr for lyr in w.layers if lyr.name in keep], meta=w.meta) for w in wls]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    layers = E.time_workloads(wls, threads=threads, repeats=args.repeats, warmup=1, reference=torch_reference,
                              progress=lambda m: print(m, flush=True))
    wall = time.perf_counter() - t0
    totals, speedups = E.totals(layers), E.speedups(layers)
    best = {f"{s}@{t}": d for (s, t), d in E.best_dataflows(layers).items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "bench_cpu", "issue": 14, "table": str(TABLE.relative_to(ROOT)), "batch": 1,
              "schemes": {"signed-binary": {"density": 0.36}, "binary": {}, "ternary": {"rule": "TWN"}},
              "layers_subset": args.layers, "machine": E.machine_info(), "threads": threads,
              "repeats": args.repeats, "warmup": 1, "statistic": "median ms (ms_min: fastest repeat)",
              "wall_s": wall,
              "loadavg_before_after": [list(load_before), list(os.getloadavg())],
              "note": "2 shared cores: other processes running at the same time inflate the times, most at 2 threads", "best_dataflow": best, "paper": {"vs_binary": 1.26, "vs_ternary": 1.75},
              "totals": totals.to_dict("records"), "speedups": speedups.to_dict("records"),
              "layers": layers.to_dict("records")}
    (out / "bench_cpu.json").write_text(json.dumps(jsonable(result), indent=2) + "\n", encoding="utf-8")
    layers.to_csv(out / "bench_cpu_layers.csv", index=False)
    speedups.to_csv(out / "bench_cpu_speedups.csv", index=False)
    import pandas as pd

    with pd.option_context("display.width", 220, "display.max_columns", None, "display.max_rows", None):
        print(f"\nwall {wall:.1f} s; best dataflows {best}")
        print(totals.round(3).to_string(index=False))
        print(speedups[speedups["layer"].str.startswith("TOTAL")].round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

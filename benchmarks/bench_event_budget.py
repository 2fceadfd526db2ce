"""How much of a real sweep the event-level MAERI model (accumulation buffer off) times within its work
budget, and what that costs.

Takes every buffer-off configuration of the shipped ResNet-18 MAERI grid
(accel_configs/sweeps/resnet18-maeri.yaml), every distinct conv shape of ResNet-18/ImageNet, the tile the
chooser picks for it, and times each distinct (machine, layer, tile) once from empty caches with
``plumsim.accel.maeri.maeri_conv``. Reports how many were timed event-level, how many went to the closed
form past the budget (``EVENT_WORK_BUDGET``, ``EVENT_PROBE_WORK``, ``EVENT_MAX_TILES``), and the wall time
of the timing calls (median of --repeats runs; the tile search is left out).

    .venv/bin/python benchmarks/bench_event_budget.py [--repeats 3] [--out results/bench_event_budget]

Prints one line per run and writes OUT/bench_event_budget.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plumsim.accel.lru import clear_caches  # noqa: E402
from plumsim.accel.maeri import EVENT_MAX_TILES, EVENT_PROBE_WORK, EVENT_WORK_BUDGET, maeri_conv  # noqa: E402
from plumsim.accel.tiling import choose_maeri_tile  # noqa: E402
from plumsim.errors import PlumsimError  # noqa: E402
from plumsim.sweep.grid import load_grid  # noqa: E402
from plumsim.workload.layer import LayerShape  # noqa: E402

GRID = ROOT / "accel_configs" / "sweeps" / "resnet18-maeri.yaml"
TABLE = ROOT / "workloads" / "resnet18-imagenet.yaml"


def tiles() -> list:
    """(config, shape, tile) for every distinct buffer-off machine x conv shape x chosen tile."""
    layers = yaml.safe_load(TABLE.read_text())["layers"]
    shapes = sorted({(ly["C"], ly["K"], ly["R"], ly["X"], ly["stride"], ly["padding"]) for ly in layers
                     if ly.get("kind") != "linear"})
    out, seen = [], set()
    for point in load_grid(GRID).accels:
        cfg = point.config
        if cfg.accumulation_buffer:
            continue
        for C, K, R, X, stride, pad in shapes:
            shape = LayerShape(1, 1, C, K, R, R, X, X, stride, pad)
            try:
                tile = choose_maeri_tile(shape, cfg)
            except PlumsimError:
                continue
            key = (cfg.ms_size, cfg.dn_bw, cfg.rn_bw, shape, tile)
            if key not in seen:
                seen.add(key)
                out.append((cfg, shape, tile))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench_event_budget"))
    args = ap.parse_args(argv)
    jobs = tiles()
    runs = []
    for i in range(args.repeats):
        clear_caches()
        counts: dict = {}
        t0 = time.perf_counter()
        for cfg, shape, tile in jobs:
            label = maeri_conv(shape, cfg, tile).info["timing"]
            counts[label] = counts.get(label, 0) + 1
        runs.append({"seconds": time.perf_counter() - t0, "timing": counts})
        print(f"run {i + 1}: {len(jobs)} tiles, {counts}, {runs[-1]['seconds']:.1f} s", flush=True)
    res = {"tiles": len(jobs), "runs": runs, "median_seconds": statistics.median(r["seconds"] for r in runs),
           "event_work_budget": EVENT_WORK_BUDGET, "event_probe_work": EVENT_PROBE_WORK,
           "event_max_tiles": EVENT_MAX_TILES,
           "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_event_budget.json").write_text(json.dumps(res, indent=2))
    print(f"median {res['median_seconds']:.1f} s over {args.repeats} runs; wrote {out / 'bench_event_budget.json'}")


if __name__ == "__main__":
    main()

"""CLI: `plumsim simulate WORKLOAD_DIR --accel CFG` — per-layer and total cycles and counters."""

from __future__ import annotations

from plumsim.commands._output import FORMATS


def register(sub) -> None:
    p = sub.add_parser("simulate", help="run a workload on an accelerator model (cycles, counters)",
                       description="Run every layer of a workload folder on one STONNE-style accelerator "
                       "(.cfg) and print per-layer and total cycles, SRAM accesses and STONNE counters.")
    p.add_argument("workload_dir", metavar="WORKLOAD_DIR", help="workload folder (manifest.json + tensors.npz)")
    p.add_argument("--accel", required=True, metavar="CFG", help="STONNE .cfg file (e.g. accel_configs/sigma_128.cfg)")
    p.add_argument("--tile", default=None, metavar="T",
                   help="tile for every layer: 'T_R=3,T_S=3,T_C=4,...' (MAERI conv), 'T_M=8,T_N=8' (TPU) "
                   "or a STONNE tile file; default: the fastest tile per layer")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from plumsim.accel.cfg import load_config, load_tile
    from plumsim.accel.simulate import simulate_workload
    from plumsim.commands._output import print_frame, print_json
    from plumsim.workload.format import Workload

    config = load_config(args.accel)
    tile = load_tile(args.tile) if args.tile else None
    workload = Workload.load(args.workload_dir)
    df = simulate_workload(workload, config, tile)
    total = df.drop(columns=["layer", "kind", "scheme"]).sum(numeric_only=True)
    if args.format == "json":
        print_json({"workload": workload.name, "accelerator": config.name, "config": config.as_dict(),
                    "layers": df.to_dict(orient="records"), "total": total.to_dict()})
        return 0
    out = pd.concat([df, pd.DataFrame([{"layer": "TOTAL", "kind": "", "scheme": "", **total.to_dict()}])],
                    ignore_index=True)
    if args.format == "table":
        cols = ["layer", "kind", "scheme", "cycles", "MULTIPLIER.MULTIPLICATION", "GLOBALBUFFER.READ",
                "GLOBALBUFFER.WRITE", "sram_weight_reads", "sram_input_reads"]
        out = out[[c for c in cols if c in out.columns]]
        print_frame(out, "table", title=f"{workload.name} on {config.name} ({config.controller_type})")
    else:
        print_frame(out, "csv")
    return 0

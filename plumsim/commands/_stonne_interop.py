"""CLI: `plumsim stonne export WORKLOAD_DIR --accel CFG --out DIR` and `plumsim stonne compare DIR`."""

from __future__ import annotations


def register(group) -> None:
    p = group.add_parser(
        "export", help="write a workload as runnable STONNE jobs (run.sh, .cfg, .npy weights, tiles)",
        description="Export every layer of a workload as a STONNE job on one accelerator: accel.cfg, per-layer "
        "weights (codes*scale, float32) and a seeded input as .npy, MAERI/TPU tiles, run.sh (STONNE's binary "
        "from $STONNE_BIN for MAERI/TPU, run_sigma.py with torch_stonne for SIGMA), manifest.json and "
        "skipped.csv (layers STONNE cannot run, with the reason). See docs/stonne-export.md.")
    p.add_argument("workload", metavar="WORKLOAD_DIR", help="workload folder (manifest.json + tensors.npz)")
    p.add_argument("--accel", required=True, metavar="CFG", help="STONNE .cfg file (e.g. accel_configs/sigma_128.cfg)")
    p.add_argument("--out", required=True, metavar="DIR", help="export folder to write (must be empty or new)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-layer inputs (default 0)")
    p.add_argument("--tile", metavar="T", default=None,
                   help="tile for every layer where it applies: 'T_R=3,T_S=3,T_C=4,...' (MAERI conv), "
                   "'T_M=1,T_N=4,T_K=16' (MAERI FC), 'T_M=8,T_N=8' (TPU) or a STONNE tile file; "
                   "default: the model's fastest tile per layer")
    p.add_argument("--skip-fp", action="store_true", help="leave full-precision layers out (listed in skipped.csv)")
    p.add_argument("--force", action="store_true", help="overwrite an existing export folder (its out/ is removed)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="summary format (default table)")
    p.set_defaults(func=run_export)

    c = group.add_parser(
        "compare", help="compare STONNE's outputs of an export with the model (cycles, counters, energy)",
        description="Read STONNE's outputs under DIR/out/<layer>/ of an export folder, run the model on the same "
        "layers (exported weights, input and tiles) and print per layer and in total STONNE cycles, model "
        "cycles and the relative error, energy (STONNE's table, STONNE units) and the counters side by side. "
        "A malformed manifest entry or a missing, unreadable or modified exported file stops with one line "
        "naming the file, the layer and the key (exit 2); a layer without STONNE output is listed as missing.")
    c.add_argument("dir", metavar="DIR", help="folder written by `plumsim stonne export` (after run.sh)")
    c.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    c.add_argument("--energy-table", default="stonne", metavar="NAME|PATH",
                   help="energy table for both sides (default stonne: STONNE's stock table, STONNE units)")
    c.set_defaults(func=run_compare)


def run_export(args) -> int:
    from plumsim.accel.cfg import load_config, load_tile
    from plumsim.commands._output import print_frame, print_json
    from plumsim.stonne import export_workload
    from plumsim.workload import Workload

    import pandas as pd

    config = load_config(args.accel)
    tile = load_tile(args.tile) if args.tile else None
    wl = Workload.load(args.workload)
    res = export_workload(wl, config, args.out, tile=tile, seed=args.seed, skip_fp=args.skip_fp,
                          force=args.force, workload_dir=str(args.workload))
    rows = [{"layer": p.name, "op": p.op or "-", "runner": p.runner or "skipped",
             "tile": " ".join(f"{k}={v}" for k, v in (p.tile or {}).items()) or "-",
             "reason skipped / tile source": p.reason or p.tile_source} for p in res.plans]
    if args.format == "json":
        for r, p in zip(rows, res.plans):
            r["command"] = p.command
        print_json({"out": str(res.out_dir), "exported": len(res.exported), "skipped": len(res.skipped),
                    "layers": rows})
        return 0
    print_frame(pd.DataFrame(rows), "table",
                title=f"exported {len(res.exported)} layer(s), skipped {len(res.skipped)} -> {res.out_dir}")
    print(f"next: {res.out_dir}/run.sh  (STONNE_BIN / PYTHON, see run.sh), then: plumsim stonne compare {res.out_dir}")
    return 0


def run_compare(args) -> int:
    from plumsim.commands._output import print_frame, print_json
    from plumsim.stonne import compare_export

    rep = compare_export(args.dir, table=args.energy_table)
    if args.format == "json":
        print_json(rep.to_json())
        return 0
    cols = ["name", "op", "status", "cycles_ref", "cycles_model", "rel_err", "energy_ref", "energy_model",
            "energy_rel_err"]
    print_frame(rep.layers[cols], "table", title=f"STONNE (ref) vs model, energy in {rep.unit}")
    notes = rep.layers[rep.layers["note"].fillna("") != ""][["name", "status", "note"]]
    if len(notes):
        print_frame(notes, "table", title="\nnotes")
    if len(rep.counters):
        print_frame(rep.counters, "table", title="\ncounters summed over compared layers (events)")
    t = rep.total
    print(f"\ntotal over {t['compared']} compared layer(s) ({t['missing']} missing, {t['skipped']} skipped, "
          f"{t['errors']} errors): cycles STONNE {t['cycles_ref']} model {t['cycles_model']} rel_err "
          f"{t['rel_err']}; energy STONNE {t['energy_ref']} model {t['energy_model']} {rep.unit}")
    print(f"model alone over all {t['layers']} exported layer(s): {t['cycles_model_all_layers']} cycles, "
          f"{t['energy_model_all_layers']} {rep.unit}")
    return 0

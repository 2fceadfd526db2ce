"""CLI: `plumsim stonne read DIR`, `plumsim stonne validate CASES_CSV` and `plumsim stonne calibration`."""

from __future__ import annotations


def register(group) -> None:
    p = group.add_parser("read", help="parse STONNE output files (JSON stats, .counters, energy_out.txt)",
                         description="Read STONNE's output files in DIR into per-layer cycles, SRAM accesses "
                         "and counters (and the energy STONNE's script reported, in STONNE units).")
    p.add_argument("dir", metavar="DIR", help="folder with output_stats_*.txt/.counters files")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=run_read)

    v = group.add_parser("validate", help="compare our models with STONNE reference runs (cases.csv)",
                         description="Run our model on every row of a reference cases.csv (cfgs/, weights/ "
                         "beside it) and report cycles and counters against STONNE, per case and per family. "
                         "model_seconds is the model call alone. A malformed CSV, cell, weights or cfg file, or a "
                         "row the model cannot run stops with one line naming the file, row and column (exit 2).")
    v.add_argument("cases_csv", metavar="CASES_CSV")
    v.add_argument("--format", choices=("table", "json"), default="table")
    v.set_defaults(func=run_validate)

    c = group.add_parser("calibration", help="list every fitted constant of the models (value, runs, error)",
                         description="The calibration record: every constant of the accelerator models that "
                         "was fitted to STONNE runs, with its value, unit, meaning, the runs it was fitted on and "
                         "its error there (plumsim.accel.calibration).")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.set_defaults(func=run_calibration)


def run_read(args) -> int:
    from plumsim.stonne.io import read_stonne_dir, run_frame
    from plumsim.commands._output import print_frame, print_json

    run = read_stonne_dir(args.dir)
    df = run_frame(run)
    if args.format == "json":
        print_json({"folder": run.folder, "layers": df.to_dict(orient="records"),
                    "total_cycles": run.total.cycles, "energy_stonne_units": run.energy})
    elif args.format == "csv":
        print_frame(df, "csv")
    else:
        t = df.set_index("layer").T.reset_index().rename(columns={"index": "field"})
        print_frame(t, "table", title=f"STONNE run {run.folder}")
        if run.energy:
            print(f"energy (STONNE units): total {run.energy.get('total')}")
    return 0


def run_validate(args) -> int:
    from plumsim.stonne.validate import validate_cases
    from plumsim.commands._output import print_frame, print_json

    rep = validate_cases(args.cases_csv)
    from plumsim.stonne.energy_check import add_energy_columns  # energy owner's columns (issue 4)

    add_energy_columns(rep, args.cases_csv)
    if args.format == "json":
        print_json({"cases": rep.cases.to_dict(orient="records"), "summary": rep.summary.to_dict(orient="records")})
        return 0
    cols = ["case_id", "family", "op", "cycles_ref", "cycles_model", "rel_err", "model_seconds", "stonne_wall_s",
            "energy_ref", "energy_model"]
    print_frame(rep.cases[cols], "table", title="cases")
    print_frame(rep.summary, "table", title="\nsummary per family (|rel err| as fractions)")
    return 0


def run_calibration(args) -> int:
    from plumsim.accel.calibration import record_rows
    from plumsim.commands._output import print_json

    rows = record_rows()
    if args.format == "json":
        print_json({"constants": rows})
        return 0
    for r in rows:
        print(f"{r['name']} = {r['value']:g} {r['unit']}")
        print(f"    {r['meaning']}")
        print(f"    fitted on: {r['fitted_on']}")
        print(f"    error there: {r['error']}")
    return 0

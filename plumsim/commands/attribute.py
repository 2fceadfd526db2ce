"""CLI: ``plumsim attribute WORKLOAD_DIR --accel CFG [--energy-table NAME|FILE] [--format table|json]``."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "attribute", help="split a workload's energy/cycle gain into sparsity and repetition shares",
        description="Run every quantized layer of a workload on one accelerator in four dataflow modes: "
        "D (dense), S (zero skipping), R (repetition: one multiply per distinct weight value, SumMerge "
        "window-sum reuse for binary), SR (both), and report energy and cycles with the Shapley shares "
        "sparsity = ((D-S)+(R-SR))/2 and repetition = ((D-R)+(S-SR))/2, which add up to D-SR.")
    p.add_argument("workload", metavar="WORKLOAD_DIR", help="workload folder (manifest.json + tensors.npz)")
    p.add_argument("--accel", required=True, metavar="CFG", help="STONNE .cfg accelerator file")
    p.add_argument("--energy-table", default="stonne", metavar="NAME|FILE",
                   help="stonne (default, STONNE units), horowitz45 (pJ, scaled to the layer's weight "
                   "bits), or a table file (YAML or STONNE 'COMPONENT ACTION VALUE' text)")
    p.add_argument("--activation", default=None, choices=("int8", "int16", "fp16", "fp32"),
                   help="activation type for width-dependent tables (horowitz45; default int8)")
    p.add_argument("--no-summerge", action="store_true", help="disable SumMerge window-sum reuse")
    p.add_argument("--include-fp", action="store_true",
                   help="also attribute full-precision layers (left out of the layers and the totals by default)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (default), json ({'total': {...}, 'layers': [...]}) or csv")
    p.set_defaults(func=_cmd_attribute)


def _cmd_attribute(args) -> int:
    from plumsim.accel.cfg import load_config
    from plumsim.commands._output import print_frame, print_json
    from plumsim.energy.attribution import attribute, attribution_json
    from plumsim.energy.tables import load_energy_table
    from plumsim.workload import Workload

    config = load_config(args.accel)
    _check_controller(config, args.accel)
    workload = Workload.load(args.workload)
    n_fp = _check_quantized(workload, args.workload, args.include_fp)
    bitwidths = {"activation": args.activation} if args.activation else {}
    load_energy_table(args.energy_table, **bitwidths)  # fail early, with the table's own message
    df = attribute(workload, config, args.energy_table, summerge=not args.no_summerge,
                   include_fp=args.include_fp, bitwidths=bitwidths)
    if args.format == "json":
        print_json(attribution_json(df))
    else:
        title = None
        if args.format == "table":
            faithful = ", ".join(k for k, v in df.attrs["faithful"].items() if v) or "none"
            hyp = "; ".join(f"{k}: {v}" for k, v in df.attrs["hypotheses"].items())
            title = (f"workload {workload.name} on {config.name or args.accel}, energy table "
                     f"{args.energy_table}; shares add up to D - SR\n"
                     f"STONNE-faithful: {faithful}; hypothetical machines: {hyp}\n"
                     + "".join(f"{n}\n" for n in df.attrs.get("not_priced", []))
                     + "".join(f"ordering: {n}\n" for n in df.attrs.get("orderings", []))
                     + _totals_note(len(workload.layers), n_fp, args.include_fp))
        print_frame(df, args.format, title=title)
    return 0


def _check_controller(config, path) -> None:
    """The controllers with a model (as ``simulate`` requires); any other (e.g. MAGMA_SPARSE_DENSE, which
    STONNE has but plumsim does not model) is refused before anything runs, naming the .cfg."""
    from plumsim.accel.dataflow import FAITHFUL
    from plumsim.errors import ConfigError

    if config.controller_type not in FAITHFUL:
        raise ConfigError(f"no model for controller {config.controller_type!r}; supported: {', '.join(FAITHFUL)}",
                          path=path, field="[SDMemory] controller_type")


def _check_quantized(workload, where, include_fp: bool) -> int:
    """The number of full-precision layers; without ``--include-fp`` a workload with no quantized layer is
    a user error (attribution leaves FP layers out, so there would be nothing to attribute)."""
    from plumsim.errors import WorkloadError

    n_fp = sum(1 for lyr in workload.layers if lyr.codes is None)
    if not include_fp and n_fp == len(workload.layers):
        raise WorkloadError(f"workload {workload.name!r} has no quantized layer ({n_fp} layer(s), all full "
                            "precision) and attribution leaves FP layers out; give --include-fp to attribute "
                            "them", path=where)
    return n_fp


def _totals_note(n_layers: int, n_fp: int, include_fp: bool) -> str:
    """What the 'total' rows add up."""
    if include_fp:
        return f"totals: all {n_layers} layers, FP layers included (--include-fp: {n_fp} FP)"
    return (f"totals: the {n_layers - n_fp} quantized layers; FP layers excluded ({n_fp}; --include-fp "
            "includes them)")

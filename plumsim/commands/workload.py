"""CLI: ``plumsim lower`` and ``plumsim workload synth|show``.

Heavy imports (torch via plumsim.workload.lowering) happen inside the command functions.
"""

from __future__ import annotations

SHOW_COLUMNS = ["name", "kind", "scheme", "C", "K", "R", "S", "X", "Y", "stride", "padding", "G", "N",
                "M_gemm", "K_gemm", "N_gemm", "density", "nnz", "numel", "max_unique_nonzero_per_region",
                "repetition"]


def register(sub) -> None:
    p = sub.add_parser("lower", help="lower a model (checkpoint, ONNX, .pt2) to a workload folder",
                       description="Run a model once and record every conv/linear layer (shape, integer codes, "
                       "per-filter scale, sign) into a workload folder (manifest.json + tensors.npz). MODEL is a "
                       "checkpoint folder written by `plumsim train`, an ONNX file (.onnx; QuantizeLinear/"
                       "DequantizeLinear pairs folded into codes + scale) or a torch.export archive (.pt2). "
                       "Each layer's scheme (binary, signed-binary, ternary, int2..int8, else fp) is detected "
                       "from its weight values, per layer or per filter (tolerance --rtol x max|w|), unless the "
                       "layer declares codes or --scheme forces one; nothing is written on an error.")
    p.add_argument("checkpoint", metavar="MODEL",
                   help="checkpoint folder, model.onnx or model.pt2")
    p.add_argument("--out", required=True, metavar="DIR", help="workload folder to write")
    p.add_argument("--scheme", action="append", default=None, metavar="LAYER=NAME",
                   help="force a layer's scheme (repeatable; LAYER is a glob over layer names, e.g. "
                   "'features.*=ternary'; NAME: auto, fp, binary, signed-binary, ternary, int2..int8); values "
                   "that contradict it are an error")
    p.add_argument("--input-shape", default=None, metavar="N,C,H,W",
                   help="input shape where the file does not fix it (ONNX with dynamic dims, .pt2 exported with "
                   "dynamic shapes); also the shape of the random input of a .pt2 run")
    p.add_argument("--rtol", type=float, default=None, metavar="R",
                   help="detection tolerance as a fraction of max|w| of the layer or filter (default 1e-4)")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="checkpoints: batch size of the example input (the layers' N; default 1)")
    p.add_argument("--input-samples", type=int, default=0, metavar="N",
                   help="checkpoints and .pt2: keep the first N input activations of every layer (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random example input (default 0)")
    p.add_argument("--name", default=None, help="workload name (default: MODEL-SCHEME)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="how to print the per-layer summary (default table)")
    p.set_defaults(func=_cmd_lower)

    w = sub.add_parser("workload", help="synthesize or inspect workloads",
                       description="Shape-only workloads from layer tables, and inspection of workload folders.")
    wsub = w.add_subparsers(dest="workload_command", metavar="SUBCOMMAND")
    w.set_defaults(func=lambda args: (w.print_help(), 2)[1])

    s = wsub.add_parser("synth", help="synthesize a quantized workload from a layer table (YAML)",
                        description="Draw seeded standard-normal latent weights for every layer of a layer "
                        "table (see workloads/README.md) and quantize them with SCHEME using the rules of "
                        "plumsim.quant. Prints the per-layer density.")
    s.add_argument("--table", required=True, metavar="YAML", help="layer table, e.g. workloads/resnet18-imagenet.yaml")
    s.add_argument("--scheme", required=True, metavar="NAME", help="fp, binary, ternary or signed-binary")
    s.add_argument("--seed", type=int, default=0, help="latent-weight seed (default 0)")
    s.add_argument("--density", type=float, default=None, metavar="D",
                   help="target density in (0, 1]: signed-binary keeps exactly max(1, round(D*C*R*S/G)) "
                   "non-zeros per filter, ternary uses the layer threshold giving that density; binary only 1")
    s.add_argument("--positive-fraction", type=float, default=0.5, metavar="P",
                   help="signed-binary: the first floor(P*K) filters are positive (default 0.5)")
    s.add_argument("--name", default=None, help="workload name (default TABLE-SCHEME)")
    s.add_argument("--out", required=True, metavar="DIR", help="workload folder to write")
    s.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="how to print the per-layer summary (default table)")
    s.set_defaults(func=_cmd_synth)

    sh = wsub.add_parser("show", help="print a workload's layers and statistics",
                         description="Load (and fully validate) a workload folder and print one row per layer.")
    sh.add_argument("directory", metavar="DIR", help="workload folder (manifest.json + tensors.npz)")
    sh.add_argument("--format", choices=("table", "json", "csv"), default="table",
                    help="table (default), json ({'name', 'meta', 'layers': [...]}) or csv")
    sh.add_argument("--all-columns", action="store_true", help="table/csv: every statistics column")
    sh.set_defaults(func=_cmd_show)


def _layers_json(workload) -> list[dict]:
    from plumsim.workload.stats import layer_stats, shape_columns

    out = []
    for lyr in workload.layers:
        row = {"name": lyr.name, "kind": lyr.kind, "scheme": lyr.scheme, "shape": lyr.shape.as_dict()}
        sc = shape_columns(lyr)
        row["gemm"] = {"M": sc["M_gemm"], "K": sc["K_gemm"], "N": sc["N_gemm"], "groups": lyr.shape.G}
        row["X_out"], row["Y_out"], row["macs"] = sc["X_out"], sc["Y_out"], sc["macs"]
        row.update(layer_stats(lyr))
        row["options"] = lyr.options
        out.append(row)
    return out


def _detection_columns(workload, df):
    """``detected`` (how the scheme was found: values / module / onnx-qdq, and forced) and
    ``confidence`` (0..1, :mod:`plumsim.workload.detect`) of every layer, after the scheme column."""
    src, conf = [], []
    for lyr in workload.layers:
        d = lyr.options.get("detection") if isinstance(lyr.options.get("detection"), dict) else {}
        how = str(d.get("source", ""))
        if d.get("forced"):
            how = f"forced ({how})" if how else "forced"
        src.append(how)
        conf.append(d.get("confidence"))
    df = df.copy()
    at = list(df.columns).index("scheme") + 1
    df.insert(at, "detected", src)
    df.insert(at + 1, "confidence", conf)
    return df


def _print(workload, fmt: str, all_columns: bool = False, title: str | None = None,
           detection: bool = False) -> None:
    from plumsim.commands._output import print_frame, print_json

    if fmt == "json":
        print_json({"name": workload.name, "meta": workload.meta, "layers": _layers_json(workload)})
        return
    df = workload.stats()
    if not all_columns:
        df = df[SHOW_COLUMNS]
    if detection or any(isinstance(lyr.options.get("detection"), dict) for lyr in workload.layers):
        df = _detection_columns(workload, df)
    if fmt == "table":
        df = df.round({"density": 4, "repetition": 2})
    print_frame(df, fmt, title=title)
    if fmt == "table":
        q = [lyr for lyr in workload.layers if lyr.scheme != "fp"]
        if q:
            nnz = sum(lyr.nnz for lyr in q)
            numel = sum(lyr.numel for lyr in q)
            print(f"quantized layers: {len(q)}, density {nnz / numel:.4f} ({nnz} of {numel} weights non-zero)")


def _cmd_synth(args) -> int:
    from plumsim.workload.synth import synth

    wl = synth(args.table, args.scheme, seed=args.seed, density=args.density,
               positive_fraction=args.positive_fraction, name=args.name)
    out = wl.save(args.out)
    _print(wl, args.format, title=f"workload {wl.name} -> {out}")
    return 0


def _cmd_show(args) -> int:
    from plumsim.workload.format import Workload

    wl = Workload.load(args.directory)
    _print(wl, args.format, all_columns=args.all_columns, title=f"workload {wl.name} ({args.directory})")
    return 0


def _cmd_lower(args) -> int:
    from plumsim.api import lower
    from plumsim.errors import WorkloadError
    from plumsim.workload.detect import DEFAULT_RTOL

    if args.batch < 1:
        raise WorkloadError(f"must be >= 1, got {args.batch}", field="--batch")
    if args.input_samples < 0:
        raise WorkloadError(f"must be >= 0, got {args.input_samples}", field="--input-samples")
    rtol = DEFAULT_RTOL if args.rtol is None else args.rtol
    wl = lower(args.checkpoint, schemes=args.scheme, input_shape=args.input_shape, rtol=rtol, batch=args.batch,
               input_samples=args.input_samples, seed=args.seed, name=args.name)
    out = wl.save(args.out)  # only after the whole model lowered: an error leaves nothing behind
    _print(wl, args.format, title=f"workload {wl.name} -> {out}", detection=True)
    return 0

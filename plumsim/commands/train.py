"""CLI: ``plumsim train``, ``plumsim evaluate`` and ``plumsim experiment equal-nnz|value-assignment``.

torch and plumsim.quant are imported inside the command functions (the CLI imports this module at
start-up).
"""

from __future__ import annotations

import argparse

MODEL_CHOICES = ("cnn-digits", "resnet20", "resnet18")
RECIPE_CHOICES = ("digits-fast", "cifar-resnet", "imagenet-resnet18")
DATA_HELP = "digits (built in, default) | cifar10:PATH (python-pickle batches) | imagenet:PATH (train/, val/ folder per class)"


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def register(sub) -> None:
    t = sub.add_parser("train", help="quantization-aware training (signed-binary, binary, ternary, fp)",
                       description="Train a model with a quantization scheme; writes a checkpoint folder "
                       "(config.json, weights.npz, state.json/.npz, metrics.csv) atomically after each epoch.")
    t.add_argument("--model", choices=MODEL_CHOICES, default=None, help="model (default cnn-digits)")
    t.add_argument("--scheme", default=None, metavar="NAME",
                   help="fp, binary, ternary, signed-binary or a registered scheme (default signed-binary)")
    t.add_argument("--positive-fraction", type=float, default=None, metavar="P",
                   help="signed-binary: the first floor(P*K) filters of each layer are positive (default 0.5)")
    t.add_argument("--data", default=None, metavar="SPEC", help=DATA_HELP)
    t.add_argument("--recipe", choices=RECIPE_CHOICES, default=None,
                   help="training preset (default by data: digits-fast, cifar-resnet, imagenet-resnet18)")
    t.add_argument("--epochs", type=_positive_int, default=None, help="override the recipe's epochs")
    t.add_argument("--batch-size", type=_positive_int, default=None, help="override the recipe's batch size")
    t.add_argument("--lr", type=float, default=None, help="override the recipe's learning rate")
    t.add_argument("--teacher", default=None, metavar="CKPT", help="FP checkpoint to distil from")
    t.add_argument("--seed", type=int, default=None, help="seed of initialisation and batch order (default 0)")
    t.add_argument("--threads", type=_positive_int, default=None,
                   help="torch CPU threads (default 1 for digits, else torch's default)")
    t.add_argument("--out", required=True, metavar="CKPT", help="checkpoint folder to write")
    t.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (settings not given on the command line are taken "
                   "from the checkpoint; an error when --out holds no checkpoint)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing --out and start again")
    t.add_argument("--stop-after", type=_positive_int, default=None, metavar="N",
                   help="stop after N epochs of this invocation (time-boxed runs; continue with --resume)")
    t.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                   help="progress on stderr: tqdm bar on a TTY, else a line per epoch (default auto)")
    t.add_argument("--format", choices=("table", "json"), default="table", help="final summary format")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="accuracy and per-layer density of a checkpoint",
                       description="Evaluate a checkpoint on the validation split and report, per quantized "
                       "layer, density, non-zeros per filter and distinct non-zero values per filter.")
    e.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder written by plumsim train")
    e.add_argument("--data", default=None, metavar="SPEC", help=DATA_HELP + " (default: the checkpoint's)")
    e.add_argument("--batch-size", type=_positive_int, default=500, help="evaluation batch size (default 500)")
    e.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or json: {accuracy (0..1), loss, layers: [...]}")
    e.set_defaults(func=_cmd_evaluate)

    x = sub.add_parser("experiment", help="the paper's small experiments (digits by default)",
                       description="Short training experiments with several seeds; prints mean and spread.")
    xs = x.add_subparsers(dest="experiment", metavar="NAME")
    x.set_defaults(func=lambda args: (x.print_help(), 2)[1])
    for name, helptext in (
            ("equal-nnz", "signed-binary vs binary thinned to the same non-zeros per layer (and plain binary)"),
            ("value-assignment", "signed-binary accuracy and density against positive_fraction")):
        p = xs.add_parser(name, help=helptext, description=helptext + ".")
        p.add_argument("--data", default="digits", metavar="SPEC", help=DATA_HELP)
        p.add_argument("--model", choices=MODEL_CHOICES, default="cnn-digits", help="model (default cnn-digits)")
        p.add_argument("--epochs", type=_positive_int, default=None, help="epochs per run (default: recipe's)")
        p.add_argument("--seeds", type=_int_list, default=[0, 1, 2], metavar="S1,S2,..",
                       help="seeds (default 0,1,2)")
        if name == "value-assignment":
            p.add_argument("--fractions", type=_float_list, default=[0.0, 0.25, 0.5, 0.75, 1.0],
                           metavar="P1,P2,..", help="positive fractions (default 0,0.25,0.5,0.75,1)")
        else:
            p.add_argument("--positive-fraction", type=float, default=0.5, metavar="P",
                           help="signed-binary positive fraction (default 0.5)")
        p.add_argument("--runs-csv", default=None, metavar="FILE", help="also write every run to this CSV")
        p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="summary format")
        p.set_defaults(func=_cmd_experiment)


# ---------------------------------------------------------------- commands
def _cmd_train(args) -> int:
    from plumsim.commands._output import print_json
    from plumsim.quant.train import train

    _fill_from_checkpoint(args)
    sopts = {} if args.positive_fraction is None else {"positive_fraction": args.positive_fraction}
    res = train(model=args.model, scheme=args.scheme, data=args.data, out=args.out, epochs=args.epochs,
                batch_size=args.batch_size, lr=args.lr, recipe=args.recipe, teacher=args.teacher,
                resume=args.resume, overwrite=args.overwrite, seed=args.seed, scheme_options=sopts,
                stop_after=args.stop_after, progress=args.progress, threads=args.threads)
    summary = {"checkpoint": str(res.checkpoint), "epoch": res.config["epoch"], "epochs": res.config["epochs"],
               **res.config.get("metrics", {})}
    if args.format == "json":
        print_json(summary)
    else:
        print("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    return 0


TRAIN_DEFAULTS = {"model": "cnn-digits", "scheme": "signed-binary", "data": "digits", "seed": 0}


def _fill_from_checkpoint(args) -> None:
    """--resume: settings left out on the command line come from the checkpoint, the rest from defaults."""
    from pathlib import Path

    from plumsim.quant.checkpoint import read_config

    if args.resume and not Path(args.out).exists():
        from plumsim.errors import WorkloadError

        raise WorkloadError("--resume: no checkpoint here to continue (run without --resume to start a new "
                            "run)", path=args.out, field="--resume")
    saved = read_config(args.out) if args.resume else None
    for key, default in TRAIN_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, saved.get(key, default) if saved else default)
    if saved is None:
        return
    if args.positive_fraction is None:
        args.positive_fraction = saved.get("options", {}).get("positive_fraction")
    rec = saved.get("recipe") or {}
    if args.recipe is None and rec.get("name"):
        args.recipe = rec["name"]
    for key in ("epochs", "batch_size", "lr"):
        if getattr(args, key) is None and key in rec:
            setattr(args, key, rec[key])
    if args.teacher is None:
        args.teacher = saved.get("teacher")


def evaluate_checkpoint(path, data: str | None = None, batch_size: int = 500) -> dict:
    """{"checkpoint", "data", "accuracy" (0..1), "loss", "layers": [per-layer stats dicts]}."""
    from plumsim.quant.checkpoint import load_checkpoint
    from plumsim.quant.data import load_data
    from plumsim.quant.train import check_model_data, evaluate, layer_stats

    model, cfg = load_checkpoint(path)
    spec = data or cfg.get("data") or "digits"
    ds = load_data(spec)
    check_model_data(cfg["model"], ds)
    acc, loss = evaluate(model, ds.val, batch_size)
    layers = layer_stats(model).to_dict("records")
    return {"checkpoint": str(path), "model": cfg["model"], "scheme": cfg["scheme"], "data": spec,
            "accuracy": acc, "loss": loss, "layers": layers}


def _cmd_evaluate(args) -> int:
    import pandas as pd

    from plumsim.commands._output import print_frame, print_json

    res = evaluate_checkpoint(args.checkpoint, args.data, args.batch_size)
    if args.format == "json":
        print_json(res)
        return 0
    print(f"{res['checkpoint']}: model {res['model']}, scheme {res['scheme']}, data {res['data']}: "
          f"accuracy {res['accuracy']:.4f} (loss {res['loss']:.4f})")
    print_frame(pd.DataFrame(res["layers"]), "table")
    return 0


def _cmd_experiment(args) -> int:
    from plumsim.commands._output import print_frame, print_json
    from plumsim.errors import PlumsimError
    from plumsim.quant import experiments

    if not args.seeds:
        raise PlumsimError("give at least one seed", field="--seeds")
    if args.experiment == "equal-nnz":
        runs, summary = experiments.equal_nnz(seeds=args.seeds, epochs=args.epochs, data=args.data,
                                              model=args.model, positive_fraction=args.positive_fraction)
    else:
        runs, summary = experiments.value_assignment(fractions=args.fractions, seeds=args.seeds,
                                                     epochs=args.epochs, data=args.data, model=args.model)
    if args.runs_csv:
        from plumsim.fileio import atomic_write_bytes

        atomic_write_bytes(args.runs_csv, runs.to_csv(index=False).encode())  # whole file or none
    if args.format == "json":
        print_json({"experiment": args.experiment, "summary": summary.to_dict("records"),
                    "runs": runs.to_dict("records")})
    else:
        print_frame(summary, args.format, title=None if args.format == "csv" else
                    f"{args.experiment} on {args.data} ({args.model}), seeds {args.seeds}: val accuracy 0..1")
    return 0

"""CLI: ``plumsim experiment cpu`` — time the plumsim.cpu kernels on this machine's processor — and
``plumsim experiment paper`` — the PLUM paper's headline claims recomputed (:mod:`plumsim.pipeline.paper`).

``plumsim experiment`` already exists (``plumsim.commands.train`` registers equal-nnz / value-assignment);
this module adds ``cpu`` and ``paper`` to it (or creates ``experiment`` when it is missing). torch is
imported lazily here only, for the reference conv2d / linear timing (and by the paper's training).
"""

from __future__ import annotations

import argparse

DEFAULT_SCHEMES = ("signed-binary", "binary", "ternary")
SB_DENSITY = 0.36


def _experiment_subparsers(sub):
    """The sub-command group of ``plumsim experiment`` (created when no module registered it)."""
    parser = sub.choices.get("experiment")
    if parser is None:
        parser = sub.add_parser("experiment", help="the paper's experiments",
                                description="Experiments: see the sub-commands.")
        parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="experiment", metavar="NAME")


def register(sub) -> None:
    xs = _experiment_subparsers(sub)
    p = xs.add_parser("cpu", help="time real CPU kernels per scheme and dataflow (numba; speedups vs the model)",
                      description="Time every layer of workloads with the plumsim.cpu kernels (dense, skip, "
                      "repeat, skip+repeat; warm-up, median of repeats) and report per-layer and total ms, "
                      "signed-binary speedups vs binary and ternary (measured, and predicted from the "
                      "model's adds + multiplies + index reads), and torch's own conv2d for reference.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--workload", action="append", metavar="DIR",
                     help="workload folder (repeat for several schemes)")
    src.add_argument("--table", metavar="YAML", help="layer table (e.g. workloads/resnet18-imagenet.yaml): "
                     "synthetic latents, one workload per --scheme")
    p.add_argument("--scheme", action="append", choices=DEFAULT_SCHEMES + ("fp",), default=None,
                   help="with --table: scheme (repeatable; default signed-binary, binary, ternary)")
    p.add_argument("--density", type=float, default=SB_DENSITY, metavar="D",
                   help=f"with --table: signed-binary density (default {SB_DENSITY}); ternary keeps TWN's rule")
    p.add_argument("--seed", type=int, default=0, help="latent-weight and input seed (default 0)")
    p.add_argument("--threads", default="1", metavar="N[,N..]", help="thread counts (default 1)")
    p.add_argument("--repeats", type=int, default=5, metavar="R", help="timed calls per measurement (median; default 5)")
    p.add_argument("--warmup", type=int, default=1, metavar="W", help="untimed calls first (default 1)")
    p.add_argument("--dataflow", action="append", choices=("dense", "skip", "repeat", "skip+repeat"), default=None,
                   help="dataflows (repeatable; default all four)")
    p.add_argument("--no-reference", action="store_true", help="skip the torch conv2d/linear reference timing")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="also write layers.csv, totals.csv, speedups.csv and results.json into DIR")
    p.add_argument("--progress", action="store_true", help="one line per measurement on stderr")
    p.set_defaults(func=run)

    q = xs.add_parser("paper", help="the PLUM paper's headline claims recomputed, one row per claim",
                      description="Recompute every headline claim of the PLUM paper offline: density binary / "
                      "signed-binary (trained digits CNN over seeds; ResNet-20 and ResNet-18 tables with synthetic "
                      "latents), energy and cycles on SIGMA native (STONNE's setting) and beside stored real STONNE "
                      "runs, the repetition-aware dataflows on SIGMA / MAERI / TPU (hypothetical machines labelled), "
                      "CPU speedups on this machine, accuracy at equal non-zeros and the value-assignment sweep. One "
                      "row per claim: claim, paper, plumsim, unit, setting, note. A few minutes on 2 cores; --quick "
                      "well under one. Progress on stderr.")
    q.add_argument("--out", metavar="DIR", default=None, help="also write paper.json, paper.md and paper.csv into DIR")
    q.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                   help="output format on stdout (default table)")
    q.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="training seeds 0..N-1 (1..10; default 3, or 2 with --quick)")
    q.add_argument("--quick", action="store_true",
                   help="fewer seeds and epochs, one SIGMA preset, small CPU table (the demo and tests use it)")
    q.set_defaults(func=run_paper)


def run_paper(args) -> int:
    from plumsim.commands._output import print_json
    from plumsim.fileio import make_dirs
    from plumsim.pipeline import paper

    paper.settings_for(args.quick, args.seeds)   # a bad --seeds fails before minutes of work
    if args.out:
        make_dirs(args.out)                        # so does an --out that cannot be a folder
    df = paper.run_paper(args.quick, seeds=args.seeds)
    if args.out:
        paper.write_claims(df, args.out)
    if args.format == "json":
        print_json(paper.claims_json(df))
    elif args.format == "markdown":
        print(paper.claims_markdown(df), end="")
    else:
        print(paper.claims_text(df), end="")
    return 0


def _threads(text: str) -> list[int]:
    from plumsim.cpu.kernels import max_threads
    from plumsim.errors import PlumsimError

    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    top = max_threads()
    if not values or any(not 1 <= v <= top for v in values):
        raise PlumsimError(f"threads must be integers in 1..{top} (this machine's NUMBA_NUM_THREADS), got {text!r}",
                           field="--threads")
    return values


def torch_reference(layer, x, threads: int):
    """torch's own conv2d / linear (float32, the same quantized weights) of ``layer`` on ``x``: a callable
    that runs it once with ``threads`` threads (timed by :func:`plumsim.cpu.experiment.time_workloads`)."""
    import torch
    import torch.nn.functional as F

    s = layer.shape
    w = torch.from_numpy(layer.weight_tensor())
    tx = torch.from_numpy(x)
    threads = int(threads)

    def run():
        torch.set_num_threads(threads)
        with torch.inference_mode():
            if layer.kind == "linear":
                return F.linear(tx, w.reshape(w.shape[0], -1))
            return F.conv2d(tx, w, stride=s.stride, padding=s.padding, groups=s.G)

    return run


def _workloads(args) -> list:
    from pathlib import Path

    from plumsim.errors import PlumsimError
    from plumsim.workload.format import Workload
    from plumsim.workload.synth import synth

    if args.workload:
        if args.scheme:
            raise PlumsimError("--scheme goes with --table (a workload folder has its own scheme)", field="--scheme")
        return [Workload.load(d) for d in args.workload]
    if not Path(args.table).is_file():
        raise PlumsimError("layer table not found", path=args.table)
    schemes = list(dict.fromkeys(args.scheme or DEFAULT_SCHEMES))
    return [synth(args.table, scheme=s, seed=args.seed, density=args.density if s == "signed-binary" else None)
            for s in schemes]


def run(args) -> int:
    import sys

    from plumsim.commands._output import print_frame, print_json
    from plumsim.cpu import experiment as E
    from plumsim.errors import PlumsimError

    threads = _threads(args.threads)
    if args.repeats < 1 or args.warmup < 0:
        raise PlumsimError("--repeats must be >= 1 and --warmup >= 0", field="--repeats")
    if args.seed < 0:
        raise PlumsimError("--seed must be >= 0", field="--seed")
    wls = _workloads(args)
    progress = (lambda m: print(m, file=sys.stderr, flush=True)) if args.progress else None
    layers = E.time_workloads(wls, threads=threads, repeats=args.repeats, warmup=args.warmup,
                              dataflows=args.dataflow or E.kernels.DATAFLOWS, seed=args.seed,
                              reference=None if args.no_reference else torch_reference, progress=progress)
    totals = E.totals(layers)
    speedups = E.speedups(layers)
    best = {f"{s}@{t}": d for (s, t), d in E.best_dataflows(layers).items()}
    result = {"experiment": "cpu", "machine": E.machine_info(), "threads": threads, "repeats": args.repeats,
              "warmup": args.warmup, "statistic": "median ms of the repeats (ms_min: the fastest)",
              "workloads": [w.name for w in wls], "best_dataflow": best,
              "predicted": "mults + adds + index bits of the dataflow (plumsim.accel.repetition.layer_arithmetic)",
              "layers": layers.to_dict("records"), "totals": totals.to_dict("records"),
              "speedups": speedups.to_dict("records")}
    if args.out:
        import json
        from pathlib import Path

        from plumsim.commands._output import jsonable
        from plumsim.fileio import AtomicFiles

        out = Path(args.out)
        # all four files staged whole, then renamed together: a full or read-only disk leaves no partial file
        # and no folder made for them (StorageError: one line naming the file and the cause, exit 3)
        with AtomicFiles() as batch:
            for name, df in (("layers.csv", layers), ("totals.csv", totals), ("speedups.csv", speedups)):
                data = df.to_csv(index=False).encode("utf-8")
                batch.stage(out / name, lambda fh, data=data: fh.write(data))
            data = (json.dumps(jsonable(result), indent=2) + "\n").encode("utf-8")
            batch.stage(out / "results.json", lambda fh: fh.write(data))
    if args.format == "json":
        print_json(result)
        return 0
    m = result["machine"]
    print(f"CPU: {m['cpu']} ({m['cores']} cores, {'/'.join(m['simd'][:2])}), numba {m['numba']} "
          f"({m['numba_threading_layer']}), threads {threads}, median of {args.repeats}")
    cols = ["scheme", "layer", "dataflow", "threads", "ms", "ops"]
    print_frame(layers[cols].round({"ms": 3}), "table", title="\nper layer (ms; ops = mults+adds+index)")
    print_frame(totals.round(3), "table", title="\ntotals (ms)")
    if not speedups.empty:
        tot = speedups[speedups["layer"].str.startswith("TOTAL")]
        print_frame(tot.round(3), "table", title="\nsigned-binary speedup (measured = other ms / signed-binary ms; "
                    "predicted = other ops / signed-binary ops)")
    return 0

"""Benchmark: digits accuracy, per-layer density and seconds per epoch after the digits-fast recipe.

For fp, binary, ternary and signed-binary, trains cnn-digits with 3 seeds (0, 1, 2) and reports the
median over seeds of the final validation accuracy (0..1), the density (non-zero fraction) of each
quantized layer (conv2, conv3; for fp the same layers in full precision) and the median seconds per
epoch (wall clock, 1 CPU thread). Also the density ratio binary / signed-binary (paper: about 2.8x).

    .venv/bin/python benchmarks/bench_train.py [--seeds 0,1,2] [--epochs N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

SCHEMES = ("fp", "binary", "ternary", "signed-binary")


def run(seeds, epochs):
    from plumsim.quant.data import load_data
    from plumsim.quant.train import layer_stats, train

    ds = load_data("digits")
    out = {}
    for scheme in SCHEMES:
        accs, dens, secs, total = [], {}, [], []
        for seed in seeds:
            t0 = time.perf_counter()
            r = train(scheme=scheme, seed=seed, epochs=epochs, progress="none", dataset=ds)
            total.append(time.perf_counter() - t0)
            accs.append(float(r.history["val_acc"].iloc[-1]))
            secs.append(float(r.history["seconds"].median()))
            st = layer_stats(r.model, include_fp=(scheme == "fp"))
            st = st[st["name"].isin(["conv2", "conv3"])]
            for row in st.itertuples():
                dens.setdefault(row.name, []).append(float(row.density))
            dens.setdefault("all", []).append(float(st["nnz"].sum() / st["numel"].sum()))
        out[scheme] = {"val_acc_median": statistics.median(accs), "val_acc_runs": accs,
                       "density_median": {k: statistics.median(v) for k, v in dens.items()},
                       "seconds_per_epoch_median": statistics.median(secs),
                       "seconds_per_run_median": statistics.median(total)}
    ratio = out["binary"]["density_median"]["all"] / out["signed-binary"]["density_median"]["all"]
    ratio_t = out["ternary"]["density_median"]["all"] / out["signed-binary"]["density_median"]["all"]
    return {"data": "digits", "model": "cnn-digits", "recipe": "digits-fast", "epochs": epochs,
            "seeds": list(seeds), "schemes": out, "density_ratio_binary_over_signed_binary": ratio,
            "density_ratio_ternary_over_signed_binary": ratio_t}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's (15)")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    a = ap.parse_args(argv)
    res = run([int(s) for s in a.seeds.split(",")], a.epochs)
    print(f"{'scheme':14s} {'val_acc':>8s} {'dens conv2':>10s} {'dens conv3':>10s} {'dens all':>9s} {'s/epoch':>8s}")
    for s, r in res["schemes"].items():
        d = r["density_median"]
        print(f"{s:14s} {r['val_acc_median']:8.4f} {d['conv2']:10.4f} {d['conv3']:10.4f} {d['all']:9.4f} "
              f"{r['seconds_per_epoch_median']:8.3f}")
    print(f"density ratio binary / signed-binary: {res['density_ratio_binary_over_signed_binary']:.2f}x "
          f"(paper: about 2.8x); ternary / signed-binary: {res['density_ratio_ternary_over_signed_binary']:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

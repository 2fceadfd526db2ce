"""Sparsity-vs-repetition attribution on ResNet-18/ImageNet synthetic workloads (issue 4 report).

Binary, ternary (TWN threshold) and signed-binary (density 0.36, the paper's) ResNet-18 workloads from
``workloads/resnet18-imagenet.yaml`` run on a SIGMA preset with the Horowitz 45 nm table (int8
activations, int32 accumulators, 32 KB buffer; weight bits = each layer's dense code width). Quantized
layers only (the FP stem, shortcuts and classifier are the same for every scheme).

Prints, per scheme: energy (pJ) and cycles of D, S, R, SR with the Shapley shares, the SR energy by
group, and energy(binary)/energy(signed-binary), for the whole layer energy and for the "compute +
weights" part (multipliers, reduction network, weight and index reads), which is what weight
sparsity/repetition can act on. Writes the numbers to --out (JSON).

    .venv/bin/python benchmarks/bench_attribution.py [--accel accel_configs/sigma_128.cfg] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMES = (("binary", None), ("ternary", None), ("signed-binary", 0.36))
COMPUTE_GROUPS = ("multipliers", "reduction network", "accumulators")


def run(accel: Path, table_name: str = "horowitz45", activation: str = "int8") -> dict:
    from plumsim.accel.cfg import load_config
    from plumsim.energy import energy_breakdown, load_energy_table
    from plumsim.energy.attribution import MODE_OF, attribute, layer_weight_bits, run_modes
    from plumsim.workload import synth

    cfg = load_config(accel)
    out = {"accel": str(accel.relative_to(ROOT) if accel.is_relative_to(ROOT) else accel),
           "table": table_name, "activation": activation, "schemes": {}}
    for scheme, density in SCHEMES:
        t0 = time.perf_counter()
        wl = synth(ROOT / "workloads" / "resnet18-imagenet.yaml", scheme, density=density)
        q = [lyr for lyr in wl.layers if lyr.codes is not None]
        df = attribute(q, cfg, table_name, bitwidths={"activation": activation})
        groups = {k: {} for k in MODE_OF}
        for lyr in q:
            t = load_energy_table(table_name, weight_bits=layer_weight_bits(lyr), activation=activation)
            for k, r in run_modes(lyr, cfg).items():
                bd = energy_breakdown(r, t)
                for (g, comp, act), e in bd.groupby(["group", "component", "action"])["energy"].sum().items():
                    key = "weights+index" if act in ("READ_WEIGHT",) or comp == "INDEX" else \
                        ("input reads" if act == "READ_INPUT" else g)
                    groups[k][key] = groups[k].get(key, 0.0) + float(e)
        tot = df[df.layer == "total"].set_index("metric")
        nnz = sum(lyr.nnz for lyr in q)
        numel = sum(lyr.numel for lyr in q)
        entry = {"density": nnz / numel, "seconds": time.perf_counter() - t0}
        for metric in ("energy", "cycles"):
            row = tot.loc[metric]
            entry[metric] = {k: float(row[k]) for k in ("D", "S", "R", "SR", "sparsity_share",
                                                        "repetition_share")} | {"unit": row["unit"]}
        entry["energy_by_group"] = groups
        entry["compute_energy"] = {k: math.fsum(v for g, v in groups[k].items()
                                                 if g in COMPUTE_GROUPS or g == "weights+index") for k in MODE_OF}
        out["schemes"][scheme] = entry
    b, s = out["schemes"]["binary"], out["schemes"]["signed-binary"]
    out["ratios"] = {
        "energy_binary_SR_over_signed_binary_SR": b["energy"]["SR"] / s["energy"]["SR"],
        "energy_binary_D_over_signed_binary_D": b["energy"]["D"] / s["energy"]["D"],
        "compute_energy_binary_SR_over_signed_binary_SR": b["compute_energy"]["SR"] / s["compute_energy"]["SR"],
        "cycles_binary_SR_over_signed_binary_SR": b["cycles"]["SR"] / s["cycles"]["SR"],
        "energy_ternary_SR_over_signed_binary_SR":
            out["schemes"]["ternary"]["energy"]["SR"] / s["energy"]["SR"],
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accel", type=Path, default=ROOT / "accel_configs" / "sigma_128.cfg")
    ap.add_argument("--table", default="horowitz45")
    ap.add_argument("--activation", default="int8")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench_attribution.json")
    args = ap.parse_args()
    res = run(args.accel.resolve(), args.table, args.activation)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    unit = res["schemes"]["binary"]["energy"]["unit"]
    print(f"ResNet-18/ImageNet (quantized layers) on {res['accel']}, table {res['table']} ({unit}), "
          f"activations {res['activation']}")
    for scheme, e in res["schemes"].items():
        print(f"\n{scheme}: density {e['density']:.3f}  ({e['seconds']:.1f} s)")
        for metric in ("energy", "cycles"):
            m = e[metric]
            gain = m["D"] - m["SR"]
            print(f"  {metric:6s} D {m['D']:.4g}  S {m['S']:.4g}  R {m['R']:.4g}  SR {m['SR']:.4g}  "
                  f"sparsity {m['sparsity_share']:.4g} ({100 * m['sparsity_share'] / gain if gain else 0:.0f}%)  "
                  f"repetition {m['repetition_share']:.4g} ({100 * m['repetition_share'] / gain if gain else 0:.0f}%)")
        sr = e["energy_by_group"]["SR"]
        total = sum(sr.values())
        print("  SR energy by group: " + ", ".join(f"{g} {100 * v / total:.1f}%"
                                                   for g, v in sorted(sr.items(), key=lambda x: -x[1]) if v))
        print(f"  compute+weights energy: D {e['compute_energy']['D']:.4g}  SR {e['compute_energy']['SR']:.4g}")
    print()
    for k, v in res["ratios"].items():
        print(f"{k}: {v:.3f}")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Write a make_runs.py spec that re-runs the rows of an existing reference cases.csv (and, with
--dropped, the runs of its dropped_cases.csv, rebuilt from their ``how`` command line).

    python spec_from_csv.py CASES_CSV [--dropped DROPPED_CSV] [--ids ID ...] [--set A] [--out FOLDER] > spec.yaml

The spec keeps each row's case_id, so ``make_runs.py compare`` can match the new rows with the old ones.
numpy-free; needs PyYAML.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys

import yaml

INT_KEYS = ("ms_size ms_rows ms_cols dn_bw rn_bw accumulation_buffer N G C K R S X Y stride padding M_gemm N_gemm "
            "K_gemm batch_M T_R T_S T_C T_K T_G T_N T_X_ T_Y_ T_M T_N_gemm T_K_gemm weight_seed input_seed").split()
PER_OP = {
    "CONV": "ms_size dn_bw rn_bw accumulation_buffer N G C K R S X Y stride T_R T_S T_C T_K T_G T_N T_X_ T_Y_",
    "FC": "ms_size dn_bw rn_bw accumulation_buffer M_gemm N_gemm K_gemm T_M T_N_gemm T_K_gemm",
    "DenseGEMM": "ms_size dn_bw rn_bw accumulation_buffer M_gemm N_gemm K_gemm T_M T_N_gemm T_K_gemm",
    "TPU": "ms_rows ms_cols dn_bw rn_bw M_gemm N_gemm K_gemm T_M T_N_gemm",
    "SparseConv": "ms_size dn_bw rn_bw N G C K R S X Y stride padding weight_kind weight_seed input_seed note_shape_id",
    "SparseLinear": "ms_size dn_bw rn_bw C K batch_M weight_kind weight_seed input_seed",
}
FLAG = {"strides": "stride", "num_ms": "ms_size", "M": "M_gemm", "K": None, "N": None}


def num(v: str):
    return int(float(v)) if v not in ("", None) else None


def case_from_row(r: dict) -> dict:
    op = r["op"]
    key = "TPU" if r["family"].startswith("TPU") else op
    c = {"case_id": r["case_id"], "family": r["family"], "op": op}
    for k in PER_OP[key].split():
        v = r.get(k, "")
        if v == "":
            continue
        c[k] = num(v) if k in INT_KEYS else v
    return c


def case_from_how(d: dict) -> dict:
    how = d["how"]
    flags = dict(re.findall(r"-(\w+)=(\S+)", how))
    op = re.search(r"stonne -(CONV|FC|DenseGEMM)", how).group(1)
    c = {"case_id": d["case_id"], "family": d["family"], "op": op}
    if op == "CONV":
        for k in "R S C G K N X Y T_R T_S T_C T_K T_G T_N T_X_ T_Y_".split():
            c[k] = int(flags[k])
        c["stride"] = int(flags["strides"])
    else:
        c.update({"M_gemm": int(flags["M"]), "N_gemm": int(flags["N"]), "K_gemm": int(flags["K"]),
                  "T_M": int(flags["T_M"]), "T_N_gemm": int(flags["T_N"])})
        if d["family"].startswith("MAERI"):
            c["T_K_gemm"] = int(flags["T_K"])
    if d["family"].startswith("TPU"):
        c.update({"ms_rows": int(flags["ms_rows"]), "ms_cols": int(flags["ms_cols"])})
    else:
        c.update({"ms_size": int(flags["num_ms"]), "accumulation_buffer": int(flags["accumulation_buffer"])})
    c.update({"dn_bw": int(flags["dn_bw"]), "rn_bw": int(flags["rn_bw"])})
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases_csv")
    ap.add_argument("--dropped")
    ap.add_argument("--ids", nargs="*")
    ap.add_argument("--set", default="")
    ap.add_argument("--out")
    a = ap.parse_args()
    cases = [case_from_row(r) for r in csv.DictReader(open(a.cases_csv, newline=""))]
    if a.dropped:
        cases += [case_from_how(d) for d in csv.DictReader(open(a.dropped, newline=""))
                  if d["family"] != "SIGMA_sparse_frontend"]
    if a.ids:
        cases = [c for c in cases if c["case_id"] in set(a.ids)]
    spec = {"set": a.set, **({"out": a.out} if a.out else {}), "cases": cases}
    sys.stdout.write(f"# written by benchmarks/stonne_runs/spec_from_csv.py {' '.join(sys.argv[1:])}\n")
    sys.stdout.write(yaml.safe_dump({k: v for k, v in spec.items() if k != "cases"}, sort_keys=False))
    sys.stdout.write("cases:\n")
    for c in cases:
        sys.stdout.write("- " + yaml.safe_dump(c, default_flow_style=True, sort_keys=False, width=10000))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Write the specs of calibration set C (specs/c_maeri.yaml, specs/c_tpu.yaml, specs/c_sigma.yaml).

    python build_specs.py [--seed 2026]

The specs, not this script, are the record of what was run; this is how they were drawn. Cases are
drawn with a seeded numpy generator so that the axes are mixed (memory size, bandwidths, accumulation
buffer, tile, shape, weight kind), then filtered by:
* STONNE's known limits (REFERENCE_README "STONNE limitations", DESIGN.md): a MAERI virtual neuron has
  T_R*T_S*T_C >= 2 (T_K >= 2 for FC/GEMM); T_X' divides X_out and T_Y' divides Y_out; stride 2 only with
  T_X' = T_Y' = 1; batch N > 1 only with R = S = 1; the tile fits (VN_Size [+1 with the accumulation buffer
  off and folding] * Num_VNs <= ms_size); TPU meshes are square with (rows+cols)/dn_bw a power of two;
* run time: a rough cycle estimate (below) keeps every STONNE run short on a 2-core machine.
  The estimates only choose sizes; nothing in the output comes from them.
* no case repeats a (shape, hardware, tile) combination of set A (tests/data/stonne/cases.csv).
numpy + PyYAML; imports make_weight from make_runs.py (the weight rules of the reference README).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_runs import make_weight  # noqa: E402

REF = HERE.parents[1] / "tests" / "data" / "stonne" / "cases.csv"
P2 = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def cdiv(a, b):
    return -(-a // b)


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def ref_keys():
    keys = set()
    if REF.is_file():
        for r in csv.DictReader(open(REF, newline="")):
            keys.add(tuple(r[k].replace(".0", "") for k in KEY_COLS))
    return keys


KEY_COLS = ("op", "ms_size", "ms_rows", "dn_bw", "rn_bw", "accumulation_buffer", "N", "G", "C", "K", "R", "S", "X",
            "Y", "stride", "padding", "M_gemm", "N_gemm", "K_gemm", "batch_M", "T_R", "T_S", "T_C", "T_K", "T_G",
            "T_N", "T_X_", "T_Y_", "T_M", "T_N_gemm", "T_K_gemm")


def case_key(c):
    d = dict(c)
    if d["op"] in ("FC", "DenseGEMM") and d.get("family") == "TPU_dense_CLI":
        d["ms_size"] = d["ms_rows"] * d["ms_cols"]
        d["accumulation_buffer"] = 1
        d["T_K_gemm"] = 1
    if d["op"] == "CONV":
        d.setdefault("padding", 0)
    return tuple(str(d.get(k, "")) for k in KEY_COLS)


# ------------------------------------------------------------------------------------------------- MAERI

def maeri_est(c):
    """Rough MAERI cycles: DESIGN.md's closed form with a crude read-port factor; x3 with the buffer off."""
    if c["op"] == "CONV":
        Xo = (c["X"] - c["R"] + c["stride"]) // c["stride"]
        Yo = (c["Y"] - c["S"] + c["stride"]) // c["stride"]
        Cg, Kg = c["C"] // c["G"], c["K"] // c["G"]
        nfold = cdiv(c["R"], c["T_R"]) * cdiv(c["S"], c["T_S"]) * cdiv(Cg, c["T_C"])
        tiles = cdiv(c["N"], c["T_N"]) * cdiv(c["G"], c["T_G"]) * cdiv(Kg, c["T_K"])
        steps = nfold * (1 + cdiv(Xo, c["T_X_"]) * cdiv(Yo, c["T_Y_"]))
        xin = c["T_R"] + (c["T_X_"] - 1) * c["stride"]
        yin = c["T_S"] + (c["T_Y_"] - 1) * c["stride"]
        pk = xin * yin * c["T_N"] * c["T_G"] * c["T_C"]
    else:
        tiles = cdiv(c["M_gemm"], c["T_M"]) * cdiv(c["N_gemm"], c["T_N_gemm"])
        steps = cdiv(c["K_gemm"], c["T_K_gemm"]) * 2
        pk = c["T_K_gemm"] * c["T_N_gemm"]
    pf = max(1.0, pk / c["dn_bw"])
    est = tiles * (steps * pf + 10)
    return est * (3 if not c["accumulation_buffer"] else 1)


def maeri_fits(c):
    if c["op"] == "CONV":
        vn = c["T_R"] * c["T_S"] * c["T_C"]
        nvn = c["T_K"] * c["T_G"] * c["T_N"] * c["T_X_"] * c["T_Y_"]
        fold = cdiv(c["R"], c["T_R"]) * cdiv(c["S"], c["T_S"]) * cdiv(c["C"] // c["G"], c["T_C"]) > 1
    else:
        vn, nvn = c["T_K_gemm"], c["T_M"] * c["T_N_gemm"]
        fold = c["K_gemm"] > c["T_K_gemm"]
    need = (vn + (1 if (fold and not c["accumulation_buffer"]) else 0)) * nvn
    return vn >= 2 and need <= c["ms_size"], fold, need


def draw_maeri(rng, n_target=52):
    cats = (["conv3"] * 18 + ["conv1"] * 8 + ["conv1_batch"] * 4 + ["stride2"] * 7 + ["groups"] * 5
            + ["fc"] * 5 + ["gemm"] * 5)
    assert len(cats) == n_target
    cases, seen, ak = [], set(), ref_keys()
    ab_cycle = {}
    for i, cat in enumerate(cats):
        for attempt in range(20000):
            ms = int(rng.choice([32, 64, 128, 256]))
            dn = int(rng.choice([d for d in P2 if ms // 16 <= d <= ms and d >= 2]))
            rn = dn if rng.random() < 0.6 else int(rng.choice([d for d in P2 if 1 <= d < dn] or [dn]))
            if rng.random() < 0.08:
                rn = min(ms, dn * 2)
            # about half of the rows with the accumulation buffer off, alternating inside each category
            ab = ab_cycle.get(cat, int(rng.integers(2)))
            c = {"family": "MAERI_dense_CLI", "ms_size": ms, "dn_bw": dn, "rn_bw": rn, "accumulation_buffer": ab}
            if cat in ("fc", "gemm"):
                M, N, K = int(rng.integers(4, 33)), int(rng.integers(4, 33)), int(rng.choice([24, 32, 48, 64, 96, 100, 128, 150]))
                TK = int(rng.choice([t for t in range(2, K + 1) if t <= ms]))
                if rng.random() < 0.3:
                    TK = K if K <= ms else TK
                TM, TN = int(rng.integers(1, min(M, 8) + 1)), int(rng.integers(1, min(N, 8) + 1))
                c.update({"op": "FC" if cat == "fc" else "DenseGEMM", "M_gemm": M, "N_gemm": N, "K_gemm": K,
                          "T_M": TM, "T_N_gemm": TN, "T_K_gemm": TK})
            else:
                if cat == "conv3":
                    R, G, N, stride = 3, 1, 1, 1
                elif cat == "conv1":
                    R, G, N, stride = 1, 1, 1, 1
                elif cat == "conv1_batch":
                    R, G, N, stride = 1, 1, int(rng.choice([2, 3, 4])), 1
                elif cat == "stride2":
                    R, G, N, stride = int(rng.choice([1, 3, 3])), 1, 1, 2
                else:
                    R, G, N, stride = int(rng.choice([1, 3])), int(rng.choice([2, 4])), 1, 1
                C = int(rng.choice([3, 4, 8, 12, 16, 24, 32, 48, 64])) if G == 1 else G * int(rng.choice([2, 4, 6, 8]))
                K = int(rng.choice([4, 6, 8, 12, 16, 24, 32])) if G == 1 else G * int(rng.choice([2, 3, 4, 8]))
                X = int(rng.integers(R + 3, 19))
                Y = X if rng.random() < 0.75 else int(rng.integers(R + 3, 19))
                Xo, Yo = (X - R + stride) // stride, (Y - R + stride) // stride
                Cg, Kg = C // G, K // G
                TR = R if (R == 1 or rng.random() < 0.75) else int(rng.choice([1, 2]))
                TS = R if (R == 1 or rng.random() < 0.85) else int(rng.choice([1, 2]))
                TC = int(rng.choice([Cg] * 3 + list(range(1, Cg + 1))))
                TK = int(rng.integers(1, min(Kg, 16) + 1))
                TG = int(rng.choice(divisors(G))) if G > 1 else 1
                TN = int(rng.choice(divisors(N) + [1])) if N > 1 else 1
                if stride == 2 or rng.random() < 0.55:
                    TX, TY = 1, 1
                else:
                    TX = int(rng.choice([d for d in divisors(Xo) if d <= 4]))
                    TY = int(rng.choice([d for d in divisors(Yo) if d <= 3])) if rng.random() < 0.3 else 1
                c.update({"op": "CONV", "N": N, "G": G, "C": C, "K": K, "R": R, "S": R, "X": X, "Y": Y,
                          "stride": stride, "T_R": TR, "T_S": TS, "T_C": TC, "T_K": TK, "T_G": TG, "T_N": TN,
                          "T_X_": TX, "T_Y_": TY})
            ok, fold, need = maeri_fits(c)
            if not ok or need < ms // 8:
                continue
            est = maeri_est(c)
            if est > 40000 or est * ms > 6e6:
                continue
            k = case_key(c)
            if k in seen or k in ak:
                continue
            seen.add(k)
            ab_cycle[cat] = 1 - ab
            c["case_id"] = f"C_maeri_{'conv' if c['op'] == 'CONV' else c['op'].lower()}_{i + 1:02d}"
            cases.append(c)
            break
        else:
            raise SystemExit(f"could not draw a MAERI case for {cat}")
    return cases


# --------------------------------------------------------------------------------------------------- TPU

def draw_tpu(rng, n_target=30):
    meshes = [4] * 8 + [8] * 11 + [16] * 11
    lanes_cycle = [1, 2, 4, 8]
    cases, seen, ak = [], set(), ref_keys()
    for i, r in enumerate(meshes):
        for attempt in range(20000):
            lanes = lanes_cycle[(i + attempt // 50) % 4]
            dn = 2 * r // lanes
            if dn < 1:
                continue
            rn = int(rng.choice([d for d in P2 if max(1, dn // 2) <= d <= min(r * r, 4 * dn)]))
            TM = r if rng.random() < 0.4 else int(rng.integers(2, r + 1))
            TN = r if rng.random() < 0.4 else int(rng.integers(2, r + 1))
            if rng.random() < 0.06:
                TM = 1
            M, N = int(rng.integers(3, 6 * r + 1)), int(rng.integers(3, 6 * r + 1))
            K = int(rng.choice([8, 16, 20, 27, 32, 50, 64, 72, 100, 144, 200]))
            if M % TM == 0 and N % TN == 0 and rng.random() < 0.8:
                continue  # mostly non-full tiles
            est = cdiv(M, TM) * cdiv(N, TN) * (1 + K * lanes + TM + TN + 2)
            if est > 30000:
                continue
            c = {"family": "TPU_dense_CLI", "op": "DenseGEMM", "ms_rows": r, "ms_cols": r, "dn_bw": dn, "rn_bw": rn,
                 "M_gemm": M, "N_gemm": N, "K_gemm": K, "T_M": TM, "T_N_gemm": TN}
            k = case_key(c)
            if k in seen or k in ak:
                continue
            seen.add(k)
            c["case_id"] = f"C_tpu_gemm_{i + 1:02d}"
            cases.append(c)
            break
    return cases


# ------------------------------------------------------------------------------------------------- SIGMA

def sigma_est(W, cols, ms, dn):
    """Rough SIGMA cycles: rows packed whole into ms multipliers in order (pad-to-3), one streamed column
    costs min(ms/dn_bw, occupied multipliers) cycles per iteration. Within ~20% on set A."""
    nz = np.maximum((W.reshape(W.shape[0], -1) != 0).sum(1), 3)
    its, cur = [], 0
    for r in nz:
        if r > ms:
            if cur:
                its.append(cur)
                cur = 0
            its += [ms] * cdiv(int(r), ms - 1)
            continue
        if cur + r > ms:
            its.append(cur)
            cur = 0
        cur += int(r)
    if cur:
        its.append(cur)
    return sum(cols * min(ms // dn, o) + 10 for o in its)


# (label, C, K, X, stride): ResNet-20 (CIFAR-10) 3x3 layers, and ResNet-18 (ImageNet) 3x3 layers with
# fewer filters (K) and a smaller spatial size than the real 56/28/14/7 (label says which).
R20 = [("r20_16x32", 16, 16, 32, 1), ("r20_16to32_s2", 16, 32, 32, 2), ("r20_32x16", 32, 32, 16, 1),
       ("r20_32to64_s2", 32, 64, 16, 2), ("r20_64x8", 64, 64, 8, 1)]
R18 = [("r18_64_k16", 64, 16, 14, 1), ("r18_64to128_s2_k16", 64, 16, 14, 2), ("r18_128_k12", 128, 12, 14, 1),
       ("r18_128to256_s2_k8", 128, 8, 14, 2), ("r18_256_k8", 256, 8, 7, 1), ("r18_256_k8", 256, 8, 14, 1),
       ("r18_256to512_s2_k8", 256, 8, 8, 2), ("r18_128_k16", 128, 16, 7, 1), ("r18_64_k8", 64, 8, 10, 1)]


def sigma_case(rng, i, shape, kind, ms, N=1, G=1, budget=5e6, label_suffix=""):
    label, C, K, X, stride = shape
    for attempt in range(200):
        dn = int(rng.choice([d for d in P2 if ms // 16 <= d <= ms]))
        rn = dn if rng.random() < 0.5 else int(rng.choice([d for d in P2 if dn // 4 <= d < dn] or [dn]))
        x = X
        while True:
            xo = (x + 2 - 3) // stride + 1
            w = make_weight(kind, (K, C // G, 3, 3), 3000 + i)
            est = N * sum(sigma_est(w[g * K // G:(g + 1) * K // G], xo * xo, ms, dn) for g in range(G))
            if est * ms <= budget or x <= 4:
                break
            x = max(4, x // 2) if x > 8 else x - 2
        if est * ms <= budget:
            lab = label + ("" if x == X else f"_cut{x}") + label_suffix
            return {"family": "SIGMA_sparse_frontend", "op": "SparseConv", "ms_size": ms, "dn_bw": dn, "rn_bw": rn,
                    "N": N, "G": G, "C": C, "K": K, "R": 3, "S": 3, "X": x, "Y": x, "stride": stride, "padding": 1,
                    "weight_kind": kind, "weight_seed": 3000 + i, "input_seed": 3500 + i, "note_shape_id": lab}
    raise SystemExit(f"no SIGMA config fits the time budget for {label} {kind} ms={ms}")


def draw_sigma(rng):
    cases = []
    kinds_main = ["binary", "ternary", "signed_binary"]
    shapes = R20 + R18
    i = 0
    mss = [64, 128, 256, 512]
    # main grid: every shape in each main kind, memory sizes rotated so shape x kind x ms mix
    for si, sh in enumerate(shapes):
        for ki, kind in enumerate(kinds_main):
            ms = mss[(si + ki * 3 + int(rng.integers(2))) % 4]
            i += 1
            cases.append(sigma_case(rng, i, sh, kind, ms))
    # sparser signed-binary variants
    for kind, sh, ms in [("signed_binary_d0.36", R20[0], 128), ("signed_binary_d0.36", R18[2], 256),
                         ("signed_binary_d0.36", R20[4], 512), ("signed_binary_d0.2", R20[2], 64),
                         ("signed_binary_d0.2", R18[4], 512), ("signed_binary_d0.2", R20[3], 256)]:
        i += 1
        cases.append(sigma_case(rng, i, sh, kind, ms))
    # batch N = 2 and groups G = 2, 4 (input [N, C, X, Y]; groups passed to simulated_conv_forward)
    for N, G, sh, kind, ms in [(2, 1, ("r20_16x32", 16, 16, 32, 1), "signed_binary", 64),
                               (2, 1, ("r20_32x16", 32, 32, 16, 1), "ternary", 128),
                               (2, 1, ("r18_64_k16", 64, 16, 14, 1), "binary", 256),
                               (1, 2, ("r20_32x16", 32, 32, 16, 1), "signed_binary", 128),
                               (1, 2, ("r18_64to128_s2_k16", 64, 16, 14, 2), "ternary", 64),
                               (1, 4, ("r20_64x8", 64, 64, 8, 1), "binary", 256),
                               (1, 4, ("r20_16x32", 16, 16, 32, 1), "signed_binary_d0.36", 64),
                               (2, 2, ("r20_32to64_s2", 32, 64, 16, 2), "signed_binary", 512)]:
        i += 1
        cases.append(sigma_case(rng, i, sh, kind, ms, N=N, G=G, label_suffix=f"_n{N}g{G}"))
    # rows with fewer than 3 non-zeros: STONNE's pad-to-3 rule
    for kind, sh, ms in [("signed_binary_d0.01", ("small_3x16", 3, 16, 16, 1), 64),
                         ("signed_binary_d0.01", ("r20_16x32", 16, 16, 32, 1), 128),
                         ("signed_binary_d0.015", ("r20_16x32", 16, 16, 32, 1), 256),
                         ("signed_binary_d0.02", ("small_8x16", 8, 16, 16, 1), 64),
                         ("signed_binary_d0.01", ("r20_32x16", 32, 32, 16, 1), 512)]:
        i += 1
        cases.append(sigma_case(rng, i, sh, kind, ms))
    for j, c in enumerate(cases):
        c["case_id"] = f"C_sigma_conv_{j + 1:02d}"
    # SparseLinear: classifier-like layers (in -> out) with a few input rows
    lin = []
    lin_shapes = [(64, 10), (64, 16), (128, 32), (256, 16), (256, 64), (512, 10), (512, 32), (128, 64),
                  (256, 32), (64, 64), (512, 16), (128, 10)]
    lkinds = ["binary", "ternary", "signed_binary", "signed_binary", "ternary", "signed_binary_d0.36",
              "binary", "signed_binary", "signed_binary_d0.2", "ternary", "signed_binary", "binary"]
    for j, ((cin, cout), kind) in enumerate(zip(lin_shapes, lkinds)):
        ms = mss[(j + 1) % 4]
        for attempt in range(200):
            dn = int(rng.choice([d for d in P2 if ms // 16 <= d <= ms]))
            rn = dn if rng.random() < 0.5 else int(rng.choice([d for d in P2 if dn // 4 <= d < dn] or [dn]))
            M = int(rng.choice([1, 2, 4, 8, 16]))
            w = make_weight(kind, (cout, cin, 1, 1), 3100 + j)
            if sigma_est(w, M, ms, dn) * ms <= 5e6:
                break
        lin.append({"family": "SIGMA_sparse_frontend", "op": "SparseLinear", "ms_size": ms, "dn_bw": dn, "rn_bw": rn,
                    "C": cin, "K": cout, "batch_M": M, "weight_kind": kind, "weight_seed": 3100 + j,
                    "input_seed": 3600 + j, "case_id": f"C_sigma_linear_{j + 1:02d}"})
    return cases + lin


def write_spec(path, cases, out, title):
    order = ["case_id", "family", "op"]
    with open(path, "w") as f:
        f.write(f"# {title}\n# written by benchmarks/stonne_runs/build_specs.py; run with make_runs.py run {path.name}\n")
        f.write(yaml.safe_dump({"set": "C", "out": out}, sort_keys=False))
        f.write("cases:\n")
        for c in cases:
            d = {k: c[k] for k in order}
            d.update({k: v for k, v in c.items() if k not in order})
            f.write("- " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10000))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    specs = HERE / "specs"
    specs.mkdir(exist_ok=True)
    m, t, s = draw_maeri(rng), draw_tpu(rng), draw_sigma(rng)
    write_spec(specs / "c_maeri.yaml", m, "tests/data/stonne/c_maeri", "set C, MAERI CLI (CONV, FC, DenseGEMM)")
    write_spec(specs / "c_tpu.yaml", t, "tests/data/stonne/c_tpu", "set C, TPU OS mesh CLI (DenseGEMM)")
    write_spec(specs / "c_sigma.yaml", s, "tests/data/stonne/c_sigma", "set C, SIGMA frontend (SparseConv, SparseLinear)")
    print(f"MAERI {len(m)}, TPU {len(t)}, SIGMA {len(s)} cases")


if __name__ == "__main__":
    main()

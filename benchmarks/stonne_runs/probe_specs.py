#!/usr/bin/env python
"""Write the probe specs specs/c_maeri_probe.yaml and specs/c_sigma_probe.yaml (set P).

    python probe_specs.py            # then: make_runs.py run specs/c_maeri_probe.yaml --jobs 1
                                     #       make_runs.py run specs/c_sigma_probe.yaml --jobs 1 --timeout 300

These are the runs the fitted latency constants of plumsim/accel/calibration.py were read from
(MAERI_OUTPUT_LATENCY_AB_ON / _AB_OFF, MAERI_PSUM_LOOP, SIGMA_OUTPUT_LATENCY / _SHARED_LATENCY /
_DS_LATENCY). Each probe is as small as STONNE allows, so that its cycle count is a fixed start-up plus
the one mechanism under test. Plain grids, no random draw: re-running this script rewrites both specs
byte for byte. numpy + PyYAML only; the specs, not this script, are the record.

MAERI (CLI CONV, N = G = 1, stride 1; grids a and b: one output position X = Y = R = S = 1, one tile =
the whole layer; grid c: several output positions):

a. "drain" (C_mprobe_drain_NNN), accumulation buffer on: C = T_C = vn, K = T_K = nv, so one step maps
   nv virtual neurons of vn multipliers each. The cycles are distribution + one multiply + the
   reduction of a VN + the output side (collection bus of rn_bw lines, write FIFO, accumulator), i.e.
   MAERI_OUTPUT_LATENCY_AB_ON on top of the tree depths. Grid: ms_size 16/64/256; dn_bw in
   {1, 4, ms/16, ms/4, ms} (powers of two <= ms); vn 2, 3, 4, 5, 8, 16 (odd sizes: the reduction tree
   of a VN that is not a power of two); nv 1, 2, 3, 5, 8; rn_bw in {1, dn_bw/4, dn_bw} (bus lines fewer
   than, or as many as, the VNs); vn*nv <= ms. 720 combinations, thinned to 300 with a rotating
   (Latin-square) rule: combination (shape j, hardware h) is kept when (j + h) % k == 0, k = 2 for
   ms 16 and 64, 3 for ms 256, so every shape keeps 1/k of the hardware points and every hardware
   point 1/k of the shapes (plain "every other case" would alias with the innermost loop).
b. "loop" (C_mprobe_loop_NNN), accumulation buffer off (folding): K = T_K = nv, T_C = vn and C = 4*vn
   or C = 8*vn (4 or 8 folds; the two runs of a pair differ only in the fold count, so their cycle
   difference / 4 is the per-fold slope: the partial sum's way back to its multiplier,
   MAERI_PSUM_LOOP; the intercept gives MAERI_OUTPUT_LATENCY_AB_OFF). Each VN has vn + 1 multipliers
   (one forwards the partial sum). Grid: ms_size 16/64/256; dn_bw in {1, 4, ms/4, ms}; vn 1, 2, 3, 4,
   7, 8; nv 1-4; rn_bw = dn_bw; (vn+1)*nv <= ms. Then a fold-count series at fixed hardware
   (ms 128, dn_bw 128, rn_bw 64): R = 1, S = 3*nf, Y = 3*nf, C = 1, T_S = 3 (VN of 3 + 1 multipliers),
   nf = 2, 4, 8, 16 folds, nv = 1, 2, 4, 8, 12, 16 VNs: the slope against nf for up to 16 VNs.
   All combinations are kept.
c. "positions" (C_mprobe_pos_NNN), accumulation buffer off (folding), several output positions:
   R = S = 1, X = Y = 4 or 6 (16 or 36 positions; the two runs of a pair differ only in X = Y, so their
   cycle difference / 20 is the per-position slope), K = T_K = nv, C = vn*nf, T_C = vn (nf folds per
   position, VNs of vn + 1 multipliers), T_R = T_S = T_X' = T_Y' = 1. It confirms that the partial-sum
   loop (MAERI_PSUM_LOOP) repeats at every position and measures the collection-bus line effect: VNs
   sharing a line (rn_bw = 1) fall behind one another there and each next position starts behind the
   last of them, against rn_bw = ms (a line per VN). Grid: (i) ms = dn_bw = 64, vn 2, 4, nf 2, 3, 4,
   nv 1-4, rn_bw 1 and 64; (ii) ms = dn_bw = 128, vn 8, 12, 16, nf 2, 3, nv 1-3, rn_bw 1 and 128.
   All 168 combinations are kept (96 + 72).

SIGMA (frontend SparseConv, 1x1 filter, stride 1, padding 0, N = G = 1, weight_kind binary = +-1,
dense: no zero, so no row or column is padded to 3 non-zeros; C_sprobe_NNN): K rows of C weights with
K*C <= ms_size, so the whole stationary matrix fits in one iteration; the X*Y = 4 or 16 streamed
columns (X = Y = 2 or 4) give two column counts per probe, whose difference is the per-column
streaming rate and whose intercept is the iteration's fixed latency (SIGMA_OUTPUT_LATENCY; with two
or more rows SIGMA_SHARED_LATENCY; with ms_size > dn_bw, a distribution tree, SIGMA_DS_LATENCY).
Grid: ms_size 64/128/256; dn_bw in {ms/64, ms/8, ms}; rn_bw in {min(16, dn_bw), dn_bw}; K in
1, 2, 4, 16, 64; C = ms // K and ms // (2K) (full and half-full multipliers; C >= 1). 126 (hardware,
shape) pairs, thinned with the same rotating rule (k = 4, per ms_size) to 32, each run at both column
counts: 64 cases. Seeds: weight_seed 5001.., input_seed 6001.. (case order).
"""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SET = "P"
MAERI_FAM = {"family": "MAERI_dense_CLI", "op": "CONV"}
SIGMA_FAM = {"family": "SIGMA_sparse_frontend", "op": "SparseConv"}


def pow2_sorted(vals, ms):
    return sorted({int(v) for v in vals if v >= 1 and v <= ms and (int(v) & (int(v) - 1)) == 0})


def conv(ms, dn, rn, ab, C, K, T_C, T_K, R=1, S=1, X=1, Y=1, T_S=1):
    return {**MAERI_FAM, "ms_size": ms, "dn_bw": dn, "rn_bw": rn, "accumulation_buffer": ab, "N": 1, "G": 1,
            "C": C, "K": K, "R": R, "S": S, "X": X, "Y": Y, "stride": 1, "T_R": 1, "T_S": T_S, "T_C": T_C,
            "T_K": T_K, "T_G": 1, "T_N": 1, "T_X_": 1, "T_Y_": 1}


def maeri_drain() -> list[dict]:
    out = []
    for ms, k in ((16, 2), (64, 2), (256, 3)):
        hw = [(dn, rn) for dn in pow2_sorted((1, 4, ms // 16, ms // 4, ms), ms)
              for rn in pow2_sorted((1, dn // 4, dn), ms)]
        shapes = [(vn, nv) for vn in (2, 3, 4, 5, 8, 16) for nv in (1, 2, 3, 5, 8) if vn * nv <= ms]
        for j, (vn, nv) in enumerate(shapes):
            for h, (dn, rn) in enumerate(hw):
                if (j + h) % k == 0:
                    out.append(conv(ms, dn, rn, 1, C=vn, K=nv, T_C=vn, T_K=nv))
    for i, c in enumerate(out):
        c["case_id"] = f"C_mprobe_drain_{i + 1:03d}"
    return out


def maeri_loop() -> list[dict]:
    out = []
    for ms in (16, 64, 256):
        for dn in pow2_sorted((1, 4, ms // 4, ms), ms):
            for vn in (1, 2, 3, 4, 7, 8):
                for nv in (1, 2, 3, 4):
                    if (vn + 1) * nv <= ms:
                        for folds in (4, 8):
                            out.append(conv(ms, dn, dn, 0, C=folds * vn, K=nv, T_C=vn, T_K=nv))
    for nf in (2, 4, 8, 16):
        for nv in (1, 2, 4, 8, 12, 16):
            out.append(conv(128, 128, 64, 0, C=1, K=nv, T_C=1, T_K=nv, S=3 * nf, Y=3 * nf, T_S=3))
    for i, c in enumerate(out):
        c["case_id"] = f"C_mprobe_loop_{i + 1:03d}"
    return out


def maeri_positions() -> list[dict]:
    out = []
    for ms, vns, nfs, nvs in ((64, (2, 4), (2, 3, 4), (1, 2, 3, 4)), (128, (8, 12, 16), (2, 3), (1, 2, 3))):
        for vn in vns:
            for nf in nfs:
                for nv in nvs:
                    for rn in (1, ms):
                        for xy in (4, 6):
                            out.append(conv(ms, ms, rn, 0, C=vn * nf, K=nv, T_C=vn, T_K=nv, X=xy, Y=xy))
    for i, c in enumerate(out):
        c["case_id"] = f"C_mprobe_pos_{i + 1:03d}"
    return out


def sigma() -> list[dict]:
    pairs = []
    for ms in (64, 128, 256):
        hw = [(dn, rn) for dn in pow2_sorted((ms // 64, ms // 8, ms), ms)
              for rn in sorted({min(16, dn), dn})]
        shapes = [(K, C) for K in (1, 2, 4, 16, 64) for C in sorted({ms // K, ms // (2 * K)}, reverse=True)
                  if C >= 1 and K * C <= ms]
        for j, (K, C) in enumerate(shapes):
            for h, (dn, rn) in enumerate(hw):
                pairs.append((j + h, ms, dn, rn, K, C))
    out = []
    for jh, ms, dn, rn, K, C in pairs:
        if jh % 4:  # the rotating rule, k = 4
            continue
        for xy in (2, 4):
            out.append({**SIGMA_FAM, "ms_size": ms, "dn_bw": dn, "rn_bw": rn, "N": 1, "G": 1, "C": C, "K": K,
                        "R": 1, "S": 1, "X": xy, "Y": xy, "stride": 1, "padding": 0, "weight_kind": "binary"})
    for i, c in enumerate(out):
        c["case_id"] = f"C_sprobe_{i + 1:03d}"
        c["weight_seed"], c["input_seed"] = 5001 + i, 6001 + i
    return out


def write_spec(path: Path, cases: list[dict], out: str, title: str) -> None:
    order = ["case_id", "family", "op"]
    with open(path, "w") as f:
        f.write(f"# {title}\n# written by benchmarks/stonne_runs/probe_specs.py; "
                f"run with make_runs.py run {path.name} --jobs 1\n")
        f.write(yaml.safe_dump({"set": SET, "out": out}, sort_keys=False))
        f.write("cases:\n")
        for c in cases:
            d = {k: c[k] for k in order}
            d.update({k: v for k, v in c.items() if k not in order})
            f.write("- " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10000))


def write_all() -> dict[str, Path]:
    specs = HERE / "specs"
    m = maeri_drain() + maeri_loop() + maeri_positions()
    s = sigma()
    pm, ps = specs / "c_maeri_probe.yaml", specs / "c_sigma_probe.yaml"
    write_spec(pm, m, "tests/data/stonne/c_maeri_probe",
               "set P, MAERI CLI CONV probes: single-step drain (buffer on), one-position folding (buffer off) "
               "and several-position folding (buffer off)")
    write_spec(ps, s, "tests/data/stonne/c_sigma_probe",
               "set P, SIGMA frontend SparseConv single-iteration probes (1x1, dense +-1 weights)")
    print(f"{pm.name}: {len(m)} cases; {ps.name}: {len(s)} cases")
    return {"maeri": pm, "sigma": ps}


if __name__ == "__main__":
    write_all()

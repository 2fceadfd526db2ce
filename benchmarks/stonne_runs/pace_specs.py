#!/usr/bin/env python
"""Write specs/c_maeri_pace.yaml (set Q): MAERI runs that measure the pace of output positions, the
mechanism the MAERI model gets least right (docs/design.md, "MAERI", known residuals).

    python pace_specs.py        # then: make_runs.py run specs/c_maeri_pace.yaml --jobs 1

Each shape runs at two output-row lengths (Y' and Y' + 8), so the pair's cycle difference / (8 X')
is the cycles per output position and the intercept the tile's start-up and drain.

a. "fold" (C_mpace_fold_NNN), accumulation buffer off, folding over a 3x3 (or 1x1) window: windows
   (T_R, T_S, T_C, R, S, C) = (2, 3, 2, 3, 3, 4), (3, 2, 3, 3, 3, 3), (1, 1, 4, 1, 1, 8),
   (1, 1, 8, 1, 1, 16), (3, 3, 1, 3, 3, 2), i.e. VNs of 13, 19, 5, 9 and 10 multipliers (with the
   partial-sum one) and 2-4 folds; K = T_K = 1, 2, 3, 4, 5, 6, 8 VNs; ms_size = dn_bw = 128; rn_bw 128
   (a line per VN, except where ASNETWORK pairs two adders on one line) and 1 (every VN on one line);
   X = R + 2 (3 output rows). All combinations that fit: 136 runs.
b. "bus" (C_mpace_bus_NNN), accumulation buffer on, one step per position, VNs of 3 multipliers: C = T_C
   = 3, K = T_K = 8, 12, 15, 16, 20 VNs (from 12 on some bus lines carry two VNs, so the lines set
   the pace), R = S = X = 1, Y = 1, 2, 3, 4, 8 (positions), ms_size = dn_bw = rn_bw = 128: 25 runs.

Also writes specs/c_maeri_row.yaml (set R, C_mrow_NNN): one output row (X' = 1) of a 1x1 conv, C = 8,
T_C = 4 (two folds, VNs of 5 multipliers with the partial-sum one), buffer off, ms_size = dn_bw = rn_bw
= 128, K = T_K = 1, 2, 3, 4, 5, 6, 8, 10, 12, 16 VNs, Y' = 1, 2, 3, 4, 6, 8, 12 positions: 70 runs, the
per-position period of folding VNs position by position (docs/design.md, "MAERI", known residuals,
traces the K = 6, Y' = 4 run).

Also writes specs/c_maeri_fold_real.yaml (set S, C_mfreal_NNN): the 3x3 layers of ResNet-20/CIFAR-10 (padded
inputs, strides 1 and 2) with the accumulation buffer off on ms_size/dn_bw/rn_bw 128/32/32 and 64/16/8, each
with the tile plumsim's chooser picked for it (listed here, so the spec does not change with the model):
10 runs of 19k-150k cycles, real layers for the folding mechanism (docs/design.md, "MAERI").

Also writes specs/c_maeri_fold_multirate.yaml (set T, C_mfrate_NNN): ResNet-18's layer1 3x3 conv (C = K = 64)
cut to 6x6, 8x8, 10x10 and 12x12 outputs (unpadded X = 8..14), buffer off, ms_size/dn_bw/rn_bw 256/64/64,
tile T_S = 3, T_K = 64 (the chooser's for the full layer): 64 four-multiplier VNs whose chains run at two
rates (lines carrying one VN or two) and never repeat exactly, the case the event-level model hands to the
closed form past its budget (docs/design.md, "MAERI"). 4 runs of 42k-166k cycles.

Also writes specs/c_maeri_batch_groups.yaml (set U, C_mbatchg_NNN): grouped and batched convs with the
accumulation buffer off whose tiles hold several groups (T_G > 1) or batch items (T_N > 1), folding and
one-fold, on ms_size/dn_bw/rn_bw 64/64/64 and 64/16/8, then 2-4 batch tiles in a row (1x1 one-fold on
64/64/64 and 64/8/64, 3x3 folding on 64/64/64): 32 runs, the tiles the event-level model leaves to the
closed form.

Also writes specs/c_maeri_sequences.yaml (set V, C_mseq_NNN), made after the model of tiles in a row
(docs/design.md, "tiles one after another") to check it on runs it was not built from: 1x1 convs (C = 8
with T_C = 8, 4, 2; K = 6 with T_K = 2, 4; N = 3, 4 with T_N = 1, 2, N) on 64/64/64, 64/16/8 and
128/32/16, then 3x3 batched and 1x1 grouped-and-batched convs on 64/64/64 and 128/32/16, buffer off;
and specs/c_maeri_sequences_ab.yaml (set W, C_mseqab_NNN), the same grid with the buffer on.

Also writes specs/c_maeri_forwarding.yaml (set X, C_mfwd_NNN), made after the event model's rule for
forwarded products (they arrive with their VN's last new operand on the port): 3x3 convs with input
forwarding (T_S = 3, T_Y' = 1, 5x5 outputs) whose read ports straddle two VNs, one fold and folding,
K = T_K = 3, 5, 7, on 256/16/16, 128/16/8, 128/32/32 and 64/8/8, buffer off.

Plain grids, no random draw: re-running the script rewrites the specs byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from probe_specs import MAERI_FAM

HERE = Path(__file__).resolve().parent
SET = "Q"


def _numbered(cases: list[dict], prefix: str) -> list[dict]:
    """The cases with ids PREFIX_001, PREFIX_002, ... in order."""
    for i, c in enumerate(cases):
        c["case_id"] = f"{prefix}_{i + 1:03d}"
    return cases


def _conv(ms, rn, ab, C, K, R, S, X, Y, T_R, T_S, T_C, T_K):
    return {**MAERI_FAM, "ms_size": ms, "dn_bw": ms, "rn_bw": rn, "accumulation_buffer": ab, "N": 1, "G": 1,
            "C": C, "K": K, "R": R, "S": S, "X": X, "Y": Y, "stride": 1, "T_R": T_R, "T_S": T_S, "T_C": T_C,
            "T_K": T_K, "T_G": 1, "T_N": 1, "T_X_": 1, "T_Y_": 1}


def fold() -> list[dict]:
    out = []
    for TR, TS, TC, R, S, C in ((2, 3, 2, 3, 3, 4), (3, 2, 3, 3, 3, 3), (1, 1, 4, 1, 1, 8),
                                (1, 1, 8, 1, 1, 16), (3, 3, 1, 3, 3, 2)):
        vn = TR * TS * TC + 1
        for tk in (1, 2, 3, 4, 5, 6, 8):
            if vn * tk > 128:
                continue
            for rn in (128, 1):
                for y in (S + 3, S + 11):
                    out.append(_conv(128, rn, 0, C, tk, R, S, R + 2, y, TR, TS, TC, tk))
    return _numbered(out, "C_mpace_fold")


def bus() -> list[dict]:
    out = [_conv(128, 128, 1, 3, tk, 1, 1, 1, y, 1, 1, 3, tk) for tk in (8, 12, 15, 16, 20) for y in (1, 2, 3, 4, 8)]
    return _numbered(out, "C_mpace_bus")


def row() -> list[dict]:
    out = [_conv(128, 128, 0, 8, tk, 1, 1, 1, y, 1, 1, 4, tk) for tk in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
           for y in (1, 2, 3, 4, 6, 8, 12)]
    return _numbered(out, "C_mrow")


#: (ms, dn, rn, C, K, X (padded), stride, tile (T_R, T_S, T_C, T_K, T_X, T_Y)) of set S
REAL = [(128, 32, 32, 16, 16, 34, 1, (1, 3, 1, 16, 1, 2)), (128, 32, 32, 16, 32, 34, 2, (1, 3, 1, 32, 1, 1)),
        (128, 32, 32, 32, 32, 18, 1, (1, 3, 1, 32, 1, 1)), (128, 32, 32, 32, 64, 18, 2, (1, 3, 1, 32, 1, 1)),
        (128, 32, 32, 64, 64, 10, 1, (1, 3, 1, 32, 1, 1)), (64, 16, 8, 16, 16, 34, 1, (1, 3, 16, 1, 1, 1)),
        (64, 16, 8, 16, 32, 34, 2, (1, 3, 16, 1, 1, 1)), (64, 16, 8, 32, 32, 18, 1, (1, 3, 1, 16, 1, 1)),
        (64, 16, 8, 32, 64, 18, 2, (1, 3, 1, 16, 1, 1)), (64, 16, 8, 64, 64, 10, 1, (1, 3, 1, 16, 1, 1))]


def real() -> list[dict]:
    out = []
    for ms, dn, rn, C, K, X, st, (TR, TS, TC, TK, TX, TY) in REAL:
        c = _conv(ms, rn, 0, C, K, 3, 3, X, X, TR, TS, TC, TK)
        c.update(dn_bw=dn, stride=st, T_X_=TX, T_Y_=TY)
        out.append(c)
    return _numbered(out, "C_mfreal")


def multirate() -> list[dict]:
    out = []
    for i, X in enumerate((8, 10, 12, 14)):
        c = _conv(256, 64, 0, 64, 64, 3, 3, X, X, 1, 3, 1, 64)
        c.update(dn_bw=64, case_id=f"C_mfrate_{i + 1:03d}")
        out.append(c)
    return out


def batch_groups() -> list[dict]:
    # (N, G, C, K, R, X, tile (T_R, T_S, T_C, T_K, T_G, T_N, T_X, T_Y)): folding (T_C < C/G or T_R < R)
    # and one-fold tiles of grouped (T_G > 1) and batched (T_N > 1) convs
    shapes = [(1, 4, 8, 8, 3, 6, (1, 3, 1, 2, 2, 1, 1, 1)), (1, 4, 8, 8, 3, 6, (3, 3, 1, 1, 4, 1, 1, 1)),
              (1, 4, 16, 16, 1, 6, (1, 1, 2, 2, 2, 1, 1, 1)), (1, 4, 16, 16, 1, 6, (1, 1, 4, 4, 2, 1, 1, 1)),
              (1, 8, 8, 8, 3, 6, (1, 3, 1, 1, 4, 1, 1, 1)), (1, 8, 8, 8, 3, 6, (3, 3, 1, 1, 2, 1, 1, 1)),
              (2, 1, 4, 4, 3, 6, (1, 3, 2, 2, 1, 2, 1, 1)), (2, 1, 4, 4, 3, 6, (3, 3, 1, 1, 1, 2, 1, 1)),
              (4, 1, 8, 4, 1, 6, (1, 1, 4, 2, 1, 2, 1, 1)), (4, 1, 8, 4, 1, 6, (1, 1, 8, 2, 1, 4, 1, 1)),
              (2, 2, 8, 8, 3, 6, (1, 3, 2, 2, 2, 2, 1, 1)), (2, 2, 8, 8, 1, 6, (1, 1, 2, 4, 2, 2, 1, 1))]
    out = []
    for ms, dn, rn in ((64, 64, 64), (64, 16, 8)):
        for N, G, C, K, R, X, (TR, TS, TC, TK, TG, TN, TX, TY) in shapes:
            c = _conv(ms, rn, 0, C, K, R, R, X, X, TR, TS, TC, TK)
            c.update(dn_bw=dn, N=N, G=G, T_G=TG, T_N=TN, T_X_=TX, T_Y_=TY)
            out.append(c)
    # batch tiles one after another (the iteration check does not hold them): 1x1 one-fold tiles of two
    # batch items, 2-4 tiles, read-bound (64/8/64) and write-bound (64/64/64), and a folding 3x3 pair
    for ms, dn, rn in ((64, 64, 64), (64, 8, 64)):
        for N in (4, 6, 8):
            c = _conv(ms, rn, 0, 8, 2, 1, 1, 6, 6, 1, 1, 8, 2)
            c.update(dn_bw=dn, N=N, T_N=2)
            out.append(c)
    for N in (4, 6):
        c = _conv(64, 64, 0, 4, 2, 3, 3, 6, 6, 1, 3, 2, 2)
        c.update(N=N, T_N=2)
        out.append(c)
    return _numbered(out, "C_mbatchg")


def sequences() -> list[dict]:
    # tiles that overlap at the iteration check, made after the model of them (held out): batch tiles
    # (N > T_N, the last one partly padded when T_N does not divide N), T_N > 1, K tiles with a padded
    # last one (T_K not dividing K), one fold and 2-4 folds, 1x1 on three machines; then 3x3 and grouped
    out = []
    for ms, dn, rn in ((64, 64, 64), (64, 16, 8), (128, 32, 16)):
        for C, TC in ((8, 8), (8, 4), (8, 2)):
            for K, TK in ((6, 2), (6, 4)):
                for N, TN in ((3, 1), (3, 2), (4, 2), (4, 4)):
                    if (TC + (TC < C)) * TK * TN > ms:
                        continue
                    c = _conv(ms, rn, 0, C, K, 1, 1, 5, 5, 1, 1, TC, TK)
                    c.update(dn_bw=dn, N=N, T_N=TN)
                    out.append(c)
    for ms, dn, rn in ((64, 64, 64), (128, 32, 16)):
        for N, TN, (TR, TS, TC, TK) in ((3, 1, (1, 3, 2, 2)), (3, 3, (1, 3, 2, 1)), (2, 2, (3, 3, 1, 2)),
                                        (4, 2, (1, 3, 4, 2))):
            c = _conv(ms, rn, 0, 4, 4, 3, 3, 6, 6, TR, TS, TC, TK)
            c.update(dn_bw=dn, N=N, T_N=TN)
            out.append(c)
        for N, (TC, TK, TG) in ((3, (2, 1, 2)), (2, (1, 2, 4))):
            c = _conv(ms, rn, 0, 8, 8, 1, 1, 5, 5, 1, 1, TC, TK)
            c.update(dn_bw=dn, N=N, G=4, T_G=TG)
            out.append(c)
    return _numbered(out, "C_mseq")


def sequences_buffer_on() -> list[dict]:
    # set V's grid with the accumulation buffer on: batched and grouped tiles in a row, as the closed form
    # times them (no partial sums go back to memory)
    out = []
    for i, c in enumerate(sequences()):
        out.append({**c, "accumulation_buffer": 1, "case_id": f"C_mseqab_{i + 1:03d}"})
    return out


def forwarding() -> list[dict]:
    # input forwarding along rows (T_S = S = 3, T_Y' = 1) where read ports straddle two VNs, so a port's
    # last packet of a step may belong to the other VN: one fold (VNs of 27) and folding (13, 19 with the
    # partial-sum multiplier), K = T_K = 3, 5, 7 VNs, buffer off
    out = []
    for ms, dn, rn in ((256, 16, 16), (128, 16, 8), (128, 32, 32), (64, 8, 8)):
        for TR, TC, C in ((3, 3, 3), (1, 4, 4), (3, 2, 4)):
            for K in (3, 5, 7):
                if (3 * TR * TC + (TR * TC < 3 * C)) * K > ms:
                    continue
                c = _conv(ms, rn, 0, C, K, 3, 3, 7, 7, TR, 3, TC, K)
                c["dn_bw"] = dn
                out.append(c)
    return _numbered(out, "C_mfwd")


def write(path: Path, cases: list[dict], set_name: str = SET, out: str = "tests/data/stonne/c_maeri_pace",
          title: str = "set Q, MAERI CLI CONV pace runs: positions of folding VNs (buffer off) and of "
                       "bus-limited VNs (buffer on)") -> None:
    order = ["case_id", "family", "op"]
    with open(path, "w") as f:
        f.write(f"# {title}\n# written by benchmarks/stonne_runs/pace_specs.py; run with make_runs.py run "
                f"{path.name} --jobs 1\n")
        f.write(yaml.safe_dump({"set": set_name, "out": out}, sort_keys=False))
        f.write("cases:\n")
        for c in cases:
            d = {k: c[k] for k in order}
            d.update({k: v for k, v in c.items() if k not in order})
            f.write("- " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10000))


#: the specs this script writes: file, cases, set, output folder, title (None: write()'s defaults, set Q)
SPECS = [
    ("c_maeri_pace.yaml", lambda: fold() + bus(), None, None, None),
    ("c_maeri_row.yaml", row, "R", "tests/data/stonne/c_maeri_row",
     "set R, MAERI CLI CONV runs: one output row of folding VNs (buffer off), position by position"),
    ("c_maeri_fold_real.yaml", real, "S", "tests/data/stonne/c_maeri_fold_real",
     "set S, MAERI CLI CONV runs: the 3x3 layers of ResNet-20 with the accumulation buffer off"),
    ("c_maeri_fold_multirate.yaml", multirate, "T", "tests/data/stonne/c_maeri_fold_multirate",
     "set T, MAERI CLI CONV runs: a ResNet-18 3x3 conv cut small, buffer off, VNs at two rates"),
    ("c_maeri_batch_groups.yaml", batch_groups, "U", "tests/data/stonne/c_maeri_batch_groups",
     "set U, MAERI CLI CONV runs: grouped (T_G > 1) and batched (T_N > 1) tiles, buffer off"),
    ("c_maeri_sequences.yaml", sequences, "V", "tests/data/stonne/c_maeri_sequences",
     "set V, MAERI CLI CONV runs: tiles that overlap at the iteration check (batch, T_N > 1, padded K tiles), "
     "buffer off, held out"),
    ("c_maeri_sequences_ab.yaml", sequences_buffer_on, "W", "tests/data/stonne/c_maeri_sequences_ab",
     "set W, MAERI CLI CONV runs: set V's grid with the accumulation buffer on, held out"),
    ("c_maeri_forwarding.yaml", forwarding, "X", "tests/data/stonne/c_maeri_forwarding",
     "set X, MAERI CLI CONV runs: input forwarding on read ports shared by two VNs, buffer off, held out"),
]


if __name__ == "__main__":
    for name, make, set_name, out, title in SPECS:
        cases = make()
        path = HERE / "specs" / name
        if set_name is None:
            write(path, cases)
        else:
            write(path, cases, set_name, out, title)
        print(f"{path.name}: {len(cases)} cases")

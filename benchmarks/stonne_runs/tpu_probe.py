"""Probe runs of STONNE's TPU mesh (TPU_OS_DENSE / OS_MESH / TEMPORALRN) for plumsim's TPU model.

Makes the set ``tests/data/stonne/c_tpu_probe/`` (cases.csv in the reference format, README.md): one
STONNE CLI ``-DenseGEMM`` run per case, one at a time, each in a fresh output folder; cycles, counters,
SDMemory stats and instances copied from STONNE's own files, energy from STONNE's calculate_energy.py
with its stock table. Nothing is modelled here.

The cases vary what the mechanism in plumsim/accel/tpu.py depends on: meshes 4x4, 8x8, 16x16; dn_bw
giving 1..32 lanes per read port (dn_bw = 1: one port for all lanes); rn_bw from 1 (one bus line) to
ms_size; T_M < ms_rows, T_N < ms_cols, M and N not multiples of the tile; K from 1 to 300. A fixed
hand-picked list plus a seeded random draw (numpy default_rng(SEED)); runs are deterministic.

    STONNE_BIN=/path/to/stonne .venv/bin/python benchmarks/stonne_runs/tpu_probe.py [--out DIR] [--n N]

Needs the STONNE binary (commit 22634b8) and, for energy, its energy_tables/ beside the binary.
STONNE's CLI takes powers of two for rn_bw only; the cases with other rn_bw (a .cfg may give any) run
through the PyTorch frontend (``torch_stonne.simulated_linear_forward`` with a TPU .cfg and a tile file,
``PYTHON`` = a Python that imports torch_stonne); ``--no-frontend`` skips them.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from plumsim.stonne.io import read_counters, read_energy, read_stats  # noqa: E402

SEED = 20240611
DEFAULT_OUT = ROOT / "tests" / "data" / "stonne" / "c_tpu_probe"

# (M, N, K, mesh, dn_bw, rn_bw, T_M, T_N): chosen to hit each regime at least once
FIXED = [
    # 4 / 8 lanes per port, remainder tiles (where the old closed form was off)
    (30, 20, 50, 8, 2, 16, 6, 5), (30, 20, 50, 8, 4, 16, 6, 5), (25, 25, 25, 8, 2, 8, 8, 8),
    (25, 25, 25, 8, 2, 8, 3, 7), (40, 24, 16, 4, 1, 16, 4, 2), (40, 24, 16, 4, 2, 16, 3, 2),
    (64, 64, 64, 16, 4, 64, 16, 16), (64, 64, 64, 16, 4, 64, 5, 11), (100, 60, 20, 16, 8, 32, 16, 12),
    (100, 60, 20, 16, 4, 32, 13, 9), (50, 45, 33, 16, 1, 256, 16, 16), (50, 45, 33, 16, 2, 256, 7, 16),
    # K = 1, 2 (drain-dominated), single row / column tiles
    (9, 11, 1, 4, 8, 16, 4, 4), (9, 11, 1, 4, 2, 16, 4, 3), (9, 11, 2, 8, 4, 64, 1, 8),
    (9, 11, 2, 8, 16, 64, 8, 1), (17, 3, 1, 16, 32, 256, 16, 3), (3, 17, 1, 16, 8, 16, 3, 16),
    # few write ports: collection-bus lines queue
    (16, 16, 8, 4, 8, 1, 4, 4), (16, 16, 8, 4, 8, 2, 4, 4), (30, 30, 10, 8, 16, 2, 8, 8),
    (30, 30, 10, 8, 16, 4, 7, 6), (33, 40, 5, 16, 32, 4, 16, 16), (33, 40, 5, 16, 32, 8, 11, 13),
    (20, 20, 3, 8, 4, 1, 8, 5), (40, 40, 60, 16, 8, 2, 16, 10),
    # large K
    (7, 9, 300, 4, 8, 4, 4, 4), (12, 12, 300, 8, 2, 8, 5, 8), (20, 18, 250, 16, 4, 16, 9, 7),
]


# (M, N, K, mesh, dn_bw, rn_bw, T_M, T_N) through the frontend: rn_bw not a power of two
FRONTEND = [
    (13, 15, 9, 8, 8, 3, 6, 7), (13, 15, 9, 8, 8, 5, 6, 7), (20, 20, 4, 8, 4, 3, 8, 8),
    (20, 20, 4, 8, 4, 6, 8, 8), (20, 20, 4, 8, 16, 7, 8, 8), (9, 10, 2, 4, 2, 3, 4, 4),
    (9, 10, 2, 4, 8, 5, 3, 4), (9, 10, 30, 4, 1, 6, 4, 3), (33, 40, 5, 16, 32, 12, 16, 16),
    (33, 40, 5, 16, 32, 24, 16, 16), (33, 40, 5, 16, 8, 5, 11, 13), (30, 17, 3, 16, 32, 3, 16, 9),
    (25, 25, 1, 8, 16, 5, 8, 8), (25, 25, 40, 8, 2, 12, 7, 8), (16, 16, 8, 4, 8, 3, 4, 4),
]

CFG_TEXT = """[MSNetwork]
type="OS_MESH"
ms_rows={s}
ms_cols={s}
ms_size={ms}
[ReduceNetwork]
type="TEMPORALRN"
accumulation_buffer_enabled=1
[SDMemory]
dn_bw={dn}
rn_bw={rn}
controller_type="TPU_OS_DENSE"
"""
TILE_TEXT = 'tile_type="CONV"\nT_R=1\nT_S=1\nT_C=1\nT_K={tn}\nT_G=1\nT_N=1\nT_X\'={tm}\nT_Y\'=1\n'
# (ms_size is written: STONNE keeps its default 64 when a mesh .cfg gives only rows and cols, and a
# 16x16 mesh then crashes)
# x [M, K] and w [N, K]: the mesh's rows are x's rows (M), its columns w's rows (N), as on the CLI
FRONTEND_CALL = ("import sys, torch, torch_stonne; torch.manual_seed({seed}); x = torch.randn({M}, {K}); "
                 "w = torch.randn({N}, {K}); y = torch_stonne.simulated_linear_forward('L', x, w, sys.argv[1], "
                 "sys.argv[2], 0.0, True); e = (y - x @ w.T).abs().max().item(); "
                 "print('FUNC_MAX_ABS_ERR', e); assert e < 1e-3 * max(1.0, (x @ w.T).abs().max().item())")


def draw_random(n: int, rng) -> list[tuple[int, ...]]:
    out = []
    while len(out) < n:
        s = int(rng.choice([4, 8, 16]))
        lanes = int(rng.choice([x for x in (1, 2, 4, 8, 16, 32) if x <= 2 * s]))
        dn = 2 * s // lanes
        rn = int(rng.choice(sorted({1, 2, 4, s // 2, s, 2 * s, s * s})))
        tm, tn = (int(v) for v in rng.integers(1, s + 1, 2))
        M, N = (int(v) for v in rng.integers(1, 4 * s + 1, 2))
        tm, tn = min(tm, M), min(tn, N)
        K = int(rng.choice([1, 2, 3, 5, 9, 17, 40, 100, 200]))
        out.append((M, N, K, s, dn, rn, tm, tn))
    return out


def argv_of(M, N, K, s, dn, rn, tm, tn) -> list[str]:
    return ["-DenseGEMM", f"-M={M}", f"-N={N}", f"-K={K}", f"-ms_rows={s}", f"-ms_cols={s}", f"-num_ms={s * s}",
            f"-dn_bw={dn}", f"-rn_bw={rn}", f"-T_M={tm}", f"-T_N={tn}", "-T_K=1", "-accumulation_buffer=1",
            "-rn_type=TEMPORALRN", "-mn_type=OS_MESH", "-mem_ctrl=TPU_OS_DENSE"]


def run_case(case_id: str, case, stonne: Path, energy_dir: Path | None, python: str | None = None,
             cfg_dir: Path | None = None) -> dict:
    """One STONNE run: the CLI, or (``python`` given) the frontend with a .cfg written to ``cfg_dir``."""
    M, N, K, s, dn, rn, tm, tn = case
    with tempfile.TemporaryDirectory(prefix="tpu_probe_") as d:
        if python is None:
            argv = argv_of(*case)
            cmd, how, extra = [str(stonne), *argv], "OUTPUT_DIR=<fresh dir> stonne " + " ".join(argv), {}
        else:
            cfg_name = f"tpu_{s}x{s}_dn{dn}_rn{rn}.cfg"
            (cfg_dir / cfg_name).write_text(CFG_TEXT.format(s=s, ms=s * s, dn=dn, rn=rn))
            tile = Path(d) / "tile.txt"
            tile.write_text(TILE_TEXT.format(tm=tm, tn=tn))
            call = FRONTEND_CALL.format(seed=0, M=M, N=N, K=K)
            cmd = [python, "-c", call, str(cfg_dir / cfg_name), str(tile)]
            how = (f"OUTPUT_DIR=<fresh dir> python -c \"{call}\" cfgs/{cfg_name} <tile file: "
                   f"tile_type=CONV, T_K={tn}, T_X'={tm}, the rest 1>")
            extra = {"cfg_file": f"cfgs/{cfg_name}", "cfg_text": CFG_TEXT.format(s=s, ms=s * s, dn=dn, rn=rn).strip().replace("\n", " | ")}
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=d, env={**os.environ, "OUTPUT_DIR": d},
                           capture_output=True, text=True, errors="replace")
        wall = time.perf_counter() - t0
        out = p.stdout + p.stderr
        passed = "Test passed correctly" in out if python is None else "FUNC_MAX_ABS_ERR" in out
        row = {"case_id": case_id, "set": "P", "family": "TPU_dense_CLI" if python is None else "TPU_dense_frontend",
               "op": "DenseGEMM",
               "controller_type": "TPU_OS_DENSE", "mn_type": "OS_MESH", "rn_type": "TEMPORALRN",
               "ms_size": s * s, "ms_rows": s, "ms_cols": s, "dn_bw": dn, "rn_bw": rn, "accumulation_buffer": 1,
               "lanes_per_port": 2 * s // dn, "M_gemm": M, "N_gemm": N, "K_gemm": K, "T_M": tm, "T_N_gemm": tn,
               "T_K_gemm": 1, **extra, "how": how, "stonne_wall_s": round(wall, 4)}
        if p.returncode != 0 or not passed:
            row["error"] = f"rc={p.returncode}: " + " | ".join(out.strip().splitlines()[-3:])
            return row
        cf = sorted(Path(d).glob("*.counters"))
        js = sorted(Path(d).glob("output_stats_*.txt"))
        if len(cf) != 1 or len(js) != 1:
            row["error"] = f"expected one output pair, found {len(cf)} .counters / {len(js)} .txt"
            return row
        cycles, counters, instances = read_counters(cf[0])
        st = read_stats(js[0])
        sd = st["SDMemoryStats"]
        hw = st["hardwareConfiguration"]
        tile = st["TileConfiguration"]
        row.update(cycles=int(st["GlobalStats"]["N_cycles"]), cycles_counters=cycles,
                   cycles_stdout=next(int(x.split(":")[1]) for x in out.splitlines()
                                      if x.startswith("Number of cycles running")),
                   func_check="passed", dataflow=sd.get("Dataflow"), tile_VN_Size=tile.get("VN_Size"),
                   tile_Num_VNs=tile.get("Num_VNs"), tile_folding_enabled=tile.get("folding_enabled"),
                   hw_ms_size=hw["MSNetwork"]["ms_size"], hw_ms_rows=hw["MSNetwork"]["ms_rows"],
                   hw_ms_cols=hw["MSNetwork"]["ms_columns"], hw_mn_type=hw["MSNetwork"]["multiplier_network_type"],
                   hw_rn_type=hw["ReduceNetwork"]["reduce_network_type"],
                   hw_acc_buf=hw["ReduceNetwork"]["accumulation_buffer_enabled"],
                   hw_controller=hw["SDMemory"]["mem_controller_type"], hw_dn_bw=hw["SDMemory"]["dn_bw"],
                   hw_rn_bw=hw["SDMemory"]["rn_bw"])
        if python is not None:
            row["func_max_abs_err"] = float(next(x.split()[1] for x in out.splitlines()
                                                 if x.startswith("FUNC_MAX_ABS_ERR")))
        for k, v in sd.items():
            if not isinstance(v, (list, dict)):
                row[f"mem_{k}"] = v
        for k, v in counters.items():
            row[f"cnt_{k}"] = int(v) if float(v).is_integer() else v
        for k, v in instances.items():
            row[f"ninst_{k}"] = v
        if energy_dir is not None:
            eo = Path(d) / "energy_out.txt"
            subprocess.run([sys.executable, str(energy_dir / "calculate_energy.py"),
                            f"-table_file={energy_dir / 'energy_model.txt'}", f"-counter_file={cf[0]}",
                            f"-out_file={eo}"], capture_output=True, text=True, cwd=d)
            if eo.is_file():
                e = read_energy(eo)
                row.update(energy_total=e.get("total"), energy_static_total=e.get("static"),
                           energy_dynamic_total=e.get("dynamic"), area_total=e.get("area"))
        checks = [row["cycles"] == row["cycles_counters"] == row["cycles_stdout"] == int(sd["Total_cycles"]),
                  (row["hw_ms_rows"], row["hw_dn_bw"], row["hw_rn_bw"]) == (s, dn, rn)]
        if not all(checks):
            row["error"] = "STONNE's outputs disagree with each other or with the request"
        return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--n", type=int, default=120, help="random cases besides the fixed ones")
    ap.add_argument("--stonne", default=os.environ.get("STONNE_BIN", "/work/scratch/stonne/stonne/stonne"))
    ap.add_argument("--python", default=os.environ.get("PYTHON", "/work/scratch/venv_torch/bin/python"),
                    help="a Python with torch_stonne, for the frontend cases")
    ap.add_argument("--no-frontend", action="store_true")
    a = ap.parse_args(argv)
    stonne = Path(a.stonne)
    if not stonne.is_file():
        print(f"STONNE binary not found: {stonne} (set STONNE_BIN)", file=sys.stderr)
        return 2
    energy_dir = stonne.parent / "energy_tables"
    energy_dir = energy_dir if (energy_dir / "calculate_energy.py").is_file() else None
    cases = FIXED + draw_random(a.n, np.random.default_rng(SEED))
    seen, uniq = set(), []
    for c in cases:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    out = Path(a.out)
    (out / "cfgs").mkdir(parents=True, exist_ok=True)
    jobs = [(f"P_tpu_{i:03d}", c, None) for i, c in enumerate(uniq, 1)]
    if not a.no_frontend:
        jobs += [(f"P_tpu_fe_{i:02d}", c, a.python) for i, c in enumerate(FRONTEND, 1)]
    rows, dropped = [], []
    for case_id, c, py in jobs:
        row = run_case(case_id, c, stonne, energy_dir, py, out / "cfgs")
        (dropped if "error" in row else rows).append(row)
        print(f"{row['case_id']} {c} -> {row.get('cycles', row.get('error'))}", flush=True)
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    cols = [k for k in cols if k != "how"] + ["how"]
    with open(out / "cases.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    if dropped:
        with open(out / "dropped_cases.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["case_id", "how", "error"], extrasaction="ignore")
            w.writeheader()
            w.writerows(dropped)
    print(f"{len(rows)} rows -> {out / 'cases.csv'} ({len(dropped)} dropped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Reference-run generator: run real STONNE on the cases of a YAML spec, write rows in the reference format.

Usage (see README.md beside this file):

    python make_runs.py run SPEC.yaml [--out DIR] [--jobs 2] [--only REGEX] [--retry-dropped]
                                      [--keep-raw DIR] [--timeout S] [--dry-run]
    python make_runs.py compare NEW_CSV REF_CSV [--ids ID ...]

Environment (never hard-coded):
    STONNE_BIN          the standalone STONNE binary (MAERI / TPU CLI cases)
    STONNE_PYTHON       a python with torch and torch_stonne (SIGMA frontend cases)
    STONNE_ENERGY_DIR   folder with calculate_energy.py and energy_model.txt
                        (default: <dir of STONNE_BIN>/energy_tables)
    STONNE_ENERGY_TABLE the energy table (default: $STONNE_ENERGY_DIR/energy_model.txt)

Needs python >= 3.9 with numpy and PyYAML (e.g. the project venv); it does not import plumsim. Every
STONNE run is a subprocess in a fresh temporary folder (OUTPUT_DIR=that folder): the CLI binary directly,
SIGMA cases through sigma_worker.py under $STONNE_PYTHON. Each run's .counters file goes through STONNE's
own calculate_energy.py with the stock table. Output folder: cases.csv, dropped_cases.csv, weights/,
cfgs/. Both CSVs are rewritten atomically (temp file + rename) after every finished case, and a second
invocation skips every case already in cases.csv or dropped_cases.csv (resumable).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# The columns of the reference cases.csv (tests/data/stonne/cases.csv), in order ...
REF_COLUMNS = [
    "case_id", "set", "family", "op", "controller_type", "mn_type", "rn_type", "dataflow", "ms_size", "ms_rows",
    "ms_cols", "dn_bw", "rn_bw", "accumulation_buffer", "N", "G", "C", "K", "R", "S", "X", "Y", "stride",
    "padding", "X_out", "Y_out", "M_gemm", "N_gemm", "K_gemm", "batch_M", "T_R", "T_S", "T_C", "T_K", "T_G",
    "T_N", "T_X_", "T_Y_", "T_M", "T_N_gemm", "T_K_gemm", "tile_VN_Size", "tile_Num_VNs", "tile_folding_enabled",
    "weight_kind", "weight_seed", "weight_dtype", "weights_file", "input_seed", "weight_nnz", "weight_numel",
    "weight_density", "str_nnz", "str_numel", "cfg_file", "cycles", "cycles_stdout", "cycles_counters",
    "func_check", "func_max_abs_err", "nnz_check", "sta_sparsity_check", "str_sparsity_check", "energy_total",
    "energy_static_total", "energy_dynamic_total", "area_total", "energy_DSNetwork_static",
    "energy_DSNetwork_dynamic", "area_DSNetwork", "energy_MSNetwork_static", "energy_MSNetwork_dynamic",
    "area_MSNetwork", "energy_ReduceNetwork_static", "energy_ReduceNetwork_dynamic", "area_ReduceNetwork",
    "energy_GlobalBuffer_static", "energy_GlobalBuffer_dynamic", "area_GlobalBuffer",
    "energy_CollectionBus_static", "energy_CollectionBus_dynamic", "area_CollectionBus", "mem_Total_cycles",
    "mem_N_SRAM_weight_reads", "mem_N_SRAM_input_reads", "mem_N_SRAM_psum_reads", "mem_N_SRAM_psum_writes",
    "mem_Dataflow", "mem_STA_sparsity", "mem_STR_sparsity", "mem_STA_vectors_at_once_avg",
    "mem_STA_vectors_at_once_max", "mem_N_reconfigurations", "cnt_ACCUMULATOR.ADD", "cnt_ACCUMULATOR.READ",
    "cnt_ACCUMULATOR.WRITE", "cnt_ADDER.ADD_2_1", "cnt_ADDER.ADD_3_1", "cnt_ADDER.CONFIGURATION",
    "cnt_CB_WIRE.READ", "cnt_CB_WIRE.WRITE", "cnt_DN_WIRE.READ", "cnt_DN_WIRE.WRITE", "cnt_FIFO.FRONT",
    "cnt_FIFO.POP", "cnt_FIFO.PUSH", "cnt_GLOBALBUFFER.READ", "cnt_GLOBALBUFFER.WRITE", "cnt_MN_WIRE.READ",
    "cnt_MN_WIRE.WRITE", "cnt_MULTIPLIER.CONFIGURATION", "cnt_MULTIPLIER.FORWARD_PSUM",
    "cnt_MULTIPLIER.MULTIPLICATION", "cnt_RN_WIRE.READ", "cnt_RN_WIRE.WRITE", "cnt_SWITCH.ROUTE_BROADCAST",
    "cnt_SWITCH.ROUTE_UNICAST", "ninst_ACCUMULATOR", "ninst_ADDER", "ninst_CB_WIRE", "ninst_DN_WIRE",
    "ninst_FIFO", "ninst_GLOBALBUFFER", "ninst_MN_WIRE", "ninst_MULTIPLIER", "ninst_RN_WIRE", "ninst_SWITCH",
    "func_ref_max_abs", "note_shape_id", "weight_rows_zero", "stonne_wall_s", "hw_ms_size", "hw_ms_rows",
    "hw_ms_cols", "hw_mn_type", "hw_rn_type", "hw_acc_buf", "hw_controller", "hw_dn_bw", "hw_rn_bw", "cfg_text",
    "how",
]
# ... and ours, appended after them (see README.md): empty where not applicable.
EXTRA_COLUMNS = ["n_gemms", "weight_nnz_padded", "weight_rows_lt3", "str_nnz_padded", "gemm_detail"]
DROPPED_COLUMNS = ["case_id", "family", "op", "status", "note", "how"]

ENERGY_GROUPS = ["DSNetwork", "MSNetwork", "ReduceNetwork", "GlobalBuffer", "CollectionBus"]
MEM_KEYS = ["Total_cycles", "N_SRAM_weight_reads", "N_SRAM_input_reads", "N_SRAM_psum_reads", "N_SRAM_psum_writes",
            "Dataflow", "STA_sparsity", "STR_sparsity", "STA_vectors_at_once_avg", "STA_vectors_at_once_max",
            "N_reconfigurations"]
MEM_ADDITIVE = {"Total_cycles", "N_SRAM_weight_reads", "N_SRAM_input_reads", "N_SRAM_psum_reads",
                "N_SRAM_psum_writes", "N_reconfigurations"}

FAMILIES = {
    "MAERI_dense_CLI": ("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK"),
    "TPU_dense_CLI": ("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN"),
    "SIGMA_sparse_frontend": ("SIGMA_SPARSE_GEMM", "LINEAR", "ASNETWORK"),
}
OPS = {"MAERI_dense_CLI": ("CONV", "FC", "DenseGEMM"), "TPU_dense_CLI": ("DenseGEMM",),
       "SIGMA_sparse_frontend": ("SparseConv", "SparseLinear")}


class CaseError(Exception):
    """A run that did not give a usable row: goes to dropped_cases.csv with ``status`` and the message."""

    def __init__(self, status: str, note: str):
        super().__init__(note)
        self.status, self.note = status, note


# ----------------------------------------------------------------------------------------------- environment

def env_paths(need_cli: bool, need_sigma: bool) -> dict[str, Path]:
    out: dict[str, Path] = {}
    b = os.environ.get("STONNE_BIN")
    if need_cli or b:
        if not b or not Path(b).is_file():
            raise SystemExit("set STONNE_BIN to the STONNE standalone binary (got %r)" % b)
        out["bin"] = Path(b).resolve()
    if need_sigma:
        p = os.environ.get("STONNE_PYTHON")
        if not p or not Path(p).is_file():
            raise SystemExit("set STONNE_PYTHON to a python that imports torch and torch_stonne (got %r)" % p)
        out["python"] = Path(p)
    e = os.environ.get("STONNE_ENERGY_DIR") or (str(out["bin"].parent / "energy_tables") if "bin" in out else "")
    if not e or not (Path(e) / "calculate_energy.py").is_file():
        raise SystemExit("set STONNE_ENERGY_DIR to the folder with calculate_energy.py (got %r)" % e)
    out["energy_script"] = Path(e).resolve() / "calculate_energy.py"
    t = os.environ.get("STONNE_ENERGY_TABLE") or str(Path(e) / "energy_model.txt")
    if not Path(t).is_file():
        raise SystemExit("energy table not found: %s (set STONNE_ENERGY_TABLE)" % t)
    out["energy_table"] = Path(t).resolve()
    return out


# ----------------------------------------------------------------------------------------------------- specs

def load_spec(path: Path) -> dict:
    import yaml

    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict) or not isinstance(spec.get("cases"), list):
        raise SystemExit(f"{path}: a spec is a mapping with a 'cases' list")
    defaults = spec.get("defaults") or {}
    cases, seen = [], set()
    for i, c in enumerate(spec["cases"]):
        if not isinstance(c, dict):
            raise SystemExit(f"{path}: case #{i + 1} is not a mapping")
        c = {**defaults, **c}
        c.setdefault("set", spec.get("set", ""))
        cid = c.get("case_id")
        if not cid or cid in seen:
            raise SystemExit(f"{path}: case #{i + 1}: missing or duplicate case_id {cid!r}")
        seen.add(cid)
        fam, op = c.get("family"), c.get("op")
        if fam not in FAMILIES:
            raise SystemExit(f"{path}: {cid}: family must be one of {sorted(FAMILIES)}, got {fam!r}")
        if op not in OPS[fam]:
            raise SystemExit(f"{path}: {cid}: op for {fam} must be one of {OPS[fam]}, got {op!r}")
        req = {"CONV": "ms_size dn_bw rn_bw accumulation_buffer N G C K R S X Y stride "
                       "T_R T_S T_C T_K T_G T_N T_X_ T_Y_",
               "FC": "ms_size dn_bw rn_bw accumulation_buffer M_gemm N_gemm K_gemm T_M T_N_gemm T_K_gemm",
               "DenseGEMM": "ms_size dn_bw rn_bw M_gemm N_gemm K_gemm T_M T_N_gemm",
               "SparseConv": "ms_size dn_bw rn_bw N G C K R S X Y stride padding weight_kind weight_seed input_seed",
               "SparseLinear": "ms_size dn_bw rn_bw C K batch_M weight_kind weight_seed input_seed"}[op].split()
        if fam == "TPU_dense_CLI":
            req += ["ms_rows", "ms_cols"]
            if c.get("ms_rows") and c.get("ms_cols"):
                c.setdefault("ms_size", int(c["ms_rows"]) * int(c["ms_cols"]))
        elif op == "DenseGEMM":
            req += ["accumulation_buffer", "T_K_gemm"]
        missing = [k for k in req if c.get(k) is None]
        if missing:
            raise SystemExit(f"{path}: {cid}: missing keys {missing}")
        cases.append(c)
    return {"cases": cases, "out": spec.get("out"), "set": spec.get("set", "")}


# -------------------------------------------------------------------------------------- weights and inputs

def make_weight(kind: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The reference README's rules (numpy default_rng, PCG64). Returns int8, or float32 for random_sparse_*."""
    w = np.random.default_rng(seed).standard_normal(shape)
    K = shape[0]
    flat = w.reshape(K, -1)
    if kind == "signed_binary":
        out = np.zeros(flat.shape, np.int8)
        for o in range(K):
            d = 0.05 * np.abs(flat[o]).max()
            out[o] = (flat[o] >= d) if o < K // 2 else -(flat[o] <= -d).astype(np.int8)
        return out.reshape(shape)
    m = re.fullmatch(r"signed_binary_d([0-9.]+)", kind)
    if m:
        dd, L = float(m.group(1)), flat.shape[1]
        k = max(1, round(dd * L))
        out = np.zeros(flat.shape, np.int8)
        for o in range(K):
            order = np.argsort(flat[o], kind="stable")
            if o < K // 2:
                out[o, order[L - k:]] = 1
            else:
                out[o, order[:k]] = -1
        return out.reshape(shape)
    if kind == "binary":
        return np.where(w >= 0, 1, -1).astype(np.int8)
    if kind == "ternary":
        d = 0.7 * np.abs(w).mean()
        return (np.where(w > d, 1, 0) - np.where(w < -d, 1, 0)).astype(np.int8)
    m = re.fullmatch(r"random_sparse_([0-9.]+)", kind)
    if m:
        out = w.astype(np.float32).reshape(-1)
        n0 = round(float(m.group(1)) * out.size)
        idx = np.random.default_rng(seed + 1000003).choice(out.size, size=n0, replace=False)
        out[idx] = 0
        return out.reshape(shape)
    raise CaseError("invalid", f"unknown weight_kind {kind!r}")


def im2col(x: np.ndarray, R: int, S: int, stride: int, padding: int) -> np.ndarray:
    """[C, X, Y] -> [C*R*S, X_out*Y_out], rows ordered c*R*S + r*S + s (as torch's unfold)."""
    C, X, Y = x.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    Xo, Yo = (X + 2 * padding - R) // stride + 1, (Y + 2 * padding - S) // stride + 1
    cols = np.empty((C, R, S, Xo, Yo), x.dtype)
    for r in range(R):
        for s in range(S):
            cols[:, r, s] = xp[:, r:r + stride * (Xo - 1) + 1:stride, s:s + stride * (Yo - 1) + 1:stride]
    return cols.reshape(C * R * S, Xo * Yo)


def padded_nnz(counts: np.ndarray, length: int) -> np.ndarray:
    """STONNE's generateBitMapFromDense: a row/column with fewer than 3 non-zeros is padded up to 3."""
    return np.maximum(counts, min(3, length))


# ---------------------------------------------------------------------------------------- STONNE's outputs

def read_counters(path: Path) -> tuple[int, dict[str, int], dict[str, int]]:
    """A .counters file -> (cycles, {"COMP.ACTION": sum over instances}, {"COMP": instances}).

    The same parse as plumsim.stonne.io.read_counters, kept here on purpose: this generator makes
    the reference data the simulator is checked against, so it must not import plumsim (a bug there
    must not be able to leak into the references it is tested on). Differences: counts stay ints where
    they are whole, and a file without CYCLES= is a CaseError (the case is dropped) instead of a DataError.
    """
    cycles, cnt, inst = None, {}, {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("["):
            continue
        if line.startswith("CYCLES="):
            cycles = int(line.split("=", 1)[1])
            continue
        parts = line.split()
        inst[parts[0]] = inst.get(parts[0], 0) + 1
        for kv in parts[1:]:
            a, v = kv.split("=", 1)
            key = f"{parts[0]}.{a}"
            fv = float(v)
            cnt[key] = cnt.get(key, 0) + (int(fv) if fv == int(fv) else fv)
    if cycles is None:
        raise CaseError("abort", f"{path.name}: no CYCLES= line")
    return cycles, cnt, inst


def read_energy(path: Path) -> dict[str, str]:
    """calculate_energy.py's out_file -> {column: value as printed (text)}."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"(\w+): STATIC=(\S+) AREA=(\S+) DYNAMIC=(\S+)\s*$", line)
        if m and m.group(1) in ENERGY_GROUPS:
            g = m.group(1)
            out[f"energy_{g}_static"], out[f"area_{g}"], out[f"energy_{g}_dynamic"] = m.group(2, 3, 4)
        for lab, col in (("Total STATIC Energy", "energy_static_total"), ("Total DYNAMIC Energy",
                         "energy_dynamic_total"), ("Total Area", "area_total"), ("Total Energy", "energy_total")):
            m = re.match(re.escape(lab) + r":\s*(\S+)\s*$", line)
            if m:
                out[col] = m.group(1)
    need = ["energy_total", "energy_static_total", "energy_dynamic_total", "area_total"]
    if any(k not in out for k in need):
        raise CaseError("abort", f"energy output {path.name} lacks totals")
    return out


def run_energy(env: dict, counters: Path, out_file: Path) -> dict[str, str]:
    p = subprocess.run([sys.executable, str(env["energy_script"]), f"-table_file={env['energy_table']}",
                        f"-counter_file={counters}", f"-out_file={out_file}"], capture_output=True, text=True,
                       cwd=out_file.parent)
    if p.returncode != 0 or not out_file.is_file():
        raise CaseError("abort", f"calculate_energy.py failed: {(p.stderr or p.stdout).strip()[-300:]}")
    return read_energy(out_file)


def collect_outputs(tmp: Path, env: dict, layer: str | None = None) -> list[dict]:
    """Every (.txt JSON, .counters) pair STONNE wrote in ``tmp`` (one per simulated GEMM/layer), with energy."""
    txts = sorted(tmp.glob("output_stats_layer_*.txt"))
    res = []
    for t in txts:
        stem = re.sub(r"timestamp_\d+\.txt$", "", t.name)
        cs = sorted(tmp.glob(glob.escape(stem) + "timestamp_*.counters"))
        if len(cs) != 1:
            raise CaseError("abort", f"expected one .counters file for {t.name}, found {len(cs)}")
        try:
            js = json.loads(t.read_text())
        except json.JSONDecodeError as exc:
            raise CaseError("abort", f"{t.name} is not valid JSON: {exc}") from None
        cyc_c, cnt, inst = read_counters(cs[0])
        en = run_energy(env, cs[0], tmp / (stem + "energy_out.txt"))
        m = re.match(r"output_stats_layer_(.*)_architecture_", t.name)
        res.append({"name": m.group(1) if m else t.name, "json": js, "cycles_counters": cyc_c, "cnt": cnt,
                    "inst": inst, "energy": en})
    if not res:
        raise CaseError("abort", "STONNE wrote no output_stats_*.txt")
    return res


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def merge_outputs(outs: list[dict], row: dict) -> None:
    """Fill cycles/mem_/cnt_/ninst_/energy_/hw_ columns from one or several (summed) STONNE outputs."""
    first = outs[0]["json"]
    hw = first["hardwareConfiguration"]
    row.update({"hw_ms_size": hw["MSNetwork"]["ms_size"], "hw_ms_rows": hw["MSNetwork"]["ms_rows"],
                "hw_ms_cols": hw["MSNetwork"]["ms_columns"], "hw_mn_type": hw["MSNetwork"]["multiplier_network_type"],
                "hw_rn_type": hw["ReduceNetwork"]["reduce_network_type"],
                "hw_acc_buf": hw["ReduceNetwork"]["accumulation_buffer_enabled"],
                "hw_controller": hw["SDMemory"]["mem_controller_type"], "hw_dn_bw": hw["SDMemory"]["dn_bw"],
                "hw_rn_bw": hw["SDMemory"]["rn_bw"]})
    for o in outs[1:]:
        if o["json"]["hardwareConfiguration"] != hw:
            raise CaseError("abort", "hardwareConfiguration differs between the GEMMs of one case")
        if o["inst"] != outs[0]["inst"]:
            raise CaseError("abort", "component instances differ between the GEMMs of one case")
    tile = first.get("TileConfiguration")
    if tile:
        row["tile_VN_Size"], row["tile_Num_VNs"] = tile["VN_Size"], tile["Num_VNs"]
        row["tile_folding_enabled"] = tile["folding_enabled"]
    row["cycles"] = sum(o["json"]["GlobalStats"]["N_cycles"] for o in outs)
    row["cycles_counters"] = sum(o["cycles_counters"] for o in outs)
    mems = [o["json"]["SDMemoryStats"] for o in outs]
    for k in MEM_KEYS:
        vals = [m[k] for m in mems]
        if k in MEM_ADDITIVE:
            row["mem_" + k] = sum(vals)
        elif k == "STA_vectors_at_once_max":
            row["mem_" + k] = max(vals)
        else:
            row["mem_" + k] = vals[0] if all(v == vals[0] for v in vals) else None
    keys = sorted(set().union(*(o["cnt"] for o in outs)))
    for k in keys:
        row["cnt_" + k] = sum(o["cnt"].get(k, 0) for o in outs)
    for k, v in outs[0]["inst"].items():
        row["ninst_" + k] = v
    if len(outs) == 1:
        row.update(outs[0]["energy"])
    else:  # energies add up over the GEMMs; the hardware (area) is the same one
        for k in outs[0]["energy"]:
            if k.startswith("area"):
                if any(o["energy"][k] != outs[0]["energy"][k] for o in outs):
                    raise CaseError("abort", f"{k} differs between GEMMs")
                row[k] = outs[0]["energy"][k]
            else:
                row[k] = repr(math.fsum(float(o["energy"][k]) for o in outs))
    if len(outs) > 1:
        row["gemm_detail"] = json.dumps([{"name": o["name"], "cycles": o["json"]["GlobalStats"]["N_cycles"],
                                          **{k: o["json"]["SDMemoryStats"][k] for k in MEM_KEYS if k != "Dataflow"}}
                                         for o in outs], separators=(",", ":"))


# ------------------------------------------------------------------------------------------------ CLI cases

def cli_args(c: dict) -> list[str]:
    op, fam = c["op"], c["family"]
    if op == "CONV":
        a = ["-CONV"] + [f"-{k}={c[k]}" for k in "R S C G K N X Y".split()] + [f"-strides={c['stride']}"]
        a += [f"-{k}={c[k]}" for k in "T_R T_S T_C T_G T_K T_N T_X_ T_Y_".split()]
        a += [f"-num_ms={c['ms_size']}", f"-dn_bw={c['dn_bw']}", f"-rn_bw={c['rn_bw']}",
              f"-accumulation_buffer={c['accumulation_buffer']}"]
        return a
    a = [f"-{op}", f"-M={c['M_gemm']}", f"-N={c['N_gemm']}", f"-K={c['K_gemm']}"]
    if fam == "TPU_dense_CLI":
        a += [f"-ms_rows={c['ms_rows']}", f"-ms_cols={c['ms_cols']}", f"-num_ms={c['ms_rows'] * c['ms_cols']}",
              f"-dn_bw={c['dn_bw']}", f"-rn_bw={c['rn_bw']}", f"-T_M={c['T_M']}", f"-T_N={c['T_N_gemm']}", "-T_K=1",
              "-accumulation_buffer=1", "-rn_type=TEMPORALRN", "-mn_type=OS_MESH", "-mem_ctrl=TPU_OS_DENSE"]
    else:
        a += [f"-num_ms={c['ms_size']}", f"-dn_bw={c['dn_bw']}", f"-rn_bw={c['rn_bw']}", f"-T_M={c['T_M']}",
              f"-T_N={c['T_N_gemm']}", f"-T_K={c['T_K_gemm']}", f"-accumulation_buffer={c['accumulation_buffer']}"]
    return a


def abort_reason(stdout: str, stderr: str, rc: int) -> str:
    m = re.search(r"ERROR position[^\n]*", stdout)
    if m:
        return f"STONNE functional check failed (first mismatch: {m.group(0).strip()}); run aborted by assert"
    m = re.search(r"[^\n]*Assertion[^\n]*", stderr + "\n" + stdout)
    if m:
        return "aborted: " + re.sub(r"^.*?stonne: ", "", m.group(0).strip())
    tail = (stderr.strip() or stdout.strip())[-300:].replace("\n", " | ")
    return f"exit status {rc}: {tail}"


def run_cli(c: dict, env: dict, tmp: Path, timeout: float) -> dict:
    args = cli_args(c)
    row = {"how": "OUTPUT_DIR=<fresh dir> stonne " + " ".join(args)}
    t0 = time.perf_counter()
    try:
        p = subprocess.run([str(env["bin"])] + args, cwd=tmp, env={**os.environ, "OUTPUT_DIR": str(tmp)},
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CaseError("timeout", f"STONNE ran past {timeout:.0f} s") from None
    wall = time.perf_counter() - t0
    (tmp / "stdout.txt").write_text(p.stdout)
    (tmp / "stderr.txt").write_text(p.stderr)
    if p.returncode != 0:
        raise CaseError("abort", abort_reason(p.stdout, p.stderr, p.returncode))
    if "Test passed correctly" not in p.stdout:
        raise CaseError("abort", "STONNE finished without 'Test passed correctly'")
    m = re.findall(r"Number of cycles running: (\d+)", p.stdout)
    outs = collect_outputs(tmp, env)
    if len(outs) != 1 or len(m) != 1:
        raise CaseError("abort", f"expected one simulated layer, got {len(outs)} outputs / {len(m)} cycle lines")
    row["cycles_stdout"] = int(m[0])
    row["func_check"] = "passed"
    row["stonne_wall_s"] = round(wall, 4)
    merge_outputs(outs, row)
    return row


# ---------------------------------------------------------------------------------------------- SIGMA cases

def cfg_text(c: dict) -> str:
    return (f"[MSNetwork]\nms_size={c['ms_size']}\ntype=\"LINEAR\"\n[ReduceNetwork]\ntype=\"ASNETWORK\"\n"
            f"[SDMemory]\ndn_bw={c['dn_bw']}\nrn_bw={c['rn_bw']}\ncontroller_type=\"SIGMA_SPARSE_GEMM\"\n")


def sigma_prepare(c: dict, out: Path) -> dict:
    """Weights, input and cfg of a SIGMA case (written under out/), and the columns we compute from them."""
    cid, op = c["case_id"], c["op"]
    N, G = int(c.get("N", 1)), int(c.get("G", 1))
    C, K = int(c["C"]), int(c["K"])
    if op == "SparseConv":
        R, S = int(c["R"]), int(c["S"])
        if C % G or K % G:
            raise CaseError("invalid", f"C={C} and K={K} must be multiples of G={G}")
        wshape, xshape = (K, C // G, R, S), (N, C, int(c["X"]), int(c["Y"]))
    else:
        R = S = 1
        N = G = 1
        wshape, xshape = (K, C, 1, 1), (int(c["batch_M"]), C)
    w = make_weight(c["weight_kind"], wshape, int(c["weight_seed"]))
    x = np.random.default_rng(int(c["input_seed"])).standard_normal(xshape).astype(np.float32)
    wf = out / "weights" / f"{cid}.npz"
    cfgname = f"sigma_ms{c['ms_size']}_dn{c['dn_bw']}_rn{c['rn_bw']}.cfg"
    cfgf = out / "cfgs" / cfgname
    wf.parent.mkdir(parents=True, exist_ok=True)
    cfgf.parent.mkdir(parents=True, exist_ok=True)
    np.savez(wf, weight=w, input=x)
    txt = cfg_text(c)
    if not cfgf.is_file() or cfgf.read_text() != txt:
        tmpf = cfgf.with_suffix(".cfg.tmp%d" % threading.get_ident())
        tmpf.write_text(txt)
        os.replace(tmpf, cfgf)
    W = w.reshape(K, -1)
    nz_rows = (W != 0).sum(axis=1)
    row: dict = {"weight_dtype": str(w.dtype), "weights_file": f"weights/{cid}.npz", "weight_nnz": int(nz_rows.sum()),
                 "weight_numel": int(w.size), "weight_density": round(float(nz_rows.sum()) / w.size, 6),
                 "cfg_file": f"cfgs/{cfgname}", "cfg_text": txt.strip("\n").replace("\n", " | "),
                 "weight_rows_zero": int((nz_rows == 0).sum()), "n_gemms": N * G,
                 "weight_rows_lt3": int((nz_rows < 3).sum())}
    Lk = W.shape[1]
    row["weight_nnz_padded"] = int(padded_nnz(nz_rows, Lk).sum())
    Kg = K // G
    # per-GEMM expectations: (stationary nnz, padded, size; streamed nnz, padded, size)
    gemms = []
    if op == "SparseConv":
        s, p = int(c["stride"]), int(c["padding"])
        Xo, Yo = (int(c["X"]) + 2 * p - R) // s + 1, (int(c["Y"]) + 2 * p - S) // s + 1
        row.update({"X_out": Xo, "Y_out": Yo, "M_gemm": Kg, "N_gemm": Xo * Yo, "K_gemm": (C // G) * R * S})
        # The frontend (stonne_linker.cpp, simulateSparseGemmForward) does not move its input pointer with
        # the batch index: every batch item's GEMM streams batch item 0's im2col matrix.
        cols = im2col(x[0], R, S, s, p)
        rows_per_g = (C // G) * R * S
        str_nnz = str_pad = str_numel = 0
        for n in range(N):
            for g in range(G):
                sub = cols[g * rows_per_g:(g + 1) * rows_per_g]
                cn = (sub != 0).sum(axis=0)
                wn = nz_rows[g * Kg:(g + 1) * Kg]
                gemms.append((int(padded_nnz(wn, Lk).sum()), Kg * Lk, int(padded_nnz(cn, rows_per_g).sum()), sub.size))
                str_nnz += int(cn.sum())
                str_pad += int(padded_nnz(cn, rows_per_g).sum())
                str_numel += sub.size
        row.update({"str_nnz": str_nnz, "str_numel": str_numel, "str_nnz_padded": str_pad})
        how = (f"OUTPUT_DIR=<fresh dir>; d=np.load('weights/{cid}.npz'); w=torch.from_numpy(d['weight']"
               f".astype(np.float32)); x=torch.from_numpy(d['input'].astype(np.float32)); "
               f"torch_stonne.simulated_conv_forward('{cid}', x, w, [{s},{s}], [{p},{p}], [1,1], {G}, "
               f"'cfgs/{cfgname}', '', 0.0)")
        row["dataflow"] = "MK_STA_KN_STR"
    else:
        M = int(c["batch_M"])
        row.update({"M_gemm": M, "N_gemm": K, "K_gemm": C, "batch_M": M, "R": 1, "S": 1, "N": 1, "G": 1})
        rn = (x != 0).sum(axis=1)
        gemms.append((row["weight_nnz_padded"], K * C, int(padded_nnz(rn, C).sum()), x.size))
        row.update({"str_nnz": int(rn.sum()), "str_numel": int(x.size), "str_nnz_padded": int(padded_nnz(rn, C).sum())})
        how = (f"OUTPUT_DIR=<fresh dir>; d=np.load('weights/{cid}.npz'); w=torch.from_numpy(d['weight']"
               f".astype(np.float32)).reshape({K},{C}); x=torch.from_numpy(d['input'].astype(np.float32)); "
               f"torch_stonne.simulated_linear_forward('{cid}', x, w, 'cfgs/{cfgname}', '', 0.0, True)")
        row["dataflow"] = "MK_STR_KN_STA"
    row["how"] = how
    return {"row": row, "gemms": gemms, "wf": wf, "cfgf": cfgf}


def run_sigma(c: dict, env: dict, tmp: Path, timeout: float, out: Path) -> dict:
    prep = sigma_prepare(c, out)
    row = prep["row"]
    job = {"case_id": c["case_id"], "op": c["op"], "weights_npz": str(prep["wf"]), "cfg": str(prep["cfgf"]),
           "stride": c.get("stride", 1), "padding": c.get("padding", 0), "groups": c.get("G", 1),
           "result": str(tmp / "worker_result.json")}
    (tmp / "job.json").write_text(json.dumps(job))
    try:
        p = subprocess.run([str(env["python"]), str(HERE / "sigma_worker.py"), str(tmp / "job.json")], cwd=tmp,
                           env={**os.environ, "OUTPUT_DIR": str(tmp)}, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CaseError("timeout", f"STONNE ran past {timeout:.0f} s") from None
    (tmp / "stdout.txt").write_text(p.stdout)
    (tmp / "stderr.txt").write_text(p.stderr)
    if p.returncode != 0 or not (tmp / "worker_result.json").is_file():
        raise CaseError("abort", abort_reason(p.stdout, p.stderr, p.returncode))
    res = json.loads((tmp / "worker_result.json").read_text())
    outs = collect_outputs(tmp, env)
    gemms = prep["gemms"]
    if len(outs) != len(gemms):
        raise CaseError("abort", f"expected {len(gemms)} STONNE outputs (N*G), found {len(outs)}")
    if c["op"] == "SparseConv":  # order the outputs as the frontend ran them: batch-major, then group
        def key(o):
            m = re.search(r"_batch_(\d+)_group_(\d+)$", o["name"])
            return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        outs.sort(key=key)
    cyc = [int(x) for x in re.findall(r"Number of cycles running: (\d+)", p.stdout)]
    row["cycles_stdout"] = sum(cyc)
    if len(cyc) != len(outs):
        raise CaseError("abort", f"{len(cyc)} 'Number of cycles running' lines for {len(outs)} outputs")
    merge_outputs(outs, row)
    # checks of the operands STONNE saw against what we computed
    sta_ok = str_ok = True
    for o, (wpad, wsize, spad, ssize) in zip(outs, gemms):
        m = o["json"]["SDMemoryStats"]
        sta_ok &= m["STA_sparsity"] == (100 * (wsize - wpad)) // wsize
        str_ok &= m["STR_sparsity"] == (100 * (ssize - spad)) // ssize
    row["sta_sparsity_check"] = "ok" if sta_ok else "mismatch"
    row["str_sparsity_check"] = "ok" if str_ok else "mismatch"
    reads = row["mem_N_SRAM_weight_reads"]
    # stationary reads: every GEMM reads its own group's weights; N batch items read them N times
    n_batch = int(c.get("N", 1)) if c["op"] == "SparseConv" else 1
    want, want_pad = row["weight_nnz"] * n_batch, row["weight_nnz_padded"] * n_batch
    row["nnz_check"] = "ok" if reads == want else ("ok_padded" if reads == want_pad else f"mismatch({reads}!={want})")
    # functional check (float64 PyTorch reference), threshold 1e-3*max(1, max|ref|)
    thr = 1e-3 * max(1.0, res["func_ref_max_abs"])
    per = res["func_err_per_batch"]
    row["func_max_abs_err"] = repr(res["func_max_abs_err"])
    row["func_ref_max_abs"] = repr(res["func_ref_max_abs"])
    if all(e <= thr for e in per):
        row["func_check"] = "passed"
    elif per[0] <= thr and len(per) > 1:
        # known frontend defect (see sigma_prepare): outputs of batch items > 0 are never written
        row["func_check"] = "passed_batch0_only"
        row["func_max_abs_err"] = repr(per[0])
    else:
        row["func_check"] = "failed"
    row["stonne_wall_s"] = round(res["wall_s"], 4)
    return row


# ---------------------------------------------------------------------------------------------------- driver

def base_row(c: dict) -> dict:
    fam, op = c["family"], c["op"]
    ctrl, mn, rn = FAMILIES[fam]
    row = {"case_id": c["case_id"], "set": c.get("set", ""), "family": fam, "op": op, "controller_type": ctrl,
           "mn_type": mn, "rn_type": rn, "dataflow": "CNN_DATAFLOW", "ms_size": c.get("ms_size"),
           "dn_bw": c["dn_bw"], "rn_bw": c["rn_bw"], "note_shape_id": c.get("note_shape_id")}
    if fam == "TPU_dense_CLI":
        row.update({"ms_rows": c["ms_rows"], "ms_cols": c["ms_cols"], "ms_size": c["ms_rows"] * c["ms_cols"],
                    "accumulation_buffer": 1, "T_K_gemm": 1})
    elif fam == "SIGMA_sparse_frontend":
        row["accumulation_buffer"] = 0
        row.update({k: c.get(k) for k in ("weight_kind", "weight_seed", "input_seed")})
    else:
        row["accumulation_buffer"] = c["accumulation_buffer"]
    if op in ("CONV", "SparseConv"):
        for k in "N G C K R S X Y stride".split():
            row[k] = c[k]
        row["padding"] = c.get("padding", 0) if op == "SparseConv" else 0
        if op == "CONV":
            row["X_out"] = (c["X"] - c["R"] + c["stride"]) // c["stride"]
            row["Y_out"] = (c["Y"] - c["S"] + c["stride"]) // c["stride"]
            for k in "T_R T_S T_C T_K T_G T_N T_X_ T_Y_".split():
                row[k] = c[k]
    elif op == "SparseLinear":
        row.update({"C": c["C"], "K": c["K"]})
    else:
        for k in ("M_gemm", "N_gemm", "K_gemm", "T_M", "T_N_gemm"):
            row[k] = c[k]
        if fam != "TPU_dense_CLI":
            row["T_K_gemm"] = c["T_K_gemm"]
    return row


def check_hw(row: dict) -> None:
    want = {"hw_ms_size": row["ms_size"], "hw_dn_bw": row["dn_bw"], "hw_rn_bw": row["rn_bw"],
            "hw_acc_buf": row["accumulation_buffer"], "hw_controller": row["controller_type"],
            "hw_mn_type": row["mn_type"], "hw_rn_type": row["rn_type"]}
    if row["family"] == "TPU_dense_CLI":
        want.update({"hw_ms_rows": row["ms_rows"], "hw_ms_cols": row["ms_cols"]})
    bad = {k: (v, row.get(k)) for k, v in want.items() if str(v) != str(row.get(k))}
    if bad:
        raise CaseError("abort", f"STONNE echoed a different hardware configuration: {bad}")
    for a, b in (("cycles", "cycles_stdout"), ("cycles", "cycles_counters"), ("cycles", "mem_Total_cycles")):
        if row[a] != row[b]:
            raise CaseError("abort", f"{a}={row[a]} != {b}={row[b]}")


def run_case(c: dict, env: dict, out: Path, timeout: float, keep_raw: Path | None) -> dict:
    row = base_row(c)
    tmp = Path(tempfile.mkdtemp(prefix=f"stonne_{c['case_id']}_"))
    try:
        try:
            if c["family"] == "SIGMA_sparse_frontend":
                row.update(run_sigma(c, env, tmp, timeout, out))
            else:
                row.update(run_cli(c, env, tmp, timeout))
            check_hw(row)
        except CaseError as e:
            if "how" not in row:
                row["how"] = ("OUTPUT_DIR=<fresh dir> stonne " + " ".join(cli_args(c))
                              if c["family"] != "SIGMA_sparse_frontend" else "")
            return {"dropped": {"case_id": c["case_id"], "family": c["family"], "op": c["op"], "status": e.status,
                                "note": e.note, "how": row.get("how", "")}}
        return {"row": row}
    finally:
        if keep_raw is not None:
            dst = keep_raw / c["case_id"]
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(tmp, dst)
        shutil.rmtree(tmp, ignore_errors=True)


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def write_csv_atomic(path: Path, columns: list[str], rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="raise", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r.get(k)) for k in columns})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cmd_run(a) -> int:
    spec_path = Path(a.spec).resolve()
    spec = load_spec(spec_path)
    out = Path(a.out) if a.out else (REPO / spec["out"] if spec["out"] else None)
    if out is None:
        raise SystemExit("no output folder: give --out or 'out:' in the spec")
    out = out.resolve()
    cases = [c for c in spec["cases"] if not a.only or re.search(a.only, c["case_id"])]
    fams = {c["family"] for c in cases}
    env = env_paths(need_cli=bool(fams - {"SIGMA_sparse_frontend"}), need_sigma="SIGMA_sparse_frontend" in fams)
    out.mkdir(parents=True, exist_ok=True)
    cols_old, rows_old = read_csv(out / "cases.csv")
    _, dropped_old = read_csv(out / "dropped_cases.csv")
    done = {r["case_id"] for r in rows_old}
    dropped_ids = {r["case_id"] for r in dropped_old}
    if a.retry_dropped:
        dropped_old = [r for r in dropped_old if r["case_id"] not in {c["case_id"] for c in cases}]
        dropped_ids = {r["case_id"] for r in dropped_old}
    todo = [c for c in cases if c["case_id"] not in done and c["case_id"] not in dropped_ids]
    print(f"{spec_path.name}: {len(cases)} cases selected, {len(cases) - len(todo)} already done/dropped, "
          f"{len(todo)} to run -> {out}", flush=True)
    if a.dry_run:
        for c in todo:
            print(c["case_id"], c["family"], c["op"])
        return 0
    order = {c["case_id"]: i for i, c in enumerate(spec["cases"])}
    results: dict[str, dict] = {r["case_id"]: r for r in rows_old}
    dropped: dict[str, dict] = {r["case_id"]: r for r in dropped_old}
    extra_cnt: list[str] = [k for k in cols_old if k not in REF_COLUMNS + EXTRA_COLUMNS]
    keep_raw = Path(a.keep_raw).resolve() if a.keep_raw else None
    if keep_raw:
        keep_raw.mkdir(parents=True, exist_ok=True)

    def flush() -> None:
        cols = REF_COLUMNS + EXTRA_COLUMNS + extra_cnt
        srt = lambda d: sorted(d.values(), key=lambda r: (order.get(r["case_id"], 1 << 30), r["case_id"]))
        write_csv_atomic(out / "cases.csv", cols, srt(results))
        write_csv_atomic(out / "dropped_cases.csv", DROPPED_COLUMNS, srt(dropped))

    t_all = time.perf_counter()
    n = 0
    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        futs = {ex.submit(run_case, c, env, out, a.timeout, keep_raw): c for c in todo}
        for fut in as_completed(futs):
            c = futs[fut]
            n += 1
            try:
                r = fut.result()
            except Exception as exc:  # a bug of ours, not STONNE's: record it and go on
                r = {"dropped": {"case_id": c["case_id"], "family": c["family"], "op": c["op"], "status": "error",
                                 "note": f"{type(exc).__name__}: {exc}", "how": ""}}
            if "row" in r:
                row = r["row"]
                for k in row:
                    if k not in REF_COLUMNS + EXTRA_COLUMNS and k not in extra_cnt:
                        extra_cnt.append(k)
                        print(f"  note: new column {k} (not in the reference format)", flush=True)
                results[c["case_id"]] = row
                msg = f"cycles={row['cycles']} wall={row['stonne_wall_s']}s"
            else:
                dropped[c["case_id"]] = r["dropped"]
                msg = f"DROPPED ({r['dropped']['status']}): {r['dropped']['note'][:150]}"
            flush()
            print(f"[{n}/{len(todo)}] {c['case_id']}: {msg}", flush=True)
    flush()
    print(f"done in {time.perf_counter() - t_all:.1f} s: {len(results)} rows, {len(dropped)} dropped", flush=True)
    return 0


# --------------------------------------------------------------------------------------------------- compare

def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def cmd_compare(a) -> int:
    _, new = read_csv(Path(a.new))
    _, ref = read_csv(Path(a.ref))
    refd = {r["case_id"]: r for r in ref}
    ids = a.ids or [r["case_id"] for r in new if r["case_id"] in refd]
    newd = {r["case_id"]: r for r in new}
    skip = {"stonne_wall_s"} | set(EXTRA_COLUMNS)
    bad = 0
    for cid in ids:
        if cid not in newd or cid not in refd:
            print(f"{cid}: missing in {'new' if cid not in newd else 'reference'}")
            bad += 1
            continue
        n, r = newd[cid], refd[cid]
        cols = [k for k in r if k not in skip]
        diff = [(k, r[k], n.get(k, "<absent>")) for k in cols if not _same(r[k], n.get(k, ""))]
        checked = sum(1 for k in cols if k.startswith(("cnt_", "ninst_", "energy_", "area_", "mem_")) or k == "cycles")
        if diff:
            bad += 1
            print(f"{cid}: {len(diff)} of {len(cols)} columns differ: " +
                  "; ".join(f"{k}: ref={x!r} new={y!r}" for k, x, y in diff[:12]))
        else:
            print(f"{cid}: identical in all {len(cols)} columns ({checked} cycle/counter/energy/mem columns; "
                  f"wall {r['stonne_wall_s']} s -> {n['stonne_wall_s']} s)")
    print(f"{len(ids) - bad} of {len(ids)} rows identical")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the cases of a spec")
    r.add_argument("spec")
    r.add_argument("--out", help="output folder (default: the spec's 'out', relative to the repository root)")
    r.add_argument("--jobs", type=int, default=2, help="STONNE processes at a time (default 2)")
    r.add_argument("--only", help="regular expression on case_id")
    r.add_argument("--retry-dropped", action="store_true", help="run again the selected cases that were dropped")
    r.add_argument("--keep-raw", metavar="DIR", help="keep each run's STONNE files in DIR/<case_id>/")
    r.add_argument("--timeout", type=float, default=900.0, help="seconds per STONNE run (default 900)")
    r.add_argument("--dry-run", action="store_true")
    c = sub.add_parser("compare", help="compare rows of a generated CSV with a reference CSV")
    c.add_argument("new")
    c.add_argument("ref")
    c.add_argument("--ids", nargs="*")
    a = ap.parse_args(argv)
    return cmd_run(a) if a.cmd == "run" else cmd_compare(a)


if __name__ == "__main__":
    sys.exit(main())

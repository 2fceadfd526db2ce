"""Speed of the accelerator models (issue 3), against STONNE's recorded wall times where that is fair.

(a) Every conv layer of ResNet-18/ImageNet (signed-binary, synthetic weights, seed 0) on the
    256-multiplier SIGMA and MAERI presets: model seconds per layer (median of REPEATS calls). MAERI is
    timed with the tile chooser (``simulate_layer``, tile=None) and without it (``maeri_conv`` on the
    tile chosen beforehand). STONNE was never run on these layers: no ratio is claimed for them.
(b) The 72 reference cases (tests/data/stonne/cases.csv), the only apples-to-apples comparison: same
    shapes, machines, tiles and weights as the STONNE runs whose wall time is ``stonne_wall_s``.
    ``model_s``: the model call with the case's inputs in memory (config built, weights/input loaded);
    ``model_io_s``: what ``plumsim stonne validate`` times per case (``_run_case``: reads the .cfg and
    the weights .npz from disk, then the model); ``model_tile_cached_s``: the model call when the case's
    tile was seen before (MAERI's per-tile structure kept, every other cache emptied: what a sweep or
    the tile search pays). Ratio = stonne_wall_s / seconds, per case; median and min per family.

Writes results/benchmarks/bench_accel.json (machine, settings, summaries, every timing) and
results/benchmarks/bench_accel_{layers,cases}.csv, and prints tables. All times in seconds (wall,
time.perf_counter), one process, one thread.
Run: .venv/bin/python benchmarks/bench_accel.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from plumsim.accel import maeri, maeri_timing, tiling
from plumsim.accel.cfg import load_config
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.lru import clear_caches
from plumsim.accel.sigma import im2col_nnz, sigma_gemm
from plumsim.accel.simulate import simulate_layer
from plumsim.accel.tpu import tpu_gemm
from plumsim.stonne.validate import _run_case, model_family
from plumsim.workload.layer import LayerShape
from plumsim.workload.synth import synth

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "tests" / "data" / "stonne"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__, "platform": platform.platform()}


def timed(fn, repeats: int, keep: tuple = ()) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn`` (one warm-up call first: imports, allocators),
    each with the models' caches emptied first (untimed): the cost of a case seen for the first time.
    ``keep``: caches left filled (see :data:`TILE_STRUCTURE`)."""
    fn()
    ts = []
    for _ in range(repeats):
        clear_caches(keep)
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


#: the per-tile structure MAERI remembers across layers (read-port loads and send order; VN layouts and
#: paths): kept for ``model_tile_cached_s``, the cost of a case whose tile was seen before (a sweep, the
#: tile search), every per-layer cache still emptied
TILE_STRUCTURE = (maeri_timing._LOADS, maeri_timing._LAYOUTS)


def bench_layers(repeats: int) -> pd.DataFrame:
    """Columns: layer, scheme, preset, mode (sigma | maeri_with_tile_choice | maeri_fixed_tile |
    maeri_tile_choice_only), seconds (median wall s per call)."""
    wl = synth(ROOT / "workloads" / "resnet18-imagenet.yaml", "signed-binary", seed=0)
    convs = [l for l in wl.layers if l.kind == "conv"]
    sigma = load_config(ROOT / "accel_configs" / "sigma_256.cfg")
    maeri_cfg = load_config(ROOT / "accel_configs" / "maeri_256.cfg")
    rows = []
    for layer in convs:
        base = {"layer": layer.name, "scheme": layer.scheme}
        rows.append({**base, "preset": "sigma_256", "mode": "sigma",
                     "seconds": timed(lambda: simulate_layer(layer, sigma), repeats)})
        tile = tiling.choose_maeri_tile(layer.shape, maeri_cfg)
        for mode, fn in (("maeri_with_tile_choice", lambda: simulate_layer(layer, maeri_cfg)),
                         ("maeri_fixed_tile", lambda: maeri.maeri_conv(layer.shape, maeri_cfg, tile)),
                         ("maeri_tile_choice_only", lambda: tiling.choose_maeri_tile(layer.shape, maeri_cfg))):
            rows.append({**base, "preset": "maeri_256", "mode": mode, "seconds": timed(fn, repeats)})
    return pd.DataFrame(rows)


def _core_call(row: dict):
    """The model call of one reference case with its inputs already in memory (mirrors validate._run_case)."""
    fam, op = str(row["family"]), str(row["op"])
    i = {k: int(row[k]) for k in row if k in ("ms_size", "dn_bw", "rn_bw", "ms_rows", "ms_cols", "R", "S",
                                               "stride", "padding", "M_gemm", "N_gemm", "K_gemm", "T_M",
                                               "T_N_gemm", "T_K_gemm", "accumulation_buffer")
         and not pd.isna(row[k])}
    if fam.startswith("SIGMA"):
        cfg = load_config(REF / str(row["cfg_file"]))
        z = np.load(REF / str(row["weights_file"]))
        w, x = z["weight"], z["input"]
        W = w.reshape(w.shape[0], -1)
        if op == "SparseConv":
            x0 = np.asarray(x[0], dtype=np.float32)
            C, X, Y = x0.shape
            n_cols = ((X + 2 * i["padding"] - i["R"]) // i["stride"] + 1) * ((Y + 2 * i["padding"] - i["S"]) // i["stride"] + 1)
            return lambda: sigma_gemm(W, n_cols, cfg, streamed_nnz=im2col_nnz(
                x0, C, X, Y, i["R"], i["S"], i["stride"], i["padding"]))
        xt = np.asarray(x).T
        return lambda: sigma_gemm(W, x.shape[0], cfg, xt)
    if fam.startswith("TPU"):
        cfg = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", i["ms_size"], i["dn_bw"], i["rn_bw"],
                                i["ms_rows"], i["ms_cols"], True)
        return lambda: tpu_gemm(i["M_gemm"], i["N_gemm"], i["K_gemm"], cfg, i["T_M"], i["T_N_gemm"])
    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", i["ms_size"], i["dn_bw"], i["rn_bw"],
                            accumulation_buffer=bool(i["accumulation_buffer"]))
    if op == "CONV":
        shape = LayerShape(*(int(row[k]) for k in ("N", "G", "C", "K", "R", "S", "X", "Y", "stride")), 0)
        tile = maeri.MaeriTile(*(int(row[k]) for k in ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X_", "T_Y_")))
        return lambda: maeri.maeri_conv(shape, cfg, tile)
    return lambda: maeri.maeri_gemm(i["M_gemm"], i["N_gemm"], i["K_gemm"], cfg, i["T_M"], i["T_N_gemm"],
                                    i["T_K_gemm"])


def bench_cases(repeats: int) -> pd.DataFrame:
    """Columns: case_id, family (model family), op, stonne_wall_s, model_s, model_io_s,
    model_tile_cached_s (median wall s; the last with :data:`TILE_STRUCTURE` kept), ratio, ratio_io
    (stonne_wall_s / seconds), cycles_equal (core call and validate path agree)."""
    df = pd.read_csv(REF / "cases.csv")
    rows = []
    path = REF / "cases.csv"
    for _, r in df.iterrows():
        row = r.to_dict()
        core = _core_call(row)
        same = core().cycles == _run_case(row, REF, path).cycles
        t_core = timed(core, repeats)
        t_io = timed(lambda: _run_case(row, REF, path), repeats)
        t_tile = timed(core, repeats, keep=TILE_STRUCTURE)
        wall = float(row["stonne_wall_s"])
        rows.append({"case_id": row["case_id"], "family": model_family(row), "op": row["op"],
                     "stonne_wall_s": wall, "model_s": t_core, "model_io_s": t_io, "model_tile_cached_s": t_tile,
                     "ratio": wall / t_core, "ratio_io": wall / t_io, "cycles_equal": bool(same)})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per measurement (median; >= 5)")
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"), help="output folder")
    args = ap.parse_args(argv)
    reps = max(5, args.repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['cores']} cores; python {mach['python']}, numpy {mach['numpy']}; "
          f"median of {reps} calls")

    layers = bench_layers(reps)
    lay_sum = layers.groupby("mode")["seconds"].agg(["count", "median", "max"]).reset_index()
    print("\n(a) ResNet-18/ImageNet conv layers, signed-binary synthetic weights (seconds per layer)")
    print(layers.pivot(index="layer", columns="mode", values="seconds").to_string(float_format="%.5f"))
    print(lay_sum.to_string(index=False, float_format="%.5f"))

    cases = bench_cases(reps)
    agg = {"n": ("case_id", "count"), "stonne_wall_s_median": ("stonne_wall_s", "median"),
           "model_s_median": ("model_s", "median"), "ratio_median": ("ratio", "median"),
           "ratio_min": ("ratio", "min"), "model_io_s_median": ("model_io_s", "median"),
           "ratio_io_median": ("ratio_io", "median"), "ratio_io_min": ("ratio_io", "min"),
           "model_tile_cached_s_median": ("model_tile_cached_s", "median")}
    fam = cases.groupby("family").agg(**agg).reset_index()
    allrow = cases.assign(family="ALL").groupby("family").agg(**agg).reset_index()
    fam = pd.concat([fam, allrow], ignore_index=True)
    print("\n(b) the 72 STONNE reference cases: STONNE wall time / model time, per case")
    print(fam.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if not cases.cycles_equal.all():
        print("WARNING: core call and validate path disagree on", list(cases[~cases.cycles_equal].case_id))

    layers.to_csv(out / "bench_accel_layers.csv", index=False)
    cases.to_csv(out / "bench_accel_cases.csv", index=False)
    (out / "bench_accel.json").write_text(json.dumps({
        "machine": mach, "repeats": reps, "layers_summary": lay_sum.to_dict(orient="records"),
        "cases_summary": fam.to_dict(orient="records"), "layers": layers.to_dict(orient="records"),
        "cases": cases.to_dict(orient="records")}, indent=1))
    print(f"\nwrote {out / 'bench_accel.json'} and the two CSVs")


if __name__ == "__main__":
    main()

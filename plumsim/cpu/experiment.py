"""Time every layer of workloads on this CPU with the :mod:`plumsim.cpu.kernels` dataflows.

numpy + numba + pandas only (no torch: a reference timer such as torch's conv2d is passed in by the
caller). Layer by layer, every measurement of the workloads' i-th layers (scheme x dataflow x thread count,
weights prepared once, untimed) is warmed up and then timed in ``repeats`` interleaved rounds (A B C A B C),
so that a drifting machine cannot favour one scheme; the median is kept. Full-precision layers (stem,
shortcuts, classifier) run the dense kernel under every dataflow label, so totals stay comparable.

Beside each time is the operation count the model predicts for the dataflow:
``ops = mults + adds + index`` from :func:`plumsim.accel.repetition.layer_arithmetic` (index = metadata
bits read). :func:`speedups` compares signed-binary with binary and ternary, each in its best
repetition-aware dataflow (repeat or skip+repeat, the faster in total) and against the other scheme's
dense kernel, measured and predicted, per layer and in total.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from plumsim.cpu import kernels

REPETITION_AWARE = ("repeat", "skip+repeat")
SB = "signed-binary"


def machine_info() -> dict:
    """What the timings were measured on: CPU model, cores, SIMD flags, library versions."""
    import numba

    model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = val.strip()
                elif key == "flags" and not flags:
                    flags = set(val.split())
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    simd = [f for f in ("avx512f", "avx2", "fma", "avx", "sse4_2", "neon", "asimd") if f in flags]
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = None
    return {"cpu": model, "machine": platform.machine(), "cores": os.cpu_count(),
            "simd": simd, "numba_max_threads": kernels.max_threads(), "numba_threading_layer": layer,
            "numba": numba.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}


def layer_input(layer, index: int, seed: int = 0) -> np.ndarray:
    """Seeded standard-normal float32 activations of a layer (same for every scheme of a table)."""
    s = layer.shape
    rng = np.random.default_rng([int(seed), int(index)])
    shape = (s.N, s.C) if layer.kind == "linear" else (s.N, s.C, s.X, s.Y)
    return rng.standard_normal(shape).astype(np.float32)


def predicted_ops(layer, dataflow: str) -> dict:
    """The model's operation counts of ``layer`` under ``dataflow`` (FP layers: dense)."""
    from plumsim.accel.repetition import layer_arithmetic

    mode = "dense" if layer.is_fp else dataflow
    a = layer_arithmetic(layer, mode)
    return {"mults": int(a["mults"]), "adds": int(a["adds"]), "index": int(a["index"]),
            "ops": int(a["mults"]) + int(a["adds"]) + int(a["index"])}


def time_workloads(workloads: Iterable, *, threads: Iterable[int] = (1,), repeats: int = 5, warmup: int = 1,
                   dataflows: Iterable[str] = kernels.DATAFLOWS, seed: int = 0,
                   reference: Callable | None = None, progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Per-layer milliseconds of every workload x layer x dataflow x thread count.

    Interleaved so that a drifting machine (clock, other load) cannot favour one scheme: layer by layer
    (the workloads' i-th layers together), every measurement of that layer is warmed up, then the
    ``repeats`` rounds time each measurement once per round, in the same order (A B C A B C ...); the
    median per measurement is kept. ``reference(layer, x, threads) -> callable`` (optional) gives a
    reference implementation (e.g. torch's conv2d) of the same layer; its rows have dataflow
    ``"reference"`` and no operation counts. Returns one row per measurement."""
    threads = [int(t) for t in threads]
    dataflows = list(dataflows)
    for t in threads:
        kernels.set_threads(t)  # validates every thread count before any timing
    workloads = list(workloads)
    depth = max((len(wl.layers) for wl in workloads), default=0)
    rows = []
    for i in range(depth):
        jobs = []   # (row fields, thread count, callable)
        for wl in workloads:
            if i >= len(wl.layers):
                continue
            layer = wl.layers[i]
            x = layer_input(layer, i, seed)
            wscheme = wl.meta.get("scheme") or _workload_scheme(wl)
            base = {"workload": wl.name, "scheme": wscheme, "layer": layer.name, "index": i,
                    "kind": layer.kind, "layer_scheme": layer.scheme, "macs": int(layer.shape.macs),
                    "density": float(layer.density)}
            fp_plan = None
            for df in dataflows:
                run_df = "dense" if layer.is_fp else df
                ops = predicted_ops(layer, df)
                if layer.is_fp:   # an FP layer runs the dense kernel under every label: one plan
                    fp_plan = fp_plan or kernels.prepare_layer(layer, run_df)
                    plan = fp_plan
                else:
                    plan = kernels.prepare_layer(layer, run_df)
                for t in threads:
                    fields = {**base, "dataflow": df, "kernel_dataflow": run_df, "threads": t, "repeats": repeats,
                              **ops, "entries": plan.stats["entries"]}
                    jobs.append((fields, t, (lambda plan=plan, x=x: kernels.run(plan, x))))
            if reference is not None:
                for t in threads:
                    fields = {**base, "dataflow": "reference", "kernel_dataflow": "reference", "threads": t,
                              "repeats": repeats, "mults": None, "adds": None, "index": None, "ops": None,
                              "entries": None}
                    jobs.append((fields, t, reference(layer, x, t)))
        times = [[] for _ in jobs]
        for j, (_, t, fn) in enumerate(jobs):
            kernels.set_threads(t)
            for _ in range(max(1, warmup)):
                fn()
        for _ in range(repeats):
            for j, (_, t, fn) in enumerate(jobs):
                kernels.set_threads(t)
                t0 = time.perf_counter()
                fn()
                times[j].append(time.perf_counter() - t0)
        for (fields, _, _), ts in zip(jobs, times):
            rows.append({**fields, "ms": statistics.median(ts) * 1e3, "ms_min": min(ts) * 1e3})
        if progress and jobs:
            progress(f"layer {i + 1}/{depth} ({jobs[0][0]['layer']}): {len(jobs)} measurements x {repeats}")
    return pd.DataFrame(rows)


def _workload_scheme(wl) -> str:
    schemes = sorted({lyr.scheme for lyr in wl.layers if not lyr.is_fp})
    return schemes[0] if len(schemes) == 1 else ("fp" if not schemes else "+".join(schemes))


def totals(df: pd.DataFrame) -> pd.DataFrame:
    """Total milliseconds and predicted ops per scheme x dataflow x threads: over all layers and over the
    quantized layers only."""
    out = []
    for (scheme, dataflow, t), g in df.groupby(["scheme", "dataflow", "threads"], sort=False):
        q = g[g["layer_scheme"] != "fp"]
        out.append({"scheme": scheme, "dataflow": dataflow, "threads": t, "total_ms": g["ms"].sum(),
                    "quantized_ms": q["ms"].sum(), "total_ops": g["ops"].sum(min_count=1),
                    "quantized_ops": q["ops"].sum(min_count=1), "layers": len(g)})
    return pd.DataFrame(out)


def best_dataflows(df: pd.DataFrame) -> dict:
    """Per (scheme, threads): the repetition-aware dataflow with the least quantized-layer time."""
    tot = totals(df)
    tot = tot[tot["dataflow"].isin(REPETITION_AWARE)]
    best = {}
    for (scheme, t), g in tot.groupby(["scheme", "threads"]):
        key = "quantized_ms" if g["quantized_ms"].sum() > 0 else "total_ms"
        best[(scheme, int(t))] = str(g.sort_values([key, "dataflow"]).iloc[0]["dataflow"])
    return best


def speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Signed-binary vs binary and vs ternary: measured (other ms / signed-binary ms) and predicted (other
    ops / signed-binary ops) per layer and in total (all layers; quantized layers), per thread count.

    ``baseline`` ``best``: the other scheme in its best repetition-aware dataflow; ``dense``: the other
    scheme's dense kernel. Signed-binary is always in its own best repetition-aware dataflow."""
    best = best_dataflows(df)
    out = []
    for t in sorted(df["threads"].unique()):
        t = int(t)
        if (SB, t) not in best:
            continue
        sb_df = best[(SB, t)]
        sb = df[(df["scheme"] == SB) & (df["threads"] == t) & (df["dataflow"] == sb_df)].set_index("layer")
        for other in ("binary", "ternary"):
            for baseline in ("best", "dense"):
                o_df = best.get((other, t)) if baseline == "best" else "dense"
                o = df[(df["scheme"] == other) & (df["threads"] == t) & (df["dataflow"] == o_df)]
                if o.empty:
                    continue
                o = o.set_index("layer")
                common = [name for name in sb.index if name in o.index]
                if not common:
                    continue
                tag = {"versus": other, "baseline": baseline, "threads": t, "signed_binary_dataflow": sb_df,
                       "other_dataflow": o_df}
                for name in common:
                    a, b = sb.loc[name], o.loc[name]
                    out.append({**tag, "layer": name, "layer_scheme": a["layer_scheme"],
                                "signed_binary_ms": a["ms"], "other_ms": b["ms"],
                                "measured": b["ms"] / a["ms"], "predicted": b["ops"] / a["ops"]})
                for label, names in (("TOTAL", common),
                                     ("TOTAL (quantized)", [n for n in common if sb.loc[n, "layer_scheme"] != "fp"])):
                    if not names:
                        continue
                    a, b = sb.loc[names], o.loc[names]
                    out.append({**tag, "layer": label, "layer_scheme": "",
                                "signed_binary_ms": a["ms"].sum(), "other_ms": b["ms"].sum(),
                                "measured": b["ms"].sum() / a["ms"].sum(),
                                "predicted": b["ops"].sum() / a["ops"].sum()})
    return pd.DataFrame(out)

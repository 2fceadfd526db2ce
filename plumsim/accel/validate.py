"""Run our models on every row of a STONNE reference cases.csv and compare cycles and counters.

Reads the CSV's ``cfgs/`` and ``weights/`` folders beside it (paths in columns ``cfg_file`` and
``weights_file``); MAERI/TPU CLI rows take their machine from the ``ms_size``/``dn_bw``/... columns.
Works on any CSV in the reference format. numpy/pandas only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError

REQUIRED = ("case_id", "family", "op", "cycles", "ms_size", "dn_bw", "rn_bw")
COUNTERS = {"mult": "MULTIPLIER.MULTIPLICATION", "gb_reads": "GLOBALBUFFER.READ",
            "gb_writes": "GLOBALBUFFER.WRITE"}


@dataclass
class ValidationReport:
    """``cases``: DataFrame, one row per case: case_id, family (model family, e.g. SIGMA, TPU, MAERI-AB-on,
    MAERI-AB-off, MAERI-AB-on-rn_bw<dn_bw), op, cycles_ref, cycles_model (cycles), rel_err
    ((model-ref)/ref), model_seconds, stonne_wall_s (s), {mult,gb_reads,gb_writes}_{ref,model} (events),
    error (text when the model could not run the case).
    ``results``: {case_id: SimResult}. ``summary``: per family n, median_abs_err, max_abs_err (fractions),
    median_model_seconds, median_speedup (stonne_wall_s / model_seconds)."""

    cases: object
    results: dict[str, SimResult] = field(default_factory=dict)
    summary: object = None


def _int(row, col, path):
    v = row.get(col)
    try:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise ValueError
        return int(v)
    except (TypeError, ValueError):
        raise ConfigError(f"case {row.get('case_id')}: column {col!r} must be an integer, got {v!r}",
                          path=path, field=col) from None


def model_family(row) -> str:
    fam = str(row["family"])
    if fam.startswith("SIGMA"):
        return "SIGMA"
    if fam.startswith("TPU"):
        return "TPU"
    if fam.startswith("MAERI"):
        ab = int(row.get("accumulation_buffer", 1) or 0)
        name = "MAERI-AB-on" if ab else "MAERI-AB-off"
        if ab and int(row["rn_bw"]) < int(row["dn_bw"]):
            name += "-rn_bw<dn_bw"
        return name
    return fam


def _run_case(row, base: Path, path) -> SimResult:
    fam = str(row["family"])
    op = str(row["op"])
    if fam.startswith("SIGMA"):
        from plumsim.accel.cfg import load_config
        from plumsim.accel.sigma import im2col_nnz, sigma_gemm

        cfg = load_config(base / str(row["cfg_file"]))
        wf = base / str(row["weights_file"])
        if not wf.is_file():
            raise ConfigError(f"case {row['case_id']}: weights file not found: {wf}", path=path, field="weights_file")
        z = np.load(wf)
        w, x = z["weight"], z["input"]
        W = w.reshape(w.shape[0], -1)
        if op == "SparseConv":
            R, S = _int(row, "R", path), _int(row, "S", path)
            stride, padding = _int(row, "stride", path), _int(row, "padding", path)
            N, G = _int(row, "N", path), _int(row, "G", path)
            C, X, Y = x.shape[1], x.shape[2], x.shape[3]
            if G < 1 or C % G or W.shape[0] % G:
                raise ConfigError(f"case {row['case_id']}: G={G} must divide C={C} and K={W.shape[0]}",
                                  path=path, field="G")
            n_cols = ((X + 2 * padding - R) // stride + 1) * ((Y + 2 * padding - S) // stride + 1)
            # STONNE's frontend runs one GEMM per batch item and group; every batch item streams the
            # im2col of item 0 (its streamed pointer has no batch offset), so the N items cost the same.
            # Only the streamed operand's non-zero count matters to SIGMA: no im2col matrix needed.
            cg, mg = C // G, W.shape[0] // G
            total = None
            for g in range(G):
                xg = np.asarray(x[0, g * cg:(g + 1) * cg], dtype=np.float32)
                nnz = im2col_nnz(xg, cg, X, Y, R, S, stride, padding)
                r = sigma_gemm(W[g * mg:(g + 1) * mg], n_cols, cfg, streamed_nnz=nnz)
                total = r if total is None else total + r
            return total.scaled(N) if N > 1 else total
        return sigma_gemm(W, x.shape[0], cfg, np.asarray(x).T)
    if fam.startswith("TPU"):
        from plumsim.accel.tpu import tpu_gemm

        cfg = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", _int(row, "ms_size", path),
                                _int(row, "dn_bw", path), _int(row, "rn_bw", path), _int(row, "ms_rows", path),
                                _int(row, "ms_cols", path), True)
        return tpu_gemm(_int(row, "M_gemm", path), _int(row, "N_gemm", path), _int(row, "K_gemm", path), cfg,
                        _int(row, "T_M", path), _int(row, "T_N_gemm", path))
    if fam.startswith("MAERI"):
        from plumsim.accel import maeri
        from plumsim.workload.layer import LayerShape

        cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", _int(row, "ms_size", path),
                                _int(row, "dn_bw", path), _int(row, "rn_bw", path),
                                accumulation_buffer=bool(_int(row, "accumulation_buffer", path)))
        if op == "CONV":
            shape = LayerShape(*(_int(row, k, path) for k in ("N", "G", "C", "K", "R", "S", "X", "Y", "stride")), 0)
            tile = maeri.MaeriTile(*(_int(row, k, path) for k in ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N",
                                                                   "T_X_", "T_Y_")))
            return maeri.maeri_conv(shape, cfg, tile)
        return maeri.maeri_gemm(_int(row, "M_gemm", path), _int(row, "N_gemm", path), _int(row, "K_gemm", path),
                                cfg, _int(row, "T_M", path), _int(row, "T_N_gemm", path),
                                _int(row, "T_K_gemm", path))
    raise ConfigError(f"case {row['case_id']}: unknown family {fam!r}; known: MAERI_*, SIGMA_*, TPU_*",
                      path=path, field="family")


def validate_cases(csv_path: str | Path, families: tuple[str, ...] | None = None) -> ValidationReport:
    """Model every row of ``csv_path`` and compare with STONNE. A model that is not available for a
    row (NotImplementedError) gives NaN model columns and the reason in ``error``."""
    import pandas as pd

    path = Path(csv_path)
    if not path.is_file():
        raise ConfigError("cases CSV not found", path=path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for a malformed file
        raise ConfigError(f"cannot read as CSV: {exc}", path=path) from None
    for col in REQUIRED:
        if col not in df.columns:
            raise ConfigError(f"required column {col!r} missing; required: {', '.join(REQUIRED)}",
                              path=path, field=col)
    base = path.parent
    rows, results = [], {}
    for _, row in df.iterrows():
        rowd = row.to_dict()
        fam = model_family(rowd)
        if families and fam not in families:
            continue
        out = {"case_id": rowd["case_id"], "family": fam, "op": rowd["op"], "cycles_ref": _int(rowd, "cycles", path)}
        t0 = time.perf_counter()
        try:
            r = _run_case(rowd, base, path)
            err = ""
        except (NotImplementedError, AttributeError, ImportError) as exc:  # MAERI model still in progress
            r, err = None, f"model not available: {exc or 'not implemented'}"
        dt = time.perf_counter() - t0
        out["cycles_model"] = r.cycles if r is not None else np.nan
        out["rel_err"] = (out["cycles_model"] - out["cycles_ref"]) / out["cycles_ref"] if out["cycles_ref"] else np.nan
        out["model_seconds"] = dt
        out["stonne_wall_s"] = rowd.get("stonne_wall_s", np.nan)
        for short, key in COUNTERS.items():
            out[f"{short}_ref"] = rowd.get("cnt_" + key, np.nan)
            out[f"{short}_model"] = r.counter(key) if r is not None else np.nan
        out["error"] = err
        rows.append(out)
        if r is not None:
            results[str(rowd["case_id"])] = r
    cases = pd.DataFrame(rows)
    return ValidationReport(cases=cases, results=results, summary=summarize(cases))


def summarize(cases):
    """Per family: n, n_modelled, median/max |rel err| of cycles, max |rel err| of the three counters,
    median model seconds and median STONNE/model time ratio."""
    import pandas as pd

    out = []
    for fam, g in cases.groupby("family", sort=True):
        ok = g[g["cycles_model"].notna()]
        e = ok["rel_err"].abs()
        row = {"family": fam, "n": len(g), "n_modelled": len(ok),
               "median_abs_err": float(e.median()) if len(ok) else np.nan,
               "max_abs_err": float(e.max()) if len(ok) else np.nan}
        for short in COUNTERS:
            ref, mod = ok[f"{short}_ref"].astype(float), ok[f"{short}_model"].astype(float)
            m = ref.notna() & (ref > 0)
            row[f"{short}_max_abs_err"] = float(((mod[m] - ref[m]) / ref[m]).abs().max()) if m.any() else np.nan
        row["median_model_seconds"] = float(ok["model_seconds"].median()) if len(ok) else np.nan
        sp = ok["stonne_wall_s"].astype(float) / ok["model_seconds"]
        row["median_speedup"] = float(sp.median()) if len(ok) else np.nan
        out.append(row)
    return pd.DataFrame(out)

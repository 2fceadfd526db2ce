"""Run our models on every row of a STONNE reference cases.csv and compare cycles and counters.

Reads the CSV's ``cfgs/`` and ``weights/`` folders beside it (paths in columns ``cfg_file`` and
``weights_file``); MAERI/TPU CLI rows take their machine from the ``ms_size``/``dn_bw``/... columns.
Works on any CSV in the reference format. numpy/pandas only.

Bad input is a :class:`~plumsim.errors.ConfigError` whose one line names the CSV, the row (1-based data
row, the file's line and the case_id) and the column: a file that is not CSV, a missing required column,
an empty, non-integer or out-of-range cell, an unknown family, an op the family's model does not run, a
missing or unreadable weights or cfg file, or a row the model refuses (tile, machine). :func:`read_cases`
and :class:`RowRef` are shared with the energy columns (:mod:`plumsim.stonne.energy_check`).
"""

from __future__ import annotations

import math
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError, PlumsimError

REQUIRED = ("case_id", "family", "op", "cycles", "ms_size", "dn_bw", "rn_bw")
COUNTERS = {"mult": "MULTIPLIER.MULTIPLICATION", "gb_reads": "GLOBALBUFFER.READ",
            "gb_writes": "GLOBALBUFFER.WRITE"}
#: The ops each model family runs (STONNE's names, column ``op``).
OPS = {"SIGMA": ("SparseConv", "SparseLinear"), "TPU": ("DenseGEMM",), "MAERI": ("CONV", "FC", "DenseGEMM")}


@dataclass
class ValidationReport:
    """``cases``: DataFrame, one row per case: case_id, family (model family, e.g. SIGMA, TPU, MAERI-AB-on,
    MAERI-AB-off, MAERI-AB-on-rn_bw<dn_bw), op, cycles_ref, cycles_model (cycles), rel_err
    ((model-ref)/ref), model_seconds (s, the model call alone: the row's cells, cfg and weights are read
    before the clock starts), stonne_wall_s (s), {mult,gb_reads,gb_writes}_{ref,model} (events),
    error (text when the model could not run the case).
    ``results``: {case_id: SimResult}. ``summary``: per family n, median_abs_err, max_abs_err (fractions),
    median_model_seconds, median_speedup (stonne_wall_s / model_seconds)."""

    cases: object
    results: dict[str, SimResult] = field(default_factory=dict)
    summary: object = None


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _show(v) -> str:
    return repr(v) if isinstance(v, str) else str(v)


@dataclass(frozen=True)
class RowRef:
    """Where a row of a reference CSV is, for messages: ``row`` (1-based data row, None when unknown),
    ``line`` (the file's line the row starts on, None when unknown), ``case_id``."""

    path: Path
    row: int | None = None
    line: int | None = None
    case_id: object = None

    def where(self) -> str:
        at = [f"line {self.line}"] if self.line else []
        at.append("no case_id" if _blank(self.case_id) else f"case_id {self.case_id}")
        return f"row {self.row} ({', '.join(at)})" if self.row else ", ".join(at)

    def error(self, message: str, column: str | None = None) -> ConfigError:
        """``CSV: row N (line L, case_id C), column 'K': message``; ``field`` is the column."""
        col = f", column {column!r}" if column else ""
        exc = ConfigError(f"{self.where()}{col}: {message}", path=self.path)
        exc.field = column
        return exc


def _as_int(v):
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and f.is_integer() else None


def _int(row, col, ref: RowRef, lo: int | None = None, hi: int | None = None) -> int:
    """The integer in cell ``col`` (``lo``..``hi`` when given), else a ConfigError naming row and column."""
    if col not in row:
        raise ref.error("no such column in the file (this row's family and op need it)", col)
    v = row[col]
    if _blank(v):
        raise ref.error("empty cell, expected an integer", col)
    n = _as_int(v)
    if n is None:
        raise ref.error(f"expected an integer, got {_show(v)}", col)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ref.error(f"expected an integer {rng}, got {n}", col)
    return n


def number(row, col, ref: RowRef, lo: float | None = 0.0) -> float:
    """The finite number (>= ``lo`` when given) in cell ``col``; NaN when the column or the cell is empty."""
    v = row.get(col)
    if _blank(v):
        return math.nan
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = math.nan
    if isinstance(v, (bool, np.bool_)) or not math.isfinite(f):
        raise ref.error(f"expected a number, got {_show(v)}", col)
    if lo is not None and f < lo:
        raise ref.error(f"expected a number >= {lo:g}, got {f:g}", col)
    return f


def _record_lines(path: Path, n_rows: int) -> list[int] | None:
    """The line each data record starts on (quoted cells may span lines), or None if unsure."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader, starts, prev = csv.reader(fh), [], 0
            for rec in reader:
                if rec:
                    starts.append(prev + 1)
                prev = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return starts[1:] if len(starts) == n_rows + 1 else None


def _check_header(path: Path) -> None:
    """A column named twice is refused with both positions (pandas would rename the second 'x.1')."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read as CSV: not a text file (byte {exc.start} is not UTF-8: {exc.reason})",
                          path=path) from None
    except (OSError, csv.Error):
        return  # pandas reports it below
    first: dict = {}
    for i, name in enumerate(header, 1):
        key = name.strip()
        if key and key in first:
            exc = ConfigError(f"line 1: column {key!r} appears twice (columns {first[key]} and {i})", path=path)
            exc.field = key
            raise exc
        first[key] = i


def _read_frame(path: Path, required):
    import pandas as pd

    if not path.is_file():
        raise ConfigError("cases CSV not found", path=path)
    _check_header(path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for a malformed file
        raise ConfigError(f"cannot read as CSV: {str(exc).strip()}", path=path) from None
    for col in required:
        if col not in df.columns:
            exc = ConfigError(f"column {col!r} missing; required columns: {', '.join(required)}", path=path)
            exc.field = col
            raise exc
    if not len(df):
        raise ConfigError("no data rows (only a header)", path=path)
    return df


def read_cases(csv_path: str | Path, required=REQUIRED) -> list[tuple[RowRef, dict]]:
    """Every data row of a reference CSV as ``(RowRef, {column: value})``. Raises ConfigError for a file
    that is missing or not CSV, a missing required column, no rows, an empty or duplicate case_id."""
    path = Path(csv_path)
    df = _read_frame(path, required)
    lines = _record_lines(path, len(df))
    out, seen = [], {}
    for i, rowd in enumerate(df.to_dict(orient="records")):
        ref = RowRef(path, i + 1, lines[i] if lines else None, rowd.get("case_id"))
        if "case_id" in rowd:
            cid = rowd["case_id"]
            if _blank(cid):
                raise ref.error("empty cell, expected a case id", "case_id")
            if str(cid) in seen:
                raise ref.error(f"duplicate case_id, first in {seen[str(cid)].where()}", "case_id")
            seen[str(cid)] = ref
        out.append((ref, rowd))
    return out


def _kind(row, ref: RowRef) -> str:
    fam = "" if _blank(row.get("family")) else str(row["family"])
    for kind in OPS:
        if fam.startswith(kind):
            return kind
    raise ref.error(f"unknown family {_show(row.get('family'))}; known: MAERI_*, SIGMA_*, TPU_*", "family")


def model_family(row, ref: RowRef | None = None) -> str:
    """The model family of a row: SIGMA, TPU, MAERI-AB-on, MAERI-AB-off or MAERI-AB-on-rn_bw<dn_bw."""
    ref = ref or RowRef(Path("<cases>"), case_id=row.get("case_id"))
    kind = _kind(row, ref)
    if kind != "MAERI":
        return kind
    ab = _int(row, "accumulation_buffer", ref, 0, 1)
    name = "MAERI-AB-on" if ab else "MAERI-AB-off"
    if ab and _int(row, "rn_bw", ref, 1) < _int(row, "dn_bw", ref, 1):
        name += "-rn_bw<dn_bw"
    return name


def _file(row, col, ref: RowRef, base: Path) -> Path:
    if col not in row or _blank(row[col]):
        raise ref.error("empty cell, expected a file name" if col in row else "no such column in the file", col)
    p = base / str(row[col])
    if not p.is_file():
        raise ref.error(f"file not found: {p}", col)
    return p


def _load_cfg(row, ref: RowRef, base: Path) -> AcceleratorConfig:
    from plumsim.accel.cfg import load_config

    cf = _file(row, "cfg_file", ref, base)
    try:
        return load_config(cf)
    except PlumsimError as exc:
        raise ref.error(str(exc), "cfg_file") from None


def _load_weights(row, ref: RowRef, base: Path) -> tuple[np.ndarray, np.ndarray]:
    """``weight`` and ``input`` of the row's .npz (numbers, weight at least 2-D)."""
    wf = _file(row, "weights_file", ref, base)
    try:
        with open(wf, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                raise ValueError("not an .npz archive (numpy.savez)")
        z = np.load(wf, allow_pickle=False)
        with z:
            missing = [k for k in ("weight", "input") if k not in z.files]
            if missing:
                raise ref.error(f"{wf} has no array {missing[0]!r} (has: {', '.join(z.files) or 'none'}; needs "
                                "'weight' and 'input')", "weights_file")
            w, x = z["weight"], z["input"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ref.error(f"cannot read {wf} as .npz: {exc or type(exc).__name__}", "weights_file") from None
    for name, a, nd in (("weight", w, 2), ("input", x, 1)):
        if a.dtype.kind not in "biuf" or a.ndim < nd or a.size == 0:
            raise ref.error(f"{wf}: array {name!r} has dtype {a.dtype} and shape {a.shape}, expected a "
                            f"non-empty array of numbers with at least {nd} dimension(s)", "weights_file")
    return w, x


def _sigma_conv_call(row, ref: RowRef, W: np.ndarray, x: np.ndarray, cfg):
    """STONNE's frontend runs one GEMM per batch item and group; every batch item streams the im2col of
    item 0 (its streamed pointer has no batch offset), so the N items cost the same. Only the streamed
    operand's non-zero count matters to SIGMA: no im2col matrix needed."""
    from plumsim.accel.sigma import im2col_nnz, sigma_gemm

    R, S, stride = _int(row, "R", ref, 1), _int(row, "S", ref, 1), _int(row, "stride", ref, 1)
    padding, N, G = _int(row, "padding", ref, 0), _int(row, "N", ref, 1), _int(row, "G", ref, 1)
    if x.ndim != 4:
        raise ref.error(f"input has shape {x.shape}, SparseConv needs [N, C, X, Y]", "weights_file")
    C, X, Y = x.shape[1:]
    K = W.shape[0]
    if C % G or K % G:
        raise ref.error(f"G={G} must divide C={C} and K={K}", "G")
    if W.shape[1] != (C // G) * R * S:
        raise ref.error(f"weight has {W.shape[1]} values per filter, C/G*R*S = {C // G}*{R}*{S} expected",
                        "weights_file")
    if X + 2 * padding < R or Y + 2 * padding < S:
        raise ref.error(f"a {R}x{S} kernel does not fit the {X}x{Y} input padded by {padding}", "R")
    n_cols = ((X + 2 * padding - R) // stride + 1) * ((Y + 2 * padding - S) // stride + 1)
    cg, mg = C // G, K // G
    parts = [(W[g * mg:(g + 1) * mg], np.asarray(x[0, g * cg:(g + 1) * cg], dtype=np.float32)) for g in range(G)]

    def call():
        total = None
        for Wg, xg in parts:
            r = sigma_gemm(Wg, n_cols, cfg, streamed_nnz=im2col_nnz(xg, cg, X, Y, R, S, stride, padding))
            total = r if total is None else total + r
        return total.scaled(N) if N > 1 else total
    return call


def _prep_sigma(row, ref: RowRef, base: Path, op: str):
    from plumsim.accel.sigma import sigma_gemm

    cfg = _load_cfg(row, ref, base)
    w, x = _load_weights(row, ref, base)
    W = w.reshape(w.shape[0], -1)
    if op == "SparseConv":
        return _sigma_conv_call(row, ref, W, x, cfg)
    if x.ndim != 2 or x.shape[1] != W.shape[1]:
        raise ref.error(f"input has shape {x.shape}, SparseLinear needs [batch, {W.shape[1]}]", "weights_file")
    xt = np.asarray(x).T
    return lambda: sigma_gemm(W, x.shape[0], cfg, xt)


def _machine(row, ref: RowRef, kind: str) -> AcceleratorConfig:
    """A TPU or MAERI machine from the row's columns, checked as a .cfg would be (AcceleratorConfig applies
    the one rule set, :mod:`plumsim.accel.rules`, when built)."""
    ms, dn, rn = (_int(row, k, ref, 1) for k in ("ms_size", "dn_bw", "rn_bw"))
    if kind == "TPU":
        rows, cols = _int(row, "ms_rows", ref, 1), _int(row, "ms_cols", ref, 1)
    else:
        ab = bool(_int(row, "accumulation_buffer", ref, 0, 1))
    try:
        if kind == "TPU":
            return AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", ms, dn, rn, rows, cols, True)
        return AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms, dn, rn, accumulation_buffer=ab)
    except ConfigError as exc:
        raise ref.error(exc.detail, (exc.field or "").rsplit(" ", 1)[-1] or None) from None


def _gemm_dims(row, ref: RowRef, cols) -> list[int]:
    return [_int(row, k, ref, 1) for k in cols]


def _prep_tpu(row, ref: RowRef, base: Path, op: str):
    from plumsim.accel.tpu import tpu_gemm

    cfg = _machine(row, ref, "TPU")
    M, N, K, tm, tn = _gemm_dims(row, ref, ("M_gemm", "N_gemm", "K_gemm", "T_M", "T_N_gemm"))
    return lambda: tpu_gemm(M, N, K, cfg, tm, tn)


def _prep_maeri(row, ref: RowRef, base: Path, op: str):
    from plumsim.accel import maeri
    from plumsim.workload.layer import LayerShape

    cfg = _machine(row, ref, "MAERI")
    if op == "CONV":
        shape = LayerShape(*_gemm_dims(row, ref, ("N", "G", "C", "K", "R", "S", "X", "Y", "stride")), 0)
        tile = maeri.MaeriTile(*_gemm_dims(row, ref, ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X_", "T_Y_")))
        return lambda: maeri.maeri_conv(shape, cfg, tile)
    M, N, K, tm, tn, tk = _gemm_dims(row, ref, ("M_gemm", "N_gemm", "K_gemm", "T_M", "T_N_gemm", "T_K_gemm"))
    return lambda: maeri.maeri_gemm(M, N, K, cfg, tm, tn, tk)


_PREPARE = {"SIGMA": _prep_sigma, "TPU": _prep_tpu, "MAERI": _prep_maeri}


def _column_of(field: str | None, kind: str, op: str) -> str | None:
    """The CSV column behind a model error's field: GEMM tiles are T_N_gemm/T_K_gemm in the CSV, a SIGMA
    machine comes from cfg_file and its weights from weights_file."""
    if kind == "SIGMA":
        return "weights_file" if field == "weights" else "cfg_file" if (field or "").startswith("[") else field
    if op != "CONV":
        return {"T_N": "T_N_gemm", "T_K": "T_K_gemm"}.get(field, field)
    return field


def prepare_case(row, base: Path, ref: RowRef):
    """Check the row's cells and read its cfg and weights; returns the model call (no arguments)."""
    kind = _kind(row, ref)
    op = "" if _blank(row.get("op")) else str(row["op"])
    if op not in OPS[kind]:
        raise ref.error(f"op {_show(row.get('op'))} is not one the {kind} model runs; supported: "
                        f"{', '.join(OPS[kind])}", "op")
    call = _PREPARE[kind](row, ref, base, op)
    return lambda: _call(call, row, ref, kind, op)


def _call(call, row, ref: RowRef, kind: str, op: str) -> SimResult:
    try:
        return call()
    except ConfigError as exc:  # the model refuses the row (tile, machine): still the row's fault
        col = _column_of(exc.field, kind, op)
        if col in row:
            raise ref.error(exc.detail, col) from None
        raise ref.error(str(exc)) from None


def _run_case(row, base: Path, path, ref: RowRef | None = None) -> SimResult:
    """Read one row's inputs and run its model (what validate does, untimed)."""
    ref = ref or RowRef(Path(path), case_id=row.get("case_id"))
    return prepare_case(row, Path(base), ref)()


def _case_row(row, ref: RowRef, fam: str, base: Path) -> tuple[dict, SimResult | None]:
    out = {"case_id": row["case_id"], "family": fam, "op": row["op"], "cycles_ref": _int(row, "cycles", ref, 1)}
    call = prepare_case(row, base, ref)
    t0 = time.perf_counter()
    try:
        r, err = call(), ""
    except NotImplementedError as exc:
        r, err = None, f"model not available: {exc or 'not implemented'}"
    out["model_seconds"] = time.perf_counter() - t0
    out["cycles_model"] = r.cycles if r is not None else np.nan
    out["rel_err"] = (out["cycles_model"] - out["cycles_ref"]) / out["cycles_ref"] if out["cycles_ref"] else np.nan
    out["stonne_wall_s"] = number(row, "stonne_wall_s", ref)
    for short, key in COUNTERS.items():
        out[f"{short}_ref"] = number(row, "cnt_" + key, ref)
        out[f"{short}_model"] = r.counter(key) if r is not None else np.nan
    out["error"] = err
    return out, r


_COLUMNS = ["case_id", "family", "op", "cycles_ref", "cycles_model", "rel_err", "model_seconds", "stonne_wall_s",
            *(f"{s}_{side}" for s in COUNTERS for side in ("ref", "model")), "error"]


def validate_cases(csv_path: str | Path, families: tuple[str, ...] | None = None) -> ValidationReport:
    """Model every row of ``csv_path`` and compare with STONNE. A model that is not available for a
    row (NotImplementedError) gives NaN model columns and the reason in ``error``; anything wrong with a
    row's cells or files is a ConfigError naming the file, row and column (module doc)."""
    import pandas as pd

    path = Path(csv_path)
    rows, results = [], {}
    for ref, row in read_cases(path):
        fam = model_family(row, ref)
        if families and fam not in families:
            continue
        out, r = _case_row(row, ref, fam, path.parent)
        rows.append(out)
        if r is not None:
            results[str(row["case_id"])] = r
    cases = pd.DataFrame(rows, columns=_COLUMNS)
    return ValidationReport(cases=cases, results=results, summary=summarize(cases))


def summarize(cases):
    """Per family: n, n_modelled, median/max |rel err| of cycles, max |rel err| of the three counters,
    median/max |rel err| of energy (when the cases have ``energy_rel_err``), median model seconds and
    median STONNE/model time ratio."""
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
        if "energy_rel_err" in ok:  # after plumsim.stonne.energy_check.add_energy_columns
            ee = ok["energy_rel_err"].abs().dropna()
            row["energy_median_abs_err"] = float(ee.median()) if len(ee) else np.nan
            row["energy_max_abs_err"] = float(ee.max()) if len(ee) else np.nan
        row["median_model_seconds"] = float(ok["model_seconds"].median()) if len(ok) else np.nan
        sp = ok["stonne_wall_s"].astype(float) / ok["model_seconds"]
        row["median_speedup"] = float(sp.median()) if len(ok) else np.nan
        out.append(row)
    return pd.DataFrame(out)

"""Compare what STONNE wrote for an export folder with the models (``plumsim stonne compare``).

For every exported layer: STONNE's results are read from ``DIR/out/<key>/`` (all ``output_stats_*`` pairs
there, summed: the frontend writes one per batch item and group), the model runs on the layer rebuilt
from the exported files (codes/scale/sign or the float weights, the exported input, the manifest's
tile), and both are priced with the same energy table (STONNE's stock table by default, "STONNE units").
A layer with no output is reported as ``missing``; skipped layers as ``skipped``. numpy/pandas only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from plumsim.accel.result import SimResult
from plumsim.errors import DataError, PlumsimError

#: Columns of :attr:`CompareReport.layers`.
LAYER_COLUMNS = ["name", "key", "op", "runner", "status", "cycles_ref", "cycles_model", "rel_err",
                 "energy_ref", "energy_model", "energy_rel_err", "energy_ref_reported", "stonne_files", "note"]


def _rel(model, ref):
    if model is None or ref is None or ref == 0 or (isinstance(ref, float) and math.isnan(ref)):
        return None
    return (float(model) - float(ref)) / float(ref)


@dataclass
class CompareReport:
    """``layers``: DataFrame with :data:`LAYER_COLUMNS`: status ok / missing / skipped / error,
    cycles_ref (STONNE cycles), cycles_model (model cycles), rel_err ((model - ref)/ref), energy_ref /
    energy_model (``unit``, computed from each side's counters with the same table), energy_ref_reported
    (STONNE's own energy_out.txt total when present), stonne_files (output_stats files read), note.
    ``counters``: DataFrame, one row per ``COMPONENT.ACTION`` (and ``SRAM.<kind>``) summed over the layers
    with status ok: counter, ref, model (events), rel_err. ``total``: dict over the ok layers (cycles_ref,
    cycles_model, rel_err, energy_*), layer counts per status, and the model alone over every layer it ran
    (``cycles_model_all_layers``, ``energy_model_all_layers``), which is what the export predicts.
    ``results``: {key: (ref SimResult or None, model SimResult or None)}."""

    layers: pd.DataFrame
    counters: pd.DataFrame
    total: dict
    unit: str
    results: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """``{"layers": [...], "total": {...}, "counters": [...], "unit": ...}``; NaN -> None."""
        def clean(records):
            return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                    for r in records]
        return {"unit": self.unit, "layers": clean(self.layers.to_dict(orient="records")),
                "total": self.total, "counters": clean(self.counters.to_dict(orient="records"))}


def load_manifest(directory: str | Path) -> dict:
    """Read and check ``DIR/manifest.json`` of an export."""
    from plumsim.interop.export import EXPORT_FORMAT

    p = Path(directory) / "manifest.json"
    if not p.is_file():
        raise DataError("no manifest.json: not a `plumsim stonne export` folder", path=p.parent)
    try:
        man = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc})", path=p) from None
    if not isinstance(man, dict) or man.get("format") != EXPORT_FORMAT:
        raise DataError(f"format is {man.get('format') if isinstance(man, dict) else None!r}, expected "
                        f"{EXPORT_FORMAT!r}", path=p, field="format")
    for k in ("accel", "layers"):
        if k not in man:
            raise DataError(f"missing key {k!r}", path=p, field=k)
    return man


def rebuild_layer(directory: str | Path, entry: dict):
    """The :class:`~plumsim.workload.layer.Layer` of one manifest entry, from the exported .npy files.

    Quantized layers come back with their codes/scale/sign (checked: codes*scale equals weight.npy
    bit for bit); full-precision layers with the float weights. The exported input is the input_sample.
    """
    from plumsim.workload.layer import Layer, LayerShape

    d = Path(directory)
    files = entry["files"]

    def load(name):
        p = d / files[name]
        if not p.is_file():
            raise DataError("exported file missing", path=p, field=f"files.{name}")
        return np.load(p, allow_pickle=False)

    shape = LayerShape(**entry["shape"])
    w = load("weight").astype(np.float32)
    w4 = w.reshape(shape.K, shape.C // shape.G, shape.R, shape.S)
    x = load("input")
    if "codes" in files:
        codes, scale, sign = load("codes").astype(np.int8), load("scale").astype(np.float32), load("sign")
        layer = Layer(entry["name"], entry["kind"], entry["scheme"], shape, codes, scale, sign.astype(np.int8),
                      input_sample=x)
        if not np.array_equal(layer.weight_tensor(), w4):
            raise DataError("weight.npy differs from codes*scale: the export was modified", path=d / files["weight"],
                            field="weight")
    else:
        layer = Layer(entry["name"], entry["kind"], entry["scheme"], shape, None,
                      np.ones(shape.K, np.float32), np.zeros(shape.K, np.int8), weights=w4, input_sample=x)
    return layer


def _model_tile(entry: dict, controller: str):
    t = entry.get("tile")
    if t is None:
        return None
    if controller == "TPU_OS_DENSE":
        return {"T_M": t["T_M"], "T_N": t["T_N"]}
    if entry["op"] == "CONV":
        from plumsim.accel.maeri import MaeriTile

        return MaeriTile.from_dict(t)
    return {"T_M": t["T_M"], "T_N": t["T_N"], "T_K": t["T_K"]}


def _energy(result, table):
    from plumsim.energy import total_energy

    try:
        return total_energy(result, table), ""
    except PlumsimError as exc:
        return None, f"energy: {exc}"


def compare_export(directory: str | Path, table="stonne") -> CompareReport:
    """Compare ``DIR/out/<key>/`` (STONNE) with the model for every layer of an export (see module doc)."""
    from plumsim.accel.cfg import load_config
    from plumsim.accel.simulate import simulate_layer
    from plumsim.accel.stonne_io import read_stonne_dir
    from plumsim.energy import load_energy_table

    d = Path(directory)
    man = load_manifest(d)
    config = load_config(d / man["accel"].get("file", "accel.cfg"))
    tab = table if hasattr(table, "energy") else load_energy_table(table)
    rows, results = [], {}
    ref_sum: SimResult | None = None
    model_sum: SimResult | None = None
    ok_rows = []
    for e in man["layers"]:
        row = dict.fromkeys(LAYER_COLUMNS)
        row.update(name=e["name"], key=e["key"], op=e["op"], runner=e["runner"], note="")
        notes = []
        model = ref = None
        try:
            layer = rebuild_layer(d, e)
            model = simulate_layer(layer, config, _model_tile(e, config.controller_type))
            row["cycles_model"] = int(model.cycles)
            row["energy_model"], n = _energy(model, tab)
            notes.append(n)
        except PlumsimError as exc:
            notes.append(f"model: {exc}")
        out = d / e.get("output_dir", f"out/{e['key']}")
        if not out.is_dir() or not any(out.glob("*.counters")):
            row["status"] = "missing"
            notes.append(f"no STONNE output in {out.relative_to(d)}/ (run run.sh)")
        else:
            try:
                run = read_stonne_dir(out)
                ref = run.total.scaled(int(e.get("repeat", 1)))
                row["cycles_ref"] = int(ref.cycles)
                row["stonne_files"] = len(run.layers)
                row["energy_ref"], n = _energy(ref, tab)
                notes.append(n)
                if run.energy.get("total") is not None and len(run.layers) == 1:
                    row["energy_ref_reported"] = run.energy["total"] * int(e.get("repeat", 1))
                if int(e.get("repeat", 1)) > 1:
                    notes.append(f"STONNE ran one of {e['repeat']} identical groups; scaled x{e['repeat']}")
                row["status"] = "ok" if model is not None else "error"
            except PlumsimError as exc:
                row["status"] = "error"
                notes.append(f"STONNE output: {exc}")
        row["rel_err"] = _rel(row["cycles_model"], row["cycles_ref"])
        row["energy_rel_err"] = _rel(row["energy_model"], row["energy_ref"])
        row["note"] = "; ".join(n for n in notes if n)
        rows.append(row)
        results[e["key"]] = (ref, model)
        if row["status"] == "ok":
            ok_rows.append(row)
            ref_sum = ref if ref_sum is None else ref_sum + ref
            model_sum = model if model_sum is None else model_sum + model
    for s in man.get("skipped", []):
        row = dict.fromkeys(LAYER_COLUMNS)
        row.update(name=s["layer"], key=s.get("key"), status="skipped", note=s.get("reason", ""))
        rows.append(row)

    crow = []
    if ref_sum is not None:
        keys = sorted(set(ref_sum.counters) | set(model_sum.counters))
        for k in keys:
            a, b = ref_sum.counters.get(k), model_sum.counters.get(k)
            crow.append({"counter": k, "ref": a, "model": b, "rel_err": _rel(b, a)})
        for k in sorted(set(ref_sum.sram) | set(model_sum.sram)):
            a, b = ref_sum.sram.get(k), model_sum.sram.get(k)
            crow.append({"counter": f"SRAM.{k}", "ref": a, "model": b, "rel_err": _rel(b, a)})
    counters = pd.DataFrame(crow, columns=["counter", "ref", "model", "rel_err"])

    def tot(col):
        vals = [r[col] for r in ok_rows]
        return None if not vals or any(v is None for v in vals) else float(math.fsum(vals))

    status = [r["status"] for r in rows]
    total = {"layers": len(man["layers"]), "compared": status.count("ok"), "missing": status.count("missing"),
             "errors": status.count("error"), "skipped": status.count("skipped"),
             "cycles_ref": tot("cycles_ref"), "cycles_model": tot("cycles_model"),
             "energy_ref": tot("energy_ref"), "energy_model": tot("energy_model")}
    modelled = [r for r in rows if r["cycles_model"] is not None]
    total["cycles_model_all_layers"] = float(math.fsum(r["cycles_model"] for r in modelled)) if modelled else None
    energies = [r["energy_model"] for r in modelled]
    total["energy_model_all_layers"] = (float(math.fsum(energies)) if energies and None not in energies
                                        else None)
    total["rel_err"] = _rel(total["cycles_model"], total["cycles_ref"])
    total["energy_rel_err"] = _rel(total["energy_model"], total["energy_ref"])
    if ok_rows:
        errs = [abs(r["rel_err"]) for r in ok_rows if r["rel_err"] is not None]
        total["max_abs_rel_err"] = max(errs) if errs else None
    layers = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    return CompareReport(layers=layers, counters=counters, total=total, unit=tab.unit, results=results)

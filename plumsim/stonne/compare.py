"""Compare what STONNE wrote for an export folder with the models (``plumsim stonne compare``).

For every exported layer: STONNE's results are read from ``DIR/out/<key>/`` (all ``output_stats_*`` pairs
there, summed: the frontend writes one per batch item and group), the model runs on the layer rebuilt
from the exported files (codes/scale/sign or the float weights, the exported input, the manifest's
tile), and both are priced with the same energy table (STONNE's stock table by default, "STONNE units").
A layer with no output is reported as ``missing``; skipped layers as ``skipped``; a layer whose STONNE
files cannot be read or that the model refuses, as ``error`` (the other layers are still compared).
The export folder itself is input: a malformed manifest entry or an exported file that is missing,
unreadable, of the wrong shape or modified is a :class:`~plumsim.errors.DataError` whose one line names
the file, the layer (1-based entry in ``layers``, its name) and the key. numpy/pandas only.
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


def entry_error(path, index: int | None, entry, message: str, key: str | None = None) -> DataError:
    """``PATH: layer N (name X, key K), key 'k': message`` for entry N (1-based) of the manifest's layers."""
    at = []
    if isinstance(entry, dict):
        name, k = entry.get("name"), entry.get("key")
        at = [f"name {name}"] if isinstance(name, str) else []
        at += [f"key {k}"] if isinstance(k, str) and k != name else []
    who = f"layer {index}" if index else "layer"
    who += f" ({', '.join(at)})" if at else ""
    exc = DataError(f"{who}{f', key {key!r}' if key else ''}: {message}", path=path)
    exc.field = key
    return exc


_ENTRY_STRINGS = ("name", "key", "op", "runner", "kind", "scheme")


def _inside(rel) -> bool:
    parts = Path(rel).parts if isinstance(rel, str) and rel else ("..",)
    return not Path(rel).is_absolute() and ".." not in parts


def _check_entry(p: Path, i: int, e) -> None:
    if not isinstance(e, dict):
        raise entry_error(p, i, e, f"expected an object, got {type(e).__name__}")
    for k in _ENTRY_STRINGS:
        if not isinstance(e.get(k), str) or not e[k]:
            raise entry_error(p, i, e, "missing" if k not in e else f"expected a non-empty string, got {e[k]!r}", k)
    files = e.get("files")
    if not isinstance(files, dict) or any(f not in files for f in ("weight", "input")):
        raise entry_error(p, i, e, "expected an object with at least 'weight' and 'input'", "files")
    for name, rel in files.items():
        if not _inside(rel):
            raise entry_error(p, i, e, f"expected a path inside the export folder, got {rel!r}", f"files.{name}")
    if not _inside(e.get("output_dir", "out")):
        raise entry_error(p, i, e, f"expected a path inside the export folder, got {e['output_dir']!r}",
                          "output_dir")
    rep = e.get("repeat", 1)
    if not isinstance(rep, int) or isinstance(rep, bool) or rep < 1:
        raise entry_error(p, i, e, f"expected an integer >= 1, got {rep!r}", "repeat")
    if e.get("tile") is not None and not isinstance(e["tile"], dict):
        raise entry_error(p, i, e, f"expected an object, got {e['tile']!r}", "tile")


def load_manifest(directory: str | Path) -> dict:
    """Read and check ``DIR/manifest.json`` of an export (every layer entry, see :func:`entry_error`)."""
    from plumsim.stonne.export import EXPORT_FORMAT

    p = Path(directory) / "manifest.json"
    if not p.is_file():
        raise DataError("no manifest.json: not a `plumsim stonne export` folder", path=p.parent)
    try:
        man = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON ({exc})", path=p) from None
    if not isinstance(man, dict) or man.get("format") != EXPORT_FORMAT:
        raise DataError(f"format is {man.get('format') if isinstance(man, dict) else None!r}, expected "
                        f"{EXPORT_FORMAT!r}", path=p, field="format")
    for k, typ in (("accel", dict), ("layers", list)):
        if k not in man:
            raise DataError(f"missing key {k!r}", path=p, field=k)
        if not isinstance(man[k], typ):
            raise DataError(f"expected a JSON {'object' if typ is dict else 'array'}", path=p, field=k)
    for i, e in enumerate(man["layers"], 1):
        _check_entry(p, i, e)
    skipped = man.get("skipped", [])
    if not isinstance(skipped, list) or not all(isinstance(s, dict) and "layer" in s for s in skipped):
        raise DataError("expected an array of objects with a 'layer' key", path=p, field="skipped")
    return man


def _load_array(d: Path, index, entry, name: str) -> np.ndarray:
    p = d / entry["files"][name]
    key = f"files.{name}"
    if not p.is_file():
        raise entry_error(p, index, entry, "exported file missing", key)
    try:
        with open(p, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise ValueError("not a NumPy .npy file")
        a = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise entry_error(p, index, entry, f"cannot read as .npy: {exc}", key) from None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise entry_error(p, index, entry, f"expected an array of numbers, got {getattr(a, 'dtype', type(a))}", key)
    return a


def _layer_shape(d: Path, index, entry):
    from plumsim.errors import WorkloadError
    from plumsim.workload.format import shape_from_dict

    try:
        return shape_from_dict(entry.get("shape"), d / "manifest.json", "shape")
    except WorkloadError as exc:
        raise entry_error(d / "manifest.json", index, entry, exc.detail, exc.field) from None


def _check_arrays(d: Path, index, entry, shape, arrays: dict) -> None:
    """Shapes of the exported arrays against the manifest's layer shape."""
    s = shape
    want = {"weight": (s.K * (s.C // s.G) * s.R * s.S,), "codes": (s.K, s.C // s.G, s.R, s.S), "scale": (s.K,),
            "sign": (s.K,)}
    x = arrays["input"]
    per_item = (s.C, s.X, s.Y) if entry["kind"] == "conv" else (s.C,)
    if x.ndim != 1 + len(per_item) or tuple(x.shape[1:]) != per_item or x.shape[0] < 1:
        raise entry_error(d / entry["files"]["input"], index, entry, f"input has shape {list(x.shape)}, the layer's "
                          f"shape needs [n >= 1, {', '.join(map(str, per_item))}]", "files.input")
    for name, a in arrays.items():
        got = (a.size,) if name == "weight" else a.shape
        if name in want and tuple(got) != want[name]:
            what = f"{a.size} values" if name == "weight" else f"shape {list(a.shape)}"
            raise entry_error(d / entry["files"][name], index, entry, f"{what}, the layer's shape needs "
                              f"{want[name][0] if name == 'weight' else list(want[name])}", f"files.{name}")


def rebuild_layer(directory: str | Path, entry: dict, index: int | None = None):
    """The :class:`~plumsim.workload.layer.Layer` of one manifest entry (``index``: its 1-based place in
    ``layers``, for messages), from the exported .npy files.

    Quantized layers come back with their codes/scale/sign (checked: codes*scale equals weight.npy
    bit for bit); full-precision layers with the float weights. The exported input is the input_sample.
    Anything missing, malformed or modified is a DataError naming the file, the layer and the key.
    """
    from plumsim.workload.layer import Layer

    d = Path(directory)
    shape = _layer_shape(d, index, entry)
    quantized = "codes" in entry["files"]
    names = ("weight", "input", "codes", "scale", "sign") if quantized else ("weight", "input")
    for n in names:
        if n not in entry["files"]:
            raise entry_error(d / "manifest.json", index, entry, "missing (a quantized layer has codes, scale and "
                              "sign)", f"files.{n}")
    arrays = {n: _load_array(d, index, entry, n) for n in names}
    _check_arrays(d, index, entry, shape, arrays)
    w4 = arrays["weight"].astype(np.float32).reshape(shape.K, shape.C // shape.G, shape.R, shape.S)
    x = arrays["input"].astype(np.float32)
    if not quantized:
        return Layer(entry["name"], entry["kind"], entry["scheme"], shape, None,
                     np.ones(shape.K, np.float32), np.zeros(shape.K, np.int8), weights=w4, input_sample=x)
    layer = Layer(entry["name"], entry["kind"], entry["scheme"], shape, arrays["codes"].astype(np.int8),
                  arrays["scale"].astype(np.float32), arrays["sign"].astype(np.int8), input_sample=x)
    if not np.array_equal(layer.weight_tensor(), w4):
        raise entry_error(d / entry["files"]["weight"], index, entry, "differs from codes*scale: the export was "
                          "modified", "files.weight")
    return layer


def _model_tile(d: Path, index, entry: dict, controller: str):
    """The manifest's tile in the model's terms (MaeriTile for a MAERI conv, else T_M/T_N(/T_K))."""
    from plumsim.accel.maeri import MaeriTile
    from plumsim.errors import ConfigError

    t, man = entry.get("tile"), d / "manifest.json"
    if t is None:
        return None
    if controller != "TPU_OS_DENSE" and entry["op"] == "CONV":
        try:
            return MaeriTile.from_dict(t)
        except ConfigError as exc:
            raise entry_error(man, index, entry, exc.detail, f"tile.{exc.field}") from None
    need = ("T_M", "T_N") if controller == "TPU_OS_DENSE" else ("T_M", "T_N", "T_K")
    for k in need:
        v = t.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise entry_error(man, index, entry, f"expected an integer >= 1, got {v!r} (a {entry['op']} tile on "
                              f"{controller} has {', '.join(need)})", f"tile.{k}")
    return {k: t[k] for k in need}


def _energy(result, table):
    from plumsim.energy import total_energy

    try:
        return total_energy(result, table), ""
    except PlumsimError as exc:
        return None, f"energy: {exc}"


def _run_model(d: Path, index: int, e: dict, config, tab, row: dict, notes: list):
    """The model on the rebuilt layer (an unreadable export raises; a model refusal is a note)."""
    from plumsim.accel.simulate import simulate_layer

    layer = rebuild_layer(d, e, index)
    tile = _model_tile(d, index, e, config.controller_type)
    try:
        model = simulate_layer(layer, config, tile)
    except PlumsimError as exc:
        notes.append(f"model: {exc}")
        return None
    row["cycles_model"] = int(model.cycles)
    row["energy_model"], n = _energy(model, tab)
    notes.append(n)
    return model


def _read_reference(d: Path, e: dict, tab, row: dict, notes: list, model_ran: bool):
    """STONNE's side of one layer: status missing / ok / error, cycles, energy (None when unread)."""
    from plumsim.stonne.io import read_stonne_dir

    out = d / e.get("output_dir", f"out/{e['key']}")
    if not out.is_dir() or not any(out.glob("*.counters")):
        row["status"] = "missing"
        notes.append(f"no STONNE output in {out.relative_to(d)}/ (run run.sh)")
        return None
    repeat = int(e.get("repeat", 1))
    try:
        run = read_stonne_dir(out)
    except PlumsimError as exc:
        row["status"] = "error"
        notes.append(f"STONNE output: {exc}")
        return None
    ref = run.total.scaled(repeat)
    row.update(cycles_ref=int(ref.cycles), stonne_files=len(run.layers), status="ok" if model_ran else "error")
    row["energy_ref"], n = _energy(ref, tab)
    notes.append(n)
    if run.energy.get("total") is not None and len(run.layers) == 1:
        row["energy_ref_reported"] = run.energy["total"] * repeat
    if repeat > 1:
        notes.append(f"STONNE ran one of {repeat} identical groups; scaled x{repeat}")
    return ref


def _compare_layer(d: Path, index: int, e: dict, config, tab):
    row = dict.fromkeys(LAYER_COLUMNS)
    row.update(name=e["name"], key=e["key"], op=e["op"], runner=e["runner"])
    notes: list[str] = []
    model = _run_model(d, index, e, config, tab, row, notes)
    ref = _read_reference(d, e, tab, row, notes, model is not None)
    row["rel_err"] = _rel(row["cycles_model"], row["cycles_ref"])
    row["energy_rel_err"] = _rel(row["energy_model"], row["energy_ref"])
    row["note"] = "; ".join(n for n in notes if n)
    return row, ref, model


def _counter_rows(ref_sum: SimResult | None, model_sum: SimResult | None) -> pd.DataFrame:
    crow = []
    if ref_sum is not None:
        for k in sorted(set(ref_sum.counters) | set(model_sum.counters)):
            a, b = ref_sum.counters.get(k), model_sum.counters.get(k)
            crow.append({"counter": k, "ref": a, "model": b, "rel_err": _rel(b, a)})
        for k in sorted(set(ref_sum.sram) | set(model_sum.sram)):
            a, b = ref_sum.sram.get(k), model_sum.sram.get(k)
            crow.append({"counter": f"SRAM.{k}", "ref": a, "model": b, "rel_err": _rel(b, a)})
    return pd.DataFrame(crow, columns=["counter", "ref", "model", "rel_err"])


def _totals(rows: list[dict], n_layers: int) -> dict:
    ok_rows = [r for r in rows if r["status"] == "ok"]

    def tot(col):
        vals = [r[col] for r in ok_rows]
        return None if not vals or any(v is None for v in vals) else float(math.fsum(vals))

    status = [r["status"] for r in rows]
    total = {"layers": n_layers, "compared": status.count("ok"), "missing": status.count("missing"),
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
    return total


def compare_export(directory: str | Path, table="stonne") -> CompareReport:
    """Compare ``DIR/out/<key>/`` (STONNE) with the model for every layer of an export (see module doc)."""
    from plumsim.accel.cfg import load_config
    from plumsim.energy import load_energy_table

    d = Path(directory)
    man = load_manifest(d)
    config = load_config(d / man["accel"].get("file", "accel.cfg"))
    tab = table if hasattr(table, "energy") else load_energy_table(table)
    rows, results = [], {}
    ref_sum = model_sum = None
    for i, e in enumerate(man["layers"], 1):
        row, ref, model = _compare_layer(d, i, e, config, tab)
        rows.append(row)
        results[e["key"]] = (ref, model)
        if row["status"] == "ok":
            ref_sum = ref if ref_sum is None else ref_sum + ref
            model_sum = model if model_sum is None else model_sum + model
    for s in man.get("skipped", []):
        row = dict.fromkeys(LAYER_COLUMNS)
        row.update(name=s["layer"], key=s.get("key"), status="skipped", note=s.get("reason", ""))
        rows.append(row)
    layers = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    return CompareReport(layers=layers, counters=_counter_rows(ref_sum, model_sum),
                         total=_totals(rows, len(man["layers"])), unit=tab.unit, results=results)

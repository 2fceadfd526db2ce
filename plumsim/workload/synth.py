"""Shape-only workloads: a layer table (YAML) + a scheme + seeded latent weights -> quantized layers.

numpy + pyyaml only. The table format is documented in ``workloads/README.md``; in short, either a list
of layers or a mapping ``{name, description, batch, layers: [...]}``, each layer a mapping with keys
:data:`LAYER_KEYS` (``C, K`` always; ``R, S, X, Y`` for conv; the rest have defaults).

Latent weights: layer i (0-based, in table order) draws
``numpy.random.default_rng([seed, i]).standard_normal((K, C/G, R, S))`` (float64, standard normal); a
layer with its own ``seed: s`` key draws ``default_rng(s).standard_normal(...)`` instead, which is exactly
how the STONNE reference weights were made (tests/data/stonne/REFERENCE_README.md). The latent tensor is
then quantized with the rules of :mod:`plumsim.workload.schemes` (the same as ``plumsim.quant``). Layers
marked ``quantized: false`` (FP stem, classifier, 1x1 downsample shortcuts) keep the latent weights as
float32, scheme ``fp``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plumsim.errors import WorkloadError
from plumsim.workload.format import Workload, shape_from_dict
from plumsim.workload.layer import KINDS, Layer
from plumsim.workload.schemes import PAPER_POSITIVE_FRACTION, SCHEMES, check_scheme, quantize

TOP_KEYS = ("name", "description", "batch", "input", "layers")
LAYER_KEYS = ("name", "kind", "C", "K", "R", "S", "X", "Y", "stride", "padding", "G", "N", "quantized", "seed")
_INT_KEYS = ("C", "K", "R", "S", "X", "Y", "stride", "padding", "G", "N", "seed")


def load_table(path: str | Path) -> dict:
    """Read and validate a layer table. Returns ``{"name", "description", "layers": [spec, ...]}``
    where each spec has every key of :data:`LAYER_KEYS` filled in (``seed`` None when not given)."""
    from plumsim.workload.yamlload import read_yaml

    p = Path(path)
    if not p.is_file():
        raise WorkloadError("layer table not found", path=p)
    doc = read_yaml(p, WorkloadError)  # not text, not YAML, a key given twice: one error naming the line
    return parse_table(doc, path=p)


def parse_table(doc, path=None) -> dict:
    """Validate an already-parsed table (see :func:`load_table`)."""
    if isinstance(doc, list):
        doc = {"layers": doc}
    if not isinstance(doc, dict):
        raise WorkloadError("expected a list of layers or a mapping with key 'layers'", path=path)
    unknown = [k for k in doc if k not in TOP_KEYS]
    if unknown:
        raise WorkloadError(f"unknown key {unknown[0]!r}; valid keys: {', '.join(TOP_KEYS)}", path=path,
                            field=str(unknown[0]))
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        raise WorkloadError("expected a non-empty list of layers", path=path, field="layers")
    batch = doc.get("batch", 1)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise WorkloadError(f"expected an integer >= 1, got {batch!r}", path=path, field="batch")
    default_name = Path(path).stem if path is not None else "table"
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"expected a non-empty string, got {name!r}", path=path, field="name")
    specs, seen = [], set()
    for i, raw in enumerate(layers):
        where = f"layers[{i}]"
        if not isinstance(raw, dict):
            raise WorkloadError(f"expected a mapping, got {raw!r}", path=path, field=where)
        unknown = [k for k in raw if k not in LAYER_KEYS]
        if unknown:
            raise WorkloadError(f"unknown key {unknown[0]!r}; valid keys: {', '.join(LAYER_KEYS)}",
                                path=path, field=f"{where}.{unknown[0]}")
        lname = raw.get("name")
        if not isinstance(lname, str) or not lname:
            raise WorkloadError(f"expected a non-empty string, got {lname!r}", path=path, field=f"{where}.name")
        where = f"layers[{i}] ({lname})"
        if lname in seen:
            raise WorkloadError(f"duplicate layer name {lname!r}", path=path, field=f"{where}.name")
        seen.add(lname)
        kind = raw.get("kind", "conv")
        if kind not in KINDS:
            raise WorkloadError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}", path=path,
                                field=f"{where}.kind")
        quantized = raw.get("quantized", True)
        if not isinstance(quantized, bool):
            raise WorkloadError(f"expected true or false, got {quantized!r}", path=path,
                                field=f"{where}.quantized")
        for k in _INT_KEYS:
            if k in raw and (not isinstance(raw[k], int) or isinstance(raw[k], bool)):
                raise WorkloadError(f"expected an integer, got {raw[k]!r}", path=path, field=f"{where}.{k}")
        required = ("C", "K") if kind == "linear" else ("C", "K", "R", "S", "X", "Y")
        for k in required:
            if k not in raw:
                raise WorkloadError(f"missing (a {kind} layer needs {', '.join(required)})", path=path,
                                    field=f"{where}.{k}")
        if kind == "linear":
            for k in ("R", "S", "X", "Y", "stride", "G"):
                if raw.get(k, 1) != 1:
                    raise WorkloadError(f"a linear layer has {k} = 1, got {raw[k]!r}", path=path,
                                        field=f"{where}.{k}")
            if raw.get("padding", 0) != 0:
                raise WorkloadError(f"a linear layer has padding = 0, got {raw['padding']!r}", path=path,
                                    field=f"{where}.padding")
        shape = {"N": raw.get("N", batch), "G": raw.get("G", 1), "C": raw["C"], "K": raw["K"],
                 "R": raw.get("R", 1), "S": raw.get("S", 1), "X": raw.get("X", 1), "Y": raw.get("Y", 1),
                 "stride": raw.get("stride", 1), "padding": raw.get("padding", 0)}
        shape_from_dict(shape, path, where)  # range checks: positive, G divides C and K, kernel fits
        seed = raw.get("seed")
        if seed is not None and seed < 0:
            raise WorkloadError(f"expected an integer >= 0, got {seed}", path=path, field=f"{where}.seed")
        specs.append({"name": lname, "kind": kind, "shape": shape, "quantized": quantized, "seed": seed})
    desc = doc.get("description", "")
    return {"name": name, "description": desc if isinstance(desc, str) else str(desc), "layers": specs}


def latent_weights(spec: dict, index: int, seed: int) -> np.ndarray:
    """Standard-normal float64 latent weights [K, C/G, R, S] of table layer ``index`` (see module doc)."""
    s = spec["shape"]
    shape = (s["K"], s["C"] // s["G"], s["R"], s["S"])
    rng = np.random.default_rng(spec["seed"] if spec.get("seed") is not None else [seed, index])
    return rng.standard_normal(shape)


def _check_density_reachable(tbl: dict, scheme: str, density: float, path=None) -> None:
    """Refuse a density target that leaves a quantized layer with no non-zero to keep: signed-binary keeps
    ``round(D * C*R*S/G)`` weights per filter and ternary ``round(D * numel)`` per layer; where that is 0 the
    quantizer would silently keep one instead (a density other than the one asked for, or an all-zero
    layer), so the smallest density every layer can honour is named instead."""
    worst = None
    for spec in tbl["layers"]:
        if not spec["quantized"] or scheme not in ("signed-binary", "ternary"):
            continue
        s = spec["shape"]
        per = (s["C"] // s["G"]) * s["R"] * s["S"]
        n = per if scheme == "signed-binary" else per * s["K"]
        if round(density * n) == 0 and (worst is None or n < worst[1]):
            worst = (spec["name"], n)
    if worst is None:
        return
    need = max(0.5 / ((s["C"] // s["G"]) * s["R"] * s["S"] * (1 if scheme == "signed-binary" else s["K"]))
               for s in (sp["shape"] for sp in tbl["layers"] if sp["quantized"]))
    unit = "per filter" if scheme == "signed-binary" else "in the layer"
    raise WorkloadError(f"density {density:g} leaves layer {worst[0]!r} with no non-zero weight ({scheme} keeps "
                        f"round(density x {worst[1]}) = 0 of its {worst[1]} weights {unit}); the smallest density "
                        f"every layer of this table can take is {need:.3g}", path=path, field="density")


def synth(table, scheme: str, *, seed: int = 0, density: float | None = None,
          positive_fraction: float = PAPER_POSITIVE_FRACTION, name: str | None = None) -> Workload:
    """Build a workload from a layer table (a path, or the dict of :func:`load_table`).

    ``scheme``: fp, binary, ternary or signed-binary (applied to every layer not marked
    ``quantized: false``). ``density``: target density (signed-binary: exact per filter; ternary: exact
    per layer; binary: only 1 allowed). A target so small that a layer would keep no non-zero weight
    (e.g. 1e-9) is refused, naming the layer and the smallest density the table can take. ``positive_fraction``: signed-binary share of positive filters.
    """
    check_scheme(scheme, field="scheme")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise WorkloadError(f"seed must be an integer >= 0, got {seed!r}", field="seed")
    if density is not None:
        if not 0.0 < float(density) <= 1.0:
            raise WorkloadError(f"density must be in (0, 1], got {density}", field="density")
        if scheme == "binary" and float(density) != 1.0:
            raise WorkloadError(f"binary weights are never zero, so --density must be 1 (got {density}); "
                                "use ternary or signed-binary for a density target", field="density")
        if scheme == "fp":
            raise WorkloadError("the fp scheme has no density target", field="density")
    if not 0.0 <= positive_fraction <= 1.0:
        raise WorkloadError(f"positive_fraction must be in [0, 1], got {positive_fraction}",
                            field="positive_fraction")
    tbl = load_table(table) if isinstance(table, (str, Path)) else table
    if density is not None:
        _check_density_reachable(tbl, scheme, float(density), table if isinstance(table, (str, Path)) else None)
    layers = []
    for i, spec in enumerate(tbl["layers"]):
        w = latent_weights(spec, i, seed)
        lscheme = scheme if spec["quantized"] else "fp"
        codes, scale, sign = quantize(lscheme, w, density=density if lscheme != "fp" else None,
                                      positive_fraction=positive_fraction)
        shape = shape_from_dict(spec["shape"], None, spec["name"])
        options = {"latent": "standard_normal",
                   "latent_seed": spec["seed"] if spec.get("seed") is not None else [int(seed), i]}
        if lscheme == "signed-binary":
            options["positive_fraction"] = float(positive_fraction)
        if density is not None and lscheme != "fp":
            options["target_density"] = float(density)
        if lscheme not in SCHEMES:   # a registered user quantizer: the manifest says who declared the scheme
            options["detection"] = {"scheme": lscheme, "source": "declared"}
        layers.append(Layer(name=spec["name"], kind=spec["kind"], scheme=lscheme, shape=shape, codes=codes,
                            scale=scale, sign=sign,
                            weights=w.astype(np.float32) if lscheme == "fp" else None, options=options))
    meta = {"source": "synth", "table": tbl["name"], "description": tbl.get("description", ""),
            "scheme": scheme, "seed": int(seed), "density": None if density is None else float(density),
            "positive_fraction": float(positive_fraction), "latent": "standard_normal"}
    return Workload(name=name or f"{tbl['name']}-{scheme}", layers=layers, meta=meta)

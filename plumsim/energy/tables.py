"""Energy tables: per-component area, static energy and per-action dynamic energy, with units and sources.

Two tables ship as package data (``plumsim/data/energy/``):

* ``stonne``: STONNE's stock table (commit 22634b8, ``energy_tables/energy_model.txt``), unit
  "STONNE units" (STONNE does not document its units; never call them pJ).
* ``horowitz45``: pJ, Horowitz ISSCC 2014 45 nm, scaled to the operand bit widths (see the file's header
  and :func:`_resolve_model`).

Users pass their own file: a YAML in the same layout, or a STONNE-style text table of
``COMPONENT ACTION VALUE`` lines (unit "STONNE units"). Every problem raises
:class:`~plumsim.errors.EnergyTableError` naming the file, the component/action and what is valid.
numpy/pandas/yaml only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from plumsim.errors import EnergyTableError

UNITS = ("STONNE units", "pJ", "fJ", "nJ", "uJ", "J")

# Actions every table must give, per STONNE component (the .counters file's vocabulary).
REQUIRED = {
    "RN_WIRE": ("WRITE", "READ"),
    "DN_WIRE": ("WRITE", "READ"),
    "MN_WIRE": ("WRITE", "READ"),
    "CB_WIRE": ("WRITE", "READ"),
    "FIFO": ("PUSH", "POP", "FRONT"),
    "ADDER": ("ADD_2_1", "ADD_3_1", "CONFIGURATION"),
    "SWITCH": ("ROUTE_UNICAST", "ROUTE_BROADCAST"),
    "MULTIPLIER": ("MULTIPLICATION", "FORWARD_PSUM", "CONFIGURATION"),
    "GLOBALBUFFER": ("READ", "WRITE"),
    "ACCUMULATOR": ("READ", "WRITE", "ADD"),
}
# Optional components (plumsim's repetition-aware counters) and optional actions.
OPTIONAL = {
    "INDEX": ("READ",),
    "WEIGHT_STORAGE": ("BITS",),
}
OPTIONAL_ACTIONS = {"GLOBALBUFFER": ("READ_WEIGHT", "READ_INPUT", "READ_PSUM")}

# Component -> breakdown group (FIFOs cost 0 in both shipped tables; most of them sit in the
# reduction network in STONNE's .counters files).
GROUPS = {
    "SWITCH": "distribution network", "DN_WIRE": "distribution network",
    "MULTIPLIER": "multipliers", "MN_WIRE": "multipliers",
    "ADDER": "reduction network", "RN_WIRE": "reduction network", "FIFO": "reduction network",
    "ACCUMULATOR": "accumulators",
    "GLOBALBUFFER": "global buffer", "INDEX": "global buffer", "WEIGHT_STORAGE": "global buffer",
    "CB_WIRE": "collection bus",
}
#: the component groups of a breakdown in the order figures stack them (``static``: leakage of every
#: component, instances x STATIC x cycles)
GROUP_ORDER = ("distribution network", "multipliers", "reduction network", "accumulators", "global buffer",
               "collection bus", "static")

ACTIVATIONS = {"int8": ("int", 8), "int16": ("int", 16), "fp16": ("fp", 16), "fp32": ("fp", 32)}
BITWIDTH_KEYS = ("weight_bits", "activation", "accumulator_bits", "buffer_kb", "index_bits")
SHIPPED = ("stonne", "horowitz45")


@dataclass
class EnergyTable:
    """A resolved energy table.

    ``dynamic[(COMPONENT, ACTION)]``: energy per event, in ``unit``. ``static[COMPONENT]``: energy per
    cycle per instance, in ``unit``. ``area[COMPONENT]``: area per instance, in ``area_unit``.
    ``sources[(COMPONENT, ACTION)]``: where the figure comes from. ``bitwidths``: the operand widths the
    figures were resolved for (empty for width-independent tables).
    """

    name: str
    unit: str
    dynamic: dict
    static: dict
    area: dict
    source: str = ""
    area_unit: str = ""
    path: str = ""
    sources: dict = field(default_factory=dict)
    bitwidths: dict = field(default_factory=dict)
    not_priced: tuple = ()          # components the table gives no energy for (priced 0), and why:
    not_priced_reason: str = ""

    def unpriced_note(self) -> str:
        """'' when every component is priced, else one line naming what is not (for outputs and reports)."""
        if not self.not_priced:
            return ""
        return f"not priced by {self.name}: {', '.join(self.not_priced)} ({self.not_priced_reason})"

    def energy(self, component: str, action: str) -> float:
        """Energy per event of ``COMPONENT.ACTION`` in ``self.unit``; EnergyTableError if absent."""
        try:
            return self.dynamic[(component, action)]
        except KeyError:
            have = sorted(a for c, a in self.dynamic if c == component)
            what = f"actions of {component}: {', '.join(have)}" if have else \
                f"components: {', '.join(sorted({c for c, _ in self.dynamic}))}"
            raise EnergyTableError(f"no energy for action {component}.{action}; the table has {what}",
                                   path=self.path or self.name, field=f"{component}.{action}") from None

    def has(self, component: str, action: str) -> bool:
        return (component, action) in self.dynamic


def shipped_table_path(name: str) -> Path:
    """Path of a shipped table (``stonne`` or ``horowitz45``)."""
    return Path(str(resources.files("plumsim") / "data" / "energy" / f"{name}.yaml"))


def load_energy_table(name_or_path: str | Path = "stonne", **bitwidths) -> EnergyTable:
    """Load a shipped table by name or a user file (YAML, or STONNE ``COMPONENT ACTION VALUE`` text).

    ``bitwidths`` (used by tables whose entries name a scaling model, e.g. ``horowitz45``):
    ``weight_bits`` 1-32 (bits per weight code), ``activation`` one of int8/int16/fp16/fp32,
    ``accumulator_bits`` 1-64 (integer accumulators; fp activations accumulate in fp32 unless 16 is
    given), ``buffer_kb`` (global-buffer capacity in KB, picks the SRAM energy per access),
    ``index_bits`` (bits per metadata event, 1 = bitmap bit). Unknown keys raise EnergyTableError.
    """
    name = str(name_or_path)
    path = shipped_table_path(name) if name in SHIPPED else Path(name)
    if not path.is_file():
        raise EnergyTableError(f"no such energy table; give a file or one of: {', '.join(SHIPPED)}",
                               path=path)
    for k in bitwidths:
        if k not in BITWIDTH_KEYS:
            raise EnergyTableError(f"unknown bit-width option {k!r}; valid: {', '.join(BITWIDTH_KEYS)}",
                                   path=path, field=k)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EnergyTableError(f"not valid YAML ({exc})".replace("\n", " "), path=path) from None
        return _from_doc(doc, path, bitwidths)
    return _from_stonne_text(text, path)


def _from_stonne_text(text: str, path: Path) -> EnergyTable:
    """STONNE's own ``COMPONENT ACTION VALUE`` lines (``#`` comments); unit "STONNE units"."""
    comps: dict = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise EnergyTableError(f"line {lineno}: expected 'COMPONENT ACTION VALUE', got {line!r}",
                                   path=path)
        comp, action, value = parts
        entry = comps.setdefault(comp, {"actions": {}})
        if action in ("AREA", "STATIC"):
            entry[action] = value
        else:
            entry["actions"][action] = value
    doc = {"name": path.stem, "unit": "STONNE units", "area_unit": "STONNE area units",
           "source": f"STONNE-format table {path.name}", "components": comps}
    return _from_doc(doc, path, {})


def _number(value, path, where) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise EnergyTableError(f"value {value!r} is not a number", path=path, field=where) from None
    if not math.isfinite(v) or v < 0:
        raise EnergyTableError(f"value {v} is not allowed; energies and areas are finite and >= 0",
                               path=path, field=where)
    return v


def _bitwidths(doc: dict, given: dict, path) -> dict:
    bw = dict(doc.get("defaults") or {})
    bw.update(given)
    out = {}
    wb = bw.get("weight_bits", 8)
    if not isinstance(wb, int) or not 1 <= wb <= 32:
        raise EnergyTableError(f"weight_bits={wb!r}; allowed: an integer 1-32", path=path, field="weight_bits")
    out["weight_bits"] = wb
    act = str(bw.get("activation", "int8"))
    if act not in ACTIVATIONS:
        raise EnergyTableError(f"activation={act!r}; allowed: {', '.join(ACTIVATIONS)}", path=path,
                               field="activation")
    out["activation"] = act
    kind = ACTIVATIONS[act][0]
    acc = bw.get("accumulator_bits", 32)
    if not isinstance(acc, int) or not 1 <= acc <= 64 or (kind == "fp" and acc not in (16, 32)):
        allowed = "16 or 32 (fp activations)" if kind == "fp" else "an integer 1-64"
        raise EnergyTableError(f"accumulator_bits={acc!r}; allowed: {allowed}", path=path,
                               field="accumulator_bits")
    out["accumulator_bits"] = acc
    kb = bw.get("buffer_kb", 32)
    if not isinstance(kb, (int, float)) or not kb > 0:
        raise EnergyTableError(f"buffer_kb={kb!r}; allowed: a positive number", path=path, field="buffer_kb")
    out["buffer_kb"] = kb
    ib = bw.get("index_bits", 1)
    if not isinstance(ib, int) or ib < 1:
        raise EnergyTableError(f"index_bits={ib!r}; allowed: an integer >= 1", path=path, field="index_bits")
    out["index_bits"] = ib
    return out


def _interp_linear(points: dict, x: float) -> float:
    """Straight line through the two published points (extrapolated), floored at 0."""
    (x0, y0), (x1, y1) = sorted((float(k), float(v)) for k, v in points.items())[:2]
    return max(0.0, y0 + (x - x0) * (y1 - y0) / (x1 - x0))


def _interp_loglog(points: dict, x: float) -> float:
    """Piecewise log-log interpolation (power law between neighbours), extrapolated at the ends."""
    pts = sorted((float(k), float(v)) for k, v in points.items())
    lo, hi = (pts[0], pts[1]) if x <= pts[1][0] else (pts[-2], pts[-1])
    for a, b in zip(pts, pts[1:]):
        if a[0] <= x <= b[0]:
            lo, hi = a, b
            break
    t = (math.log(x) - math.log(lo[0])) / (math.log(hi[0]) - math.log(lo[0]))
    return math.exp(math.log(lo[1]) + t * (math.log(hi[1]) - math.log(lo[1])))


def _resolve_model(spec: dict, points: dict, bw: dict, path, where) -> float:
    """Energy of one modelled action for the bit widths ``bw`` (see horowitz45.yaml's header)."""
    model = spec.get("model")
    kind, abits = ACTIVATIONS[bw["activation"]]
    need = {"add": ("add_int", "add_fp"), "mult": ("mult_int", "mult_fp"), "sram": ("sram_64bit_kb",)}
    if model not in need:
        raise EnergyTableError(f"unknown model {model!r}; allowed: {', '.join(need)}", path=path, field=where)
    for p in need[model]:
        if p not in points:
            raise EnergyTableError(f"model {model!r} needs published points '{p}' under 'points'",
                                   path=path, field=where)
    times = _number(spec.get("times", 1), path, where + ".times")
    if model == "add":
        if kind == "fp":
            return times * float(points["add_fp"][bw["accumulator_bits"]])
        return times * _interp_linear(points["add_int"], bw["accumulator_bits"])
    if model == "mult":
        if kind == "fp":  # the integer weight is applied to an fp activation in an fp multiplier
            return times * float(points["mult_fp"][abits])
        # integer: linear in the operand-width product through (8*8, 0.2) and (32*32, 3.1)
        prod = {int(k) ** 2: v for k, v in points["mult_int"].items()}
        return times * _interp_linear(prod, bw["weight_bits"] * abits)
    width = spec.get("width", "activation")
    bits = {"weight": bw["weight_bits"], "activation": abits, "accumulator": bw["accumulator_bits"],
            "index": bw["index_bits"]}
    if width not in bits:
        raise EnergyTableError(f"unknown width {width!r}; allowed: {', '.join(bits)}", path=path, field=where)
    return times * _interp_loglog(points["sram_64bit_kb"], bw["buffer_kb"]) * bits[width] / 64.0


def _from_doc(doc, path: Path, given_bw: dict) -> EnergyTable:
    if not isinstance(doc, dict) or not isinstance(doc.get("components"), dict):
        raise EnergyTableError("expected a mapping with 'unit' and 'components'", path=path)
    unit = doc.get("unit")
    if unit not in UNITS:
        raise EnergyTableError(f"unknown unit {unit!r}; allowed: {', '.join(UNITS)}", path=path, field="unit")
    points = doc.get("points") or {}
    uses_models = any(isinstance(v, dict) and "model" in v
                      for c in doc["components"].values() if isinstance(c, dict)
                      for v in (c.get("actions") or {}).values())
    bw = _bitwidths(doc, given_bw, path) if uses_models else {}
    table_source = str(doc.get("source", ""))
    dynamic, static, area, sources = {}, {}, {}, {}
    for comp, entry in doc["components"].items():
        if comp not in REQUIRED and comp not in OPTIONAL:
            raise EnergyTableError(f"unknown component {comp!r}; valid: "
                                   f"{', '.join(list(REQUIRED) + list(OPTIONAL))}", path=path, field=comp)
        if not isinstance(entry, dict):
            raise EnergyTableError("expected a mapping with AREA, STATIC, actions", path=path, field=comp)
        allowed = REQUIRED.get(comp, ()) + OPTIONAL.get(comp, ()) + OPTIONAL_ACTIONS.get(comp, ())
        for key in ("AREA", "STATIC"):
            if key not in entry:
                raise EnergyTableError(f"missing {key} (per instance); give 0 if none", path=path,
                                       field=f"{comp}.{key}")
        actions = entry.get("actions") or {}
        for action in REQUIRED.get(comp, ()) + OPTIONAL.get(comp, ()):
            if action not in actions:
                raise EnergyTableError(f"missing action {action}; {comp} needs: {', '.join(allowed)}",
                                       path=path, field=f"{comp}.{action}")
        values = {"AREA": entry["AREA"], "STATIC": entry["STATIC"], **actions}
        for action, raw in values.items():
            where = f"{comp}.{action}"
            if action not in ("AREA", "STATIC") and action not in allowed:
                raise EnergyTableError(f"unknown action {action!r}; {comp} allows: {', '.join(allowed)}",
                                       path=path, field=where)
            src = table_source
            if isinstance(raw, dict):
                src = str(raw.get("source", table_source))
                if "model" in raw:
                    v = _resolve_model(raw, points, bw, path, where)
                elif "value" in raw:
                    v = _number(raw["value"], path, where)
                else:
                    raise EnergyTableError("expected a number, {value: ...} or {model: ...}", path=path,
                                           field=where)
            else:
                v = _number(raw, path, where)
            if action == "AREA":
                area[comp] = v
            elif action == "STATIC":
                static[comp] = v
            else:
                dynamic[(comp, action)] = v
            sources[(comp, action)] = src
    for comp, acts in REQUIRED.items():
        if comp not in doc["components"]:
            raise EnergyTableError(f"missing component {comp} (actions {', '.join(acts)})", path=path,
                                   field=comp)
    unpriced = doc.get("not_priced") or []
    if not isinstance(unpriced, list) or any(c not in doc["components"] for c in unpriced):
        raise EnergyTableError(f"not_priced must list components of this table, got {unpriced!r}", path=path,
                               field="not_priced")
    for c in unpriced:
        if area.get(c, 0) or static.get(c, 0) or any(v for (cc, _), v in dynamic.items() if cc == c):
            raise EnergyTableError(f"{c} is listed in not_priced but has a non-zero figure", path=path,
                                   field="not_priced")
    return EnergyTable(name=str(doc.get("name", path.stem)), unit=unit, dynamic=dynamic, static=static,
                       area=area, source=table_source, area_unit=str(doc.get("area_unit", "")),
                       path=str(path), sources=sources, bitwidths=bw, not_priced=tuple(unpriced),
                       not_priced_reason=str(doc.get("not_priced_reason", "")))

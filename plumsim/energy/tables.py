"""Energy tables: per-component area, static energy and per-action dynamic energy, with units and sources.

Two tables ship as package data (``plumsim/data/energy/``):

* ``stonne``: STONNE's stock table (commit 22634b8, ``energy_tables/energy_model.txt``), unit
  "STONNE units" (STONNE does not document its units; never call them pJ).
* ``horowitz45``: pJ, Horowitz ISSCC 2014 45 nm, scaled to the operand bit widths (see the file's header
  and :func:`_resolve_model`).

Users pass their own file: a YAML in the same layout, or a text table (unit "STONNE units"): STONNE's
own ``energy_model.txt`` unchanged (``COMPONENT AREA=a STATIC=s ACTION=e ...`` lines), or one
``COMPONENT ACTION VALUE`` per line. STONNE's table prices no metadata, so a text table without ``INDEX``
gets the shipped ``stonne`` table's assumption (INDEX.READ = GLOBALBUFFER.READ / 8, said in its sources).
Every number must be finite and >= 0; a key, component/action or curve point given twice, a curve with
fewer points than its model needs, a string, list or boolean where a number belongs, or a file that is
not text is refused. Every problem raises
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
    if path.suffix.lower() in (".yaml", ".yml"):
        from plumsim.workload.yamlload import read_yaml

        return _from_doc(read_yaml(path, EnergyTableError), path, bitwidths)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnergyTableError(f"not a text file: byte {exc.start} is not UTF-8 ({exc.reason}); expected a "
                               "YAML table or STONNE's text table", path=path) from None
    except OSError as exc:
        raise EnergyTableError(f"cannot read: {exc.strerror or exc}", path=path) from None
    return _from_stonne_text(text, path)


def _from_stonne_text(text: str, path: Path) -> EnergyTable:
    """A text table, unit "STONNE units", in either layout (``#`` comments, blank lines ignored):

    * STONNE's own (``stonne/energy_tables/energy_model.txt``, read by its ``calculate_energy.py``): one
      line per component, ``COMPONENT AREA=a STATIC=s ACTION=e ...``;
    * one number per line: ``COMPONENT ACTION VALUE``.

    A component/action given twice is refused with both line numbers."""
    comps: dict = {}
    seen: dict = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) >= 2 and all("=" in p for p in parts[1:]):   # STONNE: COMPONENT KEY=VALUE ...
            comp = parts[0]
            pairs = []
            for tok in parts[1:]:
                action, _, value = tok.partition("=")
                if not action or not value:
                    raise EnergyTableError(f"line {lineno}: expected ACTION=VALUE, got {tok!r}", path=path,
                                           field=comp)
                pairs.append((action, value))
        elif len(parts) == 3 and "=" not in line:
            comp, action, value = parts
            pairs = [(action, value)]
        else:
            raise EnergyTableError(f"line {lineno}: expected 'COMPONENT ACTION=VALUE ...' (STONNE's "
                                   f"energy_model.txt) or 'COMPONENT ACTION VALUE', got {line!r}", path=path)
        entry = comps.setdefault(comp, {"actions": {}})
        for action, value in pairs:
            where = f"{comp}.{action}"
            if where in seen:
                raise EnergyTableError(f"line {lineno}: {where} is given twice (lines {seen[where]} and "
                                       f"{lineno}); give it once", path=path, field=where)
            seen[where] = lineno
            try:
                v = _number(value, path, where, text=True)
            except EnergyTableError as exc:
                raise EnergyTableError(f"line {lineno}: {exc.detail}", path=path, field=where) from None
            if action in ("AREA", "STATIC"):
                entry[action] = v
            else:
                entry["actions"][action] = v
    if not comps:
        raise EnergyTableError("no entries: expected STONNE's 'COMPONENT ACTION=VALUE ...' lines or "
                               "'COMPONENT ACTION VALUE' lines", path=path)
    # STONNE prices no metadata: the repetition-aware dataflows' index reads get the shipped `stonne`
    # table's assumption (an index bit = 1/8 of a global-buffer element read), said in the sources
    gb_read = comps.get("GLOBALBUFFER", {}).get("actions", {}).get("READ")
    if "INDEX" not in comps and gb_read is not None:
        why = f"plumsim assumption (not in {path.name}): GLOBALBUFFER READ / 8 bits, as the shipped stonne table"
        comps["INDEX"] = {"AREA": {"value": 0, "source": why}, "STATIC": {"value": 0, "source": why},
                          "actions": {"READ": {"value": gb_read / 8, "source": why}}}
    if "WEIGHT_STORAGE" not in comps:
        why = "plumsim: WEIGHT_STORAGE.BITS reports capacity; it costs no energy per se"
        comps["WEIGHT_STORAGE"] = {"AREA": {"value": 0, "source": why}, "STATIC": {"value": 0, "source": why},
                                   "actions": {"BITS": {"value": 0, "source": why}}}
    doc = {"name": path.stem, "unit": "STONNE units", "area_unit": "STONNE area units",
           "source": f"STONNE-format table {path.name}", "components": comps}
    return _from_doc(doc, path, {})


def _number(value, path, where, text: bool = False) -> float:
    """A finite number >= 0 (a YAML number; a numeric string only from a text table)."""
    if isinstance(value, bool) or isinstance(value, (list, dict, tuple)) or value is None or (
            isinstance(value, str) and not text):
        kind = {bool: "a boolean", list: "a list", dict: "a mapping", tuple: "a list", str: "a string",
                type(None): "empty"}[type(value)]
        raise EnergyTableError(f"value {value!r} is not a number ({kind}); expected a number >= 0",
                               path=path, field=where)
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise EnergyTableError(f"value {value!r} is not a number", path=path, field=where) from None
    if not math.isfinite(v) or v < 0:
        raise EnergyTableError(f"value {value!r} is not allowed; energies and areas are finite and >= 0",
                               path=path, field=where)
    return v


def _count(bw: dict, key: str, default, lo: int, hi: int | None, path) -> int:
    v = bw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        allowed = f"an integer {lo}-{hi}" if hi is not None else f"an integer >= {lo}"
        raise EnergyTableError(f"{key}={v!r}; allowed: {allowed}", path=path, field=key)
    return v


def _bitwidths(doc: dict, given: dict, path) -> dict:
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise EnergyTableError(f"expected a mapping of {', '.join(BITWIDTH_KEYS)}, got {defaults!r}", path=path,
                               field="defaults")
    for k in defaults:
        if k not in BITWIDTH_KEYS:
            raise EnergyTableError(f"unknown bit-width option {k!r}; valid: {', '.join(BITWIDTH_KEYS)}",
                                   path=path, field=f"defaults.{k}")
    bw = dict(defaults)
    bw.update(given)
    out = {"weight_bits": _count(bw, "weight_bits", 8, 1, 32, path)}
    act = bw.get("activation", "int8")
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise EnergyTableError(f"activation={act!r}; allowed: {', '.join(ACTIVATIONS)}", path=path,
                               field="activation")
    out["activation"] = act
    kind = ACTIVATIONS[act][0]
    acc = bw.get("accumulator_bits", 32)
    if isinstance(acc, bool) or not isinstance(acc, int) or not 1 <= acc <= 64 or (kind == "fp" and acc not in (16, 32)):
        allowed = "16 or 32 (fp activations)" if kind == "fp" else "an integer 1-64"
        raise EnergyTableError(f"accumulator_bits={acc!r}; allowed: {allowed}", path=path,
                               field="accumulator_bits")
    out["accumulator_bits"] = acc
    kb = bw.get("buffer_kb", 32)
    if isinstance(kb, bool) or not isinstance(kb, (int, float)) or not math.isfinite(kb) or not kb > 0:
        raise EnergyTableError(f"buffer_kb={kb!r}; allowed: a finite positive number", path=path,
                               field="buffer_kb")
    out["buffer_kb"] = kb
    out["index_bits"] = _count(bw, "index_bits", 1, 1, None, path)
    return out


#: published-point curves the scaling models read, and the fewest points each needs (a straight line
#: or a power law needs two; the fp figures are looked up at the width asked for)
CURVES = {"add_int": 2, "mult_int": 2, "sram_64bit_kb": 2, "add_fp": 1, "mult_fp": 1}


def _points(doc: dict, path) -> dict:
    """``points``: {name: {x: y}}, every y a finite number >= 0; for the :data:`CURVES`, every x a finite
    number > 0, no x twice, at least the points the curve needs (and y > 0 for the log-log SRAM curve)."""
    raw = doc.get("points") or {}
    if not isinstance(raw, dict):
        raise EnergyTableError(f"expected a mapping of published points, got {raw!r}", path=path, field="points")
    out = {}
    for name, pts in raw.items():
        where = f"points.{name}"
        if not isinstance(pts, dict) or not pts:
            raise EnergyTableError(f"expected a mapping of x: energy, got {pts!r}", path=path, field=where)
        if name not in CURVES:
            out[name] = {k: _number(v, path, f"{where}.{k}") for k, v in pts.items()}
            continue
        curve: dict = {}
        for k, v in pts.items():
            if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
                raise EnergyTableError(f"x = {k!r} is not allowed; a curve's x is a finite number > 0",
                                       path=path, field=f"{where}.{k}")
            y = _number(v, path, f"{where}.{k}")
            if name == "sram_64bit_kb" and y <= 0:
                raise EnergyTableError(f"energy {v!r} at {k} KB: the log-log SRAM curve needs energies > 0",
                                       path=path, field=f"{where}.{k}")
            if float(k) in curve:
                raise EnergyTableError(f"the point at x = {k!r} is given twice", path=path, field=f"{where}.{k}")
            curve[float(k)] = y
        if len(curve) < CURVES[name]:
            raise EnergyTableError(f"{len(curve)} point(s); this curve needs at least {CURVES[name]} (a straight "
                                   "line or power law through two published points)", path=path, field=where)
        out[name] = curve
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
    unknown = [k for k in spec if k not in ("model", "width", "times", "source")]
    if unknown:
        raise EnergyTableError(f"unknown key {unknown[0]!r}; a modelled action has model, width, times, source",
                               path=path, field=where)
    if not isinstance(model, str) or model not in need:
        raise EnergyTableError(f"unknown model {model!r}; allowed: {', '.join(need)}", path=path, field=where)
    for p in need[model]:
        if p not in points:
            raise EnergyTableError(f"model {model!r} needs published points '{p}' under 'points'",
                                   path=path, field=where)
    times = _number(spec.get("times", 1), path, where + ".times")
    if kind == "fp":
        curve, width_needed = ("add_fp", bw["accumulator_bits"]) if model == "add" else ("mult_fp", abits)
        if model in ("add", "mult") and float(width_needed) not in points[curve]:
            raise EnergyTableError(f"model {model!r} for {bw['activation']} needs the published point at "
                                   f"{width_needed} bits under 'points.{curve}' (has: "
                                   f"{', '.join(f'{k:g}' for k in points[curve])})", path=path, field=where)
    if model == "add":
        if kind == "fp":
            return times * float(points["add_fp"][float(bw["accumulator_bits"])])
        return times * _interp_linear(points["add_int"], bw["accumulator_bits"])
    if model == "mult":
        if kind == "fp":  # the integer weight is applied to an fp activation in an fp multiplier
            return times * float(points["mult_fp"][float(abits)])
        # integer: linear in the operand-width product through (8*8, 0.2) and (32*32, 3.1)
        prod = {float(k) ** 2: v for k, v in points["mult_int"].items()}
        return times * _interp_linear(prod, bw["weight_bits"] * abits)
    width = spec.get("width", "activation")
    bits = {"weight": bw["weight_bits"], "activation": abits, "accumulator": bw["accumulator_bits"],
            "index": bw["index_bits"]}
    if not isinstance(width, str) or width not in bits:
        raise EnergyTableError(f"unknown width {width!r}; allowed: {', '.join(bits)}", path=path, field=where)
    return times * _interp_loglog(points["sram_64bit_kb"], bw["buffer_kb"]) * bits[width] / 64.0


def _uses_models(doc: dict) -> bool:
    """Whether any action of the table's components is a modelled one (``{model: ...}``), which needs
    the bit widths."""
    return any(isinstance(v, dict) and "model" in v
               for c in doc["components"].values() if isinstance(c, dict)
               for v in (c.get("actions") if isinstance(c.get("actions"), dict) else {}).values())


def _component_entries(comp: str, entry, path: Path):
    """Check one component's entry (a known component; AREA, STATIC and every required action present;
    no unknown key); gives (its raw figures: AREA, STATIC, then each action, the action names it allows)."""
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
    if not isinstance(actions, dict):
        raise EnergyTableError(f"expected a mapping of action: energy, got {actions!r}", path=path,
                               field=f"{comp}.actions")
    unknown = [k for k in entry if k not in ("AREA", "STATIC", "actions")]
    if unknown:
        raise EnergyTableError(f"unknown key {unknown[0]!r}; a component has AREA, STATIC, actions",
                               path=path, field=f"{comp}.{unknown[0]}")
    for action in REQUIRED.get(comp, ()) + OPTIONAL.get(comp, ()):
        if action not in actions:
            raise EnergyTableError(f"missing action {action}; {comp} needs: {', '.join(allowed)}",
                                   path=path, field=f"{comp}.{action}")
    return {"AREA": entry["AREA"], "STATIC": entry["STATIC"], **actions}, allowed


def _figure(raw, points: dict, bw: dict, table_source: str, path: Path, where: str):
    """One figure of the table (in the table's unit): a number, ``{value, source}`` or a modelled
    ``{model, ...}`` resolved for the bit widths ``bw``; gives (value, its source: the entry's or the
    table's)."""
    if not isinstance(raw, dict):
        return _number(raw, path, where), table_source
    src = str(raw.get("source", table_source))
    if "model" in raw:
        return _resolve_model(raw, points, bw, path, where), src
    if "value" in raw:
        bad = [k for k in raw if k not in ("value", "source")]
        if bad:
            raise EnergyTableError(f"unknown key {bad[0]!r}; a value entry has value, source",
                                   path=path, field=where)
        return _number(raw["value"], path, where), src
    raise EnergyTableError("expected a number, {value: ...} or {model: ...}", path=path, field=where)


def _not_priced(doc: dict, dynamic: dict, static: dict, area: dict, path: Path) -> list:
    """The table's ``not_priced`` list (components of this table whose every figure is 0); [] if absent."""
    unpriced = doc.get("not_priced") or []
    if not isinstance(unpriced, list) or any(not isinstance(c, str) or c not in doc["components"]
                                             for c in unpriced):
        raise EnergyTableError(f"not_priced must list components of this table, got {unpriced!r}", path=path,
                               field="not_priced")
    for c in unpriced:
        if area.get(c, 0) or static.get(c, 0) or any(v for (cc, _), v in dynamic.items() if cc == c):
            raise EnergyTableError(f"{c} is listed in not_priced but has a non-zero figure", path=path,
                                   field="not_priced")
    return unpriced


def _from_doc(doc, path: Path, given_bw: dict) -> EnergyTable:
    """An :class:`EnergyTable` from a parsed table document (``given_bw``: bit widths that override the
    table's, for modelled actions); every structural problem raises EnergyTableError naming the field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("components"), dict):
        raise EnergyTableError("expected a mapping with 'unit' and 'components'", path=path)
    unit = doc.get("unit")
    if unit not in UNITS:
        raise EnergyTableError(f"unknown unit {unit!r}; allowed: {', '.join(UNITS)}", path=path, field="unit")
    points = _points(doc, path)
    bw = _bitwidths(doc, given_bw, path) if _uses_models(doc) else {}
    table_source = str(doc.get("source", ""))
    dynamic, static, area, sources = {}, {}, {}, {}
    for comp, entry in doc["components"].items():
        values, allowed = _component_entries(comp, entry, path)
        for action, raw in values.items():
            where = f"{comp}.{action}"
            if action not in ("AREA", "STATIC") and action not in allowed:
                raise EnergyTableError(f"unknown action {action!r}; {comp} allows: {', '.join(allowed)}",
                                       path=path, field=where)
            v, src = _figure(raw, points, bw, table_source, path, where)
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
    unpriced = _not_priced(doc, dynamic, static, area, path)
    return EnergyTable(name=str(doc.get("name", path.stem)), unit=unit, dynamic=dynamic, static=static,
                       area=area, source=table_source, area_unit=str(doc.get("area_unit", "")),
                       path=str(path), sources=sources, bitwidths=bw, not_priced=tuple(unpriced),
                       not_priced_reason=str(doc.get("not_priced_reason", "")))

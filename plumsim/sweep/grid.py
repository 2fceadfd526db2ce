"""Sweep grids: a YAML file naming accelerators (a base STONNE .cfg plus parameter axes), workloads,
repetition modes and an energy table. The whole grid is validated before anything runs.

Grid file (relative paths are relative to the grid file)::

    name: resnet18-sigma            # optional, default: the file's stem
    energy_table: stonne            # stonne | horowitz45 | path to a table file (default stonne)
    modes: [native, dense, skip, repeat, skip+repeat]   # the default: STONNE's own dataflow and the four
                                                        # attribution needs (plumsim.accel.dataflow)
    accelerators:
      - label: sigma                # optional, default: the base file's stem
        base: ../sigma_128.cfg      # a STONNE .cfg (controller, network types, defaults)
        axes:                       # each a list; the cartesian product is swept
          ms_size: [64, 128, 256]
          dn_bw: [16, ms_size/4, ms_size]   # ints, or "ms_size" / "ms_size/N" (N must divide ms_size)
          rn_bw: [same]                      # "same" = equal to dn_bw
          mesh: ["8x8", [16, 16]]            # OS_MESH only: rows x cols (sets ms_size)
          accumulation_buffer: [true, false]
          tile_policy: [auto]                # MAERI/TPU tile: chosen by the model's tile chooser
    workloads:
      - dir: ../../results/w/my-lowered-model    # a saved workload folder
        family: my-model            # optional: plots compare schemes within a family (default: name)
      - table: ../../workloads/resnet18-imagenet.yaml
        schemes: [binary, ternary, signed-binary]
        densities: [null, 0.36]     # null: the scheme's own density
        seed: 0
        name: resnet18              # optional prefix of the workload names (default: the table's stem)
        accelerators: [sigma]       # optional: run on these accelerator labels only (default: all)
    max_points: 200000              # optional: allow more than DEFAULT_MAX_POINTS (100,000) points

The file is read strictly: a key given twice in one mapping is an error naming both lines (plain YAML
keeps the last), and a file that is not UTF-8 text is refused. A grid's size (configurations x workloads x
modes, from the axis and list lengths) is estimated before anything is expanded; above ``max_points``
(default :data:`DEFAULT_MAX_POINTS`) the grid is refused with the estimate. Expansion and its duplicate
checks are linear in the number of points.

Structural errors (unknown key, missing file, wrong type) raise :class:`ConfigError` naming the grid file
and the field. Axis *combinations* the hardware cannot have are decided by the one rule set
(:mod:`plumsim.accel.rules`: MAERI/SIGMA dn_bw must divide ms_size, a mesh STONNE cannot build, rn_bw
out of 1..ms_size, ...) or are an expression without an integer value (``ms_size/3`` on 128, never
floored); every such point is collected in :attr:`Grid.invalid` before anything runs, with a reason that
names the grid file, the axis and its value. They are reported (all of them) and never run; a grid with
no valid point is refused with the whole list.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from plumsim.errors import ConfigError
from plumsim.workload.schemes import synth_schemes

# dense/skip/repeat/skip+repeat: the repetition-aware dataflow (attribution needs all four);
# native: the controller's STONNE-faithful model (MAERI dense, SIGMA sparse, TPU dense)
MODES = ("native", "dense", "skip", "repeat", "skip+repeat")   # plumsim.accel.dataflow.DATAFLOWS
DEFAULT_MODES = ("native", "dense", "skip", "repeat", "skip+repeat")
TOP_KEYS = ("name", "energy_table", "modes", "accelerators", "workloads", "description", "max_points")
#: the most grid points (configuration x workload x mode runs) a grid may have unless it says more with
#: ``max_points`` (or ``plumsim sweep --max-points``); the count is estimated before anything is expanded
DEFAULT_MAX_POINTS = 100_000
ACCEL_KEYS = ("label", "base", "axes")
AXES = ("ms_size", "dn_bw", "rn_bw", "mesh", "accumulation_buffer", "tile_policy")
TILE_POLICIES = ("auto",)
WORKLOAD_DIR_KEYS = ("dir", "name", "family", "accelerators")
WORKLOAD_TABLE_KEYS = ("table", "schemes", "densities", "seed", "name", "family", "positive_fraction",
                       "accelerators")


@dataclass(frozen=True)
class AccelPoint:
    """One accelerator configuration of the grid (a base .cfg with axis values applied)."""

    label: str               # the accelerators entry it came from (plots group by it)
    config: object           # plumsim.accel.AcceleratorConfig
    tile_policy: str = "auto"
    base: str = ""           # the base .cfg path

    @property
    def config_id(self) -> str:
        """Readable, unique, stable id, e.g. ``sigma-ms128-dn32-rn32-ab0-auto``."""
        return _config_id(self.label, self.config.__dict__, self.tile_policy)

    def fields(self) -> dict:
        """Every config field as flat columns (for the results table)."""
        d = {"config_id": self.config_id, "accelerator": self.label, "tile_policy": self.tile_policy,
             "base_cfg": self.base}
        d.update(self.config.as_dict())
        d["config_name"] = d.pop("name")
        d["accumulation_buffer"] = bool(d["accumulation_buffer"])
        return d


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload of the grid: a saved folder, or a layer table synthesised with a scheme/density/seed."""

    name: str
    family: str = ""          # network the workload is a version of (plots compare schemes within one)
    dir: str | None = None
    table: str | None = None
    scheme: str | None = None
    density: float | None = None
    seed: int = 0
    positive_fraction: float = 0.5
    accelerators: tuple = ()  # labels of the accelerators it runs on; empty: all of them

    @property
    def workload_id(self) -> str:
        return self.name

    def source(self) -> str:
        return self.dir if self.dir is not None else f"table:{self.table}"


@dataclass
class Grid:
    """A validated sweep grid. ``points`` are the valid accelerator configurations, ``invalid`` the rejected
    axis combinations (dicts with the accelerator label, the axis values and ``reason``)."""

    name: str
    path: str
    raw: dict
    energy_table: str
    modes: tuple[str, ...]
    accels: list[AccelPoint]
    workloads: list[WorkloadSpec]
    invalid: list[dict] = field(default_factory=list)

    def pairs(self) -> list[tuple[AccelPoint, WorkloadSpec]]:
        """(configuration, workload) pairs in grid order: the unit of resumable work."""
        return [(a, w) for a in self.accels for w in self.workloads
                if not w.accelerators or a.label in w.accelerators]

    def digest(self) -> str:
        """Hash of what determines the results (configs, workloads, modes, energy table)."""
        payload = {
            "accels": [a.config_id for a in self.accels],
            "configs": [a.fields() for a in self.accels],
            "workloads": [w.__dict__ for w in self.workloads],
            "modes": list(self.modes),
            "energy_table": self.energy_table,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pair_key(accel: AccelPoint, workload: WorkloadSpec) -> str:
    return f"{accel.config_id}|{workload.workload_id}"


# ---------------------------------------------------------------------------------------------------------
# structural checks

def _need(cond: bool, msg: str, path, fieldname: str) -> None:
    if not cond:
        raise ConfigError(msg, path=path, field=fieldname)


def _unknown_keys(d: dict, allowed, path, where: str) -> None:
    bad = [k for k in d if k not in allowed]
    if bad:
        raise ConfigError(f"unknown key '{bad[0]}'; valid keys: {', '.join(allowed)}", path=path,
                          field=f"{where}{bad[0]}")


def _as_list(v, path, fieldname: str) -> list:
    if not isinstance(v, list) or not v:
        raise ConfigError(f"expected a non-empty list, got {v!r}", path=path, field=fieldname)
    return v


def _resolve(rel: str, grid_dir: Path) -> Path:
    p = Path(rel).expanduser()
    return p if p.is_absolute() else (grid_dir / p)


class _NotInteger(Exception):
    """An axis expression whose value is not an integer (e.g. ``ms_size/3`` on 128): a per-point problem."""


def _bw_value(v, ms_size: int, dn_bw: int | None, path, fieldname: str) -> int:
    """Axis value for dn_bw / rn_bw: an int, "ms_size", "ms_size/N", or (rn_bw only) "same".

    A malformed value raises ConfigError; "ms_size/N" where N does not divide ms_size raises
    :class:`_NotInteger` with the value and the expression (it is never floored)."""
    if isinstance(v, bool):
        raise ConfigError(f"expected an integer or 'ms_size/N', got {v!r}", path=path, field=fieldname)
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        s = v.replace(" ", "")
        if s == "same" and dn_bw is not None:
            return dn_bw
        if s == "ms_size":
            return ms_size
        if s.startswith("ms_size/"):
            try:
                div = int(s.split("/", 1)[1])
            except ValueError:
                div = 0
            if div >= 1:
                if ms_size % div:
                    raise _NotInteger(f"{v!r} = {ms_size}/{div} = {ms_size / div:.4g} is not an integer (ms_size="
                                      f"{ms_size}); give an N that divides ms_size, or an integer")
                return ms_size // div
    allowed = "an integer, 'ms_size', 'ms_size/N'" + (", 'same'" if dn_bw is not None else "")
    raise ConfigError(f"bad value {v!r}; allowed: {allowed}", path=path, field=fieldname)


def _mesh_value(v, path, fieldname: str) -> tuple[int, int]:
    if isinstance(v, str) and "x" in v:
        a, _, b = v.partition("x")
        if a.strip().isdigit() and b.strip().isdigit():
            return int(a), int(b)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                             for x in v):
        return int(v[0]), int(v[1])
    raise ConfigError(f"bad mesh {v!r}; allowed: 'ROWSxCOLS' or [rows, cols]", path=path, field=fieldname)


def hardware_problems(cfg) -> list[str]:
    """Why STONNE could not build this configuration (empty list when it can): the one rule set,
    :func:`plumsim.accel.rules.config_problems`. (An AcceleratorConfig is already checked when built;
    this takes any object with its fields.)"""
    from plumsim.accel.rules import config_problems

    return [p.message for p in config_problems(cfg)]


class _Values:
    """The fields of a would-be AcceleratorConfig, for the rule set."""

    def __init__(self, d: dict):
        self.__dict__.update(d)


def _config_id(label: str, c, tile_policy: str) -> str:
    mesh = f"-m{c['ms_rows']}x{c['ms_cols']}" if c["ms_type"] == "OS_MESH" else ""
    return (f"{label}{mesh}-ms{c['ms_size']}-dn{c['dn_bw']}-rn{c['rn_bw']}"
            f"-ab{int(bool(c['accumulation_buffer']))}-{tile_policy}")


# ---------------------------------------------------------------------------------------------------------

def _accel_base(entry, where: str, grid_path: Path, loader):
    """Check an ``accelerators`` entry's shape, ``base`` and ``label``; gives (the base .cfg path, the base
    AcceleratorConfig read with ``loader``, the label: the entry's or the base file's stem)."""
    _need(isinstance(entry, dict), "expected a mapping with 'base' and 'axes'", grid_path, where)
    _unknown_keys(entry, ACCEL_KEYS, grid_path, where + ".")
    _need("base" in entry, "missing 'base' (a STONNE .cfg)", grid_path, where + ".base")
    _need(isinstance(entry["base"], str), f"bad base {entry['base']!r}; expected a path", grid_path, where + ".base")
    base_path = _resolve(str(entry["base"]), grid_path.parent)
    _need(base_path.is_file(), f"base config {base_path} does not exist", grid_path, where + ".base")
    base = loader(base_path)
    _need(entry.get("label") is None or isinstance(entry["label"], str),
          f"bad label {entry.get('label')!r}; expected a string", grid_path, where + ".label")
    label = str(entry.get("label") or base_path.stem)
    return base_path, base, label


def _accel_axes(entry: dict, base, base_path: Path, where: str, grid_path: Path) -> dict:
    """The entry's ``axes`` mapping (axis -> non-empty list of values; {} when absent), checked
    structurally: known axes, ``mesh`` only on OS_MESH and not with ``ms_size``, booleans for
    ``accumulation_buffer``, known ``tile_policy`` names, integer ``ms_size``. Raises ConfigError."""
    axes = entry.get("axes") or {}
    _need(isinstance(axes, dict), "expected a mapping of axis -> list of values", grid_path, where + ".axes")
    _unknown_keys(axes, AXES, grid_path, where + ".axes.")
    for k, v in axes.items():
        _as_list(v, grid_path, f"{where}.axes.{k}")
    is_mesh = base.ms_type == "OS_MESH"
    if "mesh" in axes and not is_mesh:
        raise ConfigError(f"'mesh' applies to OS_MESH (TPU) configs only; {base_path.name} has "
                          f"ms_type {base.ms_type}", path=grid_path, field=where + ".axes.mesh")
    if "mesh" in axes and "ms_size" in axes:
        raise ConfigError("give either 'mesh' or 'ms_size' for an OS_MESH config (mesh sets ms_size)",
                          path=grid_path, field=where + ".axes")
    for v in axes.get("accumulation_buffer", []):
        _need(isinstance(v, bool), f"bad value {v!r}; allowed: true, false", grid_path,
              where + ".axes.accumulation_buffer")
    for v in axes.get("tile_policy", []):
        _need(v in TILE_POLICIES, f"bad value {v!r}; allowed: {', '.join(TILE_POLICIES)}", grid_path,
              where + ".axes.tile_policy")
    for v in axes.get("ms_size", []):
        _need(isinstance(v, int) and not isinstance(v, bool), f"bad value {v!r}; expected an integer",
              grid_path, where + ".axes.ms_size")
    return axes


def _axis_reason(grid_path: Path, where: str, axis_of: dict, axis: str, raw, msg: str) -> str:
    """One invalid-point reason naming the grid file, the axis and its grid value ``raw``, and the other
    axes set so far in ``axis_of`` (config field -> (axis, grid value))."""
    others = ", ".join(f"{ax}={v!r}" for ax, v in dict(axis_of.values()).items() if ax != axis)
    return (f"{grid_path}: field '{where}.axes.{axis}', value {raw!r}"
            + (f" (with {others})" if others else "") + f": {msg}")


def _point_changes(base, mesh, ms, dn, rn, ab, grid_path: Path, where: str):
    """The config fields one axis combination changes from ``base`` (``mesh``: (grid value, (rows, cols))
    or None; ``ms``, ``dn``, ``rn``, ``ab``: the grid values or None for "not an axis"). Gives (changes:
    field -> value, axis_of: field -> (axis, grid value), reasons: the expressions without an integer
    value; such a bandwidth is kept as its expression string)."""
    changes, axis_of, reasons = {}, {}, []
    if mesh is not None:
        (r, c) = mesh[1]
        changes.update(ms_rows=r, ms_cols=c, ms_size=r * c)
        axis_of.update({f: ("mesh", mesh[0]) for f in ("ms_rows", "ms_cols", "ms_size")})
    if ms is not None:
        changes["ms_size"] = ms
        axis_of["ms_size"] = ("ms_size", ms)
    size = changes.get("ms_size", base.ms_size)
    dn_v = base.dn_bw
    if dn is not None:
        axis_of["dn_bw"] = ("dn_bw", dn)
        try:
            dn_v = _bw_value(dn, size, None, grid_path, where + ".axes.dn_bw")
        except _NotInteger as exc:
            reasons.append(_axis_reason(grid_path, where, axis_of, "dn_bw", dn, str(exc)))
            dn_v = str(dn).replace(" ", "")
    changes["dn_bw"] = dn_v
    if rn is not None:
        axis_of["rn_bw"] = ("rn_bw", rn)
        if isinstance(dn_v, str) and rn == "same":
            changes["rn_bw"] = dn_v
        else:
            try:
                changes["rn_bw"] = _bw_value(rn, size, dn_v if isinstance(dn_v, int) else 0, grid_path,
                                             where + ".axes.rn_bw")
            except _NotInteger as exc:
                reasons.append(_axis_reason(grid_path, where, axis_of, "rn_bw", rn, str(exc)))
                changes["rn_bw"] = str(rn).replace(" ", "")
    if ab is not None:
        changes["accumulation_buffer"] = ab
    return changes, axis_of, reasons


def _rule_reasons(vals: dict, axis_of: dict, grid_path: Path, where: str, base_path: Path) -> list[str]:
    """The one rule set (:func:`plumsim.accel.rules.config_problems`) on a point's config field values
    ``vals``; gives one reason per problem, naming the axis that set the field, or the point's axis
    values and the base .cfg when the field comes from the base."""
    from plumsim.accel.rules import config_problems

    reasons = []
    set_here = ", ".join(f"{ax}={v!r}" for ax, v in dict(axis_of.values()).items())
    for prob in config_problems(_Values(vals)):
        if prob.field in axis_of:
            reasons.append(_axis_reason(grid_path, where, axis_of, *axis_of[prob.field], prob.message))
        else:  # the value comes from the base .cfg; the axes of this point make it invalid
            reasons.append(f"{grid_path}: field '{where}.axes', values {set_here or '(none)'} "
                           f"({prob.field}={prob.value!r} from the base {base_path.name}): {prob.message}")
    return reasons


def _invalid_row(label: str, config_id: str, vals: dict, is_mesh: bool, reasons: list[str]) -> dict:
    """One :attr:`Grid.invalid` row: the accelerator label, config id, the point's ms_size / dn_bw / rn_bw,
    mesh ("RxC" on OS_MESH, else ""), accumulation_buffer and the reasons joined by "; "."""
    return {"accelerator": label, "config_id": config_id,
            "ms_size": vals["ms_size"], "dn_bw": vals["dn_bw"], "rn_bw": vals["rn_bw"],
            "mesh": f"{vals['ms_rows']}x{vals['ms_cols']}" if is_mesh else "",
            "accumulation_buffer": bool(vals["accumulation_buffer"]),
            "reason": "; ".join(reasons)}


def _expand_accel(entry: dict, idx: int, grid_path: Path, loader) -> tuple[list[AccelPoint], list[dict]]:
    """Expand ``accelerators[idx]`` into its configurations (the cartesian product of its axes, one per
    distinct config id, grid order); gives (valid :class:`AccelPoint`s, invalid rows with reasons).
    Structural errors raise ConfigError."""
    where = f"accelerators[{idx}]"
    base_path, base, label = _accel_base(entry, where, grid_path, loader)
    axes = _accel_axes(entry, base, base_path, where, grid_path)
    is_mesh = base.ms_type == "OS_MESH"
    meshes = [(v, _mesh_value(v, grid_path, where + ".axes.mesh")) for v in axes.get("mesh", [])] or [None]
    sizes = axes.get("ms_size", [None])
    dns = axes.get("dn_bw", [None])
    rns = axes.get("rn_bw", [None])
    abs_ = axes.get("accumulation_buffer", [None])
    tiles = axes.get("tile_policy", ["auto"])
    base_vals = {f: getattr(base, f) for f in ("controller_type", "ms_type", "rn_type", "ms_size", "dn_bw",
                                               "rn_bw", "ms_rows", "ms_cols", "accumulation_buffer")}
    points, invalid = [], []
    seen = set()
    for mesh, ms, dn, rn, ab, tile in itertools.product(meshes, sizes, dns, rns, abs_, tiles):
        changes, axis_of, reasons = _point_changes(base, mesh, ms, dn, rn, ab, grid_path, where)
        vals = {**base_vals, **changes}
        config_id = _config_id(label, vals, tile)
        if config_id in seen:  # e.g. "ms_size/4" and 32 giving the same dn_bw
            continue
        seen.add(config_id)
        if not reasons:  # the one rule set, on the values (an AcceleratorConfig cannot hold invalid ones)
            reasons = _rule_reasons(vals, axis_of, grid_path, where, base_path)
        if reasons:
            invalid.append(_invalid_row(label, config_id, vals, is_mesh, reasons))
        else:
            cfg = replace(base, **changes)  # checked again by AcceleratorConfig.__post_init__
            points.append(AccelPoint(label=label, config=cfg, tile_policy=tile, base=str(base_path)))
    return points, invalid


def _labels(e: dict, grid_path: Path, where: str, known) -> tuple:
    labels = e.get("accelerators")
    if labels is None:
        return ()
    labels = _as_list(labels, grid_path, where + ".accelerators")
    for lab in labels:
        _need(lab in known, f"unknown accelerator label {lab!r}; labels of this grid: {', '.join(known)}",
              grid_path, where + ".accelerators")
    return tuple(str(x) for x in labels)


def _dir_workload(e: dict, where: str, grid_path: Path, known) -> WorkloadSpec:
    """A ``workloads`` entry with ``dir`` (a saved workload folder) as one :class:`WorkloadSpec`; name and
    family default to the folder's name. Raises ConfigError on a bad key, type or missing folder."""
    _unknown_keys(e, WORKLOAD_DIR_KEYS, grid_path, where + ".")
    for key in ("dir", "name", "family"):
        _need(e.get(key) is None or isinstance(e[key], str),
              f"bad {key} {e.get(key)!r}; expected a string", grid_path, f"{where}.{key}")
    d = _resolve(str(e["dir"]), grid_path.parent)
    _need(d.is_dir(), f"workload folder {d} does not exist", grid_path, where + ".dir")
    name = str(e.get("name") or d.name)
    return WorkloadSpec(name=name, family=str(e.get("family") or name), dir=str(d),
                        accelerators=_labels(e, grid_path, where, known))


def _table_fields(e: dict, where: str, grid_path: Path):
    """Check a ``workloads`` entry with ``table``; gives (the layer table path, schemes, densities (None
    or a fraction in (0, 1]), seed (int >= 0), positive_fraction (0..1), the name prefix). The layer
    table is read once here so a bad one fails now, not in a worker."""
    _need("table" in e, "needs 'dir' (a saved workload) or 'table' (a layer table YAML)",
          grid_path, where)
    _unknown_keys(e, WORKLOAD_TABLE_KEYS, grid_path, where + ".")
    _need(isinstance(e["table"], str), f"bad table {e['table']!r}; expected a path", grid_path,
          where + ".table")
    t = _resolve(str(e["table"]), grid_path.parent)
    _need(t.is_file(), f"layer table {t} does not exist", grid_path, where + ".table")
    schemes = _as_list(e.get("schemes", ["signed-binary"]), grid_path, where + ".schemes")
    for s in schemes:
        _need(isinstance(s, str) and s in synth_schemes(), f"unknown scheme {s!r}; valid: {', '.join(synth_schemes())}", grid_path,
              where + ".schemes")
    dens = _as_list(e.get("densities", [None]), grid_path, where + ".densities")
    for d in dens:
        _need(d is None or (isinstance(d, (int, float)) and not isinstance(d, bool) and 0 < d <= 1),
              f"bad density {d!r}; allowed: null or a number in (0, 1]", grid_path, where + ".densities")
    seed = e.get("seed", 0)
    _need(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
          f"bad seed {seed!r}; expected an integer >= 0", grid_path, where + ".seed")
    pf = e.get("positive_fraction", 0.5)
    _need(isinstance(pf, (int, float)) and not isinstance(pf, bool) and 0 <= pf <= 1,
          f"bad positive_fraction {pf!r}; allowed: a number 0..1", grid_path, where + ".positive_fraction")
    for key in ("name", "family"):
        _need(e.get(key) is None or isinstance(e[key], str), f"bad {key} {e.get(key)!r}; expected a string",
              grid_path, f"{where}.{key}")
    prefix = str(e.get("name") or t.stem)
    try:
        from plumsim.workload.synth import load_table
    except ImportError:  # pragma: no cover - only while plumsim.workload is incomplete
        load_table = None
    if load_table is not None:
        load_table(t)  # a bad layer table fails now, not in a worker
    return t, schemes, dens, seed, pf, prefix


def _table_workloads(e: dict, where: str, grid_path: Path, known) -> list[WorkloadSpec]:
    """A ``workloads`` entry with ``table`` as one :class:`WorkloadSpec` per scheme x density (schemes
    outer), named ``<prefix>-<scheme>[-d<density %>]-s<seed>``. Refuses a density on binary / fp."""
    t, schemes, dens, seed, pf, prefix = _table_fields(e, where, grid_path)
    out = []
    for s in schemes:
        for d in dens:
            if d is not None and s in ("binary", "fp") and d != 1:
                # binary/fp weights have no zeros: a density target would be a contradiction
                raise ConfigError(f"scheme {s!r} cannot take density {d}; use null", path=grid_path,
                                  field=where + ".densities")
            tag = f"{prefix}-{s}" + ("" if d is None else f"-d{int(round(d * 100)):02d}") + f"-s{seed}"
            out.append(WorkloadSpec(name=tag, family=str(e.get("family") or prefix), table=str(t), scheme=s,
                                    density=None if d is None else float(d), seed=int(seed),
                                    positive_fraction=float(pf),
                                    accelerators=_labels(e, grid_path, where, known)))
    return out


def _refuse_duplicate_names(workloads: list[WorkloadSpec], grid_path: Path) -> None:
    """Raise ConfigError on the first workload name that appears twice (linear: one set)."""
    seen: set = set()
    for w in workloads:
        if w.name in seen:
            raise ConfigError(f"workload name {w.name!r} appears twice; give each entry a distinct 'name'",
                              path=grid_path, field="workloads")
        seen.add(w.name)


def _expand_workloads(entries, grid_path: Path, known=()) -> list[WorkloadSpec]:
    """The grid's ``workloads`` list as :class:`WorkloadSpec`s in grid order (``known``: the accelerator
    labels an entry's ``accelerators`` may name); names must be distinct. Raises ConfigError."""
    out = []
    _as_list(entries, grid_path, "workloads")
    for i, e in enumerate(entries):
        where = f"workloads[{i}]"
        _need(isinstance(e, dict), "expected a mapping with 'dir' or 'table'", grid_path, where)
        if "dir" in e:
            out.append(_dir_workload(e, where, grid_path, known))
        else:
            out.extend(_table_workloads(e, where, grid_path, known))
    _refuse_duplicate_names(out, grid_path)
    return out


def load_grid(path, config_loader=None, max_points: int | None = None) -> Grid:
    """Read and validate a grid YAML file (see the module docstring). ``config_loader(path) ->
    AcceleratorConfig`` defaults to :func:`plumsim.accel.cfg.load_config`. ``max_points`` overrides the
    grid's own ``max_points`` and :data:`DEFAULT_MAX_POINTS`."""
    from plumsim.workload.yamlload import read_yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError("grid file does not exist", path=path)
    raw = read_yaml(path, ConfigError)
    return grid_from_dict(raw, path, config_loader, max_points=max_points)


def _n(v) -> int:
    """Length of a list-valued field, 1 when it is not a list (its own check reports it later)."""
    return len(v) if isinstance(v, list) and v else 1


def estimate_points(raw: dict) -> tuple[int, int, int, int]:
    """(points, configurations, workloads, modes) of a grid mapping, from the lengths of its lists alone
    (nothing expanded, no file read): configurations = sum over accelerators of the product of their axis
    lengths, workloads = 1 per ``dir`` entry and schemes x densities per ``table`` entry, points = their
    product with the modes. An upper bound: invalid or duplicate combinations and ``accelerators:``
    filters only remove points."""
    n_cfg = 0
    for entry in raw.get("accelerators") or [] if isinstance(raw.get("accelerators"), list) else []:
        axes = entry.get("axes") if isinstance(entry, dict) else None
        c = 1
        for v in (axes.values() if isinstance(axes, dict) else ()):
            c *= _n(v)
        n_cfg += c
    n_wl = 0
    for e in raw.get("workloads") or [] if isinstance(raw.get("workloads"), list) else []:
        if isinstance(e, dict) and "dir" not in e:
            n_wl += _n(e.get("schemes")) * _n(e.get("densities"))
        else:
            n_wl += 1
    n_modes = _n(raw.get("modes", list(DEFAULT_MODES)))
    return max(n_cfg, 1) * max(n_wl, 1) * n_modes, n_cfg, n_wl, n_modes


def check_size(raw: dict, path, max_points: int | None = None) -> int:
    """Refuse a grid whose estimated point count (:func:`estimate_points`) exceeds ``max_points`` (else
    the grid's ``max_points``, else :data:`DEFAULT_MAX_POINTS`); returns the estimate."""
    field_name = "--max-points"
    if max_points is None:
        field_name = "max_points"
        max_points = raw.get("max_points", DEFAULT_MAX_POINTS)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise ConfigError(f"bad max_points {max_points!r}; expected an integer >= 1", path=path, field=field_name)
    points, n_cfg, n_wl, n_modes = estimate_points(raw)
    if points > max_points:
        raise ConfigError(f"the grid has about {points:,} points ({n_cfg:,} configurations x {n_wl:,} workloads x "
                          f"{n_modes} modes), more than the limit of {max_points:,}; shrink the axes, or give "
                          f"'max_points: {points}' in the grid (or plumsim sweep --max-points {points}) if you "
                          "mean it", path=path, field="accelerators")
    return points


def grid_from_dict(raw: dict, path, config_loader=None, max_points: int | None = None) -> Grid:
    path = Path(path)
    if config_loader is None:
        from plumsim.accel.cfg import load_config as config_loader
    _need(isinstance(raw, dict), "expected a mapping at the top level", path, "(top)")
    _unknown_keys(raw, TOP_KEYS, path, "")
    check_size(raw, path, max_points)
    modes = tuple(_as_list(raw.get("modes", list(DEFAULT_MODES)), path, "modes"))
    for m in modes:
        _need(isinstance(m, str) and m in MODES, f"unknown mode {m!r}; valid: {', '.join(MODES)}", path, "modes")
    _need(len(set(modes)) == len(modes), "a mode is listed twice", path, "modes")
    table = raw.get("energy_table", "stonne")
    _need(isinstance(table, str) and table, f"bad energy_table {table!r}", path, "energy_table")
    if table not in ("stonne", "horowitz45"):
        tp = _resolve(table, path.parent)
        _need(tp.is_file(), f"energy table {table!r} is neither 'stonne', 'horowitz45' nor an existing file",
              path, "energy_table")
        table = str(tp)
    try:
        from plumsim.energy import load_energy_table
    except ImportError:  # pragma: no cover - only while plumsim.energy is incomplete
        load_energy_table = None
    if load_energy_table is not None:
        load_energy_table(table)  # a bad table fails now (EnergyTableError names its file and row)
    accels, invalid = [], []
    for i, entry in enumerate(_as_list(raw.get("accelerators"), path, "accelerators")):
        pts, bad = _expand_accel(entry, i, path, config_loader)
        accels += pts
        invalid += bad
    ids: set = set()
    for a in accels:  # linear: one set
        if a.config_id in ids:
            raise ConfigError(f"configuration {a.config_id} appears twice; give the accelerators distinct labels",
                              path=path, field="accelerators")
        ids.add(a.config_id)
    if not accels:
        raise ConfigError(f"no valid configuration: all {len(invalid)} combinations are invalid:\n"
                          + "\n".join(f"  {b['config_id']}: {b['reason']}" for b in invalid) if invalid
                          else "no configuration", path=path, field="accelerators")
    labels = list(dict.fromkeys(a.label for a in accels)) + [b["accelerator"] for b in invalid]
    workloads = _expand_workloads(raw.get("workloads"), path, tuple(dict.fromkeys(labels)))
    _need(raw.get("name") is None or isinstance(raw["name"], str), f"bad name {raw.get('name')!r}; expected a string",
          path, "name")
    return Grid(name=str(raw.get("name") or path.stem), path=str(path), raw=raw, energy_table=table,
                modes=modes, accels=accels, workloads=workloads, invalid=invalid)

"""Read, validate and write STONNE's TOML-like accelerator .cfg files.

STONNE's files are read unchanged: ``[Section]`` headers, ``key=value`` lines, double-quoted strings,
integers, ``#`` comments. Keys that are absent take STONNE's built-in defaults (e.g.
``accumulation_buffer_enabled = 0``). Keys that STONNE reads but that do not change its timing
(latencies, port widths, buffer capacities) are kept in :attr:`AcceleratorConfig.extra` and written back
by :func:`dump_config`.

Every user error is a :class:`~plumsim.errors.ConfigError` naming the file, the ``[Section] key`` and
what is allowed. numpy-free, torch-free.
"""

from __future__ import annotations

import re
from pathlib import Path

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.rules import check_config, check_maeri_tile, check_tpu_tile, maeri_tile_limits
from plumsim.errors import ConfigError

# Every section and key STONNE's configuration reader knows, with STONNE's default value.
# Sections/keys outside this table are rejected (a typo would otherwise silently take a default).
SCHEMA: dict[str, dict[str, object]] = {
    "": {"print_stats_enabled": 1},  # keys before the first section header
    "DSNetwork": {"type": "TREE", "n_switches_traversed_by_cycle": 23},
    "DSwitch": {"latency": 1, "input_ports": 1, "output_ports": 2, "port_width": 16},
    "MSNetwork": {"type": "LINEAR", "ms_size": 64, "ms_rows": 0, "ms_cols": 0},
    "MSwitch": {"latency": 1, "input_ports": 1, "output_ports": 1, "forwarding_ports": 1,
                "port_width": 16, "buffers_capacity": 2048},
    "ReduceNetwork": {"type": "ASNETWORK", "accumulation_buffer_enabled": 0},
    "ASwitch": {"latency": 1, "input_ports": 2, "output_ports": 1, "forwarding_ports": 1,
                "port_width": 16, "buffers_capacity": 256},
    "LookUpTable": {"latency": 1, "port_width": 1},
    "SDMemory": {"dn_bw": 4, "rn_bw": 4, "controller_type": "MAERI_DENSE_WORKLOAD", "port_width": 16,
                 "write_buffers_capacity": 256, "mem_controller_type": None},
}
# The timing-relevant keys, mapped to AcceleratorConfig fields.
_CORE = {("MSNetwork", "type"): "ms_type", ("MSNetwork", "ms_size"): "ms_size",
         ("MSNetwork", "ms_rows"): "ms_rows", ("MSNetwork", "ms_cols"): "ms_cols",
         ("ReduceNetwork", "type"): "rn_type",
         ("ReduceNetwork", "accumulation_buffer_enabled"): "accumulation_buffer",
         ("SDMemory", "dn_bw"): "dn_bw", ("SDMemory", "rn_bw"): "rn_bw",
         ("SDMemory", "controller_type"): "controller_type"}
_STRING_KEYS = {("MSNetwork", "type"), ("ReduceNetwork", "type"), ("SDMemory", "controller_type"),
                ("SDMemory", "mem_controller_type"), ("DSNetwork", "type")}


_BOOL_KEYS = {("", "print_stats_enabled"), ("ReduceNetwork", "accumulation_buffer_enabled")}
_INT_RE = re.compile(r"[+-]?[0-9]+")


def _parse_value(raw: str, path, field: str, want_str: bool, want_bool: bool = False):
    """One value: a string (quoted, or a bare word for enum keys), a boolean key as 0/1/true/false, else
    an integer written as digits. Floats (``128.5``, ``1e3``), ``nan``, ``inf`` and ``1e400`` are refused:
    STONNE reads these keys as integers, and a truncated value would silently be another machine."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        value = raw[1:-1]
        if not want_str:
            raise ConfigError(f"expected {'0/1/true/false' if want_bool else 'an integer'}, got the string {raw}",
                              path=path, field=field)
        return value
    if want_str:
        if not raw:
            raise ConfigError("empty value, expected a name", path=path, field=field)
        return raw  # STONNE also accepts bare words for enum values
    if want_bool:
        low = raw.lower()
        if low in ("1", "true"):
            return 1
        if low in ("0", "false"):
            return 0
        raise ConfigError(f"expected a boolean (0, 1, true or false), got {raw!r}", path=path, field=field)
    if not _INT_RE.fullmatch(raw):
        try:
            float(raw)
            hint = " (STONNE reads this key as an integer: write it as digits)"
        except ValueError:
            hint = ""
        raise ConfigError(f"expected an integer, got {raw!r}{hint}", path=path, field=field)
    value = int(raw)
    if value < 0:
        raise ConfigError(f"expected an integer >= 0, got {value}", path=path, field=field)
    return value


def parse_cfg_text(text: str, path: str | Path = "<text>") -> dict[str, dict[str, object]]:
    """Parse .cfg text into ``{section: {key: value}}`` (only what the file states), checking names.

    A section header or a key given twice is an error naming both lines (STONNE's reader would keep one
    of them silently)."""
    out: dict[str, dict[str, object]] = {}
    section_line: dict[str, int] = {}
    key_line: dict[tuple[str, str], int] = {}
    section = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.split("#", 1)[0].strip() if not line.strip().startswith("#") else ""
        if not s:
            continue
        if s.startswith("["):
            if not s.endswith("]"):
                raise ConfigError(f"line {lineno}: malformed section header {s!r}", path=path)
            section = s[1:-1].strip()
            if section not in SCHEMA or section == "":
                valid = ", ".join(f"[{k}]" for k in SCHEMA if k)
                raise ConfigError(f"line {lineno}: unknown section [{section}]; valid sections: {valid}",
                                  path=path, field=f"[{section}]")
            if section in section_line:
                raise ConfigError(f"line {lineno}: section [{section}] appears twice (lines "
                                  f"{section_line[section]} and {lineno}); give each section once",
                                  path=path, field=f"[{section}]")
            section_line[section] = lineno
            out.setdefault(section, {})
            continue
        if "=" not in s:
            raise ConfigError(f"line {lineno}: expected 'key=value', got {s!r}", path=path,
                              field=f"[{section}]")
        key, raw = (p.strip() for p in s.split("=", 1))
        field = f"[{section}] {key}" if section else key
        if key not in SCHEMA[section]:
            valid = ", ".join(SCHEMA[section])
            raise ConfigError(f"line {lineno}: unknown key {key!r}; valid keys here: {valid}",
                              path=path, field=field)
        if (section, key) in key_line:
            raise ConfigError(f"line {lineno}: key {key!r} given twice (lines {key_line[(section, key)]} and "
                              f"{lineno}); give it once", path=path, field=field)
        key_line[(section, key)] = lineno
        out.setdefault(section, {})[key] = _parse_value(raw, path, field, (section, key) in _STRING_KEYS,
                                                        (section, key) in _BOOL_KEYS)
    return out


def _int_of(value, path, field: str, lo: int = 0) -> int:
    """``value`` as an int (an int, or a string of digits), else a ConfigError naming the field."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        v = value
    elif isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        v = int(value.strip())
    else:
        raise ConfigError(f"expected an integer, got {value!r}", path=path, field=field)
    if v < lo:
        raise ConfigError(f"expected an integer >= {lo}, got {v}", path=path, field=field)
    return v


def config_from_sections(sections: dict[str, dict[str, object]], path: str | Path = "<text>",
                         name: str = "") -> AcceleratorConfig:
    """Build and validate an :class:`AcceleratorConfig` from parsed sections (defaults filled in)."""
    core: dict[str, object] = {}
    extra: dict[str, dict[str, object]] = {}
    for section, keys in sections.items():
        for key, value in keys.items():
            if (section, key) in _CORE:
                core[_CORE[(section, key)]] = value
            elif (section, key) == ("SDMemory", "mem_controller_type"):
                core.setdefault("controller_type", value)
            else:
                extra.setdefault(section, {})[key] = value
    defaults = {f: SCHEMA[s][k] for (s, k), f in _CORE.items()}
    where = {f: f"[{s}] {k}" for (s, k), f in _CORE.items()}
    ms_type = str(core.get("ms_type", defaults["ms_type"]))
    rows = _int_of(core.get("ms_rows", 0), path, where["ms_rows"])
    cols = _int_of(core.get("ms_cols", 0), path, where["ms_cols"])
    if "ms_size" not in core and ms_type == "OS_MESH" and rows and cols:
        core["ms_size"] = rows * cols  # STONNE's mesh configs give rows and cols only
    vals = {**defaults, **core}
    ints = {k: _int_of(vals[k], path, where[k]) for k in ("ms_size", "dn_bw", "rn_bw")}
    ab = _int_of(vals["accumulation_buffer"], path, where["accumulation_buffer"])
    if ab not in (0, 1):
        raise ConfigError(f"expected a boolean (0, 1, true or false), got {ab}", path=path,
                          field=where["accumulation_buffer"])
    try:  # AcceleratorConfig applies the one rule set (plumsim.accel.rules); name the file
        return AcceleratorConfig(
            controller_type=str(vals["controller_type"]), ms_type=ms_type, rn_type=str(vals["rn_type"]),
            ms_size=ints["ms_size"], dn_bw=ints["dn_bw"], rn_bw=ints["rn_bw"],
            ms_rows=rows, ms_cols=cols, accumulation_buffer=bool(ab),
            name=name, extra=extra)
    except ConfigError as exc:
        raise ConfigError(exc.detail, path=path, field=exc.field) from None


def validate_config(cfg: AcceleratorConfig, path: str | Path | None = None) -> None:
    """Raise :class:`ConfigError` for a machine STONNE would refuse or abort on: the one rule set,
    :func:`plumsim.accel.rules.check_config` (which :class:`AcceleratorConfig` also applies when built)."""
    check_config(cfg, path)


def load_config(path: str | Path) -> AcceleratorConfig:
    """Read a STONNE .cfg file into a validated :class:`AcceleratorConfig` (name = file stem)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("accelerator config file not found", path=p)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a text file (byte {exc.start}: {exc.reason})", path=p) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc}", path=p) from None
    return config_from_sections(parse_cfg_text(text, p), p, name=p.stem)


def loads_config(text: str, name: str = "") -> AcceleratorConfig:
    """Like :func:`load_config` from a string."""
    return config_from_sections(parse_cfg_text(text, name or "<text>"), name or "<text>", name=name)


def dump_config(cfg: AcceleratorConfig) -> str:
    """A .cfg text STONNE reads, with the timing keys and every extra key kept from the source file."""
    lines: list[str] = []
    core = {"MSNetwork": {"type": f'"{cfg.ms_type}"', "ms_size": cfg.ms_size},
            "ReduceNetwork": {"type": f'"{cfg.rn_type}"',
                              "accumulation_buffer_enabled": int(cfg.accumulation_buffer)},
            "SDMemory": {"dn_bw": cfg.dn_bw, "rn_bw": cfg.rn_bw, "controller_type": f'"{cfg.controller_type}"'}}
    if cfg.ms_type == "OS_MESH":
        core["MSNetwork"].update(ms_rows=cfg.ms_rows, ms_cols=cfg.ms_cols)
    top = cfg.extra.get("", {})
    for k, v in top.items():
        lines.append(f"{k}={v}")
    for section in SCHEMA:
        if not section:
            continue
        keys = dict(core.get(section, {}))
        for k, v in cfg.extra.get(section, {}).items():
            keys[k] = f'"{v}"' if isinstance(v, str) else v
        if keys:
            lines.append(f"[{section}]")
            lines.extend(f"{k}={v}" for k, v in keys.items())
    return "\n".join(lines) + "\n"


# --- tiles -----------------------------------------------------------------------------------------

CONV_TILE_KEYS = ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X_", "T_Y_")


def validate_tile(tile: dict[str, int], shape, cfg: AcceleratorConfig, source: str | Path | None = None) -> None:
    """Check a MAERI conv tile (``T_R..T_Y_``, as in a tile file) against a layer shape and the machine:
    the one tile validator, :func:`plumsim.accel.rules.check_maeri_tile` (every T_* in 1..its dimension,
    T_C <= C/G, T_K <= K/G, T_X_ <= X_out; the multipliers used, plus one per virtual neuron when folding
    without accumulation buffer, fit in ms_size)."""
    t = {k.rstrip("_"): v for k, v in tile.items()}
    limits = maeri_tile_limits(shape.N, shape.G, shape.C, shape.K, shape.R, shape.S, shape.X_out, shape.Y_out)
    check_maeri_tile(t, limits, int(cfg.ms_size), bool(cfg.accumulation_buffer), source=source, spelling="_")


def validate_tpu_tile(T_M: int, T_N: int, cfg: AcceleratorConfig, source=None) -> None:
    """A TPU output tile T_M x T_N must fit the mesh (T_M <= ms_rows, T_N <= ms_cols):
    :func:`plumsim.accel.rules.check_tpu_tile`."""
    check_tpu_tile(T_M, T_N, cfg, source)


def load_tile(spec: str, source: str | Path | None = None) -> dict[str, int]:
    """Parse a tile: ``"T_R=3,T_S=3,..."`` or a STONNE tile file (``tile_type="..."`` + ``T_x=n`` lines)."""
    p = Path(spec)
    text = spec
    if "=" not in spec or p.is_file():
        if not p.is_file():
            raise ConfigError("tile file not found (or give T_R=..,T_S=.. inline)", path=p)
        try:
            text, source = p.read_text(encoding="utf-8"), p
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the tile file: {exc}", path=p) from None
    out: dict[str, int] = {}
    for part in text.replace("\n", ",").split(","):
        part = part.split("#", 1)[0].strip()
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(f"expected KEY=VALUE, got {part!r}", path=source, field="tile")
        k, v = (x.strip() for x in part.split("=", 1))
        if k == "tile_type":
            continue
        if k == "T_X'":
            k = "T_X_"
        if k == "T_Y'":
            k = "T_Y_"
        allowed = CONV_TILE_KEYS + ("T_M",)
        if k not in allowed:
            raise ConfigError(f"unknown tile key {k!r}; allowed: {', '.join(allowed)}", path=source, field=k)
        if k in out:
            raise ConfigError(f"{k} given twice", path=source, field=k)
        if not _INT_RE.fullmatch(v.strip('"').strip()):
            raise ConfigError(f"{k}={v!r} is not an integer", path=source, field=k)
        out[k] = int(v.strip('"'))
    return out

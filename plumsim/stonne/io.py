"""Read STONNE's own output files into :class:`SimResult` objects.

A STONNE run writes, per simulated layer (the PyTorch frontend: per batch item and group):
* ``output_stats_*.txt``: JSON statistics (despite the extension): ``GlobalStats.N_cycles``,
  ``SDMemoryStats`` (SRAM reads/writes, reconfigurations), ``hardwareConfiguration``, tiles;
* ``output_stats_*.counters``: ``CYCLES=n`` then per-instance lines ``COMPONENT ACTION=count ...``
  under ``[Group]`` headers (the input of STONNE's energy script);
* ``energy_out.txt`` (from ``calculate_energy.py``): ``Total Energy: x`` and per-group lines.
numpy-free.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from plumsim.accel.result import SimResult
from plumsim.errors import DataError

_SRAM_KEYS = {"N_SRAM_weight_reads": "weight_reads", "N_SRAM_input_reads": "input_reads",
              "N_SRAM_psum_reads": "psum_reads", "N_SRAM_psum_writes": "psum_writes",
              "N_reconfigurations": "reconfigurations"}


def _text(p: Path) -> str:
    """The file's text; a missing, unreadable or binary file is a DataError naming it."""
    try:
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not a text file: byte {exc.start} is not UTF-8 ({exc.reason})", path=p) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path=p) from None


def _count(raw: str, p: Path, lineno: int, field: str, integer: bool = False) -> float:
    """A finite count >= 0 (an integer when ``integer``); NaN, inf, negatives and junk are DataErrors."""
    try:
        v = float(raw)
    except ValueError:
        raise DataError(f"line {lineno}: {raw!r} is not a number", path=p, field=field) from None
    if not math.isfinite(v) or v < 0 or (integer and not v.is_integer()):
        want = "an integer >= 0" if integer else "a finite number >= 0"
        raise DataError(f"line {lineno}: expected {want}, got {raw!r}", path=p, field=field)
    return v


def read_counters(path: str | Path) -> tuple[int, dict[str, float], dict[str, int]]:
    """Parse a .counters file: (cycles, {"COMP.ACTION": sum over instances}, {"COMP": instances}).

    Cycles must be an integer > 0 given once, every count a finite number >= 0 (a NaN or negative count
    from a broken STONNE run is a DataError naming the file, the line and the field)."""
    p = Path(path)
    cycles = None
    cycles_line = 0
    counters: dict[str, float] = {}
    instances: dict[str, int] = {}
    for lineno, line in enumerate(_text(p).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("["):
            continue
        if line.startswith("CYCLES="):
            if cycles is not None:
                raise DataError(f"line {lineno}: CYCLES given twice (lines {cycles_line} and {lineno})", path=p,
                                field="CYCLES")
            c = _count(line.split("=", 1)[1].strip(), p, lineno, "CYCLES", integer=True)
            if c < 1:
                raise DataError(f"line {lineno}: expected cycles >= 1, got {int(c)}", path=p, field="CYCLES")
            cycles, cycles_line = int(c), lineno
            continue
        parts = line.split()
        comp = parts[0]
        instances[comp] = instances.get(comp, 0) + 1
        for kv in parts[1:]:
            if "=" not in kv:
                raise DataError(f"line {lineno}: expected ACTION=count, got {kv!r}", path=p)
            action, val = kv.split("=", 1)
            v = _count(val, p, lineno, f"{comp}.{action}")
            counters[f"{comp}.{action}"] = counters.get(f"{comp}.{action}", 0) + v
    if cycles is None:
        raise DataError("no 'CYCLES=' line: not a STONNE .counters file", path=p)
    return cycles, counters, instances


def read_stats(path: str | Path) -> dict:
    """Parse STONNE's JSON stats (.txt) file (a JSON object)."""
    p = Path(path)
    try:
        doc = json.loads(_text(p))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc})", path=p) from None
    if not isinstance(doc, dict):
        raise DataError("expected a JSON object (STONNE's output_stats_*.txt)", path=p)
    return doc


def _stat_number(value, p: Path, field: str, integer: bool = False) -> float:
    """A finite number >= 0 from the JSON stats (NaN, inf, strings, negatives refused)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    if not ok or (integer and not float(value).is_integer()):
        want = "an integer >= 0" if integer else "a finite number >= 0"
        raise DataError(f"expected {want}, got {value!r}", path=p, field=field)
    return float(value)


def read_energy(path: str | Path) -> dict[str, float]:
    """Parse ``calculate_energy.py`` output: {"total", "static", "dynamic", "area", "<Group>_static", ...}
    (STONNE units, undocumented by STONNE)."""
    out: dict[str, float] = {}
    for line in _text(Path(path)).splitlines():
        m = re.match(r"Total (STATIC|DYNAMIC) Energy:\s*([-0-9.eE+]+)", line)
        if m:
            out[m.group(1).lower()] = float(m.group(2))
        m = re.match(r"Total (Area|Energy):\s*([-0-9.eE+]+)", line)
        if m:
            out["area" if m.group(1) == "Area" else "total"] = float(m.group(2))
        m = re.match(r"(\w+): STATIC=([-0-9.eE+]+) AREA=([-0-9.eE+]+) DYNAMIC=([-0-9.eE+]+)", line)
        if m:
            g = m.group(1)
            out[f"{g}_static"], out[f"{g}_area"], out[f"{g}_dynamic"] = map(float, m.group(2, 3, 4))
    return out


@dataclass
class StonneRun:
    """One STONNE output folder: per-layer results, their sum, and the reported energy (if any)."""

    folder: str
    layers: dict[str, SimResult] = field(default_factory=dict)
    energy: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> SimResult:
        res = None
        for r in self.layers.values():
            res = r if res is None else res + r
        if res is None:
            return SimResult(cycles=0)
        res.instances = next(iter(self.layers.values())).instances
        return res


_STAMP = re.compile(r"^(?P<stem>.*?)(?P<stamp>\d+)$")


def _pair_stats_files(counter_files: list[Path], stats_files: list[Path]) -> dict[Path, Path]:
    """The JSON stats file of each .counters file. STONNE stamps the two files of one layer with the
    clock's seconds separately, so they can differ by a second: a .counters file takes the .txt of the same
    name, else the unpaired .txt of the same name up to its stamp whose stamp is latest but not later."""
    out: dict[Path, Path] = {}
    free = {p for p in stats_files}
    for cf in counter_files:
        same = cf.with_suffix(".txt")
        if same in free:
            out[cf] = same
            free.discard(same)
    for cf in counter_files:
        if cf in out:
            continue
        m = _STAMP.match(cf.stem)
        if not m:
            continue
        best = None
        for js in sorted(free):
            mj = _STAMP.match(js.stem)
            if mj and mj["stem"] == m["stem"] and int(mj["stamp"]) <= int(m["stamp"]):
                if best is None or int(mj["stamp"]) > int(_STAMP.match(best.stem)["stamp"]):
                    best = js
        if best is not None:
            out[cf] = best
            free.discard(best)
    return out


def read_stonne_dir(folder: str | Path) -> StonneRun:
    """Read every ``output_stats_*`` pair (.txt JSON + .counters) and ``energy_out.txt`` in a folder."""
    d = Path(folder)
    if not d.is_dir():
        raise DataError("STONNE output folder not found", path=d)
    counter_files = sorted(d.glob("*.counters"))
    if not counter_files:
        raise DataError("no STONNE .counters file here (expected output_stats_*.counters)", path=d)
    run = StonneRun(folder=str(d))
    stats_for = _pair_stats_files(counter_files, sorted(d.glob("output_stats_*.txt")))
    for cf in counter_files:
        cycles, counters, instances = read_counters(cf)
        sram: dict[str, float] = {}
        info: dict = {"counters_file": cf.name}
        js = stats_for.get(cf)
        if js is not None:
            st = read_stats(js)
            for sec in ("SDMemoryStats", "GlobalStats", "hardwareConfiguration"):
                if not isinstance(st.get(sec, {}), dict):
                    raise DataError(f"expected an object, got {st[sec]!r}", path=js, field=sec)
            sd = st.get("SDMemoryStats", {})
            sram = {v: _stat_number(sd[k], js, f"SDMemoryStats.{k}") for k, v in _SRAM_KEYS.items() if k in sd}
            js_cycles = st.get("GlobalStats", {}).get("N_cycles")
            if js_cycles is not None:
                js_cycles = int(_stat_number(js_cycles, js, "GlobalStats.N_cycles", integer=True))
            if js_cycles is not None and js_cycles != cycles:
                raise DataError(f"N_cycles={js_cycles} disagrees with CYCLES={cycles} of {cf.name}",
                                path=js, field="GlobalStats.N_cycles")
            hw = st.get("hardwareConfiguration", {})
            info.update(controller=(hw.get("SDMemory") if isinstance(hw.get("SDMemory"), dict) else {}
                                    ).get("mem_controller_type"),
                        dataflow=sd.get("Dataflow"), layer=st.get("LayerConfiguration", {}),
                        tile=st.get("TileConfiguration", {}))
        run.layers[cf.stem] = SimResult(cycles=cycles, counters=counters, instances=instances, sram=sram,
                                        info=info)
    e = d / "energy_out.txt"
    if e.is_file():
        run.energy = read_energy(e)
    return run


def run_frame(run: StonneRun):
    """One row per layer file: layer, cycles, sram_* and every counter column (pandas DataFrame)."""
    import pandas as pd

    rows = []
    for name, r in run.layers.items():
        row = {"layer": name, "cycles": r.cycles}
        row.update({f"sram_{k}": v for k, v in r.sram.items()})
        row.update(r.counters)
        row.update({f"ninst_{k}": v for k, v in r.instances.items()})
        rows.append(row)
    return pd.DataFrame(rows)

"""Counters -> energy: dynamic (count x energy per event) plus static (instances x STATIC x cycles).

This is what STONNE's ``calculate_energy.py`` computes, with STONNE's stock table it reproduces STONNE's
``energy_total`` (tests/test_energy_stonne.py checks every reference row). numpy/pandas only.
"""

from __future__ import annotations

import math

import pandas as pd

from plumsim.accel.result import SimResult
from plumsim.energy.tables import GROUPS, EnergyTable, load_energy_table
from plumsim.errors import EnergyTableError

COLUMNS = ["group", "component", "action", "count", "energy_per_event", "energy", "unit"]
_READ_SPLIT = (("READ_WEIGHT", "weight_reads"), ("READ_INPUT", "input_reads"), ("READ_PSUM", "psum_reads"))


def _as_table(table) -> EnergyTable:
    return table if isinstance(table, EnergyTable) else load_energy_table(table)


def _buffer_read_split(result: SimResult, table: EnergyTable, count: float):
    """Split GLOBALBUFFER.READ into weight / input / psum reads when the table prices them separately
    (operand widths differ) and the run's SRAM statistics account for every read; else None."""
    if not all(table.has("GLOBALBUFFER", a) for a, _ in _READ_SPLIT):
        return None
    if "weight_reads" not in result.sram or "input_reads" not in result.sram:
        return None
    parts = [(a, float(result.sram.get(k, 0.0))) for a, k in _READ_SPLIT]
    if abs(sum(c for _, c in parts) - count) > 1e-9 * max(1.0, count):
        return None
    return parts


def energy_breakdown(result: SimResult, table="stonne") -> pd.DataFrame:
    """Energy of one run, one row per (component, action) and one ``STATIC`` row per component.

    Columns: ``group`` (distribution network, multipliers, reduction network, accumulators, global
    buffer, collection bus, static), ``component``, ``action``, ``count`` (events; for STATIC rows
    cycles x instances), ``energy_per_event`` (``unit`` per event; STATIC: per cycle per instance),
    ``energy`` (``unit``), ``unit`` (the table's, e.g. "STONNE units" or "pJ").
    A counter or component the table does not price raises EnergyTableError.
    """
    table = _as_table(table)
    rows = []
    for key in sorted(result.counters):
        count = float(result.counters[key])
        if "." not in key:
            raise EnergyTableError(f"counter {key!r} is not named COMPONENT.ACTION", field=key)
        comp, action = key.split(".", 1)
        group = GROUPS.get(comp)
        if group is None:
            raise EnergyTableError(f"counter {key!r}: unknown component {comp!r}; known: "
                                   f"{', '.join(sorted(GROUPS))}", path=table.path or table.name, field=key)
        split = _buffer_read_split(result, table, count) if key == "GLOBALBUFFER.READ" else None
        for act, c in split or [(action, count)]:
            e = table.energy(comp, act)
            rows.append((group, comp, act, c, e, c * e, table.unit))
    for comp in sorted(result.instances):
        n = result.instances[comp]
        if comp not in table.static:
            raise EnergyTableError(f"no STATIC energy for component {comp!r}; the table has: "
                                   f"{', '.join(sorted(table.static))}", path=table.path or table.name,
                                   field=f"{comp}.STATIC")
        count = float(result.cycles) * float(n)
        rows.append(("static", comp, "STATIC", count, table.static[comp], count * table.static[comp], table.unit))
    return pd.DataFrame(rows, columns=COLUMNS)


def total_energy(result: SimResult, table="stonne") -> float:
    """Total energy (dynamic + static) of one run, in the table's unit."""
    return math.fsum(energy_breakdown(result, table)["energy"].tolist())


def group_energies(result: SimResult, table) -> tuple[float, str, dict[str, float]]:
    """(total energy, unit, {group: energy}) of one run: the numbers of :func:`energy_breakdown` summed
    per group (tests check equality), computed with plain floats because a sweep prices hundreds of
    thousands of runs and a breakdown's DataFrame costs more than the simulation. Anything unusual (an
    unpriced counter, a malformed name) goes through :func:`energy_breakdown` and its error."""
    table = _as_table(table)
    groups: dict[str, float] = {}
    try:
        for key, count in result.counters.items():
            comp, action = key.split(".", 1)
            group = GROUPS[comp]
            count = float(count)
            split = _buffer_read_split(result, table, count) if key == "GLOBALBUFFER.READ" else None
            e = sum(c * table.dynamic[(comp, a)] for a, c in split) if split \
                else count * table.dynamic[(comp, action)]
            groups[group] = groups.get(group, 0.0) + e
        for comp, n in result.instances.items():
            groups["static"] = groups.get("static", 0.0) + float(result.cycles) * float(n) * table.static[comp]
    except (KeyError, ValueError):
        br = energy_breakdown(result, table)  # raises the EnergyTableError naming what is missing
        per = br.groupby("group", sort=False)["energy"].sum()
        return math.fsum(br["energy"].tolist()), table.unit, {g: float(v) for g, v in per.items()}
    return math.fsum(groups.values()), table.unit, groups


def energy_by_group(result: SimResult, table="stonne") -> pd.Series:
    """Energy per breakdown group (in the table's unit), groups as index."""
    return energy_breakdown(result, table).groupby("group", sort=False)["energy"].sum()


def result_from_stonne_row(row) -> SimResult:
    """A SimResult from one row of the reference cases.csv (``cnt_*``, ``ninst_*``, ``cycles``, ``mem_*``).

    Empty cells mean "component absent from that run" and are left out.
    """
    counters, instances = {}, {}
    for col, val in row.items():
        if val is None or (isinstance(val, float) and math.isnan(val)):
            continue
        if col.startswith("cnt_"):
            counters[col[4:]] = float(val)
        elif col.startswith("ninst_"):
            instances[col[6:]] = int(val)
    sram = {}
    for k in ("weight_reads", "input_reads", "psum_reads", "psum_writes"):
        v = row.get(f"mem_N_SRAM_{k}")
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            sram[k] = float(v)
    return SimResult(cycles=int(row["cycles"]), counters=counters, instances=instances, sram=sram,
                     info={"case_id": row.get("case_id")})

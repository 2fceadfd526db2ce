"""Counters -> energy reproduces STONNE's calculate_energy.py on every reference row."""

from pathlib import Path

import pandas as pd
import pytest

from plumsim.accel.result import SimResult
from plumsim.energy import energy_breakdown, load_energy_table, total_energy
from plumsim.energy.breakdown import result_from_stonne_row
from plumsim.errors import EnergyTableError

CASES = Path(__file__).parent / "data" / "stonne" / "cases.csv"


@pytest.fixture(scope="module")
def cases():
    return pd.read_csv(CASES)


def test_every_reference_row_total_static_dynamic_and_groups(cases):
    table = load_energy_table("stonne")
    assert len(cases) == 72
    stonne_group = {"distribution network": "DSNetwork", "multipliers": "MSNetwork",
                    "reduction network": "ReduceNetwork", "accumulators": "ReduceNetwork",
                    "global buffer": "GlobalBuffer", "collection bus": "CollectionBus"}
    for _, row in cases.iterrows():
        res = result_from_stonne_row(row.to_dict())
        df = energy_breakdown(res, table)
        assert (df["unit"] == "STONNE units").all()
        tot = df["energy"].sum()
        assert tot == pytest.approx(row["energy_total"], rel=5e-3), row["case_id"]
        assert tot == pytest.approx(row["energy_total"], rel=1e-9), row["case_id"]
        stat = df.loc[df.group == "static", "energy"].sum()
        assert stat == pytest.approx(row["energy_static_total"], rel=1e-9, abs=1e-9)
        dyn = df.loc[df.group != "static"]
        assert dyn["energy"].sum() == pytest.approx(row["energy_dynamic_total"], rel=1e-9)
        per = dyn.assign(sg=dyn.group.map(stonne_group)).groupby("sg")["energy"].sum()
        for g, v in per.items():
            assert v == pytest.approx(row[f"energy_{g}_dynamic"], rel=1e-9, abs=1e-9), (row["case_id"], g)


def test_static_is_cycles_times_instances():
    t = load_energy_table("stonne")
    r = SimResult(cycles=100, counters={}, instances={"MULTIPLIER": 4, "ADDER": 3})
    assert total_energy(r, t) == pytest.approx(100 * (4 * 0.001614 + 3 * 0.001505))
    r2 = SimResult(cycles=200, counters={}, instances={"MULTIPLIER": 4, "ADDER": 3})
    assert total_energy(r2, t) == pytest.approx(2 * total_energy(r, t))


def test_read_split_by_operand_width_in_horowitz():
    t = load_energy_table("horowitz45", weight_bits=1, activation="int8", buffer_kb=8)
    r = SimResult(cycles=1, counters={"GLOBALBUFFER.READ": 30.0},
                  sram={"weight_reads": 10, "input_reads": 20, "psum_reads": 0})
    df = energy_breakdown(r, t)
    assert set(df.action) == {"READ_WEIGHT", "READ_INPUT", "READ_PSUM"}
    assert df.energy.sum() == pytest.approx(10 * 10 / 64 + 20 * 10 * 8 / 64)
    # inconsistent SRAM statistics: no split, priced as plain READ
    r.sram["input_reads"] = 5
    assert list(energy_breakdown(r, t).action) == ["READ"]


def test_unknown_counter_or_component_is_an_error():
    t = load_energy_table("stonne")
    with pytest.raises(EnergyTableError, match="unknown component"):
        energy_breakdown(SimResult(cycles=1, counters={"LASER.FIRE": 1}), t)
    with pytest.raises(EnergyTableError, match="MULTIPLIER.TELEPORT"):
        energy_breakdown(SimResult(cycles=1, counters={"MULTIPLIER.TELEPORT": 1}), t)
    with pytest.raises(EnergyTableError, match="STATIC"):
        energy_breakdown(SimResult(cycles=1, instances={"GPU": 1}), t)

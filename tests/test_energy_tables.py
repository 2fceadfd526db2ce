"""Energy tables: shipped tables load with units and sources; bad tables fail with a clear error."""

from pathlib import Path

import pytest

from plumsim.energy.tables import REQUIRED, load_energy_table
from plumsim.errors import EnergyTableError

DATA = Path(__file__).parent / "data" / "stonne"


def test_stonne_table_units_and_values_match_stonne_file():
    t = load_energy_table("stonne")
    assert t.unit == "STONNE units"
    assert "22634b8" in t.source
    # every number of STONNE's own text table is in ours, unchanged
    for line in (DATA / "energy_model_stonne.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        comp, action, value = line.split()
        got = {"AREA": t.area, "STATIC": t.static}.get(action)
        got = got[comp] if got is not None else t.energy(comp, action)
        assert got == float(value), (comp, action)
    assert all(t.sources[k] for k in t.sources)


def test_stonne_text_format_loads_as_user_table():
    a = load_energy_table(DATA / "energy_model_stonne.txt")
    b = load_energy_table("stonne")
    assert a.unit == "STONNE units"
    for k, v in a.dynamic.items():
        assert b.dynamic[k] == v


def test_horowitz_published_points_and_scaling():
    t = load_energy_table("horowitz45", weight_bits=8, activation="int8", accumulator_bits=32, buffer_kb=8)
    assert t.unit == "pJ"
    assert t.energy("MULTIPLIER", "MULTIPLICATION") == pytest.approx(0.2)
    assert t.energy("ADDER", "ADD_2_1") == pytest.approx(0.1)          # int32 accumulator add
    assert t.energy("ADDER", "ADD_3_1") == pytest.approx(0.2)
    assert t.energy("GLOBALBUFFER", "READ_INPUT") == pytest.approx(10 * 8 / 64)
    t32 = load_energy_table("horowitz45", weight_bits=32, activation="int16", accumulator_bits=8, buffer_kb=1024)
    assert t32.energy("ADDER", "ADD_2_1") == pytest.approx(0.03)
    assert t32.energy("GLOBALBUFFER", "READ_WEIGHT") == pytest.approx(100 * 32 / 64)
    fp = load_energy_table("horowitz45", activation="fp16", accumulator_bits=32)
    assert fp.energy("MULTIPLIER", "MULTIPLICATION") == pytest.approx(1.1)
    assert fp.energy("ADDER", "ADD_2_1") == pytest.approx(0.9)
    # monotone in the widths: fewer weight bits never cost more
    e = [load_energy_table("horowitz45", weight_bits=b).energy("MULTIPLIER", "MULTIPLICATION")
         for b in range(1, 33)]
    assert all(x < y for x, y in zip(e, e[1:])) and e[0] > 0
    mid = load_energy_table("horowitz45", buffer_kb=16).energy("GLOBALBUFFER", "READ_INPUT")
    assert 10 * 8 / 64 < mid < 20 * 8 / 64


@pytest.mark.parametrize("bad, field", [
    ({"weight_bits": 0}, "weight_bits"), ({"weight_bits": 33}, "weight_bits"),
    ({"activation": "int4"}, "activation"), ({"buffer_kb": -1}, "buffer_kb"), ({"colour": 1}, "colour"),
])
def test_bad_bitwidths(bad, field):
    with pytest.raises(EnergyTableError) as exc:
        load_energy_table("horowitz45", **bad)
    assert exc.value.field == field


def _write_table(tmp_path, edit):
    import yaml

    doc = yaml.safe_load(Path(load_energy_table("stonne").path).read_text())
    edit(doc)
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


@pytest.mark.parametrize("edit, field, words", [
    (lambda d: d["components"]["ADDER"]["actions"].pop("ADD_3_1"), "ADDER.ADD_3_1", "missing action"),
    (lambda d: d["components"]["MULTIPLIER"]["actions"].update(MULTIPLICATION=-1), "MULTIPLIER.MULTIPLICATION", ">= 0"),
    (lambda d: d.update(unit="calories"), "unit", "unknown unit"),
    (lambda d: d["components"].update(LASER={"AREA": 0, "STATIC": 0, "actions": {}}), "LASER", "unknown component"),
    (lambda d: d["components"].pop("SWITCH"), "SWITCH", "missing component"),
    (lambda d: d["components"]["ADDER"]["actions"].update(ADD_9_1=1), "ADDER.ADD_9_1", "unknown action"),
    (lambda d: d["components"]["ADDER"].pop("STATIC"), "ADDER.STATIC", "missing STATIC"),
    (lambda d: d["components"]["ADDER"]["actions"].update(ADD_2_1="lots"), "ADDER.ADD_2_1", "not a number"),
])
def test_bad_table_names_file_field_and_allowed(tmp_path, edit, field, words):
    p = _write_table(tmp_path, edit)
    with pytest.raises(EnergyTableError) as exc:
        load_energy_table(p)
    assert exc.value.field == field
    assert str(p) in str(exc.value) and words in str(exc.value)


def test_user_table_roundtrip_and_missing_file(tmp_path):
    p = _write_table(tmp_path, lambda d: d.update(unit="pJ", name="mine"))
    t = load_energy_table(p)
    assert t.unit == "pJ" and t.name == "mine" and set(REQUIRED) <= set(t.static)
    with pytest.raises(EnergyTableError, match="no such energy table"):
        load_energy_table(tmp_path / "nope.yaml")

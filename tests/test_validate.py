"""validate_cases on the reference CSV and on edited copies."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from plumsim.accel.validate import validate_cases
from plumsim.cli import main
from plumsim.errors import ConfigError

DATA = Path(__file__).parent / "data" / "stonne"


def test_reference_targets():
    rep = validate_cases(DATA / "cases.csv", families=("SIGMA", "TPU"))
    s = rep.summary.set_index("family")
    for fam in ("SIGMA", "TPU"):
        assert s.loc[fam, "median_abs_err"] <= 0.01 and s.loc[fam, "max_abs_err"] <= 0.05
        for c in ("mult_max_abs_err", "gb_reads_max_abs_err", "gb_writes_max_abs_err"):
            assert s.loc[fam, c] <= 0.02
    assert set(rep.results) == set(rep.cases.case_id)


def test_other_csv_and_bad_column(tmp_path, capsys):
    df = pd.read_csv(DATA / "cases.csv")
    sub = df[df.family.str.startswith(("SIGMA", "TPU"))].head(4).copy()
    sub.loc[sub.index[0], "cycles"] *= 2       # a wrong reference shows up as error
    shutil.copytree(DATA / "cfgs", tmp_path / "cfgs")
    shutil.copytree(DATA / "weights", tmp_path / "weights")
    sub.to_csv(tmp_path / "c.csv", index=False)
    rep = validate_cases(tmp_path / "c.csv")
    assert len(rep.cases) == 4 and abs(rep.cases.rel_err.iloc[0]) > 0.4
    assert main(["stonne", "validate", str(tmp_path / "c.csv"), "--format", "json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert {"case_id", "family", "cycles_ref", "cycles_model", "model_seconds"} <= set(js["cases"][0])
    sub.drop(columns=["cycles"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ConfigError) as e:
        validate_cases(tmp_path / "bad.csv")
    assert e.value.field == "cycles"
    assert main(["stonne", "validate", str(tmp_path / "bad.csv")]) == 2

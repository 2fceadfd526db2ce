"""validate_cases on the reference CSV and on edited copies."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from plumsim.stonne.validate import validate_cases
from plumsim.cli import main
from plumsim.errors import ConfigError

DATA = Path(__file__).parent / "data" / "stonne"


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


def _tpu_rows(tmp_path, n=3):
    df = pd.read_csv(DATA / "cases.csv")
    df[df.family.str.startswith("TPU")].head(n).to_csv(tmp_path / "t.csv", index=False)
    return tmp_path / "t.csv"


def test_only_not_implemented_means_model_not_available(tmp_path, monkeypatch):
    """NotImplementedError fills the row's error column; any other exception of the model is a bug and
    propagates (an AttributeError is not an 'unavailable model')."""
    import plumsim.accel.tpu as tpu

    p = _tpu_rows(tmp_path)

    def not_yet(*a, **k):
        raise NotImplementedError("TPU model in progress")

    monkeypatch.setattr(tpu, "tpu_gemm", not_yet)
    rep = validate_cases(p)
    assert (rep.cases.error == "model not available: TPU model in progress").all()
    assert rep.cases.cycles_model.isna().all() and rep.results == {}

    def buggy(*a, **k):
        return None.cycles

    monkeypatch.setattr(tpu, "tpu_gemm", buggy)
    with pytest.raises(AttributeError):
        validate_cases(p)


def test_model_seconds_times_the_model_call_alone(tmp_path, monkeypatch):
    """Reading the cfg and weights (made slow here) is outside the clock; the SIGMA model call is < 50 ms."""
    import time

    import plumsim.accel.cfg as cfg
    import plumsim.stonne.validate as val

    slow = 0.25
    load_w, load_c = val._load_weights, cfg.load_config
    monkeypatch.setattr(val, "_load_weights", lambda *a: (time.sleep(slow), load_w(*a))[1])
    monkeypatch.setattr(cfg, "load_config", lambda *a: (time.sleep(slow), load_c(*a))[1])
    df = pd.read_csv(DATA / "cases.csv")
    shutil.copytree(DATA / "cfgs", tmp_path / "cfgs")
    shutil.copytree(DATA / "weights", tmp_path / "weights")
    df[df.family.str.startswith("SIGMA")].head(3).to_csv(tmp_path / "s.csv", index=False)
    t0 = time.perf_counter()
    rep = validate_cases(tmp_path / "s.csv")
    assert time.perf_counter() - t0 >= 3 * 2 * slow  # the slow loading did happen
    assert rep.cases.cycles_model.notna().all()
    assert (rep.cases.model_seconds < slow).all(), rep.cases.model_seconds.tolist()


def test_calibration_record_cli(capsys):
    from plumsim.accel.calibration import RECORD

    assert main(["stonne", "calibration", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["constants"]
    assert [r["name"] for r in rows] == list(RECORD)
    for r in rows:
        # every constant names the runs it was fitted on, and they are stored here
        path = r["fitted_on"].split(" ")[0]
        assert (Path(__file__).parent.parent / path).is_dir(), path
        assert r["unit"] == "cycles" and r["error"]
    assert main(["stonne", "calibration"]) == 0
    assert "MAERI_PSUM_LOOP = 2 cycles" in capsys.readouterr().out

"""STONNE output reader vs cases.csv columns, on every raw folder."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plumsim.stonne.io import read_stonne_dir
from plumsim.cli import main
from plumsim.errors import DataError

DATA = Path(__file__).parent / "data" / "stonne"
CASES = pd.read_csv(DATA / "cases.csv").set_index("case_id")
RAW = sorted(p for p in (DATA / "raw").iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", RAW, ids=[p.name for p in RAW])
def test_raw_matches_csv(folder):
    run = read_stonne_dir(folder)
    row = CASES.loc[folder.name]
    t = run.total
    assert t.cycles == row.cycles
    for k, v in t.counters.items():
        assert v == np.nan_to_num(row["cnt_" + k]), k
    for k, v in t.instances.items():
        assert v == row["ninst_" + k], k
    assert t.sram["input_reads"] == row.mem_N_SRAM_input_reads
    assert run.energy["total"] == pytest.approx(float(row.energy_total), rel=1e-12)


def test_errors_and_cli(tmp_path, capsys):
    with pytest.raises(DataError):
        read_stonne_dir(tmp_path)
    (tmp_path / "x.counters").write_text("[DSNetwork]\nDN_WIRE WRITE=3\n")
    with pytest.raises(DataError, match="CYCLES"):
        read_stonne_dir(tmp_path)
    assert main(["stonne", "read", str(RAW[0]), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_cycles"] == CASES.loc[RAW[0].name].cycles


def test_stats_file_stamped_a_second_before_its_counters(tmp_path):
    # STONNE stamps the .txt and .counters of one layer separately; seen in a real ResNet-20 run
    src = DATA / "raw" / "A_maeri_conv_01"
    cf = next(src.glob("*.counters"))
    stem = cf.stem[: -len("1795332923")]
    shutil.copy(cf, tmp_path / f"{stem}1795332924.counters")
    shutil.copy(cf.with_suffix(".txt"), tmp_path / f"{stem}1795332923.txt")
    run = read_stonne_dir(tmp_path)
    (res,) = run.layers.values()
    ref = read_stonne_dir(src)
    (want,) = ref.layers.values()
    assert res.sram == want.sram and res.sram
    assert res.info["tile"] == want.info["tile"]

"""Bad input to `plumsim stonne validate` / `compare` and a missing frontend in run.sh: one line naming
the file, the row (or manifest layer) and the column (or key), exit 2, no traceback."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plumsim.accel.cfg import load_config
from plumsim.cli import main
from plumsim.stonne import export_workload
from plumsim.workload.format import Workload
from plumsim.workload.layer import Layer, LayerShape

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "stonne"


def one_line_error(argv, capsys) -> str:
    """Run the CLI in-process: exit 2 and exactly one line on stderr, which is returned."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("plumsim: error: ")
    return err.strip()


@pytest.fixture(scope="module")
def ref_rows() -> pd.DataFrame:
    return pd.read_csv(DATA / "cases.csv").astype(object)


@pytest.fixture
def folder(tmp_path):
    shutil.copytree(DATA / "cfgs", tmp_path / "cfgs")
    shutil.copytree(DATA / "weights", tmp_path / "weights")
    return tmp_path


def rows_of(ref_rows, family, n=4):
    return ref_rows[ref_rows.family.str.startswith(family)].head(n).reset_index(drop=True).copy()


def write(folder, df, name="c.csv") -> Path:
    p = folder / name
    df.to_csv(p, index=False)
    return p


# ------------------------------------------------------------------ validate: the file itself

@pytest.mark.parametrize("content, expected", [
    (bytes(range(256)) * 4, "cannot read as CSV: "),
    (b"a,b\n1,2\n3,4,5,6\n", "cannot read as CSV: Error tokenizing data. C error: Expected 2 fields in line 3, saw 4"),
    (b"", "cannot read as CSV: No columns to parse from file"),
    (b"name: x\nlayers: []\n", "column 'case_id' missing; required columns: case_id, family, op, cycles, ms_size, "
                               "dn_bw, rn_bw"),
])
def test_not_a_cases_csv(tmp_path, capsys, content, expected):
    p = tmp_path / "c.csv"
    p.write_bytes(content)
    assert one_line_error(["stonne", "validate", str(p)], capsys).startswith(f"plumsim: error: {p}: {expected}")


def test_missing_column_header_only_and_missing_file(folder, ref_rows, capsys):
    p = write(folder, rows_of(ref_rows, "TPU").drop(columns=["cycles"]))
    assert one_line_error(["stonne", "validate", str(p)], capsys) == (
        f"plumsim: error: {p}: column 'cycles' missing; required columns: case_id, family, op, cycles, ms_size, "
        "dn_bw, rn_bw")
    p = write(folder, rows_of(ref_rows, "TPU").head(0), "h.csv")
    assert one_line_error(["stonne", "validate", str(p)], capsys) == (
        f"plumsim: error: {p}: no data rows (only a header)")
    p = folder / "nope.csv"
    assert one_line_error(["stonne", "validate", str(p)], capsys) == f"plumsim: error: {p}: cases CSV not found"


# ------------------------------------------------------------------ validate: one row's cells

def _edit(df, row, col, value):
    df.loc[row, col] = value
    return df


CELL_CASES = [  # (family, 0-based row, column, new value, message after "row N (line L, case_id C), ")
    ("MAERI", 2, "cycles", "abc", "column 'cycles': expected an integer, got 'abc'"),
    ("MAERI", 1, "cycles", 3.5, "column 'cycles': expected an integer, got 3.5"),
    ("MAERI", 1, "cycles", np.nan, "column 'cycles': empty cell, expected an integer"),
    ("MAERI", 1, "family", "GPU_dense", "column 'family': unknown family 'GPU_dense'; known: MAERI_*, SIGMA_*, TPU_*"),
    ("MAERI", 0, "op", "SparseConv", "column 'op': op 'SparseConv' is not one the MAERI model runs; supported: "
                                     "CONV, FC, DenseGEMM"),
    ("TPU", 1, "op", "CONV", "column 'op': op 'CONV' is not one the TPU model runs; supported: DenseGEMM"),
    ("MAERI", 0, "accumulation_buffer", 5, "column 'accumulation_buffer': expected an integer in 0..1, got 5"),
    ("MAERI", 0, "T_R", 99, "column 'T_R': tile T_R=99 exceeds the layer's R=3 (allowed 1..3)"),
    ("TPU", 1, "T_M", 1000, "column 'T_M': T_M=1000 out of range: allowed 1..ms_rows (4)"),
    ("TPU", 1, "M_gemm", 0, "column 'M_gemm': expected an integer >= 1, got 0"),
    ("TPU", 1, "dn_bw", 3, "column 'dn_bw': dn_bw=3 on a 4x4 mesh: (ms_rows+ms_cols)/dn_bw = 8/3 is not a power of two (STONNE aborts "
                           "building this mesh); allowed dn_bw: 1, 2, 4, 8"),
    ("MAERI", 3, "energy_total", "lots", "column 'energy_total': expected a number, got 'lots'"),
    ("TPU", 2, "stonne_wall_s", -1, "column 'stonne_wall_s': expected a number >= 0, got -1"),
    ("SIGMA", 0, "R", 0, "column 'R': expected an integer >= 1, got 0"),
    ("SIGMA", 0, "G", 7, "column 'G': G=7 must divide C=16 and K=16"),
]


@pytest.mark.parametrize("family, row, col, value, message", CELL_CASES,
                         ids=[f"{c[2]}-{c[3]}" for c in CELL_CASES])
def test_bad_cell_names_file_row_line_case_and_column(folder, ref_rows, capsys, family, row, col, value, message):
    df = _edit(rows_of(ref_rows, family), row, col, value)
    p = write(folder, df)
    cid = df.loc[row, "case_id"]
    assert one_line_error(["stonne", "validate", str(p)], capsys) == (
        f"plumsim: error: {p}: row {row + 1} (line {row + 2}, case_id {cid}), {message}")


def test_duplicate_case_id_names_both_rows(folder, ref_rows, capsys):
    df = rows_of(ref_rows, "TPU")
    df.loc[3, "case_id"] = df.loc[1, "case_id"]
    p = write(folder, df)
    cid = df.loc[1, "case_id"]
    assert one_line_error(["stonne", "validate", str(p)], capsys) == (
        f"plumsim: error: {p}: row 4 (line 5, case_id {cid}), column 'case_id': duplicate case_id, first in "
        f"row 2 (line 3, case_id {cid})")


def test_line_number_counts_quoted_multiline_cells(folder, ref_rows, capsys):
    df = rows_of(ref_rows, "TPU")
    df.loc[0, "cfg_text"] = "[MSNetwork]\nms_rows=4\n"  # row 1 spans lines 2-4
    df.loc[1, "K_gemm"] = "many"
    p = write(folder, df)
    err = one_line_error(["stonne", "validate", str(p)], capsys)
    assert err == (f"plumsim: error: {p}: row 2 (line 5, case_id {df.loc[1, 'case_id']}), column 'K_gemm': "
                   "expected an integer, got 'many'")
    assert df.loc[1, "case_id"] in p.read_text().splitlines()[4]


# ------------------------------------------------------------------ validate: a row's files

def test_weights_and_cfg_files(folder, ref_rows, capsys):
    sg = rows_of(ref_rows, "SIGMA", 3)
    cid = sg.loc[1, "case_id"]
    where = f"row 2 (line 3, case_id {cid})"

    def err_for(col, value):
        p = write(folder, _edit(sg.copy(), 1, col, value))
        return one_line_error(["stonne", "validate", str(p)], capsys).split(f"{p}: {where}, ", 1)[1]

    assert err_for("weights_file", "weights/nope.npz") == (
        f"column 'weights_file': file not found: {folder}/weights/nope.npz")
    assert err_for("cfg_file", "cfgs/nope.cfg") == f"column 'cfg_file': file not found: {folder}/cfgs/nope.cfg"
    assert err_for("weights_file", np.nan) == "column 'weights_file': empty cell, expected a file name"
    (folder / "junk").mkdir()
    (folder / "junk" / "text.npz").write_text("hello")
    assert err_for("weights_file", "junk/text.npz") == (
        f"column 'weights_file': cannot read {folder}/junk/text.npz as .npz: not an .npz archive (numpy.savez)")
    np.savez(folder / "junk" / "noinput.npz", weight=np.ones((2, 2)))
    assert err_for("weights_file", "junk/noinput.npz") == (
        f"column 'weights_file': {folder}/junk/noinput.npz has no array 'input' (has: weight; needs 'weight' and "
        "'input')")
    np.savez(folder / "junk" / "shape.npz", weight=np.ones((16, 2)), input=np.ones((1, 16, 8, 8)))
    assert "weight has 2 values per filter, C/G*R*S = 16*3*3 expected" in err_for("weights_file", "junk/shape.npz")
    (folder / "junk" / "bad.cfg").write_text("[MSNetwork]\nms_size=abc\n")
    assert err_for("cfg_file", "junk/bad.cfg") == (
        f"column 'cfg_file': {folder}/junk/bad.cfg: field '[MSNetwork] ms_size': expected an integer, got 'abc'")
    shutil.copy(ROOT / "accel_configs" / "tpu_16x16.cfg", folder / "junk" / "tpu.cfg")
    assert err_for("cfg_file", "junk/tpu.cfg") == (
        "column 'cfg_file': sigma_gemm needs controller SIGMA_SPARSE_GEMM, got TPU_OS_DENSE")


def test_installed_plumsim_script_gives_one_line(folder, ref_rows):
    script = Path(sys.executable).parent / "plumsim"
    exe = [str(script)] if script.is_file() else [sys.executable, "-m", "plumsim.cli"]
    df = _edit(rows_of(ref_rows, "SIGMA", 3), 2, "weights_file", "weights/missing.npz")
    p = write(folder, df)
    r = subprocess.run([*exe, "stonne", "validate", str(p)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"plumsim: error: {p}: row 3 (line 4, case_id {df.loc[2, 'case_id']}), column "
                        f"'weights_file': file not found: {folder}/weights/missing.npz\n")


# ------------------------------------------------------------------ compare: the export folder

@pytest.fixture
def export(tmp_path):
    layer = Layer("fc1", "linear", "binary", LayerShape(16, 1, 64, 16, 1, 1, 1, 1),
                  np.ones((16, 64, 1, 1), np.int8), np.ones(16, np.float32), np.ones(16, np.int8))
    out = tmp_path / "e"
    export_workload(Workload("w", [layer]), load_config(ROOT / "accel_configs" / "maeri_64.cfg"), out)
    return out


def _manifest(out, edit):
    m = json.loads((out / "manifest.json").read_text())
    edit(m)
    (out / "manifest.json").write_text(json.dumps(m))


def test_compare_missing_or_malformed_exported_files(export, capsys):
    assert main(["stonne", "compare", str(export)]) == 0  # the intact export: layer "missing" (no STONNE run)
    capsys.readouterr()
    w = export / "layers" / "fc1" / "weight.npy"
    np.save(w, np.ones((3, 3), np.float32))
    assert one_line_error(["stonne", "compare", str(export)], capsys) == (
        f"plumsim: error: {w}: layer 1 (name fc1), key 'files.weight': 9 values, the layer's shape needs 1024")
    w.write_text("junk")
    assert one_line_error(["stonne", "compare", str(export)], capsys) == (
        f"plumsim: error: {w}: layer 1 (name fc1), key 'files.weight': cannot read as .npy: not a NumPy .npy file")
    w.unlink()
    assert one_line_error(["stonne", "compare", str(export)], capsys) == (
        f"plumsim: error: {w}: layer 1 (name fc1), key 'files.weight': exported file missing")
    (export / "accel.cfg").unlink()
    assert one_line_error(["stonne", "compare", str(export)], capsys) == (
        f"plumsim: error: {export / 'accel.cfg'}: accelerator config file not found")


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["layers"][0].pop("shape"),
     "layer 1 (name fc1), key 'shape': expected an object with N, G, C, K, R, S, X, Y, stride, padding"),
    (lambda m: m["layers"][0]["shape"].update(K="x"), "layer 1 (name fc1), key 'shape.K': expected an integer >= 1, "
                                                      "got 'x'"),
    (lambda m: m["layers"][0].pop("name"), "layer 1 (key fc1), key 'name': missing"),
    (lambda m: m["layers"].append(5), "layer 2: expected an object, got int"),
    (lambda m: m["layers"][0].update(repeat="x"),
     "layer 1 (name fc1), key 'repeat': expected an integer >= 1, got 'x'"),
    (lambda m: m["layers"][0].update(output_dir="/tmp"),
     "layer 1 (name fc1), key 'output_dir': expected a path inside the export folder, got '/tmp'"),
    (lambda m: m["layers"][0]["files"].update(weight="../../w.npy"),
     "layer 1 (name fc1), key 'files.weight': expected a path inside the export folder, got '../../w.npy'"),
    (lambda m: m["layers"][0].update(tile={"T_M": 1}), "layer 1 (name fc1), key 'tile.T_N': expected an integer >= 1, "
     "got None (a FC tile on MAERI_DENSE_WORKLOAD has T_M, T_N, T_K)"),
    (lambda m: m.update(layers={}), "field 'layers': expected a JSON array"),
])
def test_compare_malformed_manifest_entry(export, capsys, edit, message):
    _manifest(export, edit)
    assert one_line_error(["stonne", "compare", str(export)], capsys) == (
        f"plumsim: error: {export / 'manifest.json'}: {message}")


# ------------------------------------------------------------------ run.sh: the SIGMA frontend probe

def test_run_sh_probes_torch_and_torch_stonne(tmp_path):
    sigma = load_config(ROOT / "accel_configs" / "sigma_64.cfg")
    layer = Layer("fc", "linear", "binary", LayerShape(2, 1, 8, 4, 1, 1, 1, 1),
                  np.ones((4, 8, 1, 1), np.int8), np.ones(4, np.float32), np.ones(4, np.int8))
    out = tmp_path / "e"
    export_workload(Workload("s", [layer]), sigma, out)
    text = (out / "run.sh").read_text()
    assert '"$PYTHON" -c "import torch, torch_stonne"' in text
    if shutil.which("bash") is None:
        pytest.skip("no bash to run the probe")
    # a Python without the frontend: the interpreter running the tests has torch (a plumsim dependency)
    # but, unless someone built STONNE into it, not torch_stonne
    r = subprocess.run([sys.executable, "-c", "import torch_stonne"], capture_output=True)
    if r.returncode == 0:
        pytest.skip("this Python has torch_stonne")
    env = dict(os.environ, PYTHON=sys.executable)
    r = subprocess.run(["bash", str(out / "run.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 127
    assert f"PYTHON='{sys.executable}' fails 'import torch, torch_stonne' with: " in r.stderr
    assert "No module named 'torch" in r.stderr and "pytorch-frontend" in r.stderr
    assert r.stderr.count("\n") == 1 and not any((out / "out").iterdir())  # nothing was started
    r = subprocess.run(["bash", str(out / "run.sh")], env=dict(env, PYTHON=str(tmp_path / "no-python")),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 127 and "is neither an executable file nor a command on PATH" in r.stderr

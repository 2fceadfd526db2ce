"""Strict parsing of every user file (issue 16, item 4): each bad input is the project's own error of the
exact type, naming the file and the field, and through the CLI (in-process) one line on stderr, exit 2, no
traceback. One parametrized test per input family: .cfg, energy table, sweep grid, checkpoint, STONNE
outputs and cases.csv, layer table / workload manifest, attribute's controller check."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from plumsim.cli import build_parser, main
from plumsim.errors import ConfigError, DataError, EnergyTableError, WorkloadError

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "accel_configs"
STONNE = ROOT / "tests" / "data" / "stonne"
TABLE = ROOT / "workloads" / "cnn-digits.yaml"
SIGMA_CFG = ("[MSNetwork]\ntype=\"LINEAR\"\nms_size={ms}\n[ReduceNetwork]\ntype=\"ASNETWORK\"\n"
             "accumulation_buffer_enabled={ab}\n[SDMemory]\ndn_bw=32\nrn_bw=32\ncontroller_type=\"{ctrl}\"\n")


def sigma_cfg(ms="64", ab="0", ctrl="SIGMA_SPARSE_GEMM", extra=""):
    return SIGMA_CFG.format(ms=ms, ab=ab, ctrl=ctrl) + extra


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    from plumsim.workload import synth

    d = tmp_path_factory.mktemp("wl") / "wl"
    synth(TABLE, "signed-binary", seed=0).save(d)
    return d


def expect(argv, exc_type, capsys, *words):
    """The command raises exactly ``exc_type`` whose message has every word (file, field, ...); through
    ``main`` it is one stderr line, exit 2, no traceback. Returns the line."""
    args = build_parser().parse_args(argv)
    with pytest.raises(exc_type) as info:
        args.func(args)
    assert type(info.value) is exc_type, type(info.value)
    msg = str(info.value)
    for w in words:
        assert str(w) in msg, (w, msg)
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, (rc, err)
    assert lines[0] == f"plumsim: error: {msg}"
    return lines[0]


# ------------------------------------------------------------------------------------------- .cfg files
CFG_CASES = {
    "nan": (sigma_cfg(ms="nan"), "[MSNetwork] ms_size", "'nan'"),
    "inf": (sigma_cfg(ms="inf"), "[MSNetwork] ms_size", "'inf'"),
    "1e400": (sigma_cfg(ms="1e400"), "[MSNetwork] ms_size", "'1e400'"),
    "float": (sigma_cfg(ms="128.5"), "[MSNetwork] ms_size", "'128.5'"),
    "negative": (sigma_cfg(ms="-64"), "[MSNetwork] ms_size", ">= 0"),
    "bool-5": (sigma_cfg(ab="5"), "[ReduceNetwork] accumulation_buffer_enabled", "0, 1, true or false"),
    "bool-string": (sigma_cfg(ab='"1"'), "[ReduceNetwork] accumulation_buffer_enabled", "the string"),
    "dup-key": (sigma_cfg().replace("dn_bw=32", "dn_bw=32\ndn_bw=16"), "[SDMemory] dn_bw", "lines 8 and 9"),
    "dup-section": (sigma_cfg(extra="[MSNetwork]\nms_rows=0\n"), "[MSNetwork]", "lines 1 and 11"),
    "mesh-nan": (sigma_cfg(extra="").replace("ms_size=64", "ms_size=64\nms_rows=nan"), "[MSNetwork] ms_rows",
                 "'nan'"),
    "binary": (b"\xff\xfe\x00[MSNetwork]\x81", None, "not a text file"),
}


@pytest.mark.parametrize("case", list(CFG_CASES))
def test_cfg_files_are_strict(case, tmp_path, workload, capsys):
    from plumsim.accel.cfg import load_config

    body, field, words = CFG_CASES[case]
    p = tmp_path / "bad.cfg"
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert info.value.field == field
    expect(["simulate", str(workload), "--accel", str(p)], ConfigError, capsys, p, words,
           *([f"field '{field}'"] if field else []))


def test_cfg_booleans_and_shipped_presets_still_load():
    from plumsim.accel.cfg import load_config, loads_config

    assert loads_config(sigma_cfg(ab="true")).accumulation_buffer is True
    assert loads_config(sigma_cfg(ab="false")).accumulation_buffer is False
    for p in sorted(CFG.glob("*.cfg")) + sorted(STONNE.glob("cfgs/*.cfg")):
        load_config(p)


# ---------------------------------------------------------------------------------------- energy tables
def _stonne_doc():
    from plumsim.energy.tables import shipped_table_path

    return yaml.safe_load(shipped_table_path("stonne").read_text())


def _horowitz_text():
    from plumsim.energy.tables import shipped_table_path

    return shipped_table_path("horowitz45").read_text()


def _edit(edit):
    doc = _stonne_doc()
    edit(doc)
    return yaml.safe_dump(doc)


ENERGY_CASES = {
    "binary.yaml": (b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01", None, "not a text file"),
    "binary.txt": (b"\xff\xfe\x00\x01junk", None, "not a text file"),
    "one-point.yaml": (lambda: _horowitz_text().replace("add_int: {8: 0.03, 32: 0.1}", "add_int: {8: 0.03}"),
                       "points.add_int", "needs at least 2"),
    "dup-point.yaml": (lambda: _horowitz_text().replace("add_int: {8: 0.03, 32: 0.1}",
                                                        "add_int: {8: 0.03, 8: 0.05, 32: 0.1}"), "8", "twice"),
    "zero-sram.yaml": (lambda: _horowitz_text().replace("sram_64bit_kb: {8: 10,", "sram_64bit_kb: {8: 0,"),
                       "points.sram_64bit_kb.8", "> 0"),
    "point-string.yaml": (lambda: _horowitz_text().replace("mult_int: {8: 0.2,", "mult_int: {8: abc,"),
                          "points.mult_int.8", "not a number"),
    "point-list.yaml": (lambda: _horowitz_text().replace("mult_int: {8: 0.2, 32: 3.1}", "mult_int: [0.2, 3.1]"),
                        "points.mult_int", "expected a mapping"),
    "negative.yaml": (lambda: _edit(lambda d: d["components"]["ADDER"]["actions"].update(ADD_2_1=-0.1)),
                      "ADDER.ADD_2_1", ">= 0"),
    "infinite.yaml": (lambda: _edit(lambda d: d["components"]["ADDER"]["actions"].update(ADD_2_1=float("inf"))),
                      "ADDER.ADD_2_1", "finite"),
    "string.yaml": (lambda: _edit(lambda d: d["components"]["ADDER"]["actions"].update(ADD_2_1="0.111")),
                    "ADDER.ADD_2_1", "a string"),
    "list.yaml": (lambda: _edit(lambda d: d["components"]["ADDER"]["actions"].update(ADD_2_1=[0.1, 0.2])),
                  "ADDER.ADD_2_1", "a list"),
    "boolean.yaml": (lambda: _edit(lambda d: d["components"]["ADDER"]["actions"].update(ADD_2_1=True)),
                     "ADDER.ADD_2_1", "a boolean"),
    "actions-list.yaml": (lambda: _edit(lambda d: d["components"]["ADDER"].update(actions=[1, 2])),
                          "ADDER.actions", "expected a mapping"),
    "dup-component.yaml": (lambda: _stonne_text_yaml_dup(), "ADDER", "appears twice"),
    "buffer-inf.yaml": (lambda: _horowitz_text().replace("  buffer_kb: 32\n", "  buffer_kb: .inf\n"),
                        "buffer_kb", "finite"),
    "text-nan.txt": ("ADDER AREA=1 STATIC=nan ADD_2_1=1 ADD_3_1=1 CONFIGURATION=0\n", "ADDER.STATIC", "line 1"),
    "text-1e400.txt": ("ADDER AREA=1e400 STATIC=0 ADD_2_1=1 ADD_3_1=1 CONFIGURATION=0\n", "ADDER.AREA", "finite"),
    "text-dup.txt": ("ADDER AREA=1 STATIC=0 ADD_2_1=1 ADD_3_1=1 CONFIGURATION=0\nADDER ADD_2_1 5\n",
                     "ADDER.ADD_2_1", "lines 1 and 2"),
}


def _stonne_text_yaml_dup():
    from plumsim.energy.tables import shipped_table_path

    text = shipped_table_path("stonne").read_text()
    return text.replace("  SWITCH:", "  ADDER: {AREA: 1, STATIC: 0, actions: {ADD_2_1: 1, ADD_3_1: 1, "
                        "CONFIGURATION: 0}}\n  SWITCH:", 1)


@pytest.mark.parametrize("case", list(ENERGY_CASES))
def test_energy_tables_are_strict(case, tmp_path, workload, capsys):
    from plumsim.energy.tables import load_energy_table

    body, field, words = ENERGY_CASES[case]
    body = body() if callable(body) else body
    p = tmp_path / case
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    with pytest.raises(EnergyTableError) as info:
        load_energy_table(p)
    assert info.value.field == field
    expect(["attribute", str(workload), "--accel", str(CFG / "sigma_64.cfg"), "--energy-table", str(p)],
           EnergyTableError, capsys, p, words, *([f"field '{field}'"] if field else []))


def test_stonne_own_text_table_prices_like_the_shipped_one(tmp_path, workload, capsys):
    """STONNE's energy_model.txt layout (COMPONENT AREA=a STATIC=s ACTION=e ...; written here from the
    shipped table's numbers) loads unchanged and gives the same attribution as the shipped `stonne`."""
    from plumsim.energy.tables import REQUIRED, load_energy_table

    shipped = load_energy_table("stonne")
    lines = [" ".join([c, f"AREA={shipped.area[c]}", f"STATIC={shipped.static[c]}"]
                      + [f"{a}={shipped.energy(c, a)}" for a in acts]) for c, acts in REQUIRED.items()]
    p = tmp_path / "energy_model.txt"
    p.write_text("\n".join(lines) + "\n")
    t = load_energy_table(p)
    assert t.unit == "STONNE units" and t.dynamic == shipped.dynamic and t.static == shipped.static
    assert "GLOBALBUFFER READ / 8" in t.sources[("INDEX", "READ")]
    outs = []
    for table in (str(p), "stonne"):
        capsys.readouterr()
        assert main(["attribute", str(workload), "--accel", str(CFG / "sigma_64.cfg"), "--energy-table", table,
                     "--format", "csv"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]


def test_shipped_energy_tables_still_load():
    from plumsim.energy.tables import load_energy_table

    for act in ("int8", "int16", "fp16", "fp32"):
        load_energy_table("horowitz45", activation=act)
    load_energy_table("stonne")
    load_energy_table(STONNE / "energy_model_stonne.txt")


# ------------------------------------------------------------------------------------------ sweep grids
def _grid(body: str) -> str:
    return body.format(cfg=CFG / "sigma_128.cfg", table=TABLE)


GRID_OK = "accelerators:\n  - base: {cfg}\n    axes:\n      ms_size: [64, 128]\nworkloads:\n  - table: {table}\n"
GRID_CASES = {
    "dup-top-key": ("name: a\nname: b\n" + GRID_OK, "name", "lines 1 and 2"),
    "dup-axis": (GRID_OK.replace("      ms_size: [64, 128]\n", "      ms_size: [64]\n      ms_size: [128]\n"),
                 "ms_size", "lines 4 and 5"),
    "binary": (b"\x00\xff\xfe\x81junk", None, "not a text file"),
    "too-big": ("accelerators:\n  - base: {cfg}\n    axes:\n      ms_size: [" + ", ".join(str(64 * i) for i in
                range(1, 1001)) + "]\n      dn_bw: [" + ", ".join(str(i) for i in range(1, 101)) +
                "]\nworkloads:\n  - table: {table}\n", "accelerators", "about 500,000 points"),
    "max-points-field": ("max_points: 5\n" + GRID_OK, "accelerators", "limit of 5"),
    "bad-max-points": ("max_points: many\n" + GRID_OK, "max_points", "integer >= 1"),
    "positive-fraction-true": (GRID_OK + "    positive_fraction: true\n", "workloads[0].positive_fraction", "True"),
    "unknown-scheme": (GRID_OK + "    schemes: [tenary]\n", "workloads[0].schemes", "'tenary'"),
    "negative-seed": (GRID_OK + "    seed: -1\n", "workloads[0].seed", ">= 0"),
}


@pytest.mark.parametrize("case", list(GRID_CASES))
def test_sweep_grids_are_strict(case, tmp_path, capsys):
    from plumsim.sweep.grid import load_grid

    body, field, words = GRID_CASES[case]
    p = tmp_path / "grid.yaml"
    p.write_bytes(body if isinstance(body, bytes) else _grid(body).encode())
    with pytest.raises(ConfigError) as info:
        load_grid(p)
    assert info.value.field == field
    expect(["sweep", str(p), "--out", str(tmp_path / "out"), "--workers", "1", "--no-plots"], ConfigError,
           capsys, p, words, *([f"field '{field}'"] if field else []))
    assert not (tmp_path / "out" / "results.parquet").exists()


def test_grid_size_limit_is_overridable_and_estimated_before_expansion(tmp_path, capsys):
    import time

    from plumsim.sweep.grid import DEFAULT_MAX_POINTS, estimate_points, load_grid

    p = tmp_path / "grid.yaml"
    p.write_text(_grid(GRID_OK))
    assert estimate_points(yaml.safe_load(p.read_text()))[0] == 2 * 1 * 5 <= DEFAULT_MAX_POINTS
    with pytest.raises(ConfigError, match="limit of 9") as info:
        load_grid(p, max_points=9)
    assert info.value.field == "accelerators"
    assert len(load_grid(p, max_points=10).accels) == 2
    expect(["sweep", str(p), "--out", str(tmp_path / "out"), "--max-points", "9"], ConfigError, capsys,
           "--max-points 10")
    # 10**7 points: refused at once, from the list lengths alone
    big = tmp_path / "big.yaml"
    big.write_text(_grid(GRID_CASES["too-big"][0]).replace("workloads:", "modes: [dense]\nworkloads:").replace(
        "  - table: {t}\n".format(t=TABLE), "  - table: {t}\n    densities: [{d}]\n".format(
            t=TABLE, d=", ".join(f"{i / 100:.2f}" for i in range(1, 101)))))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="about 10,000,000 points"):
        load_grid(big)
    assert time.perf_counter() - t0 < 2


def test_grid_expansion_is_linear(tmp_path):
    """100,000 axis combinations expand in seconds (the duplicate checks are sets, not list.count)."""
    import time

    from plumsim.sweep.grid import load_grid

    p = tmp_path / "grid.yaml"
    p.write_text(_grid(GRID_CASES["too-big"][0].replace("[" + ", ".join(str(64 * i) for i in range(1, 1001)) + "]",
                                                        "[" + ", ".join(str(64 * i) for i in range(1, 201)) + "]")))
    t0 = time.perf_counter()
    g = load_grid(p, max_points=200_000)
    assert len(g.accels) + len(g.invalid) == 200 * 100 and time.perf_counter() - t0 < 15


def test_shipped_grids_still_load():
    from plumsim.sweep.grid import load_grid

    for p in sorted((CFG / "sweeps").glob("*.yaml")):
        load_grid(p)


# ------------------------------------------------------------------------------------------ checkpoints
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from plumsim.quant.checkpoint import save_checkpoint
    from plumsim.quant.models import build_model

    d = tmp_path_factory.mktemp("ck") / "base"
    save_checkpoint(d, build_model("cnn-digits", scheme="signed-binary"),
                    {"data": "digits", "epoch": 2, "epochs": 2, "seed": 0,
                     "recipe": {"name": "digits-fast", "epochs": 2}})
    return d


CKPT_CASES = {
    "negative-width": (lambda c: c["options"].update(width=-3), "evaluate", "options.width", "-3"),
    "string-width": (lambda c: c["options"].update(width="wide"), "evaluate", "options.width", "'wide'"),
    "string-epoch": (lambda c: c.update(epoch="two"), "evaluate", "epoch", "'two'"),
    "epoch-beyond-epochs": (lambda c: c.update(epoch=99), "resume", "epoch", "epoch 99 is beyond"),
    "negative-epochs": (lambda c: c.update(epochs=-1), "resume", "epochs", ">= 1"),
    "bad-positive-fraction": (lambda c: c["options"].update(positive_fraction=True), "evaluate",
                              "options.positive_fraction", "True"),
}


@pytest.mark.parametrize("case", list(CKPT_CASES) + ["resume-without-checkpoint"])
def test_checkpoints_are_strict(case, tmp_path, checkpoint, capsys):
    from plumsim.quant.checkpoint import read_config

    if case == "resume-without-checkpoint":
        out = tmp_path / "nothing"
        expect(["train", "--out", str(out), "--resume", "--progress", "none"], WorkloadError, capsys, out,
               "field '--resume'", "no checkpoint")
        assert not out.exists()
        return
    edit, how, field, words = CKPT_CASES[case]
    p = tmp_path / case
    shutil.copytree(checkpoint, p)
    cfg = json.loads((p / "config.json").read_text())
    edit(cfg)
    (p / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WorkloadError) as info:
        read_config(p)
    assert info.value.field == field
    argv = ["evaluate", str(p)] if how == "evaluate" else ["train", "--out", str(p), "--resume", "--progress", "none"]
    expect(argv, WorkloadError, capsys, p / "config.json", f"field '{field}'", words)


# --------------------------------------------------------------------------------- STONNE outputs / CSVs
def _cases_folder(tmp_path: Path, body) -> Path:
    for sub in ("cfgs", "weights"):
        (tmp_path / sub).symlink_to(STONNE / sub)
    p = tmp_path / "cases.csv"
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    return p


def _set(header: str, row: str, col: str, value: str) -> str:
    cells = row.split(",")
    cells[header.split(",").index(col)] = value
    return ",".join(cells)


def _csv():
    lines = (STONNE / "cases.csv").read_text().splitlines()
    return lines[0], lines[1]


CSV_CASES = {
    "header-only": (lambda h, r: h + "\n", None, "no data rows"),
    "non-numeric": (lambda h, r: h + "\n" + r.replace(",128,", ",lots,", 1) + "\n", "ms_size",
                    "row 1 (line 2, case_id A_maeri_conv_01), column 'ms_size': expected an integer, got 'lots'"),
    "duplicate-id": (lambda h, r: f"{h}\n{r}\n{r}\n", "case_id", "row 2 (line 3, case_id A_maeri_conv_01), column "
                     "'case_id': duplicate case_id, first in row 1 (line 2"),
    "duplicate-column": (lambda h, r: h.replace("ms_rows", "ms_size", 1) + "\n" + r + "\n", "ms_size",
                         "column 'ms_size' appears twice (columns 9 and 10)"),
    "nan-cycles": (lambda h, r: h + "\n" + _set(h, r, "cycles", "nan") + "\n", "cycles", None),
    "binary": (lambda h, r: b"\xff\xfe\x00junk\x81", None, "not a text file"),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_cases_csv_errors_name_file_row_and_column(case, tmp_path, capsys):
    from plumsim.stonne.validate import validate_cases

    make, field, words = CSV_CASES[case]
    p = _cases_folder(tmp_path, make(*_csv()))
    with pytest.raises(ConfigError) as info:
        validate_cases(p)
    assert info.value.field == field
    extra = [words] if words else ["row 1", "column 'cycles'"]
    expect(["stonne", "validate", str(p)], ConfigError, capsys, p, *extra)


STONNE_OUT_CASES = {
    "nan-cycles": ("counters", lambda t: re.sub(r"CYCLES=\d+", "CYCLES=nan", t), "CYCLES", "'nan'"),
    "two-cycles": ("counters", lambda t: re.sub(r"(CYCLES=\d+)", r"\1\n\1", t), "CYCLES", "given twice"),
    "nan-count": ("counters", lambda t: re.sub(r"(MULTIPLICATION=)\d+", r"\1nan", t, count=1),
                  "MULTIPLIER.MULTIPLICATION", "'nan'"),
    "json-nan-cycles": ("txt", lambda t: re.sub(r'"N_cycles" : \d+', '"N_cycles" : NaN', t), "GlobalStats.N_cycles",
                        "nan"),
    "json-string-count": ("txt", lambda t: re.sub(r'"N_SRAM_weight_reads" : \d+', '"N_SRAM_weight_reads" : "many"', t),
                          "SDMemoryStats.N_SRAM_weight_reads", "'many'"),
    "json-not-object": ("txt", lambda t: "[1, 2]", None, "expected a JSON object"),
    "binary-counters": ("counters", None, None, "not a text file"),
}


@pytest.mark.parametrize("case", list(STONNE_OUT_CASES))
def test_stonne_outputs_are_strict(case, tmp_path, capsys):
    from plumsim.stonne.io import read_stonne_dir

    suffix, edit, field, words = STONNE_OUT_CASES[case]
    d = tmp_path / "run"
    shutil.copytree(STONNE / "raw" / "A_maeri_conv_01", d)
    target = next(d.glob(f"output_stats_*.{suffix}"))
    if edit is None:
        target.write_bytes(b"\xff\xfe\x00\x81junk")
    else:
        new = edit(target.read_text())
        assert new != target.read_text()
        target.write_text(new)
    with pytest.raises(DataError) as info:
        read_stonne_dir(d)
    assert info.value.field == field
    expect(["stonne", "read", str(d)], DataError, capsys, target, words, *([f"field '{field}'"] if field else []))


# ------------------------------------------------------------------------- layer tables and manifests
TABLE_CASES = {
    "no-layers": ("name: t\nlayers: []\n", None, "layers", "non-empty list of layers"),
    "dup-key": ("layers:\n  - {name: a, C: 4, K: 4, R: 3, S: 3, X: 8, Y: 8}\nlayers: []\n", None, "layers",
                "lines 1 and 3"),
    "binary": (b"\xff\xfe\x00\x81junk", None, None, "not a text file"),
    "density-1e-9": ((TABLE.read_text()), "1e-9", "density", "leaves layer 'conv2' with no non-zero weight"),
}


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_layer_tables_are_strict(case, tmp_path, capsys):
    from plumsim.workload.synth import synth

    body, density, field, words = TABLE_CASES[case]
    p = tmp_path / "table.yaml"
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    with pytest.raises(WorkloadError) as info:
        synth(p, "signed-binary", density=None if density is None else float(density))
    assert info.value.field == field
    argv = ["workload", "synth", "--table", str(p), "--scheme", "signed-binary", "--out", str(tmp_path / "w")]
    expect(argv + (["--density", density] if density else []), WorkloadError, capsys, p, words,
           *([f"field '{field}'"] if field else []))
    assert not (tmp_path / "w" / "manifest.json").exists()


def test_density_one_nonzero_per_filter_is_still_accepted():
    from plumsim.workload.synth import synth

    wl = synth(TABLE, "signed-binary", density=0.004)   # round(0.004 * 144) = 1 per filter
    assert all(lyr.codes is None or (lyr.codes != 0).any() for lyr in wl.layers)


MANIFEST_CASES = {
    "unknown-scheme": (lambda m: m["layers"][1].update(scheme="tenary"), "layers[1].scheme",
                       ["layer 'conv2'", "unknown scheme 'tenary'", "known: fp, binary, ternary, signed-binary"]),
    "no-layers": (lambda m: m.update(layers=[]), "layers", ["non-empty list of layers"]),
}


@pytest.mark.parametrize("case", list(MANIFEST_CASES))
def test_workload_manifests_are_strict(case, tmp_path, workload, capsys):
    from plumsim.workload import Workload

    edit, field, words = MANIFEST_CASES[case]
    d = tmp_path / "wl"
    shutil.copytree(workload, d)
    man = json.loads((d / "manifest.json").read_text())
    edit(man)
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(WorkloadError) as info:
        Workload.load(d)
    assert info.value.field == field
    expect(["simulate", str(d), "--accel", str(CFG / "sigma_64.cfg")], WorkloadError, capsys,
           d / "manifest.json", f"field '{field}'", *words)


# ---------------------------------------------------------------------------- attribute's controllers
@pytest.mark.parametrize("command", ["simulate", "attribute"])
def test_unmodelled_controller_is_refused_by_simulate_and_attribute(command, tmp_path, workload, capsys):
    p = tmp_path / "magma.cfg"
    p.write_text(sigma_cfg(ctrl="MAGMA_SPARSE_DENSE"))
    expect([command, str(workload), "--accel", str(p)], ConfigError, capsys, "[SDMemory] controller_type",
           "MAGMA_SPARSE_DENSE", *([p] if command == "attribute" else []))

"""One rule set for valid hardware (plumsim.accel.rules): AcceleratorConfig is checked when built (also
after dataclasses.replace), the .cfg reader, the models, the sweep grid and the STONNE case validator use
it; one MAERI tile validator; a grid lists every invalid point (file, axis, value) before any point runs.
Also: `plumsim attribute` on a workload without a quantized layer is a one-line error, exit 2."""

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from plumsim.accel import maeri
from plumsim.accel.cfg import load_config, validate_config, validate_tile
from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.rules import config_problems
from plumsim.cli import main
from plumsim.errors import ConfigError
from plumsim.sweep.grid import hardware_problems, load_grid
from plumsim.sweep.runner import run_sweep
from plumsim.workload import Workload
from plumsim.workload.layer import Layer, LayerShape

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "accel_configs"
TABLE = ROOT / "workloads" / "cnn-digits.yaml"
DATA = ROOT / "tests" / "data" / "stonne"


def maeri_cfg(ms=128, dn=32, rn=None, ab=True):
    return AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", ms, dn, dn if rn is None else rn, accumulation_buffer=ab)


def sigma_cfg(ms=128, dn=32, rn=None):
    return AcceleratorConfig("SIGMA_SPARSE_GEMM", "LINEAR", "ASNETWORK", ms, dn, dn if rn is None else rn)


def tpu_cfg(r=8, c=8, dn=8, rn=16, ms=None):
    return AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", ms or r * c, dn, rn, r, c, True)


# ------------------------------------------------------------------ AcceleratorConfig

REFUSED = [  # (build, .cfg key of the field, words of the message)
    (lambda: maeri_cfg(128, 48), "[SDMemory] dn_bw",
     "dn_bw=48 must divide ms_size (128): each of the dn_bw read ports feeds a tree of ms_size/dn_bw "
     "multipliers, a power of two; allowed: 1, 2, 4, 8, 16, 32, 64, 128"),
    (lambda: maeri_cfg(128, 256), "[SDMemory] dn_bw", "dn_bw=256 must divide ms_size (128)"),
    (lambda: maeri_cfg(96, 32), "[MSNetwork] ms_size", "ms_size=96 is not a power of two >= 2"),
    (lambda: maeri_cfg(1, 1), "[MSNetwork] ms_size", "ms_size=1 is not a power of two >= 2"),
    (lambda: sigma_cfg(96, 32), "[MSNetwork] ms_size", "ms_size=96 is not a power of two"),
    (lambda: sigma_cfg(128, 48), "[SDMemory] dn_bw", "dn_bw=48 must divide ms_size (128)"),
    (lambda: sigma_cfg(128, 32, 0), "[SDMemory] rn_bw", "rn_bw=0 out of range: allowed 1..ms_size (128)"),
    (lambda: sigma_cfg(128, 32, 129), "[SDMemory] rn_bw", "rn_bw=129 out of range: allowed 1..ms_size (128)"),
    (lambda: maeri_cfg(64, 16, 0), "[SDMemory] rn_bw", "rn_bw=0 out of range"),
    (lambda: tpu_cfg(8, 16, 8), "[SDMemory] dn_bw",
     "dn_bw=8 on a 8x16 mesh: (ms_rows+ms_cols)/dn_bw = 24/8 is not a power of two (STONNE aborts building "
     "this mesh); allowed dn_bw: 3, 6, 12, 24"),
    (lambda: tpu_cfg(8, 8, 6), "[SDMemory] dn_bw", "allowed dn_bw: 1, 2, 4, 8, 16"),
    (lambda: tpu_cfg(8, 8, 8, ms=128), "[MSNetwork] ms_size",
     "ms_size=128 is not ms_rows*ms_cols = 8*8 = 64"),
    (lambda: tpu_cfg(8, 8, 8, rn=65), "[SDMemory] rn_bw", "rn_bw=65 out of range: allowed 1..ms_size (64)"),
    (lambda: AcceleratorConfig("SIGMA_SPARSE_GEMM", "LINEAR", "ASNETWORK", 128, 42.5, 32), "[SDMemory] dn_bw",
     "dn_bw=42.5 is not an integer"),
    (lambda: AcceleratorConfig("TPU_OS_DENSE", "LINEAR", "ASNETWORK", 64, 8, 8), "[SDMemory] controller_type",
     "needs [MSNetwork] type=OS_MESH and [ReduceNetwork] type=TEMPORALRN"),
    (lambda: AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "TEMPORALRN", 64, 8, 8), "[ReduceNetwork] type",
     "needs a tree reduce network"),
    (lambda: AcceleratorConfig("SYSTOLIC", "LINEAR", "ASNETWORK", 64, 8, 8), "[SDMemory] controller_type",
     "controller_type='SYSTOLIC' is unknown; allowed: MAERI_DENSE_WORKLOAD"),
]


@pytest.mark.parametrize("build, key, words", REFUSED, ids=[r[2][:40] for r in REFUSED])
def test_config_refused_when_built(build, key, words):
    with pytest.raises(ConfigError) as exc:
        build()
    assert exc.value.field == key
    assert words in str(exc.value)


def test_replace_is_checked_too():
    base = sigma_cfg(128, 32)
    with pytest.raises(ConfigError, match=r"dn_bw=48 must divide ms_size \(128\)"):
        dataclasses.replace(base, dn_bw=48)
    with pytest.raises(ConfigError, match=r"dn_bw=32 must divide ms_size \(16\)"):
        dataclasses.replace(base, ms_size=16)  # dn_bw from the base, made invalid by the new ms_size
    with pytest.raises(ConfigError, match="24/8"):
        dataclasses.replace(tpu_cfg(), ms_cols=16, ms_size=128)
    assert dataclasses.replace(base, dn_bw=64).dn_bw == 64


def test_every_broken_rule_is_named():
    with pytest.raises(ConfigError) as exc:
        sigma_cfg(96, 48, 200)
    msg = str(exc.value)
    assert "ms_size=96" in msg and "rn_bw=200" in msg and exc.value.field == "[MSNetwork] ms_size"


def test_what_stonne_accepts_stays_valid():
    # STONNE's collection bus takes any 1 <= rn_bw <= ms_size (real TPU runs with rn_bw 3, 5, 6, 7, 12, 24 in
    # tests/data/stonne/c_tpu_probe); SIGMA/MAERI .cfg files may give non-power-of-two rn_bw as well
    for cfg in (sigma_cfg(128, 32, 3), sigma_cfg(128, 32, 48), maeri_cfg(64, 16, 5), tpu_cfg(4, 4, 2, 3),
                tpu_cfg(16, 16, 32, 24), maeri_cfg(2, 1), sigma_cfg(1, 1), tpu_cfg(8, 16, 3)):
        assert config_problems(cfg) == [] and hardware_problems(cfg) == []
        validate_config(cfg)


def test_every_stored_stonne_run_is_valid():
    """Every machine of every real STONNE run in tests/data/stonne builds (1,684 runs)."""
    n = 0
    for f in sorted(DATA.glob("**/cases.csv")):
        df = pd.read_csv(f, low_memory=False)
        for row in df.itertuples():
            if str(row.family).startswith("SIGMA") and isinstance(getattr(row, "cfg_file", None), str):
                load_config(f.parent / row.cfg_file)
            else:
                def i(v):
                    return 0 if pd.isna(v) else int(v)
                AcceleratorConfig(row.controller_type, row.mn_type, row.rn_type, i(row.ms_size), i(row.dn_bw),
                                  i(row.rn_bw), i(row.ms_rows), i(row.ms_cols), bool(i(row.accumulation_buffer)))
            n += 1
    assert n == 1887


def test_cfg_reader_names_file_and_field(tmp_path):
    p = tmp_path / "sigma_dn48.cfg"
    p.write_text('[MSNetwork]\ntype="LINEAR"\nms_size=128\n[ReduceNetwork]\ntype="ASNETWORK"\n'
                 '[SDMemory]\ndn_bw=48\nrn_bw=32\ncontroller_type="SIGMA_SPARSE_GEMM"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.path == str(p) and exc.value.field == "[SDMemory] dn_bw"
    assert str(exc.value) == (f"{p}: field '[SDMemory] dn_bw': dn_bw=48 must divide ms_size (128): each of the "
                              "dn_bw read ports feeds a tree of ms_size/dn_bw multipliers, a power of two; allowed: "
                              "1, 2, 4, 8, 16, 32, 64, 128")


# ------------------------------------------------------------------ one MAERI tile validator

def test_one_tile_validator():
    """cfg.validate_tile (tile-file spelling) and maeri.validate_tile (MaeriTile) give the same verdict and
    message on every tile of a small space, the folding rule included (accumulation buffer off)."""
    shape = LayerShape(N=1, G=1, C=8, K=8, R=3, S=3, X=6, Y=6)
    dims = {"T_R": 3, "T_S": 3, "T_C": 8, "T_K": 8, "T_G": 1, "T_N": 1, "T_X": 4, "T_Y": 4}
    seen = set()
    for ab in (True, False):
        cfg = maeri_cfg(64, 16, ab=ab)
        for tr in (1, 3, 4):
            for tc in (0, 1, 2, 7, 9):
                for tk in (1, 2, 3):
                    t = maeri.MaeriTile(T_R=tr, T_S=3, T_C=tc, T_K=tk, T_X=2)
                    errs = []
                    for check in (lambda: validate_tile({**t.as_dict(), "T_X_": 2, "T_Y_": 1}, shape, cfg),
                                  lambda: maeri.validate_tile(t, dims, 64, ab)):
                        try:
                            check()
                            errs.append(None)
                        except ConfigError as exc:
                            errs.append((exc.field.rstrip("_"), exc.detail.replace("T_X_", "T_X")
                                         .replace("T_Y_", "T_Y")))
                    assert errs[0] == errs[1], (t, ab)
                    seen.add(errs[0][1].split(" ")[0] + " " + errs[0][1].split(" ")[-1] if errs[0] else "ok")
    assert "ok" in seen and len(seen) >= 4
    # the folding rule: (T_R*T_S*T_C + 1) * VNs > ms_size only matters with the buffer off
    t = maeri.MaeriTile(T_R=3, T_S=3, T_C=7, T_K=1)    # 63 multipliers, 64 with the partial-sum slot
    maeri.validate_tile(t, dims, 63, True)
    with pytest.raises(ConfigError, match="folds"):
        maeri.validate_tile(t, dims, 63, False)


# ------------------------------------------------------------------ sweep grid

def _grid(tmp_path, accelerators, name="bad"):
    grid = {"name": name, "modes": ["native", "dense"], "accelerators": accelerators,
            "workloads": [{"table": str(TABLE), "schemes": ["signed-binary"], "name": "digits"}]}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(grid, sort_keys=False))
    return p


BAD_ACCELS = [
    {"label": "maeri", "base": str(PRESETS / "maeri_128.cfg"), "axes": {"dn_bw": [48]}},
    {"label": "sigma", "base": str(PRESETS / "sigma_128.cfg"), "axes": {"dn_bw": [48, "ms_size/3"]}},
    {"label": "tpu", "base": str(PRESETS / "tpu_8x8.cfg"), "axes": {"mesh": ["8x16"], "dn_bw": [8]}},
]
BAD_REASONS = {  # config id -> (axis, value, words of the rule)
    "maeri-ms128-dn48-rn32-ab1-auto": ("accelerators[0].axes.dn_bw", "48", "dn_bw=48 must divide ms_size (128)"),
    "sigma-ms128-dn48-rn64-ab0-auto": ("accelerators[1].axes.dn_bw", "48", "dn_bw=48 must divide ms_size (128)"),
    "sigma-ms128-dnms_size/3-rn64-ab0-auto": ("accelerators[1].axes.dn_bw", "'ms_size/3'",
                                              "'ms_size/3' = 128/3 = 42.67 is not an integer"),
    "tpu-m8x16-ms128-dn8-rn16-ab1-auto": ("accelerators[2].axes.dn_bw", "8 (with mesh='8x16')",
                                          "(ms_rows+ms_cols)/dn_bw = 24/8 is not a power of two"),
}


def _check_reasons(p, reasons: dict):
    assert set(reasons) == set(BAD_REASONS)
    for cid, (axis, value, words) in BAD_REASONS.items():
        assert reasons[cid].startswith(f"{p}: field '{axis}', value {value}: "), reasons[cid]
        assert words in reasons[cid]


def test_grid_with_only_invalid_points_is_refused_listing_all(tmp_path, capsys):
    p = _grid(tmp_path, BAD_ACCELS)
    with pytest.raises(ConfigError) as exc:
        load_grid(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: field 'accelerators': no valid configuration: all 4 combinations are invalid:")
    lines = msg.splitlines()[1:]
    _check_reasons(p, {ln.strip().split(": ", 1)[0]: ln.strip().split(": ", 1)[1] for ln in lines})
    # the CLI: exit 2, nothing run, every point listed
    assert main(["sweep", str(p), "--out", str(tmp_path / "out"), "--workers", "1", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("plumsim: error: ") and all(cid in err for cid in BAD_REASONS)
    assert not (tmp_path / "out" / "results.parquet").exists()


def test_grid_lists_every_invalid_point_before_running(tmp_path):
    good = {"label": "ok", "base": str(PRESETS / "sigma_64.cfg"), "axes": {"dn_bw": [16]}}
    p = _grid(tmp_path, BAD_ACCELS + [good])
    g = load_grid(p)
    assert [a.config_id for a in g.accels] == ["ok-ms64-dn16-rn32-ab0-auto"]
    _check_reasons(p, {b["config_id"]: b["reason"] for b in g.invalid})
    log = io.StringIO()
    at_first_chunk = []
    summary = run_sweep(p, tmp_path / "out", workers=1, progress=False, log=log,
                        on_chunk=lambda s: at_first_chunk.append(log.getvalue()) if not at_first_chunk else None)
    assert summary["invalid_configs"] == 4 and summary["pairs_computed"] == 1
    listed = at_first_chunk[0]
    assert "4 invalid configuration(s) not run" in listed
    for cid in BAD_REASONS:
        assert f"  {cid}: {p}: field " in listed
    inv = pd.read_csv(tmp_path / "out" / "invalid_configs.csv")
    assert sorted(inv["config_id"]) == sorted(BAD_REASONS)


def test_grid_expressions_are_exact(tmp_path):
    p = _grid(tmp_path, [{"label": "s", "base": str(PRESETS / "sigma_128.cfg"),
                          "axes": {"ms_size": [64, 128], "dn_bw": ["ms_size/4"], "rn_bw": ["ms_size/3", "same"]}}])
    g = load_grid(p)
    assert sorted(a.config_id for a in g.accels) == ["s-ms128-dn32-rn32-ab0-auto", "s-ms64-dn16-rn16-ab0-auto"]
    bad = {b["config_id"]: b["reason"] for b in g.invalid}
    assert set(bad) == {"s-ms64-dn16-rnms_size/3-ab0-auto", "s-ms128-dn32-rnms_size/3-ab0-auto"}
    assert "field 'accelerators[0].axes.rn_bw', value 'ms_size/3' (with ms_size=64, dn_bw='ms_size/4'): " \
           "'ms_size/3' = 64/3 = 21.33 is not an integer" in bad["s-ms64-dn16-rnms_size/3-ab0-auto"]


def test_base_value_made_invalid_by_an_axis_names_the_axes(tmp_path):
    p = _grid(tmp_path, [{"label": "s", "base": str(PRESETS / "sigma_128.cfg"), "axes": {"ms_size": [16, 128]}}])
    g = load_grid(p)
    (bad,) = g.invalid
    assert bad["config_id"] == "s-ms16-dn64-rn64-ab0-auto"
    assert bad["reason"].startswith(f"{p}: field 'accelerators[0].axes', values ms_size=16 (dn_bw=64 from the "
                                    "base sigma_128.cfg): ")
    assert "dn_bw=64 must divide ms_size (16)" in bad["reason"]


# ------------------------------------------------------------------ attribute without a quantized layer

def _fp_workload(path):
    rng = np.random.default_rng(0)
    layers = []
    for i, s in enumerate([LayerShape(1, 1, 3, 4, 3, 3, 6, 6), LayerShape(1, 1, 4, 4, 3, 3, 4, 4)]):
        layers.append(Layer(name=f"fp{i}", kind="conv", scheme="fp", shape=s, codes=None,
                            scale=np.ones(s.K, np.float32), sign=np.zeros(s.K, np.int8),
                            weights=rng.standard_normal((s.K, s.C, s.R, s.S)).astype(np.float32)))
    Workload(name="all-fp", layers=layers).save(path)
    return path


EXPECTED_FP = ("workload 'all-fp' has no quantized layer (2 layer(s), all full precision) and attribution "
               "leaves FP layers out; give --include-fp to attribute them")


def test_attribute_all_fp_is_an_error_in_process(tmp_path, capsys):
    wl = _fp_workload(tmp_path / "wl")
    cfg = PRESETS / "sigma_64.cfg"
    assert main(["attribute", str(wl), "--accel", str(cfg)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"plumsim: error: {wl}: {EXPECTED_FP}\n"
    assert main(["attribute", str(wl), "--accel", str(cfg), "--include-fp"]) == 0
    out = capsys.readouterr().out
    assert "totals: all 2 layers, FP layers included" in out


def test_attribute_all_fp_is_an_error_installed_cli(tmp_path):
    wl = _fp_workload(tmp_path / "wl")
    exe = Path(sys.executable).parent / "plumsim"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "plumsim.cli"]
    r = subprocess.run(cmd + ["attribute", str(wl), "--accel", str(PRESETS / "sigma_64.cfg")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"plumsim: error: {wl}: {EXPECTED_FP}\n"


def test_attribute_totals_say_fp_layers_are_excluded(tmp_path, capsys):
    from test_attribution import small_workload

    small_workload("signed-binary", 0.36).save(tmp_path / "wl")
    assert main(["attribute", str(tmp_path / "wl"), "--accel", str(PRESETS / "sigma_64.cfg")]) == 0
    out = capsys.readouterr().out
    assert "totals: the 3 quantized layers; FP layers excluded (1; --include-fp includes them)" in out

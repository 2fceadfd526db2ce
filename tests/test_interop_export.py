"""`plumsim stonne export`: commands and files against layer shapes, tiles and the reference `how` column."""

import csv
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plumsim.accel.cfg import load_config, load_tile
from plumsim.accel.config import AcceleratorConfig
from plumsim.cli import main
from plumsim.errors import ConfigError
from plumsim.stonne import export_workload, plan_layer
from plumsim.workload.format import Workload
from plumsim.workload.layer import Layer, LayerShape

from test_interop_support import cases, config_of, how_flags, layer_of, tile_of

PRESETS = Path(__file__).resolve().parents[1] / "accel_configs"
MAERI = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 128, 32, 32, accumulation_buffer=True,
                          name="maeri128")
SIGMA = AcceleratorConfig("SIGMA_SPARSE_GEMM", "LINEAR", "ASNETWORK", 64, 16, 16, name="sigma64")
TPU = AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", 64, 8, 16, ms_rows=8, ms_cols=8,
                        accumulation_buffer=True, name="tpu8x8")


def sb_layer(name, shape, kind="conv", seed=0, scale=None, fp=False):
    """A signed-binary layer (first K//2 filters {0,+1}, rest {0,-1}) with an optional non-unit scale."""
    rng = np.random.default_rng(seed)
    K = shape.K
    w = rng.standard_normal((K, shape.C // shape.G, shape.R, shape.S))
    if fp:
        return Layer(name, kind, "fp", shape, None, np.ones(K, np.float32), np.zeros(K, np.int8),
                     weights=w.astype(np.float32))
    codes = np.zeros(w.shape, np.int8)
    codes[: K // 2] = (w[: K // 2] > 0.3)
    codes[K // 2:] = -(w[K // 2:] < -0.3).astype(np.int8)
    sign = np.array([1] * (K // 2) + [-1] * (K - K // 2), np.int8)
    sc = np.ones(K, np.float32) if scale is None else np.asarray(scale, np.float32)
    return Layer(name, kind, "signed-binary", shape, codes, sc, sign)


def small_workload():
    return Workload("tiny", [
        sb_layer("stem conv", LayerShape(1, 1, 3, 8, 3, 3, 8, 8, 1, 1), fp=True),
        sb_layer("block.conv1", LayerShape(1, 1, 8, 8, 3, 3, 8, 8, 1, 1), scale=np.linspace(0.1, 1.7, 8), seed=1),
        sb_layer("block.conv2", LayerShape(1, 1, 8, 16, 3, 3, 8, 8, 2, 1), seed=2),
        sb_layer("fc", LayerShape(1, 1, 16, 10, 1, 1, 1, 1), kind="linear", seed=3),
    ])


# ---------------------------------------------------------------- flags match the reference runs


@pytest.mark.parametrize("case_id", [c for c in cases().case_id if "_sigma_" not in c])
def test_cli_flags_equal_the_reference_how_column(case_id):
    """Rebuilding each reference CLI run as a layer + machine + tile gives exactly its `how` flags."""
    row = cases().set_index("case_id").loc[case_id].to_dict()
    row["case_id"] = case_id
    plan = plan_layer(layer_of(row), config_of(row), tile_of(row), linear_op="FC" if row["op"] == "FC" else "DenseGEMM")
    assert plan.runner == "stonne_cli", plan.reason
    assert plan.op == row["op"]
    assert " ".join(plan.argv) == how_flags(row)


def test_padding_is_folded_into_the_cli_input_size():
    s = LayerShape(1, 1, 8, 8, 3, 3, 8, 8, stride=1, padding=2)
    plan = plan_layer(sb_layer("c", s), MAERI)
    flags = dict(a[1:].split("=", 1) for a in plan.argv if "=" in a)
    assert (flags["X"], flags["Y"]) == ("12", "12")
    # STONNE's CLI output size from the padded input equals the layer's output size
    X = int(flags["X"])
    assert (X - s.R + s.stride) // s.stride == s.X_out
    assert plan.cli_input == {"X": 12, "Y": 12, "padding_folded": 2}
    assert "-padding" not in " ".join(plan.argv)


def test_chosen_maeri_tile_fits_divides_and_matches_the_flags():
    for s in (LayerShape(1, 1, 16, 32, 3, 3, 14, 14, 1, 1), LayerShape(1, 1, 16, 32, 3, 3, 15, 15, 2, 1),
              LayerShape(1, 4, 16, 16, 3, 3, 9, 9, 1, 0)):
        plan = plan_layer(sb_layer("c", s), MAERI)
        t = plan.tile
        assert plan.runner == "stonne_cli" and plan.tile_source.startswith("chosen")
        used = 1
        for k in t:
            used *= t[k]
        assert used <= MAERI.ms_size
        assert s.X_out % t["T_X_"] == 0 and s.Y_out % t["T_Y_"] == 0
        if s.stride > 1:
            assert t["T_X_"] == t["T_Y_"] == 1
        for k, v in t.items():
            assert f"-{k}={v}" in plan.argv


def test_sigma_and_tpu_plans():
    conv = sb_layer("c", LayerShape(1, 2, 8, 16, 3, 3, 10, 10, 2, 1))
    p = plan_layer(conv, SIGMA)
    assert (p.runner, p.op, p.tile) == ("torch_stonne", "SparseConv", None)
    assert p.call["stride"] == [2, 2] and p.call["padding"] == [1, 1] and p.call["groups"] == 2
    assert p.call["sparsity_ratio"] == 0.0
    lin = sb_layer("fc", LayerShape(4, 1, 32, 10, 1, 1, 1, 1), kind="linear")
    assert plan_layer(lin, SIGMA).op == "SparseLinear"
    # TPU: the GEMM view of one group, run once and counted G times
    p = plan_layer(conv, TPU)
    assert p.gemm == {"M": 8, "N": conv.shape.N_gemm, "K": 4 * 9} and p.repeat == 2
    assert p.argv[:4] == ["-DenseGEMM", "-M=8", f"-N={conv.shape.N_gemm}", "-K=36"]
    assert p.argv[-3:] == ["-rn_type=TEMPORALRN", "-mn_type=OS_MESH", "-mem_ctrl=TPU_OS_DENSE"]
    assert p.tile["T_M"] <= TPU.ms_rows and p.tile["T_N"] <= TPU.ms_cols and "-T_K=1" in p.argv


# ---------------------------------------------------------------- skipped layers


def test_known_stonne_failures_are_skipped_with_reasons():
    bad_batch = sb_layer("b", LayerShape(2, 1, 8, 8, 3, 3, 8, 8, 1, 1))
    assert "functional check" in plan_layer(bad_batch, MAERI).reason
    ok_batch = sb_layer("b1", LayerShape(4, 1, 16, 16, 1, 1, 6, 6, 1, 0))
    assert plan_layer(ok_batch, MAERI).runner == "stonne_cli"
    c = sb_layer("c", LayerShape(1, 1, 4, 8, 3, 3, 11, 11, 1, 0))  # X' = 9
    p = plan_layer(c, MAERI, load_tile("T_R=3,T_S=3,T_C=4,T_K=1,T_X_=2"))
    assert p.runner is None and "does not divide" in p.reason
    dw = sb_layer("dw", LayerShape(1, 4, 4, 4, 1, 1, 6, 6, 1, 0))  # 1x1 depthwise: every VN one multiplier
    p = plan_layer(dw, MAERI)
    assert p.runner is None and "one multiplier" in p.reason
    s2 = sb_layer("s2", LayerShape(1, 1, 4, 8, 3, 3, 12, 12, 2, 1))
    p = plan_layer(s2, MAERI, {"T_R": 3, "T_S": 3, "T_C": 4, "T_X_": 2})
    assert p.runner is None and "stride" in p.reason
    # a mesh STONNE cannot build is refused when the config is built (plumsim.accel.rules), never exported
    with pytest.raises(ConfigError, match=r"dn_bw=8 on a 8x16 mesh: \(ms_rows\+ms_cols\)/dn_bw = 24/8 is not a power"):
        AcceleratorConfig("TPU_OS_DENSE", "OS_MESH", "TEMPORALRN", 128, 8, 16, ms_rows=8, ms_cols=16)
    magma = AcceleratorConfig("MAGMA_SPARSE_DENSE", "LINEAR", "ASNETWORK", 64, 16, 16)
    assert "no STONNE runner" in plan_layer(c, magma).reason


def test_skipped_csv_and_skip_fp(tmp_path):
    wl = small_workload()
    wl.layers.append(sb_layer("batched", LayerShape(2, 1, 8, 8, 3, 3, 8, 8, 1, 1)))
    res = export_workload(wl, MAERI, tmp_path / "x", skip_fp=True)
    rows = list(csv.DictReader(open(tmp_path / "x" / "skipped.csv")))
    assert [r["layer"] for r in rows] == ["stem conv", "batched"]
    assert "--skip-fp" in rows[0]["reason"] and "N=2" in rows[1]["reason"]
    assert all(r["controller"] == "MAERI_DENSE_WORKLOAD" for r in rows)
    man = json.loads((tmp_path / "x" / "manifest.json").read_text())
    assert [e["name"] for e in man["layers"]] == ["block.conv1", "block.conv2", "fc"]
    assert not (tmp_path / "x" / "layers" / "batched").exists()
    run_sh = (tmp_path / "x" / "run.sh").read_text()
    assert "batched" not in run_sh and "stem" not in run_sh
    assert len(res.skipped) == 2


# ---------------------------------------------------------------- files


def test_export_files_are_bit_exact_and_match_the_manifest(tmp_path):
    wl = small_workload()
    out = tmp_path / "exp"
    export_workload(wl, MAERI, out, seed=7)
    man = json.loads((out / "manifest.json").read_text())
    got = load_config(out / "accel.cfg").as_dict()
    assert {**got, "name": ""} == {**MAERI.as_dict(), "name": ""}
    assert man["seed"] == 7 and len(man["layers"]) == 4 and man["skipped"] == []
    for layer, e in zip(wl.layers, man["layers"]):
        assert e["name"] == layer.name and e["shape"] == layer.shape.as_dict()
        assert e["output_dir"] == f"out/{e['key']}"
        w = np.load(out / e["files"]["weight"])
        assert w.dtype == np.float32
        want = layer.weight_tensor() if layer.kind == "conv" else layer.weight_tensor().reshape(layer.shape.K, -1)
        assert w.tobytes() == np.ascontiguousarray(want).tobytes()  # bit-exact codes*scale
        x = np.load(out / e["files"]["input"])
        s = layer.shape
        assert x.dtype == np.float32 and x.shape == ((s.N, s.C, s.X, s.Y) if layer.kind == "conv" else (s.N, s.C))
        if layer.is_fp:
            assert "codes" not in e["files"]
        else:
            assert np.array_equal(np.load(out / e["files"]["codes"]), layer.codes)
            assert np.load(out / e["files"]["scale"]).tobytes() == layer.scale.astype(np.float32).tobytes()
        tile = load_tile(str(out / e["files"]["tile"]))
        assert tile == {k: v for k, v in e["tile"].items()}
        assert e["command"] == '"$STONNE_BIN" ' + " ".join(shlex.quote(a) for a in e["argv"])
    # the non-unit scale really is in the weights STONNE gets
    w1 = np.load(out / man["layers"][1]["files"]["weight"])
    assert set(np.unique(np.abs(w1[7]))) <= {0.0, np.float32(1.7)}
    # the keys are file-system safe; the name with a space keeps its name in the manifest
    assert man["layers"][0]["key"] == "stem_conv"
    # same seed, same inputs; another seed, other inputs
    export_workload(wl, MAERI, tmp_path / "again", seed=7)
    export_workload(wl, MAERI, tmp_path / "other", seed=8)
    a = np.load(out / man["layers"][1]["files"]["input"])
    assert np.array_equal(a, np.load(tmp_path / "again" / man["layers"][1]["files"]["input"]))
    assert not np.array_equal(a, np.load(tmp_path / "other" / man["layers"][1]["files"]["input"]))


def test_export_refuses_a_non_empty_folder_unless_forced(tmp_path):
    out = tmp_path / "e"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    from plumsim.errors import ConfigError

    with pytest.raises(ConfigError, match="not empty"):
        export_workload(small_workload(), MAERI, out)
    export_workload(small_workload(), MAERI, out, force=True)
    assert (out / "manifest.json").is_file()


# ---------------------------------------------------------------- run.sh and run_sigma.py


def test_run_sh_without_stonne_fails_naming_stonne_bin(tmp_path):
    out = tmp_path / "e"
    export_workload(small_workload(), MAERI, out)
    empty = tmp_path / "emptybin"
    empty.mkdir()
    r = subprocess.run(["/bin/bash", str(out / "run.sh")], env={"PATH": str(empty)}, capture_output=True, text=True)
    assert r.returncode != 0
    assert "STONNE_BIN='stonne'" in r.stderr and "not found" in r.stderr
    r = subprocess.run(["/bin/bash", str(out / "run.sh")], env={"PATH": str(empty), "STONNE_BIN": "/no/such/stonne"},
                       capture_output=True, text=True)
    assert r.returncode != 0 and "/no/such/stonne" in r.stderr
    assert not any((out / "out").iterdir())  # nothing was started


def test_run_sh_runs_every_layer_into_its_out_folder(tmp_path):
    """A recording executable in place of STONNE: run.sh passes each layer's flags and OUTPUT_DIR."""
    out = tmp_path / "e"
    export_workload(small_workload(), MAERI, out)
    fake = tmp_path / "stonne-rec"
    fake.write_text('#!/bin/bash\nprintf "%s\\n" "$OUTPUT_DIR" "$PWD" "$@" > "$OUTPUT_DIR/argv.txt"\n'
                    '[ "$2" = "-R=1" ] && exit 3\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (out / "out" / "fc").mkdir()
    (out / "out" / "fc" / "stale.counters").write_text("CYCLES=1\n")
    env = dict(os.environ, STONNE_BIN=str(fake))
    r = subprocess.run(["bash", str(out / "run.sh")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    for e in man["layers"]:
        lines = (out / e["output_dir"] / "argv.txt").read_text().splitlines()
        assert Path(lines[0]) == (out / e["output_dir"]).resolve()  # STONNE appends "/" + file name
        assert Path(lines[1]) == (out / e["output_dir"]).resolve()
        assert lines[2:] == e["argv"]
        assert (out / e["output_dir"] / "stdout.txt").is_file()
    assert not (out / "out" / "fc" / "stale.counters").exists()  # each layer's folder is emptied first
    # a subset, and a failing layer: non-zero exit naming it
    r = subprocess.run(["bash", str(out / "run.sh"), "fc"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "1 layer(s) done" in r.stdout
    wl = Workload("one", [sb_layer("pw", LayerShape(1, 1, 8, 8, 1, 1, 4, 4, 1, 0))])
    export_workload(wl, MAERI, tmp_path / "f")
    r = subprocess.run(["bash", str(tmp_path / "f" / "run.sh")], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "pw FAILED" in r.stderr


def test_run_sigma_passes_the_reference_call(tmp_path):
    """run_sigma.py against a recording module with torch_stonne's interface (returns torch's result)."""
    pytest.importorskip("torch")
    wl = Workload("s", [sb_layer("c", LayerShape(2, 2, 4, 6, 3, 3, 6, 6, 2, 1)),
                        sb_layer("fc", LayerShape(3, 1, 12, 5, 1, 1, 1, 1), kind="linear")])
    out = tmp_path / "e"
    export_workload(wl, SIGMA, out, seed=3)
    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "torch_stonne.py").write_text(
        "import json, os, torch\n"
        "def _rec(kind, name, x, w, args):\n"
        "    with open(os.path.join(os.environ['OUTPUT_DIR'], 'call.json'), 'w') as f:\n"
        "        json.dump({'kind': kind, 'name': name, 'x': x.flatten().tolist(), 'w': w.flatten().tolist(),\n"
        "                   'wshape': list(w.shape), 'args': args}, f)\n"
        "def simulated_conv_forward(name, x, w, stride, padding, dilation, groups, cfg, tile, sparsity):\n"
        "    _rec('conv', name, x, w, [stride, padding, dilation, groups, cfg, tile, sparsity])\n"
        "    return torch.nn.functional.conv2d(x, w, stride=stride, padding=padding, groups=groups)\n"
        "def simulated_linear_forward(name, x, w, cfg, tile, sparsity, transpose):\n"
        "    _rec('linear', name, x, w, [cfg, tile, sparsity, transpose])\n"
        "    return x @ w.T\n")
    # one Python process for both layers (run_sigma.py sets OUTPUT_DIR per layer itself; run.sh runs one
    # process per layer, tested with the CLI runner above)
    env = {k: v for k, v in os.environ.items() if k != "OUTPUT_DIR"}
    env["PYTHONPATH"] = str(mod)
    r = subprocess.run([sys.executable, str(out / "run_sigma.py")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    cfg = str((out / "accel.cfg").resolve())
    for e, layer in zip(man["layers"], wl.layers):
        call = json.loads((out / e["output_dir"] / "call.json").read_text())
        w = np.load(out / e["files"]["weight"])
        assert call["name"] == e["key"] and call["wshape"] == list(w.shape)
        assert np.array_equal(np.float32(call["w"]), w.ravel())
        assert np.array_equal(np.float32(call["x"]), np.load(out / e["files"]["input"]).ravel())
        if layer.kind == "conv":
            assert call["args"] == [[2, 2], [1, 1], [1, 1], 2, cfg, "", 0.0]
        else:
            assert call["args"] == [cfg, "", 0.0, True]
        chk = json.loads((out / e["output_dir"] / "functional_check.json").read_text())
        assert chk["passed"] and chk["max_abs_err"] < 1e-4


# ---------------------------------------------------------------- CLI


def test_cli_export_on_a_preset_and_errors(tmp_path, capsys):
    Workload("tiny", small_workload().layers).save(tmp_path / "wl")
    assert main(["stonne", "export", str(tmp_path / "wl"), "--accel", str(PRESETS / "maeri_64.cfg"),
                 "--out", str(tmp_path / "x"), "--format", "json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["exported"] == 4 and js["skipped"] == 0
    assert js["layers"][3]["command"].startswith('"$STONNE_BIN" -FC -M=10 -N=1 -K=16 -num_ms=64')
    # again into the same folder: one clear line, exit 2
    assert main(["stonne", "export", str(tmp_path / "wl"), "--accel", str(PRESETS / "maeri_64.cfg"),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not empty" in err
    # a tile given for every layer: conv layers that cannot take it are skipped, FC uses its chosen tile
    assert main(["stonne", "export", str(tmp_path / "wl"), "--accel", str(PRESETS / "tpu_8x8.cfg"),
                 "--out", str(tmp_path / "t"), "--tile", "T_M=4,T_N=8"]) == 0
    man = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert all(e["tile"] == {"T_M": 4, "T_N": 8, "T_K": 1} and e["tile_source"] == "given" for e in man["layers"])
    assert main(["stonne", "export", str(tmp_path / "missing"), "--accel", str(PRESETS / "maeri_64.cfg"),
                 "--out", str(tmp_path / "y")]) == 2

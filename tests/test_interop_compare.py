"""`plumsim stonne compare` against the raw STONNE outputs of the reference data (tests/data/stonne/raw)."""

import json
import shutil

import numpy as np
import pytest

from plumsim.accel.simulate import simulate_layer
from plumsim.stonne.io import read_energy
from plumsim.cli import main
from plumsim.energy import total_energy
from plumsim.errors import DataError
from plumsim.stonne import compare_export, export_workload
from plumsim.workload.format import Workload
from plumsim.workload.layer import Layer, LayerShape

from test_interop_support import DATA, case, config_of, layer_of, tile_of

RAW_CASES = ["A_maeri_conv_01", "A_maeri_gemm_01", "A_sigma_conv_01", "A_sigma_conv_07", "A_tpu_gemm_01",
             "A_tpu_gemm_03"]


def export_case(tmp_path, case_id, with_output=True, extra_layers=()):
    """Export the reference layer of ``case_id`` on its machine/tile, put STONNE's raw files in out/<key>/."""
    row = case(case_id)
    layer = layer_of(row)
    out = tmp_path / case_id
    res = export_workload(Workload(case_id, [layer, *extra_layers]), config_of(row), out, tile=tile_of(row),
                          linear_op="DenseGEMM" if row["op"] == "DenseGEMM" else "FC")
    plan = res.plans[0]
    assert plan.runner, plan.reason
    if row["family"].startswith("SIGMA"):
        # the run used the stored input: put it where the export's own seeded input was
        np.save(out / "layers" / plan.key / "input.npy", layer.input_sample)
    if with_output:
        shutil.copytree(DATA / "raw" / case_id, out / "out" / plan.key, dirs_exist_ok=True)
    return out, row, layer


@pytest.mark.parametrize("case_id", RAW_CASES)
def test_compare_reads_stonne_and_runs_the_model_on_the_exported_layer(tmp_path, case_id):
    out, row, layer = export_case(tmp_path, case_id)
    rep = compare_export(out)
    r = rep.layers.iloc[0]
    assert r["status"] == "ok", r["note"]
    # STONNE's side: exactly the reference run
    assert r["cycles_ref"] == row["cycles"]
    assert r["energy_ref"] == pytest.approx(float(row["energy_total"]), rel=1e-9)
    assert r["energy_ref_reported"] == pytest.approx(read_energy(DATA / "raw" / case_id / "energy_out.txt")["total"])
    # the model's side: the model on the same layer, machine and tile (rebuilt from the export folder)
    tile = tile_of(row)
    if row["controller_type"] == "TPU_OS_DENSE":
        tile = {"T_M": tile["T_M"], "T_N": tile["T_N"]}
    model = simulate_layer(layer, config_of(row), tile)
    assert r["cycles_model"] == model.cycles
    assert r["energy_model"] == pytest.approx(total_energy(model, "stonne"), rel=1e-12)
    assert r["rel_err"] == pytest.approx((model.cycles - row["cycles"]) / row["cycles"])
    assert abs(r["rel_err"]) < 0.05  # the models are calibrated on these runs
    # counters side by side
    c = rep.counters.set_index("counter")
    assert c.loc["MULTIPLIER.MULTIPLICATION", "ref"] == row["cnt_MULTIPLIER.MULTIPLICATION"]
    assert c.loc["MULTIPLIER.MULTIPLICATION", "model"] == model.counters["MULTIPLIER.MULTIPLICATION"]
    assert c.loc["SRAM.weight_reads", "ref"] == row["mem_N_SRAM_weight_reads"]
    t = rep.total
    assert (t["compared"], t["missing"], t["cycles_ref"]) == (1, 0, row["cycles"])


def test_missing_output_is_reported_not_a_crash(tmp_path, capsys):
    extra = Layer("second", "linear", "binary", LayerShape(16, 1, 64, 16, 1, 1, 1, 1),
                  np.ones((16, 64, 1, 1), np.int8), np.ones(16, np.float32), np.ones(16, np.int8))
    out, row, _ = export_case(tmp_path, "A_maeri_gemm_01", extra_layers=[extra])
    rep = compare_export(out)
    st = dict(zip(rep.layers["name"], rep.layers["status"]))
    assert st == {"A_maeri_gemm_01": "ok", "second": "missing"}
    miss = rep.layers.set_index("name").loc["second"]
    assert np.isnan(miss["cycles_ref"]) and miss["cycles_model"] > 0 and "run.sh" in miss["note"]
    assert rep.total["missing"] == 1 and rep.total["compared"] == 1
    assert rep.total["cycles_ref"] == row["cycles"]  # totals only over compared layers
    assert rep.total["cycles_model_all_layers"] == rep.layers["cycles_model"].sum() > rep.total["cycles_model"]
    assert main(["stonne", "compare", str(out), "--format", "json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert [x["name"] for x in js["layers"]] == ["A_maeri_gemm_01", "second"]
    assert {"name", "cycles_ref", "cycles_model", "rel_err"} <= set(js["layers"][0])
    assert js["layers"][1]["cycles_ref"] is None and js["total"]["cycles_ref"] == row["cycles"]
    assert main(["stonne", "compare", str(out)]) == 0
    text = capsys.readouterr().out
    assert "missing" in text and "MULTIPLIER.MULTIPLICATION" in text and "STONNE units" in text


def test_grouped_tpu_conv_counts_the_one_stonne_run_per_group(tmp_path):
    """A G=2 conv whose per-group GEMM is A_tpu_gemm_01's (M=16, N=16, K=32): STONNE runs one group."""
    row = case("A_tpu_gemm_01")
    conv = Layer("g2", "conv", "binary", LayerShape(1, 2, 64, 32, 1, 1, 4, 4),
                 np.ones((32, 32, 1, 1), np.int8), np.ones(32, np.float32), np.ones(32, np.int8))
    res = export_workload(Workload("g", [conv]), config_of(row), tmp_path / "e", tile={"T_M": 4, "T_N": 4})
    e = res.manifest["layers"][0]
    assert e["argv"][:4] == ["-DenseGEMM", "-M=16", "-N=16", "-K=32"] and e["repeat"] == 2
    shutil.copytree(DATA / "raw" / "A_tpu_gemm_01", tmp_path / "e" / "out" / "g2")
    r = compare_export(tmp_path / "e").layers.iloc[0]
    assert r["status"] == "ok" and r["cycles_ref"] == 2 * row["cycles"]
    assert r["energy_ref"] == pytest.approx(2 * float(row["energy_total"]), rel=1e-9)
    assert abs(r["rel_err"]) < 0.05


def test_skipped_and_broken_layers(tmp_path):
    out, row, _ = export_case(tmp_path, "A_sigma_conv_01")
    # a modified weight file is refused, naming it (the model would run on other weights than STONNE did)
    key = json.loads((out / "manifest.json").read_text())["layers"][0]["key"]
    w = np.load(out / "layers" / key / "weight.npy")
    w.flat[0] = 0.5
    np.save(out / "layers" / key / "weight.npy", w)
    with pytest.raises(DataError, match=r"weight\.npy: layer 1 \(name A_sigma_conv_01\), key 'files\.weight': "
                       r"differs from codes\*scale"):
        compare_export(out)
    # a STONNE folder with a broken file: error with the file named, the others still compared
    out2, _, _ = export_case(tmp_path, "A_maeri_conv_01")
    for f in (out2 / "out").rglob("*.counters"):
        f.write_text("no cycles here\n")
    r = compare_export(out2).layers.iloc[0]
    assert r["status"] == "error" and ".counters" in r["note"]
    # skipped layers appear with their reason
    bad = Layer("batched", "conv", "binary", LayerShape(2, 1, 16, 16, 3, 3, 10, 10),
                np.ones((16, 16, 3, 3), np.int8), np.ones(16, np.float32), np.ones(16, np.int8))
    out3, _, _ = export_case(tmp_path / "s", "A_maeri_conv_01", extra_layers=[bad])
    rep = compare_export(out3)
    s = rep.layers.set_index("name").loc["batched"]
    assert s["status"] == "skipped" and "functional check" in s["note"]
    assert rep.total["skipped"] == 1 and rep.total["compared"] == 1


def test_compare_errors_are_one_line(tmp_path, capsys):
    assert main(["stonne", "compare", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "manifest.json" in err and err.count("\n") == 0
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    assert main(["stonne", "compare", str(tmp_path)]) == 2
    assert "plumsim-stonne-export" in capsys.readouterr().err

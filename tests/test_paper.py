"""`plumsim experiment paper`: the PLUM paper's claims recomputed through the real stages (quick run: digits
training over two seeds, the ResNet-20 / ResNet-18 tables, SIGMA / MAERI / TPU, the stored STONNE runs, the
CPU kernels). Asserts structure and the facts that must hold whatever the numbers, never the numbers."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from plumsim.cli import main
from plumsim.errors import WorkloadError
from plumsim.pipeline import paper

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One quick run through the CLI (in-process), --format json, --out DIR."""
    out = tmp_path_factory.mktemp("paper")
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        rc = main(["experiment", "paper", "--quick", "--out", str(out), "--format", "json"])
    assert rc == 0, se.getvalue()[-2000:]
    return {"out": out, "doc": json.loads(so.getvalue()), "stderr": se.getvalue()}


def _rows(doc, contains):
    return [c for c in doc["claims"] if contains in c["claim"]]


def test_json_shape_every_row_has_a_setting_and_a_note(run):
    doc = run["doc"]
    assert {"claims", "seconds", "settings"} <= set(doc)
    assert doc["seconds"] > 0 and doc["settings"]["quick"] is True and len(doc["settings"]["seeds"]) == 2
    assert len(doc["claims"]) >= 15
    for c in doc["claims"]:
        assert list(c) == list(paper.COLUMNS)
        assert all(isinstance(v, str) and v.strip() for v in c.values()), c
        assert "network:" in c["setting"], c
        assert str(ROOT) not in c["setting"]          # relative paths only
    claims = [c["claim"] for c in doc["claims"]]
    assert len(set(claims)) == len(claims)
    # every headline figure of the paper appears in the paper column
    papers = {c["paper"] for c in doc["claims"]}
    assert {"2.8x", "about 2x", "1.26x", "1.75x", "66.2% top-1"} <= papers


def test_progress_one_line_per_group(run):
    lines = [ln for ln in run["stderr"].splitlines() if ln.startswith("[paper")]
    assert len(lines) == 7 and lines[0].startswith("[paper 1/6]") and "claims in" in lines[-1]


def test_files_are_written_and_agree(run):
    out, doc = run["out"], run["doc"]
    on_disk = json.loads((out / "paper.json").read_text())
    assert on_disk["claims"] == doc["claims"] and on_disk["settings"] == doc["settings"]
    csv = pd.read_csv(out / "paper.csv", keep_default_na=False)
    assert list(csv.columns) == list(paper.COLUMNS) and len(csv) == len(doc["claims"])
    assert csv["claim"].tolist() == [c["claim"] for c in doc["claims"]]
    df = paper.frame_from_json(on_disk)
    assert (out / "paper.md").read_text() == paper.claims_markdown(df)
    assert not list(out.glob(".tmp-*"))               # atomic writes leave no temp file


def test_markdown_table_is_well_formed(run):
    df = paper.frame_from_json(run["doc"])
    md = paper.claims_markdown(df).splitlines()
    table = [ln for ln in md if ln.startswith("|")]
    assert len(table) == len(df) + 2
    for ln in table:   # a '|' inside a cell (e.g. max|w|) is escaped, so every line has 7 separators
        assert ln.replace("\\|", "").count("|") == len(paper.COLUMNS) + 1, ln
    text = paper.claims_text(df)
    assert all(c in text for c in df["claim"])


def test_density_signed_binary_below_binary(run):
    d = run["doc"]["raw"]["density"]
    for net in ("digits", "resnet20", "resnet18"):
        assert all(sb < b for sb, b in zip(d[net]["signed-binary"], d[net]["binary"])), net
        assert all(r > 1 for r in d[net]["ratio"]), net
        assert len(d[net]["signed-binary"]) == 2
    assert all(b == 1.0 for b in d["digits"]["binary"])         # binary weights are never zero
    for net in ("resnet20", "resnet18"):                         # TWN keeps more weights than signed-binary
        assert all(t > sb for t, sb in zip(d[net]["ternary"], d[net]["signed-binary"]))
    rows = _rows(run["doc"], "density binary / signed-binary")
    assert len(rows) == 3 and all(r["paper"] == "2.8x" and "±" in r["plumsim"] for r in rows)
    assert any("trained" in r["setting"] for r in rows) and any("synthetic" in r["setting"] for r in rows)


def test_sigma_native_signed_binary_cheaper_than_binary_and_ternary(run):
    raw = run["doc"]["raw"]
    sig = raw["sigma_native"]
    for net in ("resnet20", "resnet18"):
        sb, b, t = (sig[f"{net}/{s}/sigma_128"] for s in ("signed-binary", "binary", "ternary"))
        assert sb["faithful"] and sb["hypothesis"] == ""
        assert sb["energy"] < t["energy"] < b["energy"]
        assert sb["cycles"] < t["cycles"] < b["cycles"]
    tr = raw["sigma_native_trained_digits"]
    assert tr["signed-binary"]["energy"] < tr["binary"]["energy"]
    row = _rows(run["doc"], "energy binary / signed-binary, SIGMA native")[0]
    assert row["paper"] == "about 2x" and "native" in row["setting"] and "sigma_128.cfg" in row["setting"]
    assert "STONNE units" in row["unit"]


def test_stonne_measured_beside_the_model(run):
    pairs = run["doc"]["raw"]["stonne_pairs"]
    assert any(p["versus"] == "binary" for p in pairs) and any(p["versus"] == "ternary" for p in pairs)
    for p in pairs:
        # measured on STONNE: signed-binary is the cheaper one; the model agrees with STONNE's own ratio
        assert p["stonne_energy"] > 1 and p["stonne_cycles"] > 1
        assert math.isclose(p["model_energy"], p["stonne_energy"], rel_tol=0.05)
        assert math.isclose(p["model_cycles"], p["stonne_cycles"], rel_tol=0.05)
    rows = _rows(run["doc"], "measured on STONNE")
    assert rows and all("measured on STONNE:" in r["plumsim"] and "plumsim model:" in r["plumsim"] for r in rows)
    assert all("tests/data/stonne" in r["setting"] for r in rows)


def test_dataflow_variants_are_labelled(run):
    variants = _rows(run["doc"], "signed-binary vs binary and ternary, ")
    assert len(variants) == 5   # SIGMA skip+repeat; MAERI and TPU native and skip+repeat
    for r in variants:
        if "skip+repeat" in r["claim"]:
            assert "hypothetical machine" in r["setting"], r
        else:
            assert "STONNE-faithful" in r["setting"], r
    v = run["doc"]["raw"]["variants"]
    for cfg in ("maeri_128", "tpu_16x16"):    # dense in STONNE: every scheme costs the same
        e = {s: v[f"resnet20/{s}/{cfg}/native"]["energy"] for s in ("binary", "ternary", "signed-binary")}
        assert math.isclose(e["binary"], e["signed-binary"], rel_tol=1e-9), cfg
        assert v[f"resnet20/signed-binary/{cfg}/skip+repeat"]["energy"] < e["signed-binary"]
        assert not v[f"resnet20/signed-binary/{cfg}/skip+repeat"]["faithful"]


def test_cpu_rows_name_the_machine(run):
    rows = _rows(run["doc"], "CPU speedup")
    assert [r["paper"] for r in rows] == ["1.26x", "1.75x"]
    cpu = run["doc"]["raw"]["cpu"]
    for r in rows:
        assert "machine:" in r["setting"] and cpu["machine"]["cpu"] in r["setting"]
        assert "measured" in r["plumsim"] and "predicts" in r["plumsim"]
    for t in cpu["totals"]:
        assert t["measured"] > 0 and math.isfinite(t["measured"]) and t["predicted"] > 0


def test_accuracy_rows_mean_and_spread(run):
    tr = run["doc"]["raw"]["training"]
    eq = {r["variant"]: r for r in tr["equal_nnz"]}
    assert set(eq) == {"signed-binary", "binary-thinned", "binary"}
    assert all(r["runs"] == 2 and 0 <= r["acc_mean"] <= 1 and r["acc_std"] >= 0 for r in eq.values())
    # equal non-zeros: the thinned binary net has as many non-zeros as signed-binary, far fewer than binary
    assert math.isclose(eq["binary-thinned"]["nnz_mean"], eq["signed-binary"]["nnz_mean"], rel_tol=0.02)
    assert eq["binary"]["nnz_mean"] > 2 * eq["signed-binary"]["nnz_mean"]
    va = tr["value_assignment"]
    assert [r["variant"] for r in va] == ["p=0", "p=0.5", "p=1"] and all(r["runs"] == 2 for r in va)
    row = _rows(run["doc"], "value assignment")[0]
    assert all(f"p={p}" in row["plumsim"] for p in ("0", "0.5", "1")) and "±" in row["plumsim"]
    assert "±" in _rows(run["doc"], "equal non-zeros")[0]["plumsim"]


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    for bad in (["--seeds", "0"], ["--seeds", "11"]):
        assert main(["experiment", "paper", "--quick", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--seeds" in err[0]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["experiment", "paper", "--quick", "--out", str(blocker / "sub")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(blocker) in err[0]


def test_needs_the_source_checkout(tmp_path):
    with pytest.raises(WorkloadError, match="resnet20-cifar10.yaml"):
        paper.run_paper(True, root=tmp_path)


def test_demo_keeps_a_paper_json_made_with_the_same_settings(tmp_path):
    from plumsim.pipeline.demo import paper_claims

    doc = {"claims": [dict.fromkeys(paper.COLUMNS, "x")], "seconds": 1.0,
           "settings": paper.settings_json(paper.settings_for(True, epochs=1))}
    (tmp_path / "paper.json").write_text(json.dumps(doc))
    log = io.StringIO()
    got = paper_claims(tmp_path, 1, log)
    assert got["reused"] and got["claims"] == 1 and "kept" in log.getvalue()
    assert json.loads((tmp_path / "paper.json").read_text()) == doc

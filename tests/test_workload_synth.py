"""Synthetic workloads: quantizer rules (vs the STONNE reference weights and vs plumsim.quant), density
targets, the shipped layer tables, and layer-table errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from plumsim.errors import WorkloadError
from plumsim.workload import synth
from plumsim.workload.schemes import binary_codes, signed_binary_codes, ternary_codes
from plumsim.workload.synth import load_table

ROOT = Path(__file__).resolve().parents[1]
STONNE = ROOT / "tests" / "data" / "stonne"
TABLES = ROOT / "workloads"


def _sigma_rows():
    with open(STONNE / "cases.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["family"] == "SIGMA_sparse_frontend"]
    return [r for r in rows if not r["weight_kind"].startswith("random_sparse")]


@pytest.mark.parametrize("row", _sigma_rows(), ids=lambda r: r["case_id"])
def test_synth_reproduces_stonne_reference_weights(tmp_path, row):
    """A one-layer table with the reference seed gives exactly the reference weight tensor."""
    kind = row["weight_kind"]
    scheme = {"signed_binary": "signed-binary", "binary": "binary", "ternary": "ternary"}[kind.split("_d")[0]]
    density = float(kind.split("_d")[1]) if "_d" in kind else None
    C, K, R, S = (int(row[k]) for k in ("C", "K", "R", "S"))
    if row["op"] == "SparseLinear":
        layer = f"{{name: l, kind: linear, C: {C}, K: {K}, seed: {row['weight_seed']}}}"
    else:
        X, Y = int(row["X"]), int(row["Y"])
        layer = f"{{name: l, C: {C}, K: {K}, R: {R}, S: {S}, X: {X}, Y: {Y}, seed: {row['weight_seed']}}}"
    (tmp_path / "t.yaml").write_text(f"layers:\n  - {layer}\n")
    wl = synth(tmp_path / "t.yaml", scheme, density=density)
    with np.load(STONNE / row["weights_file"]) as z:
        ref = z["weight"]
    got = wl.layers[0].codes
    assert got.dtype == ref.dtype == np.int8
    np.testing.assert_array_equal(got.reshape(ref.shape), ref)
    assert wl.layers[0].nnz == int(row["weight_nnz"])


def test_signed_binary_rule_on_hand_built_tensor():
    w = np.array([[0.9, 0.04, -1.0, 0.05],     # positive filter, delta = 0.05 (0.05 is kept: >=)
                  [-0.5, -0.02, 0.3, -0.025],  # positive filter, delta = 0.025
                  [0.2, -0.2, -0.02, 0.005],   # negative filter, delta = 0.01
                  [1.0, -2.0, -0.1, -0.09]])   # negative filter, delta = 0.1
    codes, scale, sign = signed_binary_codes(w, positive_fraction=0.5)
    np.testing.assert_array_equal(codes, [[1, 0, 0, 1], [0, 0, 1, 0], [0, -1, -1, 0], [0, -1, -1, 0]])
    np.testing.assert_array_equal(sign, [1, 1, -1, -1])
    np.testing.assert_array_equal(scale, np.ones(4, dtype=np.float32))
    codes, _, sign = signed_binary_codes(w, positive_fraction=0.75)
    np.testing.assert_array_equal(sign, [1, 1, 1, -1])
    np.testing.assert_array_equal(codes[2], [1, 0, 0, 0])
    # exact-count density: k = max(1, round(0.5 * 4)) = 2 per filter
    codes, _, _ = signed_binary_codes(w, density=0.5)
    np.testing.assert_array_equal(codes, [[1, 0, 0, 1], [0, 1, 1, 0], [0, -1, -1, 0], [0, -1, -1, 0]])
    codes, _, _ = signed_binary_codes(w, density=0.01)   # k = max(1, 0) = 1
    np.testing.assert_array_equal(np.count_nonzero(codes, axis=1), [1, 1, 1, 1])


def test_ternary_and_binary_rules_on_hand_built_tensor():
    w = np.array([[1.0, -1.0, 0.1, -0.1], [0.5, 0.0, -0.6, 0.2]])
    # mean|w| = 3.5/8 = 0.4375, delta = 0.30625
    codes, scale, sign = ternary_codes(w)
    np.testing.assert_array_equal(codes, [[1, -1, 0, 0], [1, 0, -1, 0]])
    assert scale[0] == pytest.approx((1 + 1 + 0.5 + 0.6) / 4) and scale[0] == scale[1]
    np.testing.assert_array_equal(sign, [0, 0])
    codes, _, _ = ternary_codes(w, density=0.25)   # keep exactly 2 weights: the two of |w| = 1
    np.testing.assert_array_equal(codes, [[1, -1, 0, 0], [0, 0, 0, 0]])
    codes, scale, sign = binary_codes(w)
    np.testing.assert_array_equal(codes, [[1, -1, 1, -1], [1, 1, -1, 1]])
    np.testing.assert_array_equal(scale, [1, 1])


@pytest.mark.parametrize("scheme", ["signed-binary", "binary", "ternary"])
def test_numpy_rules_equal_plumsim_quant(scheme):
    torch = pytest.importorskip("torch")
    from plumsim.quant.registry import get_quantizer

    w = np.random.default_rng(11).standard_normal((37, 5, 3, 3))
    opts = {"positive_fraction": 0.3} if scheme == "signed-binary" else {}
    tc, ts = get_quantizer(scheme, **opts).codes(torch.from_numpy(w))
    nc, ns, _ = {"signed-binary": lambda: signed_binary_codes(w, positive_fraction=0.3),
                 "binary": lambda: binary_codes(w), "ternary": lambda: ternary_codes(w)}[scheme]()
    np.testing.assert_array_equal(tc.numpy(), nc)
    np.testing.assert_allclose(ts.numpy(), ns, rtol=1e-6)


def test_density_targets_are_exact():
    t = TABLES / "resnet20-cifar10.yaml"
    sb = synth(t, "signed-binary", seed=2, density=0.3)
    for lyr in sb.layers:
        if lyr.scheme == "fp":
            continue
        k = max(1, round(0.3 * lyr.shape.K_gemm))
        assert set(lyr.nnz_per_region().tolist()) == {k}
        assert lyr.options["target_density"] == 0.3
    te = synth(t, "ternary", seed=2, density=0.3)
    for lyr in te.layers:
        if lyr.scheme != "fp":
            assert lyr.nnz == round(0.3 * lyr.numel)
    assert synth(t, "binary", density=1.0).layers[1].density == 1.0
    with pytest.raises(WorkloadError, match="density must be 1"):
        synth(t, "binary", density=0.5)
    with pytest.raises(WorkloadError, match="density"):
        synth(t, "ternary", density=1.5)


def test_seed_controls_latents():
    t = TABLES / "cnn-digits.yaml"
    a, b, c = synth(t, "ternary", seed=1), synth(t, "ternary", seed=1), synth(t, "ternary", seed=2)
    assert np.array_equal(a.layers[1].codes, b.layers[1].codes)
    assert not np.array_equal(a.layers[1].codes, c.layers[1].codes)
    # layers draw independent streams: layer i uses default_rng([seed, i])
    w = np.random.default_rng([1, 1]).standard_normal((32, 16, 3, 3))
    np.testing.assert_array_equal(a.layers[1].codes, ternary_codes(w)[0])


def test_scheme_densities_are_ordered_on_resnet18():
    """binary (1) > ternary (TWN, ~0.58 on normal latents) > signed-binary (~0.43)."""
    dens = {}
    for scheme in ("binary", "ternary", "signed-binary"):
        wl = synth(TABLES / "resnet18-imagenet.yaml", scheme, seed=0)
        q = [lyr for lyr in wl.layers if lyr.scheme != "fp"]
        assert len(q) == 16 and all(lyr.scheme == scheme for lyr in q)
        dens[scheme] = sum(lyr.nnz for lyr in q) / sum(lyr.numel for lyr in q)
    assert dens["binary"] == 1.0
    assert 0.55 < dens["ternary"] < 0.61
    assert 0.40 < dens["signed-binary"] < 0.46


def _tables_vs_models():
    return [("resnet20-cifar10.yaml", "resnet20"), ("resnet18-imagenet.yaml", "resnet18"),
            ("cnn-digits.yaml", "cnn-digits")]


@pytest.mark.parametrize("table,model", _tables_vs_models())
def test_shipped_tables_match_lowered_models(table, model):
    """The shipped tables have every conv/FC layer of plumsim.quant's models, same names, shapes, order
    and FP marking as a real forward pass gives."""
    pytest.importorskip("torch")
    from plumsim.quant.models import build_model
    from plumsim.workload.lowering import lower

    lowered = lower(build_model(model, scheme="signed-binary"))
    tbl = load_table(TABLES / table)
    assert [s["name"] for s in tbl["layers"]] == [lyr.name for lyr in lowered.layers]
    for spec, lyr in zip(tbl["layers"], lowered.layers):
        assert spec["shape"] == lyr.shape.as_dict(), spec["name"]
        assert spec["kind"] == lyr.kind
        assert spec["quantized"] == (lyr.scheme != "fp"), spec["name"]


def test_resnet_tables_totals():
    r18 = synth(TABLES / "resnet18-imagenet.yaml", "fp").stats()
    assert len(r18) == 21 and (r18.kind == "conv").sum() == 20
    assert r18.numel.sum() == 11_678_912          # ResNet-18 conv+FC weights (no BN, no FC bias)
    assert r18.macs.sum() == 1_814_073_344        # the well-known 1.8 GMACs
    r20 = synth(TABLES / "resnet20-cifar10.yaml", "fp").stats()
    # ResNet-20's well-known 269,722 parameters minus 1,376 BatchNorm and 10 FC-bias parameters
    assert len(r20) == 20 and r20.numel.sum() == 269_722 - 1_376 - 10
    assert r20.macs.sum() == 40_551_040           # the usual "41M MACs"


def _table(tmp_path, text):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,needles", [
    ("layers:\n  - {name: a, C: 3, K: 4, R: 3, S: 3, X: 8, Y: 8, colour: red}\n", ["colour", "valid keys"]),
    ("name: x\nlayer: []\n", ["'layer'", "valid keys", "layers"]),
    ("layers:\n  - {name: a, C: 3, K: 4, R: 3, S: 3, X: 8}\n", ["layers[0] (a).Y", "missing"]),
    ("layers:\n  - {name: a, C: 3, K: 4, R: 3, S: 3, X: 8, Y: 8, stride: two}\n", ["stride", "integer"]),
    ("layers:\n  - {name: a, C: 3, K: 4, R: 3, S: 3, X: 8, Y: 8, G: 2}\n", ["G=2 must divide"]),
    ("layers:\n  - {name: a, C: 3, K: 4, R: 9, S: 9, X: 4, Y: 4}\n", ["larger than the padded input"]),
    ("layers:\n  - {name: a, kind: pool, C: 3, K: 4}\n", ["kind", "pool"]),
    ("layers:\n  - {name: a, kind: linear, C: 3, K: 4, R: 3}\n", ["linear layer has R = 1"]),
    ("layers:\n  - {name: a, C: 3, K: 4, R: 1, S: 1, X: 1, Y: 1}\n  - {name: a, C: 3, K: 4, R: 1, S: 1, X: 1, Y: 1}\n",
     ["duplicate"]),
    ("layers:\n  - {name: a, C: 3, K: 4, R: 1, S: 1, X: 1, Y: 1, quantized: maybe}\n", ["quantized", "true or false"]),
    ("layers: [\n  {name: a\n", ["not valid YAML", "line"]),
    ("42\n", ["list of layers"]),
    ("layers: []\n", ["non-empty list"]),
])
def test_bad_tables(tmp_path, text, needles):
    p = _table(tmp_path, text)
    with pytest.raises(WorkloadError) as ei:
        synth(p, "signed-binary")
    msg = str(ei.value)
    assert str(p) in msg
    for n in needles:
        assert n in msg, msg


def test_missing_table_and_unknown_scheme(tmp_path):
    with pytest.raises(WorkloadError, match="not found"):
        synth(tmp_path / "none.yaml", "binary")
    with pytest.raises(WorkloadError, match="unknown scheme 'quaternary'; valid: fp, binary"):
        synth(TABLES / "cnn-digits.yaml", "quaternary")

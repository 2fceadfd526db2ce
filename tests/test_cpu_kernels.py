"""plumsim.cpu kernels equal torch's conv2d / linear (float64 reference) on the same quantized weights, for
every scheme x dataflow, odd shapes, stride 2, groups, padding, 1 and 2 threads; and `plumsim experiment cpu`.

Small shapes: the cost is numba's one-time JIT (three kernels, a few seconds each)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from plumsim.cli import main
from plumsim.cpu import kernels
from plumsim.workload.schemes import quantize

SCHEMES = (("fp", None), ("binary", None), ("ternary", None), ("ternary", 0.3), ("signed-binary", None),
           ("signed-binary", 0.36))
# (N, C, K, R, S, X, Y, stride, padding, groups)
CONVS = (
    (1, 3, 5, 3, 3, 7, 9, 1, 1, 1),
    (2, 6, 4, 3, 2, 9, 8, 2, 1, 2),
    (1, 4, 6, 1, 1, 5, 5, 2, 0, 1),
    (1, 8, 8, 3, 3, 6, 7, 2, 2, 4),
    (1, 5, 7, 5, 3, 11, 6, 3, 2, 1),
    (2, 4, 12, 3, 3, 5, 5, 1, 0, 1),   # enough filters per group for SumMerge on binary
)


def _weights(scheme, density, shape, seed):
    lat = np.random.default_rng(seed).standard_normal(shape)
    codes, scale, _ = quantize(scheme, lat, density=density)
    if codes is None:
        return lat.astype(np.float32)
    return (codes.astype(np.float32) * scale.reshape((-1,) + (1,) * (lat.ndim - 1))).astype(np.float32)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    if request.param > kernels.max_threads():
        pytest.skip("numba has fewer threads on this machine")
    kernels.set_threads(request.param)
    yield request.param
    kernels.set_threads(1)


@pytest.mark.parametrize("scheme,density", SCHEMES, ids=[f"{s}-{d}" for s, d in SCHEMES])
def test_conv2d_matches_torch(scheme, density, threads):
    for i, (N, C, K, R, S, X, Y, st, pad, G) in enumerate(CONVS):
        w = _weights(scheme, density, (K, C // G, R, S), seed=i)
        x = np.random.default_rng(100 + i).standard_normal((N, C, X, Y)).astype(np.float32)
        ref = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), stride=st, padding=pad,
                       groups=G).numpy()
        for df in kernels.DATAFLOWS:
            plan = kernels.prepare(w, df, stride=st, padding=pad, groups=G)
            out = kernels.run(plan, x)
            assert out.dtype == np.float32 and out.shape == ref.shape, (df, CONVS[i])
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4, err_msg=f"{scheme} {df} {CONVS[i]}")
            np.testing.assert_array_equal(kernels.run(plan, x), out)  # a plan is reusable


@pytest.mark.parametrize("scheme,density", SCHEMES, ids=[f"{s}-{d}" for s, d in SCHEMES])
def test_linear_matches_torch(scheme, density, threads):
    for i, (N, C, K) in enumerate(((1, 17, 9), (3, 32, 10), (5, 7, 13))):
        w = _weights(scheme, density, (K, C), seed=i)
        x = np.random.default_rng(7 + i).standard_normal((N, C)).astype(np.float32)
        ref = F.linear(torch.from_numpy(x).double(), torch.from_numpy(w).double()).numpy()
        for df in kernels.DATAFLOWS:
            out = kernels.linear(x, w, df)
            assert out.shape == (N, K)
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4, err_msg=f"{scheme} {df} linear {N, C, K}")


def test_plan_structure():
    """What each dataflow keeps: dense every weight, skip the non-zeros, skip+repeat one value group per
    signed-binary filter, repeat on binary the SumMerge minority positions only."""
    sb = _weights("signed-binary", 0.36, (8, 4, 3, 3), seed=1)
    nnz = int(np.count_nonzero(sb))
    assert kernels.prepare(sb, "dense").stats["entries"] == sb.size
    assert kernels.prepare(sb, "skip").stats["entries"] == nnz
    p = kernels.prepare(sb, "skip+repeat")
    assert p.stats["entries"] == nnz and p.stats["value_groups"] == 8 and not p.summerge
    b = _weights("binary", None, (8, 4, 3, 3), seed=1)
    pb = kernels.prepare(b, "repeat")
    assert pb.summerge and pb.stats["summerge_filters"] == 8
    assert pb.stats["entries"] <= b.size // 2
    assert kernels.prepare(b, "repeat", summerge=False).stats["value_groups"] == 16


def test_bad_arguments():
    w = _weights("binary", None, (4, 2, 3, 3), seed=0)
    with pytest.raises(ValueError):
        kernels.prepare(w, "bogus")
    with pytest.raises(ValueError):
        kernels.prepare(w, "dense", groups=3)
    with pytest.raises(ValueError):
        kernels.run(kernels.prepare(w, "dense"), np.zeros((1, 3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError):
        kernels.set_threads(kernels.max_threads() + 1)


def test_cli_experiment_cpu_json(capsys):
    rc = main(["experiment", "cpu", "--table", "workloads/cnn-digits.yaml", "--scheme", "signed-binary",
               "--threads", "1", "--repeats", "2", "--format", "json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["threads"] == [1] and res["machine"]["cores"] >= 1
    rows = res["layers"]
    assert {r["layer"] for r in rows} == {"conv1", "conv2", "conv3", "fc"}
    assert {r["dataflow"] for r in rows} == set(kernels.DATAFLOWS) | {"reference"}
    assert all(r["ms"] > 0 for r in rows)
    kern = [r for r in rows if r["dataflow"] != "reference"]
    assert all(r["ops"] == r["mults"] + r["adds"] + r["index"] for r in kern)
    assert res["best_dataflow"]["signed-binary@1"] in ("repeat", "skip+repeat")
    assert res["speedups"] == []  # one scheme: nothing to compare


def test_cli_experiment_cpu_out_and_speedups(tmp_path, capsys):
    rc = main(["experiment", "cpu", "--table", "workloads/cnn-digits.yaml", "--threads", "1", "--repeats", "1",
               "--dataflow", "dense", "--dataflow", "skip+repeat", "--no-reference", "--out", str(tmp_path)])
    assert rc == 0
    assert "signed-binary speedup" in capsys.readouterr().out
    res = json.loads((tmp_path / "results.json").read_text())
    totals = [s for s in res["speedups"] if s["layer"] == "TOTAL (quantized)"]
    assert {(s["versus"], s["baseline"]) for s in totals} == {("binary", "best"), ("binary", "dense"),
                                                             ("ternary", "best"), ("ternary", "dense")}
    assert all(s["predicted"] > 1 and s["measured"] > 0 for s in totals)
    for name in ("layers.csv", "totals.csv", "speedups.csv"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("argv", [
    ["--table", "no/such/table.yaml"],
    ["--table", "workloads/cnn-digits.yaml", "--threads", "0"],
    ["--table", "workloads/cnn-digits.yaml", "--threads", "many"],
    ["--workload", "no/such/workload"],
])
def test_cli_experiment_cpu_bad_input(argv, capsys):
    assert main(["experiment", "cpu", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("plumsim: error:")

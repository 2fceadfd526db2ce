"""ONNX graphs built by hand with onnx.helper (the QDQ form Brevitas and ONNX quantizers write):
QuantizeLinear/DequantizeLinear pairs and stored integer codes fold into codes + scale, dynamic inputs take
--input-shape, and every bad input is one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from plumsim.accel.cfg import load_config  # noqa: E402
from plumsim.accel.simulate import simulate_workload  # noqa: E402
from plumsim.cli import main  # noqa: E402
from plumsim.errors import WorkloadError  # noqa: E402
from plumsim.workload import Layer  # noqa: E402
from plumsim.workload.onnx_import import lower_onnx  # noqa: E402
from plumsim.workload.schemes import region_sign  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIGMA = ROOT / "accel_configs" / "sigma_128.cfg"
RNG = np.random.default_rng(5)
C4 = RNG.integers(-8, 8, (8, 3, 3, 3)).astype(np.int8)            # conv: 4-bit codes, per-channel scale
S4 = (0.01 + RNG.random(8)).astype(np.float32)
CB = np.where(RNG.random((10, 8 * 4 * 4)) < 0.5, -1, 1).astype(np.int8)   # gemm: binary codes, one scale
CT = RNG.integers(-1, 2, (10, 6)).astype(np.int8)                 # matmul: ternary float weights [C, K]^T


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def qdq_model(batch="N", extra_nodes=(), domain_op=None, hw=(8, 8)):
    """x[N,3,8,8] -> QDQ(W float) Conv(stride 2, pad 1) -> Relu -> Flatten -> DQ(int8) Gemm(transB) -> MatMul(W)."""
    wf = (C4.astype(np.float32) * S4[:, None, None, None]).astype(np.float32)
    nodes = [
        helper.make_node("QuantizeLinear", ["w1", "s1", "z1"], ["w1_q"], axis=0, name="q1"),
        helper.make_node("DequantizeLinear", ["w1_q", "s1", "z1"], ["w1_dq"], axis=0, name="dq1"),
        helper.make_node("Conv", ["x", "w1_dq"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Flatten", ["r1"], ["f1"], axis=1, name="flat"),
        helper.make_node("DequantizeLinear", ["w2_int", "s2"], ["w2_dq"], name="dq2"),
        helper.make_node("Gemm", ["f1", "w2_dq"], ["g1"], transB=1, name="fc1"),
        helper.make_node("Slice", ["g1", "st", "en", "ax"], ["g2"], name="slice"),
        helper.make_node("MatMul", ["g2", "w3"], ["y"], name="fc2"),
        *extra_nodes,
    ]
    if domain_op is not None:
        nodes.append(domain_op)
    inits = [_init("w1", wf), _init("s1", S4), _init("z1", np.zeros(8, np.int8)),
             _init("w2_int", CB), _init("s2", np.float32(0.125)),
             _init("st", np.array([0], np.int64)), _init("en", np.array([6], np.int64)),
             _init("ax", np.array([1], np.int64)),
             _init("w3", (CT.T.astype(np.float32) * np.float32(0.5)).astype(np.float32))]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])]
    if domain_op is not None or extra_nodes:
        outs += [helper.make_tensor_value_info(o, TensorProto.FLOAT, [batch, "d"])
                 for n in list(extra_nodes) + ([domain_op] if domain_op is not None else []) for o in n.output]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                           [batch, 3, *hw])], outs, inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("custom.ops", 1)] if domain_op is not None else [])
    return helper.make_model(graph, opset_imports=opsets)


def _save(model, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def test_qdq_graph_folds_into_codes_and_scale(tmp_path):
    path = _save(qdq_model(), tmp_path / "qdq.onnx")
    with pytest.raises(WorkloadError, match=r"input 'x' has shape \['\?', 3, 8, 8\]: give --input-shape"):
        lower_onnx(path)
    wl = lower_onnx(path, input_shape=(2, 3, 8, 8))
    conv, fc1, fc2 = wl.layers
    assert [lyr.name for lyr in wl.layers] == ["conv1", "fc1", "fc2"]
    assert (conv.scheme, fc1.scheme, fc2.scheme) == ("int4", "binary", "ternary")
    assert conv.detection["source"] == fc1.detection["source"] == "onnx-qdq"
    assert fc2.detection["source"] == "values"
    np.testing.assert_array_equal(conv.codes, C4)
    np.testing.assert_array_equal(conv.scale, S4)
    np.testing.assert_array_equal(fc1.codes[:, :, 0, 0], CB)
    assert set(fc1.scale.tolist()) == {0.125}
    np.testing.assert_array_equal(fc2.codes[:, :, 0, 0], CT)
    assert conv.shape.as_dict() == {"N": 2, "G": 1, "C": 3, "K": 8, "R": 3, "S": 3, "X": 8, "Y": 8, "stride": 2,
                                    "padding": 1}
    assert (fc1.shape.N, fc1.shape.C, fc1.shape.K) == (2, 128, 10)
    assert (fc2.shape.N, fc2.shape.C, fc2.shape.K) == (2, 6, 10)
    # the same layers built by plumsim from those codes run to the same cycles
    ref = [Layer(name=lyr.name, kind=lyr.kind, scheme=lyr.scheme, shape=lyr.shape, codes=lyr.codes.copy(),
                 scale=np.ones(lyr.shape.K, np.float32), sign=region_sign(lyr.codes)) for lyr in wl.layers]
    cfg = load_config(SIGMA)
    assert list(simulate_workload(wl, cfg)["cycles"]) == list(simulate_workload(ref, cfg)["cycles"])


def test_cli_lowers_onnx_and_refuses_bad_files(tmp_path, capsys):
    path = _save(qdq_model(batch=1), tmp_path / "qdq.onnx")
    assert main(["lower", str(path), "--out", str(tmp_path / "w"), "--scheme", "fc2=int2"]) == 0
    out = capsys.readouterr().out
    assert "int4" in out and "onnx-qdq" in out and "forced (values)" in out
    assert (tmp_path / "w" / "manifest.json").is_file()

    def refused(p, match, *extra):
        rc = main(["lower", str(p), "--out", str(tmp_path / "bad"), *extra])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert len(err.strip().splitlines()) == 1, err
        assert match in err, err
        assert not (tmp_path / "bad").exists()

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(path.read_bytes()[:150])
    refused(corrupt, "not a valid ONNX file")
    refused(_save(qdq_model(batch=1, extra_nodes=[helper.make_node("ConvTranspose", ["x", "w1"], ["t"],
                                                                   name="up1")]), tmp_path / "ct.onnx"),
            "unsupported operator ConvTranspose (node 'up1' (ConvTranspose))")
    refused(_save(qdq_model(batch=1, domain_op=helper.make_node("Frob", ["y"], ["z"], name="frob1",
                                                                domain="custom.ops")), tmp_path / "dom.onnx"),
            "unsupported operator custom.ops::Frob (node 'frob1'")
    refused(path, "does not fit the graph's input 'x'", "--input-shape", "1,4,8,8")
    refused(_save(qdq_model(), tmp_path / "dyn.onnx"), "give --input-shape N,C,H,W")
    refused(_save(qdq_model(hw=("H", "W")), tmp_path / "dyn2.onnx"), "shape inference failed", "--input-shape", "1,3,4,4")
    refused(path, "forced to scheme binary", "--scheme", "conv1=binary")

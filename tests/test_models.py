"""Models (forward shapes, which layers are FP) and checkpoints (bit-exact round trip, corrupt files)."""

import json

import numpy as np
import pytest
import torch

from plumsim.errors import PlumsimError, WorkloadError
from plumsim.quant import (
    MODEL_INPUT_SHAPES,
    QConv2d,
    QLinear,
    build_model,
    load_checkpoint,
    load_extra_state,
    quantized_layers,
    save_checkpoint,
    set_layer_scheme,
)


@pytest.mark.parametrize("name,classes", [("cnn-digits", 10), ("resnet20", 10), ("resnet18", 1000)])
def test_forward_shapes_and_fp_layers(name, classes):
    torch.manual_seed(0)
    model = build_model(name, scheme="signed-binary", positive_fraction=0.25).eval()
    shape = MODEL_INPUT_SHAPES[name]
    with torch.no_grad():
        y = model(torch.randn(*shape))
    assert y.shape == (shape[0], classes)
    layers = dict(quantized_layers(model))
    assert layers["conv1"].scheme == "fp" and layers["fc"].scheme == "fp"
    q = [m for m in layers.values() if m.scheme != "fp"]
    assert q and all(m.quantizer.options["positive_fraction"] == 0.25 for m in q)
    assert all(isinstance(m, QConv2d) and m.kernel_size == (3, 3) for m in q)
    # every conv / linear of the model is one of ours (so lowering sees all of them)
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert all(isinstance(m, (QConv2d, QLinear)) for m in convs)


def test_resnet_layer_counts():
    r20 = build_model("resnet20", scheme="binary")
    q20 = [n for n, m in quantized_layers(r20) if m.scheme != "fp"]
    assert len(q20) == 18                                   # 9 blocks x 2 convs
    assert sum(p.numel() for p in r20.parameters() if p.dim() == 4) == 267_264 + 432
    r18 = build_model("resnet18", scheme="ternary", num_classes=7)
    layers = dict(quantized_layers(r18))
    assert len([m for m in layers.values() if m.scheme == "ternary"]) == 16
    downs = [n for n, m in layers.items() if getattr(m, "kernel_size", None) == (1, 1)]
    assert len(downs) == 3 and all(layers[n].scheme == "fp" for n in downs)
    assert layers["fc"].out_features == 7
    assert any(isinstance(m, torch.nn.PReLU) for m in r18.modules())


def test_fp_model_has_no_quantized_layer():
    m = build_model("cnn-digits", scheme="fp")
    assert all(l.scheme == "fp" and l.input_clamp is None for _, l in quantized_layers(m))


def test_build_model_errors():
    with pytest.raises(PlumsimError, match="resnet20"):
        build_model("resnet50")
    with pytest.raises(PlumsimError, match="valid"):
        build_model("resnet20", scheme="nope")
    with pytest.raises(PlumsimError):
        build_model("cnn-digits", scheme="ternary", positive_fraction=0.5)


def _trained_a_bit(model):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(4, *MODEL_INPUT_SHAPES["cnn-digits"][1:])).sum().backward()
        opt.step()
    return opt


def test_checkpoint_round_trip_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = build_model("cnn-digits", scheme="signed-binary", positive_fraction=0.25)
    opt = _trained_a_bit(model)
    set_layer_scheme(model, "conv3", "binary", keep_fraction=0.4)
    extra = {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
             "numpy_rng": np.random.RandomState(3).get_state(), "epoch": 2, "lrs": (0.1, 0.01)}
    ck = save_checkpoint(tmp_path / "ck", model, {"epoch": 2, "data": "digits"}, extra_state=extra,
                         extra_files={"metrics.csv": "epoch,loss\n1,0.5\n"})
    assert sorted(p.name for p in ck.iterdir()) == ["config.json", "metrics.csv", "state.json",
                                                     "state.npz", "weights.npz"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]      # no temp dirs left
    loaded, cfg = load_checkpoint(ck)
    assert cfg["model"] == "cnn-digits" and cfg["epoch"] == 2 and cfg["options"] == {"positive_fraction": 0.25}
    assert cfg["plumsim_version"] and cfg["format_version"] == 1
    sd, sd2 = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sd2.keys()
    for k in sd:
        assert sd[k].dtype == sd2[k].dtype and torch.equal(sd[k], sd2[k]), k
    assert loaded.conv3.scheme == "binary" and loaded.conv3.quantizer.options["keep_fraction"] == 0.4
    assert loaded.conv2.quantizer.options["positive_fraction"] == 0.25
    model.eval()
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(model(x), loaded(x))
    st = load_extra_state(ck)
    assert st["epoch"] == 2 and st["lrs"] == (0.1, 0.01)
    assert torch.equal(st["torch_rng"], extra["torch_rng"])
    assert np.array_equal(st["numpy_rng"][1], extra["numpy_rng"][1])
    # the optimizer state restores (int keys of 'state' survive JSON)
    opt2 = torch.optim.Adam(loaded.parameters(), lr=0.01)
    opt2.load_state_dict(st["optimizer"])
    for a, b in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"])
    # overwrite in place: still one complete checkpoint
    save_checkpoint(ck, loaded, {"epoch": 3})
    assert load_checkpoint(ck)[1]["epoch"] == 3 and load_extra_state(ck) is None


def _saved(tmp_path):
    return save_checkpoint(tmp_path / "ck", build_model("cnn-digits", scheme="ternary"), {"epoch": 0})


def test_checkpoint_corrupt_files_give_clear_errors(tmp_path):
    with pytest.raises(WorkloadError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    ck = _saved(tmp_path)
    (ck / "weights.npz").write_bytes(b"garbage, not a zip")
    with pytest.raises(WorkloadError) as e:
        load_checkpoint(ck)
    assert "weights.npz" in str(e.value) and "corrupt" in str(e.value)

    ck = _saved(tmp_path)
    (ck / "config.json").write_text("{not json")
    with pytest.raises(WorkloadError, match="config.json.*JSON"):
        load_checkpoint(ck)

    ck = _saved(tmp_path)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["model"] = "resnet99"
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WorkloadError, match="field 'model'"):
        load_checkpoint(ck)
    cfg["model"], cfg["scheme"] = "cnn-digits", "quinary"
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WorkloadError, match="field 'scheme'"):
        load_checkpoint(ck)
    del cfg["scheme"]
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WorkloadError, match="field 'scheme'"):
        load_checkpoint(ck)


def test_checkpoint_wrong_tensors(tmp_path):
    ck = _saved(tmp_path)
    with np.load(ck / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["conv2.weight"] = arrays["conv2.weight"][:3]
    np.savez(ck / "weights.npz", **arrays)
    with pytest.raises(WorkloadError, match="field 'conv2.weight'.*shape"):
        load_checkpoint(ck)
    del arrays["conv2.weight"]
    np.savez(ck / "weights.npz", **arrays)
    with pytest.raises(WorkloadError, match="missing tensor"):
        load_checkpoint(ck)
    ck = _saved(tmp_path)
    with np.load(ck / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["fc.bias"][0] = np.nan
    np.savez(ck / "weights.npz", **arrays)
    with pytest.raises(WorkloadError, match="NaN"):
        load_checkpoint(ck)
    # a truncated zip
    data = (ck / "weights.npz").read_bytes()
    (ck / "weights.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(WorkloadError, match="weights.npz"):
        load_checkpoint(ck)


def test_save_needs_model_and_scheme(tmp_path):
    with pytest.raises(WorkloadError, match="model"):
        save_checkpoint(tmp_path / "x", torch.nn.Linear(2, 2), {})

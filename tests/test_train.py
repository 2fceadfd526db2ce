"""Training, resume, evaluation, data errors and the CLI (digits runs of a few epochs)."""

import json
import pickle

import numpy as np
import pytest
import torch

from plumsim.cli import main
from plumsim.errors import DataError, PlumsimError
from plumsim.quant import load_checkpoint
from plumsim.quant.data import batches, load_data
from plumsim.quant.recipes import get_recipe
from plumsim.quant.train import layer_stats, train


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


@pytest.mark.parametrize("scheme", ["fp", "binary", "ternary", "signed-binary"])
def test_short_digits_run_beats_chance(scheme, digits, tmp_path):
    res = train(scheme=scheme, epochs=4, out=tmp_path / "ck", progress="none", dataset=digits)
    h = res.history
    assert list(h["epoch"]) == [1, 2, 3, 4]
    assert h["val_acc"].iloc[-1] > 0.8                 # chance is 0.1
    assert h["loss"].iloc[-1] < h["loss"].iloc[0]
    st = layer_stats(res.model)
    if scheme == "fp":
        assert (st["density"] == 1.0).all() and (st["scheme"] == "fp").all()
    else:
        assert list(st["name"]) == ["conv2", "conv3"] and (st["scheme"] == scheme).all()
    if scheme == "signed-binary":
        assert (st["distinct_per_filter_max"] == 1).all() and (st["density"] < 0.7).all()
    if scheme == "binary":
        assert (st["density"] == 1.0).all() and (st["distinct_per_filter_max"] == 2).all()
    # metrics.csv in the checkpoint has a row per epoch and per-layer density columns
    import pandas as pd
    csv = pd.read_csv(tmp_path / "ck" / "metrics.csv")
    assert len(csv) == 4 and {"loss", "train_acc", "val_acc", "density"} <= set(csv.columns)
    if scheme != "fp":
        assert np.isclose(csv["density:conv2"].iloc[-1], st["density"].iloc[0])


def _weights(ck):
    with np.load(ck / "weights.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_resume_gives_bit_identical_weights(tmp_path, digits, capsys):
    kw = dict(scheme="signed-binary", epochs=2, seed=7, progress="none", dataset=digits,
              scheme_options={"positive_fraction": 0.25})
    straight = train(out=tmp_path / "a", **kw)
    # interrupted after 1 epoch, then resumed through the CLI
    part = train(out=tmp_path / "b", stop_after=1, **kw)
    assert part.config["epoch"] == 1 and load_checkpoint(tmp_path / "b")[1]["epoch"] == 1
    # scheme, positive fraction, seed and epochs come from the checkpoint
    rc = main(["train", "--out", str(tmp_path / "b"), "--resume", "--progress", "none"])
    assert rc == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    ha = straight.history
    cfg_b = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg_b["epoch"] == 2 and cfg_b["metrics"]["loss"] == ha["loss"].iloc[-1]
    # a different seed gives different weights (the comparison above can fail)
    other = train(out=None, **{**kw, "seed": 8})
    assert not torch.equal(other.model.conv2.weight, straight.model.conv2.weight)


def test_resume_refuses_other_settings_and_existing_out(tmp_path, digits, capsys):
    train(out=tmp_path / "c", scheme="ternary", epochs=2, stop_after=1, progress="none", dataset=digits)
    with pytest.raises(PlumsimError, match="field 'scheme'"):
        train(out=tmp_path / "c", scheme="binary", epochs=2, resume=True, progress="none", dataset=digits)
    rc = main(["train", "--scheme", "ternary", "--epochs", "2", "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 2 and "--resume" in err and "Traceback" not in err


def _write_cifar(folder, n=12, seed=0, skip=None):
    folder.mkdir(parents=True)
    rng = np.random.RandomState(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        if name == skip:
            continue
        d = {b"data": rng.randint(0, 256, (n, 3072)).astype(np.uint8), b"labels": list(rng.randint(0, 10, n))}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)


@pytest.mark.parametrize("spec,needle", [
    ("cifar10:{tmp}/nope", "CIFAR-10 folder not found"),
    ("cifar10:{tmp}/partial", "data_batch_3: missing file"),
    ("cifar10:{tmp}/garbage", "not a CIFAR-10 python batch"),
    ("cifar10:{tmp}/shape", "expected b'data' [N, 3072]"),
    ("cifar10:", "needs a local folder"),
    ("imagenet:{tmp}/nope", "ImageNet folder not found"),
    ("imagenet:{tmp}/partial", "train: no images"),
    ("imagenet:{tmp}/noval", "val: missing folder"),
    ("mnist", "unknown data set 'mnist'"),
])
def test_bad_data_paths_exit_2_with_clear_message(spec, needle, tmp_path, capsys):
    _write_cifar(tmp_path / "partial", skip="data_batch_3")
    _write_cifar(tmp_path / "garbage")
    (tmp_path / "garbage" / "data_batch_1").write_bytes(b"this is not a pickle")
    _write_cifar(tmp_path / "shape")
    with open(tmp_path / "shape" / "data_batch_2", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f)
    (tmp_path / "partial" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "noval" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "noval" / "train" / "cat" / "a.png").write_bytes(b"")
    spec = spec.format(tmp=tmp_path)
    rc = main(["train", "--data", spec, "--model", "resnet20", "--out", str(tmp_path / "ck")])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "ck").exists()


def test_cifar_layout_trains_resnet20(tmp_path):
    _write_cifar(tmp_path / "cifar" / "cifar-10-batches-py", n=8)
    ds = load_data(f"cifar10:{tmp_path / 'cifar'}")
    assert len(ds.train) == 40 and len(ds.val) == 8 and ds.train.x.shape[1:] == (3, 32, 32)
    x, _ = next(batches(ds.train, 40, shuffle=True, seed=0, epoch=0))
    assert x.shape == (40, 3, 32, 32) and not torch.equal(x, ds.train.x)    # shuffled + augmented
    res = train(model="resnet20", scheme="signed-binary", data=f"cifar10:{tmp_path / 'cifar'}", epochs=1,
                batch_size=20, progress="none", dataset=ds, threads=1)
    assert res.config["recipe"]["name"] == "cifar-resnet" and np.isfinite(res.history["loss"]).all()
    with pytest.raises(PlumsimError, match="3-channel"):
        train(model="resnet20", data="digits", epochs=1, progress="none")


def test_imagenet_folder_loader(tmp_path):
    from PIL import Image

    rng = np.random.RandomState(0)
    for split in ("train", "val"):
        for c in ("ant", "bee", "cow"):
            (tmp_path / split / c).mkdir(parents=True)
            Image.fromarray(rng.randint(0, 255, (40, 60, 3), dtype=np.uint8)).save(tmp_path / split / c / "a.png")
    (tmp_path / "train" / "ant" / "notes.txt").write_text("not an image")
    ds = load_data(f"imagenet:{tmp_path}")
    assert ds.num_classes == 3 and len(ds.train) == 3 and ds.train.y.tolist() == [0, 1, 2]
    x, y = next(batches(ds.val, 2))
    assert x.shape == (2, 3, 224, 224) and y.tolist() == [0, 1]
    (tmp_path / "val" / "cow" / "a.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="cannot read image"):
        list(batches(ds.val, 3))


def test_recipes_follow_the_paper():
    r = get_recipe("cifar-resnet")
    assert (r.epochs, r.lr) == (350, 0.01)
    assert [r.lr_at(e) for e in (0, 149, 150, 199, 200, 320)] == pytest.approx([0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-5])
    short = r.with_overrides(epochs=35)
    assert short.lr_at(14) == 0.01 and short.lr_at(15) == pytest.approx(1e-3)
    i = get_recipe("imagenet-resnet18")
    assert (i.lr, i.weight_decay, i.epochs) == (2e-4, 0.0, 320)
    assert i.lr_at(160) == pytest.approx(1e-4) and i.lr_at(0) == 2e-4


def test_distillation_from_teacher(tmp_path, digits):
    train(scheme="fp", epochs=1, out=tmp_path / "teacher", progress="none", dataset=digits)
    kw = dict(scheme="signed-binary", epochs=1, recipe="imagenet-resnet18", lr=0.01, progress="none",
              dataset=digits)
    with_t = train(teacher=tmp_path / "teacher", out=tmp_path / "s", **kw)
    without = train(**kw)
    assert with_t.config["teacher"].endswith("teacher")
    assert with_t.history["loss"].iloc[0] != without.history["loss"].iloc[0]


def test_evaluate_json_and_lower(tmp_path, digits, capsys):
    res = train(scheme="signed-binary", epochs=2, out=tmp_path / "ck", progress="none", dataset=digits)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "ck"), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["accuracy"] <= 1 and out["accuracy"] == pytest.approx(res.history["val_acc"].iloc[-1])
    assert [l["name"] for l in out["layers"]] == ["conv2", "conv3"]
    assert all(l["distinct_per_filter_max"] == 1 for l in out["layers"])
    assert main(["lower", str(tmp_path / "ck"), "--out", str(tmp_path / "wl")]) == 0
    from plumsim.workload.format import Workload

    wl = Workload.load(tmp_path / "wl")
    lyr = wl.layer("conv2")
    codes, _ = res.model.conv2.weight_codes()
    assert np.array_equal(lyr.codes, codes.numpy()) and lyr.scheme == "signed-binary"
    assert main(["evaluate", str(tmp_path / "nope")]) == 2


def test_experiments_cli(tmp_path, capsys):
    rc = main(["experiment", "equal-nnz", "--seeds", "0", "--epochs", "2", "--format", "json",
               "--runs-csv", str(tmp_path / "runs.csv")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    runs = {r["variant"]: r for r in out["runs"]}
    assert runs["binary-thinned"]["nnz"] == runs["signed-binary"]["nnz"]     # equal non-zeros, per layer
    assert runs["binary"]["density"] == 1.0 and runs["signed-binary"]["density"] < 0.7
    assert all(0.5 < s["acc_mean"] <= 1 for s in out["summary"])
    assert (tmp_path / "runs.csv").read_text().count("\n") == 4
    rc = main(["experiment", "value-assignment", "--seeds", "0", "--epochs", "1", "--fractions", "0,1",
               "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and [s["positive_fraction"] for s in out["summary"]] == [0.0, 1.0]
    rc = main(["experiment", "value-assignment", "--fractions", "2", "--seeds", "0", "--epochs", "1"])
    assert rc == 2 and "positive_fraction" in capsys.readouterr().err

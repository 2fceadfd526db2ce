"""Workload folder format: bit-exact round trip, statistics, and one test per bad input."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from plumsim.errors import WorkloadError
from plumsim.workload import Layer, LayerShape, Workload, synth, workload_stats
from plumsim.workload.format import FORMAT_VERSION

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "workloads" / "cnn-digits.yaml"
R20 = ROOT / "workloads" / "resnet20-cifar10.yaml"


def _mixed_workload() -> Workload:
    """Every scheme, a grouped conv, a linear layer and input samples: exercises every tensor field."""
    rng = np.random.default_rng(7)
    wl = synth(DIGITS, "ternary", seed=3)
    sb = synth(DIGITS, "signed-binary", seed=4, positive_fraction=0.25)
    bi = synth(DIGITS, "binary", seed=5)
    g = LayerShape(N=2, G=4, C=8, K=8, R=3, S=3, X=6, Y=5, stride=2, padding=1)
    codes = rng.integers(-1, 2, size=(8, 2, 3, 3)).astype(np.int8)
    grouped = Layer(name="grouped", kind="conv", scheme="ternary", shape=g, codes=codes,
                    scale=rng.uniform(0.5, 2, 8).astype(np.float32),
                    sign=np.zeros(8, dtype=np.int8),
                    input_sample=rng.standard_normal((1, 8, 6, 5)).astype(np.float32),
                    options={"note": "hand-built", "nested": {"a": [1, 2.5, None]}})
    layers = [wl.layers[0], sb.layers[1], bi.layers[2], wl.layers[2], wl.layers[3], grouped]
    for i, lyr in enumerate(layers):
        lyr.name = f"{lyr.name}-{i}"
    lin = layers[4]
    lin.input_sample = rng.standard_normal((1, lin.shape.C)).astype(np.float32)
    return Workload(name="mixed", layers=layers, meta={"purpose": "test", "n": 3})


def _assert_same(a: Workload, b: Workload) -> None:
    assert a.name == b.name and a.meta == b.meta and len(a) == len(b)
    for x, y in zip(a.layers, b.layers):
        assert (x.name, x.kind, x.scheme, x.shape, x.options) == (y.name, y.kind, y.scheme, y.shape, y.options)
        for f in ("codes", "scale", "sign", "weights", "input_sample"):
            u, v = getattr(x, f), getattr(y, f)
            assert (u is None) == (v is None), f
            if u is not None:
                assert u.dtype == v.dtype and u.shape == v.shape
                assert u.tobytes() == v.tobytes(), f"{x.name}.{f} not bit-exact"


def test_round_trip_bit_exact(tmp_path):
    wl = _mixed_workload()
    wl.save(tmp_path / "w")
    back = Workload.load(tmp_path / "w")
    _assert_same(wl, back)
    # saving what was loaded writes the same tensors and the same manifest
    back.save(tmp_path / "w2")
    m1 = json.loads((tmp_path / "w" / "manifest.json").read_text())
    m2 = json.loads((tmp_path / "w2" / "manifest.json").read_text())
    assert m1 == m2
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["manifest.json", "tensors.npz"]


def test_manifest_is_human_readable_and_complete(tmp_path):
    wl = synth(R20, "signed-binary", seed=1)
    wl.save(tmp_path / "w")
    m = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert m["format"] == "plumsim-workload" and m["format_version"] == FORMAT_VERSION
    entry = m["layers"][1]
    assert entry["shape"] == {"N": 1, "G": 1, "C": 16, "K": 16, "R": 3, "S": 3, "X": 32, "Y": 32,
                              "stride": 1, "padding": 1}
    assert entry["gemm"] == {"groups": 1, "M": 16, "K": 144, "N": 1024}
    lyr = wl.layers[1]
    assert entry["stats"]["nnz"] == lyr.nnz and entry["stats"]["numel"] == 16 * 16 * 9
    assert entry["stats"]["max_unique_nonzero_per_region"] == 1
    assert entry["stats"]["repetition"] == pytest.approx(lyr.nnz / 16)
    assert entry["tensors"]["codes"] == {"key": "layer1.codes", "dtype": "int8", "shape": [16, 16, 3, 3]}
    assert hashlib.sha256((tmp_path / "w" / "tensors.npz").read_bytes()).hexdigest() == m["tensors_sha256"]


def test_stats_mechanisms():
    df = workload_stats(_mixed_workload())
    assert list(df.columns)[:3] == ["name", "kind", "scheme"]
    for _, r in df.iterrows():
        assert r.nnz <= r.numel and r.density == pytest.approx(r.nnz / r.numel)
        assert r.nnz_per_region_min <= r.nnz_per_region_mean <= r.nnz_per_region_max
        assert r.M_gemm * r.K_gemm * r.G == r.numel
    by = df.set_index("scheme")
    assert by.loc["signed-binary", "max_unique_nonzero_per_region"] == 1
    assert by.loc["signed-binary", "single_signed_regions"] == by.loc["signed-binary", "K"] - \
        by.loc["signed-binary", "zero_regions"]
    assert by.loc["binary", "density"] == 1.0
    assert by.loc["binary", "max_unique_nonzero_per_region"] == 2
    # binary with scale 1: every filter has codes +-1 -> repetition = filter length / 2
    assert by.loc["binary", "repetition"] == pytest.approx(by.loc["binary", "K_gemm"] / 2)


def _write(tmp_path, wl=None) -> Path:
    d = tmp_path / "w"
    (wl or synth(DIGITS, "signed-binary", seed=0)).save(d)
    return d


def _edit_manifest(d: Path, fn) -> None:
    m = json.loads((d / "manifest.json").read_text())
    fn(m)
    (d / "manifest.json").write_text(json.dumps(m))


def _edit_tensors(d: Path, fn) -> None:
    """Rewrite tensors.npz with fn(arrays) applied and update the checksum, so the check that fires is
    the content check, not the checksum."""
    with np.load(d / "tensors.npz") as z:
        arrays = {k: z[k] for k in z.files}
    fn(arrays)
    np.savez(d / "tensors.npz", **arrays)
    digest = hashlib.sha256((d / "tensors.npz").read_bytes()).hexdigest()

    def fix(m):
        m["tensors_sha256"] = digest
        for entry in m["layers"]:
            for desc in entry["tensors"].values():
                if desc["key"] in arrays:
                    desc["dtype"] = arrays[desc["key"]].dtype.name
                    desc["shape"] = list(arrays[desc["key"]].shape)
    _edit_manifest(d, fix)


def _load_error(d, *needles) -> WorkloadError:
    with pytest.raises(WorkloadError) as ei:
        Workload.load(d)
    msg = str(ei.value)
    for n in needles:
        assert n in msg, msg
    return ei.value


def test_missing_folder_and_manifest(tmp_path):
    _load_error(tmp_path / "nope", "not found")
    (tmp_path / "empty").mkdir()
    _load_error(tmp_path / "empty", "manifest.json")


def test_manifest_not_json(tmp_path):
    d = _write(tmp_path)
    (d / "manifest.json").write_text('{"format": "plumsim-workload", ')
    e = _load_error(d, "manifest.json", "not valid JSON")
    assert e.path.endswith("manifest.json")


def test_unsupported_version_and_format(tmp_path):
    d = _write(tmp_path)
    _edit_manifest(d, lambda m: m.update(format_version=99))
    _load_error(d, "format_version", "99", "1")
    _edit_manifest(d, lambda m: m.update(format_version=1, format="something-else"))
    _load_error(d, "field 'format'")


def test_missing_and_unknown_keys(tmp_path):
    d = _write(tmp_path)
    _edit_manifest(d, lambda m: m["layers"][1].pop("scheme"))
    _load_error(d, "layers[1].scheme", "missing")
    d2 = _write(tmp_path / "b")
    _edit_manifest(d2, lambda m: m["layers"][0].update(colour="red"))
    _load_error(d2, "colour", "valid keys")


def test_wrong_types(tmp_path):
    d = _write(tmp_path)
    _edit_manifest(d, lambda m: m["layers"][1]["shape"].update(K="16"))
    _load_error(d, "layers[1].shape.K", "integer")
    d2 = _write(tmp_path / "b")
    _edit_manifest(d2, lambda m: m["layers"][1].update(kind="pool"))
    _load_error(d2, "layers[1].kind", "pool", "conv, linear")


def test_shape_disagrees_with_codes(tmp_path):
    d = _write(tmp_path)
    _edit_manifest(d, lambda m: m["layers"][1]["shape"].update(C=8))  # codes are [32, 16, 3, 3]
    _load_error(d, "layers[1].codes", "[32, 16, 3, 3]", "[32, 8, 3, 3]")


def test_codes_out_of_scheme_range(tmp_path):
    d = _write(tmp_path)
    _edit_tensors(d, lambda a: a["layer1.codes"].__setitem__((0, 0, 0, 0), 3))
    _load_error(d, "layers[1].codes", "code 3", "signed-binary")


def test_binary_has_no_zeros(tmp_path):
    d = _write(tmp_path, synth(DIGITS, "binary", seed=0))
    _edit_tensors(d, lambda a: a["layer2.codes"].__setitem__((5, 0, 1, 1), 0))
    _load_error(d, "layers[2].codes", "code 0", "binary")


def test_signed_binary_region_must_be_single_signed(tmp_path):
    d = _write(tmp_path)

    def flip(a):
        c = a["layer1.codes"]
        o = int(np.argwhere(a["layer1.sign"] == 1)[0][0])
        c[o].reshape(-1)[0] = -1  # a negative value inside a positive filter
    _edit_tensors(d, flip)
    _load_error(d, "layers[1].codes", "single-signed")


def test_signed_binary_sign_must_be_plus_or_minus(tmp_path):
    d = _write(tmp_path)
    _edit_tensors(d, lambda a: a["layer2.sign"].__setitem__(3, 0))
    _load_error(d, "layers[2].sign", "sign[3] = 0")


def test_nan_and_inf(tmp_path):
    d = _write(tmp_path)
    _edit_tensors(d, lambda a: a["layer0.weights"].__setitem__((0, 0, 0, 0), np.nan))
    _load_error(d, "layers[0].weights", "NaN")
    d2 = _write(tmp_path / "b")
    _edit_tensors(d2, lambda a: a["layer1.scale"].__setitem__(0, np.inf))
    _load_error(d2, "layers[1].scale", "NaN or inf")


def test_wrong_dtype(tmp_path):
    d = _write(tmp_path)
    _edit_tensors(d, lambda a: a.__setitem__("layer1.codes", a["layer1.codes"].astype(np.int32)))
    _load_error(d, "layers[1].codes", "int8", "int32")


def test_truncated_npz(tmp_path):
    d = _write(tmp_path)
    data = (d / "tensors.npz").read_bytes()
    (d / "tensors.npz").write_bytes(data[: len(data) // 2])
    e = _load_error(d, "tensors.npz", "truncated")
    assert e.path.endswith("tensors.npz")


def test_corrupt_npz_with_matching_checksum(tmp_path):
    """A file that is not a zip at all, but whose checksum was recorded: the npz reader's error."""
    d = _write(tmp_path)
    (d / "tensors.npz").write_bytes(b"this is not a zip file" * 10)
    digest = hashlib.sha256((d / "tensors.npz").read_bytes()).hexdigest()
    _edit_manifest(d, lambda m: m.update(tensors_sha256=digest))
    _load_error(d, "tensors.npz", "cannot read .npz")


def test_corrupt_member_inside_npz(tmp_path):
    """A zip whose member is not a valid .npy: named by its key."""
    d = _write(tmp_path)
    with np.load(d / "tensors.npz") as z:
        arrays = {k: z[k] for k in z.files}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in arrays.items():
            b = io.BytesIO()
            np.save(b, v)
            zf.writestr(k + ".npy", b.getvalue() if k != "layer1.codes" else b"\x93NUMPY garbage")
    (d / "tensors.npz").write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    _edit_manifest(d, lambda m: m.update(tensors_sha256=digest))
    _load_error(d, "tensors.npz", "layer1.codes")


def test_missing_npz_and_missing_array(tmp_path):
    d = _write(tmp_path)
    _edit_tensors(d, lambda a: a.pop("layer2.scale"))
    _load_error(d, "layer2.scale", "not in the file")
    (d / "tensors.npz").unlink()
    _load_error(d, "tensors.npz", "missing")


def test_stats_must_match_tensors(tmp_path):
    d = _write(tmp_path)
    _edit_manifest(d, lambda m: m["layers"][1]["stats"].update(nnz=1))
    _load_error(d, "layers[1].stats.nnz")


def test_save_rejects_invalid_layers(tmp_path):
    wl = synth(DIGITS, "ternary", seed=0)
    wl.layers[1].codes = wl.layers[1].codes.astype(np.int16)
    with pytest.raises(WorkloadError, match=r"layers\[1\]\.codes.*int8"):
        wl.save(tmp_path / "w")
    wl = synth(DIGITS, "ternary", seed=0)
    wl.layers[2].name = wl.layers[1].name
    with pytest.raises(WorkloadError, match="duplicate"):
        wl.save(tmp_path / "w")
    wl = synth(DIGITS, "ternary", seed=0)
    wl.meta["bad"] = object()
    with pytest.raises(WorkloadError, match="JSON"):
        wl.save(tmp_path / "w")
    assert not (tmp_path / "w" / "manifest.json").exists()


def test_overwrite_leaves_no_temp_files(tmp_path):
    d = _write(tmp_path)
    synth(DIGITS, "binary", seed=9).save(d)
    assert sorted(p.name for p in d.iterdir()) == ["manifest.json", "tensors.npz"]
    assert Workload.load(d).layers[1].scheme == "binary"

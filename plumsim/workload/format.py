"""The on-disk workload format: a folder with ``manifest.json`` (human readable) + ``tensors.npz``.

numpy only. Layout of ``manifest.json`` (format version 1)::

    {"format": "plumsim-workload", "format_version": 1, "name": str, "meta": {...},
     "tensors_file": "tensors.npz", "tensors_sha256": hex digest of tensors.npz,
     "layers": [{"name", "kind", "scheme", "shape": {N,G,C,K,R,S,X,Y,stride,padding}, "options": {...},
                 "gemm": {"groups", "M", "K", "N"},           # the GEMM view, derived, for humans
                 "tensors": {FIELD: {"key", "dtype", "shape"}},  # FIELD in codes/scale/sign/weights/input_sample
                 "stats": {density, nnz, numel, nnz_per_region_min/mean/max, ...}}]}   # see stats.py

``tensors.npz`` holds, per layer i, ``layer<i>.codes`` (int8 [K, C/G, R, S]; quantized layers),
``layer<i>.scale`` (float32 [K]), ``layer<i>.sign`` (int8 [K]), ``layer<i>.weights`` (float32
[K, C/G, R, S]; fp layers) and optionally ``layer<i>.input_sample`` (float32 [n <= N, C, X, Y], linear
[n, C]). No pickles. :meth:`Workload.save` writes both files atomically (temp file + rename; the manifest
is renamed last and carries the npz checksum, so an interrupted write is detected on load).
:meth:`Workload.load` validates everything and raises :class:`~plumsim.errors.WorkloadError` naming
the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plumsim.errors import WorkloadError
from plumsim.fileio import AtomicFiles
from plumsim.workload.layer import KINDS, Layer, LayerShape
from plumsim.workload.schemes import SCHEME_CODES
from plumsim.workload.stats import layer_stats

FORMAT_NAME = "plumsim-workload"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MANIFEST = "manifest.json"
TENSORS = "tensors.npz"

SHAPE_FIELDS = ("N", "G", "C", "K", "R", "S", "X", "Y", "stride", "padding")
TENSOR_FIELDS = ("codes", "scale", "sign", "weights", "input_sample")
TOP_KEYS = ("format", "format_version", "name", "meta", "tensors_file", "tensors_sha256", "layers")
LAYER_KEYS = ("name", "kind", "scheme", "shape", "options", "gemm", "tensors", "stats")
_DTYPES = {"codes": np.int8, "scale": np.float32, "sign": np.int8, "weights": np.float32,
           "input_sample": np.float32}


@dataclass
class Workload:
    """A named list of :class:`Layer` plus free-form JSON metadata (``meta``: source model, scheme,
    seed, ...)."""

    name: str
    layers: list[Layer]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        for lyr in self.layers:
            if lyr.name == name:
                return lyr
        raise KeyError(name)

    def stats(self):
        """Per-layer statistics DataFrame (see :func:`plumsim.workload.stats.workload_stats`)."""
        from plumsim.workload.stats import workload_stats

        return workload_stats(self)

    # ------------------------------------------------------------------ save
    def save(self, directory: str | Path) -> Path:
        """Write ``manifest.json`` + ``tensors.npz`` into ``directory`` (created if missing). Returns it."""
        d = Path(directory)
        _check_str(self.name, "name", d / MANIFEST)
        names = set()
        for i, lyr in enumerate(self.layers):
            validate_layer(lyr, path=d / MANIFEST, where=f"layers[{i}]")
            if lyr.name in names:
                raise WorkloadError(f"duplicate layer name {lyr.name!r}", path=d / MANIFEST,
                                    field=f"layers[{i}].name")
            names.add(lyr.name)
        arrays: dict[str, np.ndarray] = {}
        entries = []
        for i, lyr in enumerate(self.layers):
            tensors = {}
            for fname in TENSOR_FIELDS:
                arr = getattr(lyr, fname)
                if arr is None:
                    continue
                key = f"layer{i}.{fname}"
                arrays[key] = np.ascontiguousarray(arr, dtype=_DTYPES[fname])
                tensors[fname] = {"key": key, "dtype": np.dtype(_DTYPES[fname]).name,
                                  "shape": list(arrays[key].shape)}
            s = lyr.shape
            entries.append({
                "name": lyr.name, "kind": lyr.kind, "scheme": lyr.scheme, "shape": s.as_dict(),
                "options": lyr.options,
                "gemm": {"groups": s.G, "M": s.M_gemm, "K": s.K_gemm, "N": s.N_gemm},
                "tensors": tensors, "stats": layer_stats(lyr),
            })
        manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": self.name,
                    "meta": self.meta, "tensors_file": TENSORS, "tensors_sha256": "", "layers": entries}
        try:
            json.dumps(manifest, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise WorkloadError(f"meta/options must be plain JSON values (no NaN): {exc}",
                                path=d / MANIFEST, field="meta/options") from None
        # Both files are staged whole before either replaces anything, so a full or read-only disk leaves
        # the folder as it was (a new one is not created; StorageError names the file). Tensors are renamed
        # first, manifest last: the manifest carries the tensors' checksum, so a crash between the two
        # renames is detected on load.
        with AtomicFiles() as batch:
            staged = batch.stage(d / TENSORS, lambda fh: np.savez_compressed(fh, **arrays))
            manifest["tensors_sha256"] = _sha256(staged)
            batch.stage(d / MANIFEST, lambda fh: fh.write(
                (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode()))
        return d

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, directory: str | Path) -> "Workload":
        """Read and validate a workload folder written by :meth:`save`."""
        d = Path(directory)
        man_path = d / MANIFEST
        if not d.is_dir():
            raise WorkloadError("workload folder not found", path=d)
        if not man_path.is_file():
            raise WorkloadError(f"no {MANIFEST} in the workload folder (is this a workload written by "
                                "`plumsim lower` or `plumsim workload synth`?)", path=man_path)
        try:
            manifest = json.loads(man_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WorkloadError(f"not valid JSON: {exc}", path=man_path) from None
        if not isinstance(manifest, dict):
            raise WorkloadError("expected a JSON object at top level", path=man_path)
        _check_keys(manifest, TOP_KEYS, man_path, "")
        if manifest["format"] != FORMAT_NAME:
            raise WorkloadError(f"expected {FORMAT_NAME!r}, got {manifest['format']!r}", path=man_path,
                                field="format")
        ver = manifest["format_version"]
        if not isinstance(ver, int) or isinstance(ver, bool) or ver not in SUPPORTED_VERSIONS:
            raise WorkloadError(f"unsupported format version {ver!r}; this plumsim reads "
                                f"{', '.join(map(str, SUPPORTED_VERSIONS))}", path=man_path,
                                field="format_version")
        _check_str(manifest["name"], "name", man_path)
        if not isinstance(manifest["meta"], dict):
            raise WorkloadError("expected an object", path=man_path, field="meta")
        if manifest["tensors_file"] != TENSORS:
            raise WorkloadError(f"expected {TENSORS!r}", path=man_path, field="tensors_file")
        if not isinstance(manifest["layers"], list) or not manifest["layers"]:
            raise WorkloadError("expected a non-empty list of layers", path=man_path, field="layers")
        npz_path = d / TENSORS
        if not npz_path.is_file():
            raise WorkloadError("tensor file missing", path=npz_path)
        if _sha256(npz_path) != manifest["tensors_sha256"]:
            raise WorkloadError("checksum does not match manifest.json's tensors_sha256 (file truncated, "
                                "corrupted or from another workload)", path=npz_path)
        try:
            npz = np.load(npz_path, allow_pickle=False)
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError...
            raise WorkloadError(f"cannot read .npz: {exc}", path=npz_path) from None
        layers = []
        names = set()
        with npz:
            for i, entry in enumerate(manifest["layers"]):
                lyr = _layer_from_entry(entry, npz, man_path, npz_path, f"layers[{i}]")
                if lyr.name in names:
                    raise WorkloadError(f"duplicate layer name {lyr.name!r}", path=man_path,
                                        field=f"layers[{i}].name")
                names.add(lyr.name)
                layers.append(lyr)
        return cls(name=manifest["name"], layers=layers, meta=manifest["meta"])


# ---------------------------------------------------------------------------------------------- helpers
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_str(value, name, path, where=""):
    if not isinstance(value, str) or not value:
        raise WorkloadError(f"expected a non-empty string, got {value!r}", path=path, field=where + name)


def _check_keys(obj: dict, valid: tuple, path, where: str):
    unknown = [k for k in obj if k not in valid]
    if unknown:
        raise WorkloadError(f"unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}", path=path,
                            field=where + str(unknown[0]))
    missing = [k for k in valid if k not in obj]
    if missing:
        raise WorkloadError("missing", path=path, field=where + missing[0])


def shape_from_dict(d, path, where: str) -> LayerShape:
    """Build a :class:`LayerShape` from a dict of ints, checking every field (positive ints, groups
    divide C and K, kernel fits the padded input)."""
    if not isinstance(d, dict):
        raise WorkloadError("expected an object with " + ", ".join(SHAPE_FIELDS), path=path, field=where)
    _check_keys(d, SHAPE_FIELDS, path, where + ".")
    for k in SHAPE_FIELDS:
        v = d[k]
        lo = 0 if k == "padding" else 1
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise WorkloadError(f"expected an integer >= {lo}, got {v!r}", path=path, field=f"{where}.{k}")
    s = LayerShape(**{k: int(d[k]) for k in SHAPE_FIELDS})
    if s.C % s.G or s.K % s.G:
        raise WorkloadError(f"groups G={s.G} must divide C={s.C} and K={s.K}", path=path, field=f"{where}.G")
    if s.R > s.X + 2 * s.padding or s.S > s.Y + 2 * s.padding:
        raise WorkloadError(f"kernel {s.R}x{s.S} larger than the padded input "
                            f"{s.X + 2 * s.padding}x{s.Y + 2 * s.padding}", path=path, field=f"{where}.R")
    return s


def _checked_layer_shape(lyr: Layer, path, where: str) -> LayerShape:
    """Check a layer's name, kind, scheme, shape (a linear layer is 1x1 on a 1x1 input, stride 1, no
    padding, one group) and options mapping; gives the checked :class:`LayerShape`."""
    _check_str(lyr.name, "name", path, where + ".")
    if lyr.kind not in KINDS:
        raise WorkloadError(f"unknown kind {lyr.kind!r}; valid: {', '.join(KINDS)}", path=path,
                            field=f"{where}.kind")
    _check_str(lyr.scheme, "scheme", path, where + ".")
    if not isinstance(lyr.shape, LayerShape):
        raise WorkloadError("expected a LayerShape", path=path, field=f"{where}.shape")
    s = shape_from_dict(lyr.shape.as_dict(), path, f"{where}.shape")
    if lyr.kind == "linear" and (s.R, s.S, s.X, s.Y, s.stride, s.padding, s.G) != (1, 1, 1, 1, 1, 0, 1):
        raise WorkloadError("a linear layer has R=S=X=Y=stride=G=1 and padding=0", path=path,
                            field=f"{where}.shape")
    if not isinstance(lyr.options, dict):
        raise WorkloadError("expected an object", path=path, field=f"{where}.options")
    return s


def _checked_array(lyr: Layer, fname: str, shape, required: bool, path, where: str):
    """The layer's tensor ``fname`` checked: a numpy array of its dtype (:data:`_DTYPES`), of ``shape``
    (when not None), finite when float; gives it, or None when absent and not ``required``."""
    a = getattr(lyr, fname)
    f = f"{where}.{fname}"
    if a is None:
        if required:
            raise WorkloadError("missing" + (" (fp layers carry weights)" if fname == "weights" else ""),
                                path=path, field=f)
        return None
    if not isinstance(a, np.ndarray):
        raise WorkloadError(f"expected a numpy array, got {type(a).__name__}", path=path, field=f)
    if a.dtype != _DTYPES[fname]:
        raise WorkloadError(f"expected dtype {np.dtype(_DTYPES[fname]).name}, got {a.dtype}", path=path,
                            field=f)
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise WorkloadError(f"shape {list(a.shape)} does not match the layer shape: expected "
                            f"{list(shape)}", path=path, field=f)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise WorkloadError("contains NaN or inf", path=path, field=f)
    return a


def _checked_tensors(lyr: Layer, s: LayerShape, path, where: str):
    """Check the layer's tensors against its shape ``s``: codes (quantized) or weights (fp) [K, C/G, R, S],
    scale and sign [K], an optional input sample [n <= N, C(, X, Y)]; scale >= 0, sign in {-1, 0, +1}.
    Gives (codes or None, scale, sign)."""
    wshape = (s.K, s.C // s.G, s.R, s.S)
    fp = lyr.scheme == "fp"
    if fp and lyr.codes is not None:
        raise WorkloadError("fp layers have no codes (they carry weights)", path=path, field=f"{where}.codes")
    if not fp and lyr.weights is not None:
        raise WorkloadError("quantized layers carry codes, not weights", path=path, field=f"{where}.weights")
    codes = _checked_array(lyr, "codes", wshape, not fp, path, where)
    _checked_array(lyr, "weights", wshape, fp, path, where)
    scale = _checked_array(lyr, "scale", (s.K,), True, path, where)
    sign = _checked_array(lyr, "sign", (s.K,), True, path, where)
    sample = _checked_array(lyr, "input_sample", None, False, path, where)
    if sample is not None:
        want = (s.C,) if lyr.kind == "linear" else (s.C, s.X, s.Y)
        if sample.ndim != 1 + len(want) or tuple(sample.shape[1:]) != want or not 1 <= sample.shape[0] <= s.N:
            raise WorkloadError(f"shape {list(sample.shape)} does not match the layer shape: expected "
                                f"[n <= {s.N}, {', '.join(map(str, want))}]", path=path,
                                field=f"{where}.input_sample")
    if (scale < 0).any():
        raise WorkloadError(f"scale must be >= 0, got {float(scale.min())}", path=path, field=f"{where}.scale")
    if not np.isin(sign, (-1, 0, 1)).all():
        raise WorkloadError("sign must be -1, 0 or +1 per filter", path=path, field=f"{where}.sign")
    return codes, scale, sign


def _check_alphabet(lyr: Layer, flat: np.ndarray, path, where: str) -> None:
    """Every code (``flat``: the codes as [K, C/G*R*S]) lies in the scheme's alphabet (thinned binary
    may hold zeros); a scheme outside :data:`SCHEME_CODES` is not checked."""
    if lyr.scheme in SCHEME_CODES:
        allowed = SCHEME_CODES[lyr.scheme]
        if lyr.scheme == "binary" and _thinned(lyr.options):
            allowed = (-1, 0, 1)  # thinned binary (plumsim.quant's keep_fraction < 1) keeps zeros
        bad = ~np.isin(flat, allowed)
        if bad.any():
            o, j = np.argwhere(bad)[0]
            raise WorkloadError(f"code {int(flat[o, j])} in filter {o} is outside the {lyr.scheme} alphabet "
                                f"{{{', '.join(map(str, allowed))}}}", path=path, field=f"{where}.codes")


def _check_signs(lyr: Layer, flat: np.ndarray, sign: np.ndarray, has_codes: bool, path, where: str) -> None:
    """Signed-binary filters are +1 or -1; every filter's non-zeros (``flat``: codes or weights as [K, ...])
    agree with its sign (+1: none negative, -1: none positive)."""
    if lyr.scheme == "signed-binary":
        if not np.isin(sign, (-1, 1)).all():
            o = int(np.argwhere(~np.isin(sign, (-1, 1)))[0][0])
            raise WorkloadError(f"signed-binary filters are positive or negative: sign[{o}] = {int(sign[o])}",
                                path=path, field=f"{where}.sign")
    # every non-zero of a single-signed region has that region's sign
    pos = (flat > 0).any(axis=1)
    neg = (flat < 0).any(axis=1)
    wrong = ((sign == 1) & neg) | ((sign == -1) & pos)
    if wrong.any():
        o = int(np.argwhere(wrong)[0][0])
        what = "single-signed" if lyr.scheme == "signed-binary" else "consistent with sign"
        raise WorkloadError(f"filter {o} is not {what}: sign[{o}] = {int(sign[o])} but it has "
                            f"{'negative' if sign[o] == 1 else 'positive'} values", path=path,
                            field=f"{where}.codes" if has_codes else f"{where}.weights")


def validate_layer(lyr: Layer, path, where: str) -> None:
    """Check one in-memory layer: kind, shape, dtypes and shapes of its tensors, finite values, codes
    within the scheme's alphabet, sign consistent with the codes. Raises :class:`WorkloadError`."""
    s = _checked_layer_shape(lyr, path, where)
    codes, scale, sign = _checked_tensors(lyr, s, path, where)
    src = codes if codes is not None else lyr.weights
    flat = src.reshape(s.K, -1)
    if codes is not None:
        _check_alphabet(lyr, flat, path, where)
    _check_signs(lyr, flat, sign, codes is not None, path, where)


def _thinned(options: dict) -> bool:
    kf = options.get("quantizer_options", {}).get("keep_fraction") if isinstance(
        options.get("quantizer_options"), dict) else None
    return isinstance(kf, (int, float)) and kf < 1


def check_manifest_scheme(entry: dict, man_path, where: str) -> None:
    """A layer's ``scheme`` must be a known one (:func:`plumsim.workload.schemes.known_schemes`), so a typo ('tenary') is not run
    with only the generic checks. A user's own quantizer's scheme is accepted when the layer says that
    quantizer declared it (``options.detection.source`` 'module' or 'declared', as lowering writes)."""
    scheme = entry.get("scheme")
    name = entry.get("name")
    if not isinstance(scheme, str) or not scheme:
        raise WorkloadError(f"layer {name!r}: expected a scheme name, got {scheme!r}", path=man_path,
                            field=f"{where}.scheme")
    from plumsim.workload.schemes import known_schemes

    known = known_schemes()
    if scheme in known:
        return
    det = entry.get("options", {}).get("detection") if isinstance(entry.get("options"), dict) else None
    if isinstance(det, dict) and det.get("source") in ("module", "declared") and det.get("scheme") == scheme:
        return
    raise WorkloadError(f"layer {name!r}: unknown scheme {scheme!r}; known: {', '.join(known)} (a user "
                        "quantizer's own scheme is accepted when the layer records options.detection.source "
                        "'module', as plumsim lower writes)", path=man_path, field=f"{where}.scheme")


def _layer_from_entry(entry, npz, man_path, npz_path, where) -> Layer:
    if not isinstance(entry, dict):
        raise WorkloadError("expected an object", path=man_path, field=where)
    _check_keys(entry, LAYER_KEYS, man_path, where + ".")
    _check_str(entry["name"], "name", man_path, where + ".")
    shape = shape_from_dict(entry["shape"], man_path, f"{where}.shape")
    if not isinstance(entry["options"], dict):
        raise WorkloadError("expected an object", path=man_path, field=f"{where}.options")
    tensors = entry["tensors"]
    if not isinstance(tensors, dict):
        raise WorkloadError("expected an object", path=man_path, field=f"{where}.tensors")
    unknown = [k for k in tensors if k not in TENSOR_FIELDS]
    if unknown:
        raise WorkloadError(f"unknown tensor {unknown[0]!r}; valid: {', '.join(TENSOR_FIELDS)}", path=man_path,
                            field=f"{where}.tensors")
    got = {}
    for fname, desc in tensors.items():
        f = f"{where}.tensors.{fname}"
        if not isinstance(desc, dict) or not isinstance(desc.get("key"), str):
            raise WorkloadError("expected an object with key, dtype, shape", path=man_path, field=f)
        key = desc["key"]
        if key not in npz.files:
            raise WorkloadError(f"array {key!r} named in manifest.json is not in the file", path=npz_path,
                                field=key)
        try:
            a = npz[key]
        except Exception as exc:  # truncated / corrupt member
            raise WorkloadError(f"cannot read array: {exc}", path=npz_path, field=key) from None
        if desc.get("dtype") != a.dtype.name or desc.get("shape") != list(a.shape):
            raise WorkloadError(f"manifest says {desc.get('dtype')} {desc.get('shape')}, file has "
                                f"{a.dtype.name} {list(a.shape)}", path=npz_path, field=key)
        got[fname] = a
    check_manifest_scheme(entry, man_path, where)
    lyr = Layer(name=entry["name"], kind=entry["kind"], scheme=entry["scheme"], shape=shape,
                codes=got.get("codes"), scale=got.get("scale"), sign=got.get("sign"),
                weights=got.get("weights"), input_sample=got.get("input_sample"), options=entry["options"])
    validate_layer(lyr, man_path, where)
    stats = entry["stats"]
    if not isinstance(stats, dict):
        raise WorkloadError("expected an object", path=man_path, field=f"{where}.stats")
    fresh = layer_stats(lyr)
    for k in ("nnz", "numel"):
        if stats.get(k) != fresh[k]:
            raise WorkloadError(f"{k} = {stats.get(k)!r} but the tensors give {fresh[k]}", path=man_path,
                                field=f"{where}.stats.{k}")
    if not isinstance(stats.get("density"), (int, float)) or not math.isclose(stats["density"],
                                                                             fresh["density"], abs_tol=1e-9):
        raise WorkloadError(f"density = {stats.get('density')!r} but the tensors give {fresh['density']}",
                            path=man_path, field=f"{where}.stats.density")
    return lyr

"""Checkpoints: a directory, no pickles, written atomically.

Layout of ``CKPT/``:

- ``config.json``: {"format": "plumsim-checkpoint", "format_version": 1, "plumsim_version",
  "model", "scheme", "options" (model + scheme options), "layer_schemes" (per-layer overrides),
  plus whatever the caller adds (data, epoch, metrics, recipe...)}.
- ``weights.npz``: the model's state_dict, one numpy array per key (``np.load(allow_pickle=False)``).
- ``state.json`` + ``state.npz`` (only with ``extra_state``): nested training state (optimizer,
  scheduler, RNG), tensors/arrays in the npz, the structure in JSON.
- any ``extra_files`` (e.g. ``metrics.csv``).

Atomic: everything is written into a temporary sibling directory, fsync'ed, then swapped in with
``os.replace`` (the old directory is renamed aside first and removed after), so a reader never sees
a half-written checkpoint.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import numpy as np
import torch

from plumsim import __version__
from plumsim.errors import PlumsimError, StorageError, WorkloadError
from plumsim.fileio import fsync_dir, make_dirs, remove_empty_dirs

FORMAT = "plumsim-checkpoint"
FORMAT_VERSION = 1


# ---------------------------------------------------------------- nested state <-> JSON + arrays
def _encode(obj, arrays: dict, prefix: str):
    """Turn nested dict/list/tuple/tensor/array/scalars into JSON, moving arrays into ``arrays``."""
    if isinstance(obj, torch.Tensor):
        key = f"a{len(arrays)}"
        t = obj.detach().cpu()
        arrays[key] = t.numpy()
        return {"__tensor__": key, "dtype": str(t.dtype).replace("torch.", "")}
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"{prefix}: dict key {k!r} must be str or int")
            items.append([k, _encode(v, arrays, f"{prefix}.{k}")])
        return {"__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, prefix) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays, prefix) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{prefix}: cannot store {type(obj).__name__} without pickles")


def _decode(obj, arrays, path):
    if isinstance(obj, list):
        return [_decode(v, arrays, path) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            arr = _array(arrays, obj["__tensor__"], path)
            return torch.from_numpy(np.array(arr)).to(getattr(torch, obj.get("dtype", "float32")))
        if "__ndarray__" in obj:
            return np.array(_array(arrays, obj["__ndarray__"], path))
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays, path) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: _decode(v, arrays, path) for k, v in obj["__dict__"]}
        raise WorkloadError(f"unexpected object {sorted(obj)}", path=path, field="state")
    return obj


def _array(arrays, key, path):
    if key not in arrays:
        raise WorkloadError(f"array '{key}' referenced by state.json is missing from state.npz",
                            path=path, field=key)
    return arrays[key]


# ---------------------------------------------------------------- atomic writing
def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def save_checkpoint(path, model: torch.nn.Module, config: dict, extra_state: dict | None = None,
                    extra_files: dict[str, str | bytes] | None = None) -> Path:
    """Write checkpoint directory ``path`` atomically; returns it.

    ``config`` is merged over ``model.plumsim_spec`` (set by :func:`build_model`), so it must end up
    with "model" and "scheme". ``extra_state``: nested dict of tensors/arrays/scalars (optimizer,
    scheduler, RNG state) stored as state.json + state.npz. ``extra_files``: name -> text/bytes.
    """
    path = Path(path)
    cfg = dict(getattr(model, "plumsim_spec", {}) or {})
    cfg.update(config or {})
    for key in ("model", "scheme"):
        if key not in cfg:
            raise WorkloadError("checkpoint config needs this field (build the model with build_model "
                                "or pass it in config)", path=path, field=key)
    cfg.update(format=FORMAT, format_version=FORMAT_VERSION, plumsim_version=__version__)
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    files = {"config.json": json.dumps(cfg, indent=2, sort_keys=True, allow_nan=True).encode(),
             "weights.npz": _npz_bytes(weights)}
    if extra_state is not None:
        arrays: dict = {}
        files["state.json"] = json.dumps(_encode(extra_state, arrays, "extra_state")).encode()
        files["state.npz"] = _npz_bytes(arrays)
    for name, data in (extra_files or {}).items():
        files[name] = data.encode() if isinstance(data, str) else bytes(data)

    parent = path.parent
    created = make_dirs(parent)  # StorageError naming the folder that cannot be made
    tag = uuid.uuid4().hex[:8]
    tmp = parent / f".{path.name}.tmp-{tag}"
    old = parent / f".{path.name}.old-{tag}"
    try:
        tmp.mkdir()
        for name, data in files.items():
            _write_bytes(tmp / name, data)
        fsync_dir(tmp)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        remove_empty_dirs(created)
        if isinstance(exc, OSError):  # disk full, read-only, no permission: one line naming the checkpoint
            raise StorageError(path, exc) from exc
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


# ---------------------------------------------------------------- loading with validation
def read_config(path) -> dict:
    """Read and validate ``CKPT/config.json``; raises WorkloadError naming the file and field."""
    path = Path(path)
    if not path.is_dir():
        left = sorted(path.parent.glob(f".{path.name}.old-*")) if path.parent.is_dir() else []
        hint = (f"; an interrupted save left the previous checkpoint in {left[-1]}: rename it to {path.name}"
                if left else "")
        raise WorkloadError("checkpoint directory not found (expected a folder with config.json and "
                            "weights.npz)" + hint, path=path)
    cfile = path / "config.json"
    if not cfile.is_file():
        raise WorkloadError("missing file (a checkpoint folder holds config.json and weights.npz)", path=cfile)
    try:
        cfg = json.loads(cfile.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"not valid JSON: {exc}", path=cfile) from None
    if not isinstance(cfg, dict):
        raise WorkloadError("expected a JSON object", path=cfile)
    if cfg.get("format") != FORMAT:
        raise WorkloadError(f"expected '{FORMAT}', got {cfg.get('format')!r}", path=cfile, field="format")
    if not isinstance(cfg.get("format_version"), int) or cfg["format_version"] > FORMAT_VERSION:
        raise WorkloadError(f"unsupported version {cfg.get('format_version')!r}; this plumsim reads "
                            f"up to {FORMAT_VERSION}", path=cfile, field="format_version")
    for key in ("model", "scheme"):
        if not isinstance(cfg.get(key), str):
            raise WorkloadError(f"missing or not a string: {cfg.get(key)!r}", path=cfile, field=key)
    for key in ("options", "layer_schemes"):
        if not isinstance(cfg.get(key, {}), dict):
            raise WorkloadError("must be an object", path=cfile, field=key)
    _check_values(cfg, cfile)
    return cfg


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_values(cfg: dict, cfile: Path) -> None:
    """Range checks of the fields plumsim reads back: model options (width, num_classes >= 1,
    input_clamp > 0, positive_fraction in [0, 1]), epoch (0..epochs), epochs and recipe.epochs (>= 1),
    seed. A field that is absent is not checked (older checkpoints)."""
    opts = cfg.get("options", {})
    for key in ("width", "num_classes"):
        if key in opts and not (_is_int(opts[key]) and opts[key] >= 1):
            raise WorkloadError(f"expected an integer >= 1, got {opts[key]!r}", path=cfile, field=f"options.{key}")
    if opts.get("input_clamp") is not None and not (_is_number(opts["input_clamp"]) and opts["input_clamp"] > 0):
        raise WorkloadError(f"expected a number > 0 or null, got {opts['input_clamp']!r}", path=cfile,
                            field="options.input_clamp")
    if "positive_fraction" in opts and not (_is_number(opts["positive_fraction"])
                                            and 0 <= opts["positive_fraction"] <= 1):
        raise WorkloadError(f"expected a number in [0, 1], got {opts['positive_fraction']!r}", path=cfile,
                            field="options.positive_fraction")
    if "seed" in cfg and not _is_int(cfg["seed"]):
        raise WorkloadError(f"expected an integer, got {cfg['seed']!r}", path=cfile, field="seed")
    rec = cfg.get("recipe")
    if rec is not None and not isinstance(rec, dict):
        raise WorkloadError(f"expected an object, got {rec!r}", path=cfile, field="recipe")
    limits = []
    for where, holder in (("epochs", cfg), ("recipe.epochs", rec or {})):
        key = where.rsplit(".", 1)[-1]
        if key in holder:
            if not (_is_int(holder[key]) and holder[key] >= 1):
                raise WorkloadError(f"expected an integer >= 1, got {holder[key]!r}", path=cfile, field=where)
            limits.append((where, holder[key]))
    if "epoch" in cfg:
        ep = cfg["epoch"]
        if not (_is_int(ep) and ep >= 0):
            raise WorkloadError(f"expected an integer >= 0 (epochs done), got {ep!r}", path=cfile, field="epoch")
        for where, n in limits:
            if ep > n:
                raise WorkloadError(f"epoch {ep} is beyond the run's {where} = {n}: not a checkpoint of this "
                                    "run (a finished run has epoch == epochs)", path=cfile, field="epoch")


def _load_npz(file: Path) -> dict[str, np.ndarray]:
    if not file.is_file():
        raise WorkloadError("missing file", path=file)
    try:
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise WorkloadError(f"corrupt or unreadable .npz ({type(exc).__name__}: {exc})", path=file) from None


def load_checkpoint(path) -> tuple[torch.nn.Module, dict]:
    """Rebuild the model from ``config.json`` via build_model and load ``weights.npz`` into it.

    Returns (model in eval mode, config dict). Raises WorkloadError naming the file and field for a
    missing/corrupt file, an unknown model or scheme, a missing/extra/misshaped tensor or a NaN.
    """
    from plumsim.quant.models import build_model, set_layer_scheme

    path = Path(path)
    cfg = read_config(path)
    cfile = path / "config.json"
    try:
        model = build_model(cfg["model"], scheme=cfg["scheme"], **cfg.get("options", {}))
        for lname, spec in cfg.get("layer_schemes", {}).items():
            set_layer_scheme(model, lname, spec["scheme"], **spec.get("options", {}))
    except PlumsimError as exc:
        raise WorkloadError(exc.detail, path=cfile, field=exc.field) from None
    except (KeyError, TypeError) as exc:
        raise WorkloadError(f"invalid layer scheme entry: {exc}", path=cfile, field="layer_schemes") from None
    wfile = path / "weights.npz"
    arrays = _load_npz(wfile)
    expected = model.state_dict()
    missing = [k for k in expected if k not in arrays]
    extra = [k for k in arrays if k not in expected]
    if missing:
        raise WorkloadError(f"missing tensor(s) {missing[:5]} for model '{cfg['model']}'", path=wfile,
                            field=missing[0])
    if extra:
        raise WorkloadError(f"unexpected tensor(s) {extra[:5]} for model '{cfg['model']}'", path=wfile,
                            field=extra[0])
    state = {}
    for k, ref in expected.items():
        a = arrays[k]
        if tuple(a.shape) != tuple(ref.shape):
            raise WorkloadError(f"shape {tuple(a.shape)} but model '{cfg['model']}' needs {tuple(ref.shape)}",
                                path=wfile, field=k)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise WorkloadError("contains NaN or inf", path=wfile, field=k)
        state[k] = torch.from_numpy(np.array(a)).to(ref.dtype)
    model.load_state_dict(state)
    model.eval()
    return model, cfg


def load_extra_state(path) -> dict | None:
    """The ``extra_state`` saved with the checkpoint (None when there is none)."""
    path = Path(path)
    sfile = path / "state.json"
    if not sfile.is_file():
        return None
    try:
        tree = json.loads(sfile.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"not valid JSON: {exc}", path=sfile) from None
    arrays = _load_npz(path / "state.npz")
    return _decode(tree, arrays, path / "state.npz")

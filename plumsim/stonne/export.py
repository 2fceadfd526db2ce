"""Export a workload as runnable STONNE jobs (``plumsim stonne export``).

How each layer runs on STONNE (the ways the reference runs in tests/data/stonne were made, see its
REFERENCE_README.md, column ``how`` of cases.csv):

* MAERI_DENSE_WORKLOAD: STONNE's standalone binary. Conv: ``-CONV -R -S -C -G -K -N -X -Y -strides``
  plus the tile ``-T_R .. -T_Y_``; the CLI has no padding, so X and Y are the *padded* input sizes.
  Linear: ``-FC -M=out_features -N=batch -K=in_features`` with ``-T_M -T_N -T_K`` (the model's
  ``maeri_gemm`` convention). Machine: ``-num_ms -dn_bw -rn_bw -accumulation_buffer`` (the CLI reads no
  .cfg for MAERI).
* TPU_OS_DENSE: the binary with ``-DenseGEMM`` on the layer's GEMM view (M = K/G filters, K = C*R*S/G,
  N = output pixels x batch), ``-ms_rows -ms_cols -num_ms -T_M -T_N -T_K=1`` and the OS_MESH /
  TEMPORALRN / TPU_OS_DENSE switches. A grouped conv runs one group; the result stands for G (``repeat``).
* SIGMA_SPARSE_GEMM: STONNE's PyTorch extension, ``torch_stonne.simulated_conv_forward`` /
  ``simulated_linear_forward`` with the exported .cfg, no tile file and sparsity_ratio 0.0 (the zeros of
  the weights define the bitmap), from the generated ``run_sigma.py``.

Layers STONNE is known to get wrong or abort on are not exported but listed in ``skipped.csv`` with the
reason: MAERI conv with batch N > 1 and a kernel larger than 1x1 (functional check fails), a MAERI tile
whose T_X' (T_M for FC) does not divide X' (M), a T_X'/T_Y' > 1 with stride > 1, and controllers with no
runner (MAGMA). (A TPU mesh whose (ms_rows+ms_cols)/dn_bw is not a power of two never gets here: the
AcceleratorConfig is refused when built, by the one rule set in plumsim.accel.rules.)
Full-precision layers are exported (STONNE's timing depends on their shape, or for SIGMA on their zero
pattern, not on being quantized) unless ``skip_fp``.

numpy/pandas only.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from plumsim.accel.config import AcceleratorConfig
from plumsim.errors import ConfigError, PlumsimError
from plumsim.fileio import safe_child, staged_dir

EXPORT_FORMAT = "plumsim-stonne-export"
EXPORT_VERSION = 1
CONV_TILE_FLAGS = ("T_R", "T_S", "T_C", "T_G", "T_K", "T_N", "T_X_", "T_Y_")  # order of the `how` column
SKIPPED_COLUMNS = ("layer", "kind", "scheme", "controller", "reason")


@dataclass
class LayerPlan:
    """How one layer runs on STONNE, or why it does not.

    ``runner``: "stonne_cli" (``$STONNE_BIN`` + ``argv``), "torch_stonne" (``run_sigma.py``) or None
    (skipped, ``reason`` says why). ``op``: CONV, FC, DenseGEMM, SparseConv or SparseLinear. ``tile``: the
    tile in STONNE's names (conv: T_R..T_Y_; FC/DenseGEMM: T_M, T_N, T_K), None for SIGMA.
    ``gemm``: M, N, K as given to STONNE (GEMM ops). ``repeat``: how many identical STONNE runs this one
    stands for (TPU grouped conv: G). ``call``: torch_stonne arguments (stride, padding, dilation, groups).
    ``cli_input``: the conv input size given to the CLI (padded X, Y).
    """

    name: str
    key: str
    index: int
    kind: str
    scheme: str
    runner: str | None = None
    op: str | None = None
    argv: list[str] = field(default_factory=list)
    tile: dict | None = None
    tile_source: str = ""
    gemm: dict | None = None
    repeat: int = 1
    call: dict | None = None
    cli_input: dict | None = None
    reason: str = ""

    @property
    def command(self) -> str:
        """The shell command (``$STONNE_BIN`` flags, or the run_sigma.py call); empty when skipped."""
        if self.runner == "stonne_cli":
            return '"$STONNE_BIN" ' + " ".join(shlex.quote(a) for a in self.argv)
        if self.runner == "torch_stonne":
            return '"$PYTHON" run_sigma.py ' + shlex.quote(self.key)
        return ""


@dataclass
class ExportResult:
    """What :func:`export_workload` wrote: the folder, the plans (exported and skipped) and the manifest."""

    out_dir: Path
    plans: list[LayerPlan]
    manifest: dict

    @property
    def exported(self) -> list[LayerPlan]:
        return [p for p in self.plans if p.runner]

    @property
    def skipped(self) -> list[LayerPlan]:
        return [p for p in self.plans if not p.runner]


def safe_key(name: str) -> str:
    """A file-system and shell-safe layer key: characters outside [A-Za-z0-9._-] become '_'."""
    k = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "layer"
    return k


def _machine_flags(config: AcceleratorConfig) -> list[str]:
    return [f"-num_ms={config.ms_size}", f"-dn_bw={config.dn_bw}", f"-rn_bw={config.rn_bw}"]


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def _skip(plan: LayerPlan, reason: str) -> LayerPlan:
    plan.runner, plan.op, plan.argv, plan.reason = None, None, [], reason
    return plan


def _tile_kind(tile) -> str | None:
    """'conv', 'gemm' or None for a given tile (dict or MaeriTile)."""
    if tile is None:
        return None
    d = tile.as_dict() if hasattr(tile, "as_dict") else dict(tile)
    return "gemm" if "T_M" in d else "conv"


def _plan_maeri_conv(plan: LayerPlan, layer, config: AcceleratorConfig, tile) -> LayerPlan:
    from plumsim.accel.cfg import validate_tile
    from plumsim.accel.maeri import MaeriTile, stonne_problem
    from plumsim.accel.tiling import choose_maeri_tile

    s = layer.shape
    if s.N > 1 and (s.R > 1 or s.S > 1):
        return _skip(plan, f"MAERI CLI CONV with batch N={s.N} > 1 and a {s.R}x{s.S} kernel fails STONNE's "
                     "functional check (measured for 3x3, with T_N = N and T_N = 1; only 1x1 kernels are known "
                     "to pass with N > 1)")
    Xp, Yp = s.X + 2 * s.padding, s.Y + 2 * s.padding
    given = tile is not None and _tile_kind(tile) == "conv"
    try:
        if given:
            t = tile if isinstance(tile, MaeriTile) else MaeriTile.from_dict(tile)
            plan.tile_source = "given"
        else:
            t = choose_maeri_tile(s, config)
            plan.tile_source = "chosen" if tile is None else "chosen (the given tile is not a conv tile)"
    except PlumsimError as exc:
        return _skip(plan, f"no MAERI tile: {exc}")
    # the chooser proposes only tiles STONNE runs; a given tile (or a layer with none) is refused with
    # STONNE's reason, never changed, so STONNE runs exactly the tile the model timed
    problem = stonne_problem(t, s, config)
    if problem:
        return _skip(plan, f"tile {t.as_dict()}: {problem}")
    d = {"T_R": t.T_R, "T_S": t.T_S, "T_C": t.T_C, "T_G": t.T_G, "T_K": t.T_K, "T_N": t.T_N,
         "T_X_": t.T_X, "T_Y_": t.T_Y}
    try:
        validate_tile(d, s, config)
    except PlumsimError as exc:
        return _skip(plan, f"tile {d} does not fit: {exc}")
    plan.runner, plan.op, plan.tile = "stonne_cli", "CONV", d
    plan.cli_input = {"X": Xp, "Y": Yp, "padding_folded": s.padding}
    plan.argv = (["-CONV", f"-R={s.R}", f"-S={s.S}", f"-C={s.C}", f"-G={s.G}", f"-K={s.K}", f"-N={s.N}",
                  f"-X={Xp}", f"-Y={Yp}", f"-strides={s.stride}"]
                 + [f"-{k}={d[k]}" for k in CONV_TILE_FLAGS] + _machine_flags(config)
                 + [f"-accumulation_buffer={int(config.accumulation_buffer)}"])
    if config.rn_type != "ASNETWORK":
        plan.argv.append(f"-rn_type={config.rn_type}")
    return plan


def _plan_maeri_linear(plan: LayerPlan, layer, config: AcceleratorConfig, tile, linear_op: str) -> LayerPlan:
    from plumsim.accel.tiling import choose_maeri_gemm_tile

    s = layer.shape
    M, N, K = s.K, s.N, s.C  # FC convention: M output neurons, N batch, K input neurons (= maeri_gemm)
    if tile is not None and _tile_kind(tile) == "gemm":
        d = dict(tile)
        tm, tn, tk = int(d.get("T_M", 1)), int(d.get("T_N", 1)), int(d.get("T_K", 1))
        plan.tile_source = "given"
        for nm, v, lim in (("T_M", tm, M), ("T_N", tn, N), ("T_K", tk, K)):
            if not 1 <= v <= lim:
                return _skip(plan, f"tile {nm}={v} out of range 1..{lim} for this layer")
        if tm * tn * tk > config.ms_size:
            return _skip(plan, f"tile needs T_M*T_N*T_K = {tm * tn * tk} multipliers, more than ms_size="
                         f"{config.ms_size}")
    else:
        try:
            tm, tn, tk = choose_maeri_gemm_tile(M, N, K, config)
        except PlumsimError as exc:
            return _skip(plan, f"no MAERI tile: {exc}")
        plan.tile_source = "chosen" if tile is None else "chosen (the given tile is not a T_M/T_N/T_K tile)"
    if M % tm or tk < 2 <= K:
        return _skip(plan, f"tile T_M={tm}, T_K={tk}: STONNE runs FC through its CONV mapping (T_M = T_X', "
                     "T_K = the virtual neuron), where T_M must divide M and a VN needs two multipliers")
    plan.runner, plan.op = "stonne_cli", linear_op
    plan.tile = {"T_M": tm, "T_N": tn, "T_K": tk}
    plan.gemm = {"M": M, "N": N, "K": K}
    plan.argv = ([f"-{linear_op}", f"-M={M}", f"-N={N}", f"-K={K}"] + _machine_flags(config)
                 + [f"-T_M={tm}", f"-T_N={tn}", f"-T_K={tk}", f"-accumulation_buffer={int(config.accumulation_buffer)}"])
    if config.rn_type != "ASNETWORK":
        plan.argv.append(f"-rn_type={config.rn_type}")
    return plan


def _plan_tpu(plan: LayerPlan, layer, config: AcceleratorConfig, tile) -> LayerPlan:
    from plumsim.accel.cfg import validate_tpu_tile
    from plumsim.accel.tpu import choose_tpu_tile

    # a mesh STONNE cannot build ((ms_rows+ms_cols)/dn_bw not a power of two) is no AcceleratorConfig:
    # the one rule set (plumsim.accel.rules) refuses it when the config is built
    s = layer.shape
    M, N, K = s.M_gemm, s.N_gemm, s.K_gemm
    if tile is not None and _tile_kind(tile) == "gemm" and "T_N" in dict(tile):
        tm, tn = int(dict(tile)["T_M"]), int(dict(tile)["T_N"])
        plan.tile_source = "given"
        try:
            validate_tpu_tile(tm, tn, config)
        except PlumsimError as exc:
            return _skip(plan, f"tile does not fit the mesh: {exc}")
    else:
        tm, tn = choose_tpu_tile(M, N, K, config)
        plan.tile_source = "chosen" if tile is None else "chosen (the given tile is not a T_M/T_N tile)"
    plan.runner, plan.op, plan.repeat = "stonne_cli", "DenseGEMM", s.G
    plan.tile = {"T_M": tm, "T_N": tn, "T_K": 1}
    plan.gemm = {"M": M, "N": N, "K": K}
    plan.argv = ["-DenseGEMM", f"-M={M}", f"-N={N}", f"-K={K}", f"-ms_rows={config.ms_rows}",
                 f"-ms_cols={config.ms_cols}"] + _machine_flags(config) + [
        f"-T_M={tm}", f"-T_N={tn}", "-T_K=1", f"-accumulation_buffer={int(config.accumulation_buffer)}",
        f"-rn_type={config.rn_type}", f"-mn_type={config.ms_type}", f"-mem_ctrl={config.controller_type}"]
    return plan


def plan_layer(layer, config: AcceleratorConfig, tile=None, *, index: int = 0, key: str | None = None,
               skip_fp: bool = False, linear_op: str = "FC") -> LayerPlan:
    """Decide how ``layer`` runs on STONNE with ``config`` (see the module docstring).

    ``tile``: None (choose the fastest with the model), a MAERI conv tile (dict T_R..T_Y_ or MaeriTile),
    a MAERI FC tile {"T_M","T_N","T_K"} or a TPU tile {"T_M","T_N"}; a tile of the wrong kind for a layer
    is ignored for that layer (the chosen one is used). ``linear_op``: "FC" or "DenseGEMM" (the MAERI CLI
    flag for linear layers; both run the same dense controller).
    """
    plan = LayerPlan(name=layer.name, key=key or safe_key(layer.name), index=index, kind=layer.kind,
                     scheme=layer.scheme)
    if skip_fp and layer.is_fp:
        return _skip(plan, "full-precision layer, left out by --skip-fp")
    ctrl = config.controller_type
    s = layer.shape
    if ctrl == "SIGMA_SPARSE_GEMM":
        plan.runner = "torch_stonne"
        if layer.kind == "conv":
            plan.op = "SparseConv"
            plan.call = {"function": "simulated_conv_forward", "stride": [s.stride, s.stride],
                         "padding": [s.padding, s.padding], "dilation": [1, 1], "groups": s.G,
                         "sparsity_ratio": 0.0}
        else:
            plan.op = "SparseLinear"
            plan.call = {"function": "simulated_linear_forward", "sparsity_ratio": 0.0, "transpose": True}
        return plan
    if ctrl == "MAERI_DENSE_WORKLOAD":
        if layer.kind == "conv":
            return _plan_maeri_conv(plan, layer, config, tile)
        return _plan_maeri_linear(plan, layer, config, tile, linear_op)
    if ctrl == "TPU_OS_DENSE":
        return _plan_tpu(plan, layer, config, tile)
    return _skip(plan, f"no STONNE runner for controller {ctrl} (supported: MAERI_DENSE_WORKLOAD, "
                 "SIGMA_SPARSE_GEMM, TPU_OS_DENSE)")


def layer_input(layer, seed: int, index: int) -> np.ndarray:
    """The seeded input of layer ``index``: float32 standard normal from ``default_rng([seed, index])``,
    shape [N, C, X, Y] (conv, unpadded) or [N, C] (linear)."""
    s = layer.shape
    shape = (s.N, s.C, s.X, s.Y) if layer.kind == "conv" else (s.N, s.C)
    return np.random.default_rng([int(seed), int(index)]).standard_normal(shape).astype(np.float32)


def _tile_text(plan: LayerPlan) -> str:
    if plan.op == "CONV":
        names = {"T_X_": "T_X'", "T_Y_": "T_Y'"}
        lines = ['tile_type="CONV"'] + [f"{names.get(k, k)}={plan.tile[k]}" for k in
                                       ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X_", "T_Y_")]
    else:
        lines = [f"# {plan.op} tile of layer {plan.name}: STONNE's CLI takes it as the flags "
                 + " ".join(f"-{k}={v}" for k, v in plan.tile.items()), f'tile_type="{plan.op}"']
        lines += [f"{k}={v}" for k, v in plan.tile.items()]
    return "\n".join(lines) + "\n"


def _check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError("export folder is a file", path=out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError("export folder is not empty (give --force to overwrite an earlier export; "
                          "its out/ folder is removed)", path=out)


def _plans(layers: list, config: AcceleratorConfig, tile, skip_fp: bool, linear_op: str) -> list[LayerPlan]:
    """One :class:`LayerPlan` per layer, in order, each with a file-safe key unique in the export (a
    repeated key gets ``_<index>`` appended)."""
    plans, keys = [], set()
    for i, layer in enumerate(layers):
        key = safe_key(layer.name)
        while key in keys:
            key = f"{key}_{i}"
        keys.add(key)
        plans.append(plan_layer(layer, config, tile, index=i, key=key, skip_fp=skip_fp, linear_op=linear_op))
    return plans


def _write_layer(root: Path, layer, plan: LayerPlan, seed: int) -> dict:
    """Write one runnable layer's files under ``root``: ``layers/<key>/`` weight.npy (float32 codes*scale,
    [K, C/G, R, S], linear [K, C]), input.npy (seeded float32), codes / scale / sign .npy (quantized
    layers), ``tiles/<key>.txt`` (when the plan has a tile). Gives its manifest entry (the plan's fields,
    shape, files relative to the export, command, output folder)."""
    ldir = safe_child(root / "layers", plan.key, f"layers[{plan.index}].name", what="layer key")
    ldir.mkdir(parents=True, exist_ok=True)
    w = layer.weight_tensor()
    if layer.kind == "linear":
        w = w.reshape(layer.shape.K, -1)
    files = {"weight": f"layers/{plan.key}/weight.npy", "input": f"layers/{plan.key}/input.npy"}
    np.save(ldir / "weight.npy", np.ascontiguousarray(w, dtype=np.float32))
    np.save(ldir / "input.npy", layer_input(layer, seed, plan.index))
    if not layer.is_fp:
        for nm, arr, dt in (("codes", layer.codes, np.int8), ("scale", layer.scale, np.float32),
                            ("sign", layer.sign, np.int8)):
            np.save(ldir / f"{nm}.npy", np.asarray(arr, dtype=dt))
            files[nm] = f"layers/{plan.key}/{nm}.npy"
    if plan.tile is not None:
        (root / "tiles").mkdir(exist_ok=True)
        (root / "tiles" / f"{plan.key}.txt").write_text(_tile_text(plan))
        files["tile"] = f"tiles/{plan.key}.txt"
    e = {k: v for k, v in asdict(plan).items() if k != "reason"}
    e.update(shape=layer.shape.as_dict(), files=files, command=plan.command, output_dir=f"out/{plan.key}")
    return e


def _write_skipped(root: Path, plans: list[LayerPlan], config: AcceleratorConfig) -> list[dict]:
    """Write ``skipped.csv`` (the layers with no runner and why); gives its rows."""
    skipped = [{"layer": p.name, "key": p.key, "index": p.index, "kind": p.kind, "scheme": p.scheme,
                "controller": config.controller_type, "reason": p.reason} for p in plans if not p.runner]
    with open(root / "skipped.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=SKIPPED_COLUMNS, extrasaction="ignore")
        wr.writeheader()
        wr.writerows(skipped)
    return skipped


def _write_scripts(root: Path, plans: list[LayerPlan], wname: str, config: AcceleratorConfig) -> None:
    """Write the executable ``run.sh`` and, when a layer runs through torch-STONNE (SIGMA), ``run_sigma.py``."""
    from plumsim.stonne.scripts import run_sh_text, run_sigma_text

    sigma = [p for p in plans if p.runner == "torch_stonne"]
    if sigma:
        (root / "run_sigma.py").write_text(run_sigma_text())
        (root / "run_sigma.py").chmod(0o755)
    (root / "run.sh").write_text(run_sh_text(plans, wname, config))
    (root / "run.sh").chmod(0o755)


def export_workload(workload, config: AcceleratorConfig, out_dir: str | Path, *, tile=None, seed: int = 0,
                    skip_fp: bool = False, force: bool = False, linear_op: str = "FC",
                    workload_dir: str | None = None) -> ExportResult:
    """Write an export folder for ``workload`` (a Workload or list of Layer) on ``config``.

    Files (paths relative to ``out_dir``): ``accel.cfg``; ``layers/<key>/weight.npy`` (float32
    codes*scale, [K, C/G, R, S], linear [K, C]: exactly what STONNE's frontend gets),
    ``layers/<key>/input.npy`` (float32 seeded input, see :func:`layer_input`), ``codes.npy``/
    ``scale.npy``/``sign.npy`` (quantized layers: int8 / float32 / int8, for the model in ``compare``);
    ``tiles/<key>.txt`` (MAERI/TPU); ``run.sh``; ``run_sigma.py`` (SIGMA); ``skipped.csv``;
    ``manifest.json``. Returns an :class:`ExportResult`.
    """
    from plumsim.accel.cfg import dump_config

    out = Path(out_dir)
    _check_out_dir(out, force)
    layers = list(getattr(workload, "layers", workload))
    wname = getattr(workload, "name", "workload")
    plans = _plans(layers, config, tile, skip_fp, linear_op)

    # Built whole under a temporary name beside OUT and moved into place at the end (an earlier export is
    # replaced with --force): a full or read-only disk leaves OUT as it was, never a half-written export;
    # the error (StorageError) names the file and the cause.
    with staged_dir(out, replace=force) as root:
        (root / "out").mkdir()
        (root / "accel.cfg").write_text(dump_config(config))
        entries = [_write_layer(root, layer, plan, seed) for layer, plan in zip(layers, plans) if plan.runner]
        skipped = _write_skipped(root, plans, config)
        manifest = {"format": EXPORT_FORMAT, "format_version": EXPORT_VERSION, "workload": wname,
                    "workload_dir": workload_dir, "seed": int(seed),
                    "accel": {"file": "accel.cfg", "name": config.name, **config.as_dict()},
                    "input_rule": "float32 numpy.random.default_rng([seed, layer index]).standard_normal(shape)",
                    "layers": entries, "skipped": skipped}
        _write_scripts(root, plans, wname, config)
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return ExportResult(out_dir=out, plans=plans, manifest=manifest)

"""Quantization-aware training, evaluation and per-layer weight statistics.

:func:`train` trains a model of :mod:`plumsim.quant.models` on a data set of :mod:`plumsim.quant.data`
with a recipe of :mod:`plumsim.quant.recipes`, checkpointing atomically after every epoch. It is
deterministic for a given seed: the model is initialised after ``torch.manual_seed(seed)``, batches
come from a generator seeded by (seed, epoch), and the learning rate is a function of the epoch. A
resumed run (``resume=True``) restores weights, Adam state and RNG states and ends with bit-identical
weights to an uninterrupted run.

``metrics.csv`` (in the checkpoint folder), one row per epoch: ``epoch`` (1-based), ``lr``, ``loss``
(mean training loss), ``train_acc``, ``val_loss``, ``val_acc`` (fractions 0..1), ``seconds`` (wall
time of the epoch), ``density`` (non-zero fraction over the quantized layers) and ``density:<layer>``
per quantized layer.
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from plumsim.errors import PlumsimError
from plumsim.quant.checkpoint import load_checkpoint, load_extra_state, read_config, save_checkpoint
from plumsim.quant.data import DataSet, batches, load_data, parse_spec
from plumsim.quant.layers import quantized_layers
from plumsim.quant.models import MODEL_INPUT_SHAPES, MODEL_NUM_CLASSES, build_model, set_layer_scheme
from plumsim.quant.recipes import DEFAULT_RECIPE, Recipe, get_recipe

# Fields that must match between a checkpoint and the arguments of a resumed run.
RESUME_FIELDS = ("model", "scheme", "options", "layer_schemes", "data", "seed", "recipe", "teacher")


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model (eval mode), its config, the metrics history
    (DataFrame, columns as in ``metrics.csv``) and the checkpoint folder (None when not saved)."""

    model: torch.nn.Module
    config: dict
    history: pd.DataFrame
    checkpoint: Path | None


# ---------------------------------------------------------------- statistics and evaluation
def layer_stats(model: torch.nn.Module, include_fp: bool = False) -> pd.DataFrame:
    """Per-layer weight statistics of the (quantized) weights the forward pass uses.

    Columns: ``name``, ``scheme``, ``numel``, ``nnz``, ``density`` (nnz/numel, 0..1),
    ``nnz_per_filter_min|mean|max`` and ``distinct_per_filter_min|mean|max`` (distinct non-zero values
    per output filter). FP layers are listed only with ``include_fp`` (or when the model has no
    quantized layer).
    """
    rows = []
    layers = list(quantized_layers(model))
    if not include_fp and any(m.scheme != "fp" for _, m in layers):
        layers = [(n, m) for n, m in layers if m.scheme != "fp"]
    for name, m in layers:
        w = m.quantized_weight().reshape(m.weight.shape[0], -1)
        nz = w != 0
        nnz = nz.sum(dim=1)
        distinct = torch.tensor([torch.unique(row[row != 0]).numel() for row in w])
        rows.append({
            "name": name, "scheme": m.scheme, "numel": int(w.numel()), "nnz": int(nnz.sum()),
            "density": float(nnz.sum()) / max(1, w.numel()),
            "nnz_per_filter_min": int(nnz.min()), "nnz_per_filter_mean": float(nnz.float().mean()),
            "nnz_per_filter_max": int(nnz.max()),
            "distinct_per_filter_min": int(distinct.min()), "distinct_per_filter_mean": float(distinct.float().mean()),
            "distinct_per_filter_max": int(distinct.max()),
        })
    return pd.DataFrame(rows)


@torch.no_grad()
def evaluate(model: torch.nn.Module, split, batch_size: int = 500) -> tuple[float, float]:
    """(accuracy 0..1, mean cross-entropy loss) of ``model`` on a data split; model left in eval mode."""
    model.eval()
    correct, total, loss = 0, 0, 0.0
    for x, y in batches(split, batch_size):
        logits = model(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        total += int(y.numel())
    return correct / max(1, total), loss / max(1, total)


# ---------------------------------------------------------------- set-up helpers
def check_model_data(model_name: str, data: DataSet) -> None:
    if model_name not in MODEL_INPUT_SHAPES:
        return
    want = MODEL_INPUT_SHAPES[model_name][1]
    if want != data.input_shape[0]:
        raise PlumsimError(f"model '{model_name}' takes {want}-channel input {MODEL_INPUT_SHAPES[model_name][1:]}, "
                           f"data '{data.name}' has {data.input_shape}; use "
                           f"{'cnn-digits' if data.name == 'digits' else 'resnet20 or resnet18'}",
                           field="model")


def _loss_fn(recipe: Recipe, teacher):
    def loss(logits, y, x):
        ce = F.cross_entropy(logits, y)
        if teacher is None or recipe.distill_weight <= 0:
            return ce
        with torch.no_grad():
            t_logits = teacher(x)
        T = recipe.temperature
        kl = F.kl_div(F.log_softmax(logits / T, 1), F.log_softmax(t_logits / T, 1), log_target=True,
                      reduction="batchmean") * T * T
        return (1 - recipe.distill_weight) * ce + recipe.distill_weight * kl
    return loss


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}


def _set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])


def _history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    pd.DataFrame(history).to_csv(buf, index=False)
    return buf.getvalue()


class _Progress:
    """tqdm bar per epoch on a TTY, else one line per epoch (stderr), or nothing."""

    def __init__(self, mode: str, stream=None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode

    def bar(self, total: int, desc: str):
        if self.mode != "bar":
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=self.stream, leave=False, unit="batch")

    def line(self, text: str) -> None:
        if self.mode in ("bar", "lines"):
            print(text, file=self.stream, flush=True)


# ---------------------------------------------------------------- training
def train(model: str = "cnn-digits", scheme: str = "signed-binary", data: str = "digits", out=None, *,
          epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
          recipe: str | None = None, teacher=None, resume: bool = False, overwrite: bool = False,
          seed: int = 0, scheme_options: dict | None = None, model_options: dict | None = None,
          layer_schemes: dict | None = None, stop_after: int | None = None, progress: str = "auto",
          dataset: DataSet | None = None, threads: int | None = None) -> TrainResult:
    """Train ``model`` with ``scheme`` on ``data``; checkpoint to ``out`` (a folder) after each epoch.

    ``scheme_options``: e.g. {"positive_fraction": 0.25}. ``layer_schemes``: {layer name: {"scheme",
    "options"}} overrides (e.g. a thinned binary layer). ``recipe``: a name of :data:`RECIPES` (default
    by data set). ``teacher``: a checkpoint folder of an FP model for distillation. ``stop_after``: stop
    after that many epochs *of this call* (an interruption at an epoch boundary; the schedule still
    follows ``epochs``). ``dataset``: an already loaded :class:`DataSet` for ``data`` (saves re-reading).
    ``progress``: "auto" | "bar" | "lines" | "none". ``threads``: torch CPU threads for this call
    (default: 1 for digits, where more threads only add synchronisation cost, else torch's default);
    restored afterwards.
    """
    kind, _ = parse_spec(data)
    if threads is None and kind == "digits":
        threads = 1
    before = torch.get_num_threads()
    if threads is not None:
        if int(threads) < 1:
            raise PlumsimError(f"threads must be >= 1, got {threads}", field="threads")
        torch.set_num_threads(int(threads))
    try:
        return _train(model, scheme, data, out, epochs=epochs, batch_size=batch_size, lr=lr, recipe=recipe,
                      teacher=teacher, resume=resume, overwrite=overwrite, seed=seed,
                      scheme_options=scheme_options, model_options=model_options, layer_schemes=layer_schemes,
                      stop_after=stop_after, progress=progress, dataset=dataset)
    finally:
        torch.set_num_threads(before)


def _model_options(model: str, ds: DataSet, model_options, scheme_options) -> dict:
    """The keyword options of :func:`build_model`: ``model_options`` (``num_classes`` set from the data set
    when it differs from the model's default) and ``scheme_options`` on top."""
    mopts = dict(model_options or {})
    if ds.num_classes != MODEL_NUM_CLASSES.get(model, ds.num_classes):
        mopts.setdefault("num_classes", ds.num_classes)
    return {**mopts, **(scheme_options or {})}


def _seeded_net(model: str, scheme: str, opts: dict, layer_schemes, seed: int):
    """Seed torch and numpy with ``seed``, then build the network with its per-layer scheme overrides."""
    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % 2 ** 32)
    net = build_model(model, scheme=scheme, **opts)
    for lname, spec in (layer_schemes or {}).items():
        set_layer_scheme(net, lname, spec["scheme"], **spec.get("options", {}))
    return net


def _load_teacher(teacher, ds: DataSet):
    """The distillation teacher: (model in eval mode, its folder's absolute path), or (None, None) without
    ``teacher``. Refuses a teacher whose class count differs from the data set's."""
    if teacher is None:
        return None, None
    teacher_model, tcfg = load_checkpoint(teacher)
    teacher_model.eval()
    teacher_path = str(Path(teacher).resolve())
    t_out = teacher_model.fc.out_features if hasattr(teacher_model, "fc") else None
    if t_out is not None and t_out != ds.num_classes:
        raise PlumsimError(f"teacher has {t_out} classes, data '{ds.name}' has {ds.num_classes}",
                           path=teacher, field="teacher")
    return teacher_model, teacher_path


def _fit_epoch(net, opt, loss_fn, ds: DataSet, rec: Recipe, epoch: int, seed: int, prog: _Progress):
    """One pass over the training split (0-based ``epoch``, shuffled by ``seed`` and epoch), one optimizer
    step per batch; gives (summed loss over samples, correct predictions, samples seen)."""
    net.train()
    n_batches = -(-len(ds.train) // rec.batch_size)
    bar = prog.bar(n_batches, f"epoch {epoch + 1}/{rec.epochs}")
    tot_loss, correct, seen = 0.0, 0, 0
    for x, y in batches(ds.train, rec.batch_size, shuffle=True, seed=seed, epoch=epoch):
        logits = net(x)
        loss = loss_fn(logits, y, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tot_loss += float(loss.detach()) * int(y.numel())
        correct += int((logits.argmax(1) == y).sum())
        seen += int(y.numel())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
    if bar is not None:
        bar.close()
    return tot_loss, correct, seen


def _epoch_row(net, ds: DataSet, epoch: int, lr_now: float, fitted, t0: float) -> dict:
    """The history row of a finished epoch: epoch (1-based), lr, mean train loss and accuracy (from
    ``fitted`` = (summed loss, correct, seen)), validation loss and accuracy, seconds since ``t0``
    (``time.perf_counter``), weight density overall and per layer (fraction of nonzero weights)."""
    tot_loss, correct, seen = fitted
    val_acc, val_loss = evaluate(net, ds.val)
    stats = layer_stats(net)
    row = {"epoch": epoch + 1, "lr": lr_now, "loss": tot_loss / max(1, seen),
           "train_acc": correct / max(1, seen), "val_loss": val_loss, "val_acc": val_acc,
           "seconds": time.perf_counter() - t0,
           "density": float(stats["nnz"].sum() / max(1, stats["numel"].sum()))}
    row.update({f"density:{r.name}": float(r.density) for r in stats.itertuples()})
    return row


def _train(model, scheme, data, out, *, epochs, batch_size, lr, recipe, teacher, resume, overwrite, seed,
           scheme_options, model_options, layer_schemes, stop_after, progress, dataset) -> TrainResult:
    """:func:`train` with the torch thread count set."""
    kind, _ = parse_spec(data)
    rec = get_recipe(recipe or DEFAULT_RECIPE[kind]).with_overrides(epochs, batch_size, lr)
    ds = dataset if dataset is not None else load_data(data)
    check_model_data(model, ds)
    opts = _model_options(model, ds, model_options, scheme_options)
    out = None if out is None else Path(out)
    net = _seeded_net(model, scheme, opts, layer_schemes, seed)
    teacher_model, teacher_path = _load_teacher(teacher, ds)
    config = {**net.plumsim_spec, "data": data, "seed": int(seed), "recipe": rec.as_dict(),
              "teacher": teacher_path, "epochs": rec.epochs, "epoch": 0, "num_classes": ds.num_classes}
    opt = torch.optim.Adam(net.parameters(), lr=rec.lr, weight_decay=rec.weight_decay)
    history: list[dict] = []
    start = 0
    if out is not None and out.exists():
        if resume:
            start, history = _restore(out, config, net, opt)
        elif not overwrite:
            raise PlumsimError("checkpoint folder exists; pass --resume to continue it or --overwrite to "
                               "start again", path=out, field="out")
    loss_fn = _loss_fn(rec, teacher_model)
    prog = _Progress(progress)
    done_this_call = 0
    for epoch in range(start, rec.epochs):
        if stop_after is not None and done_this_call >= stop_after:
            break
        t0 = time.perf_counter()
        lr_now = rec.lr_at(epoch)
        for g in opt.param_groups:
            g["lr"] = lr_now
        fitted = _fit_epoch(net, opt, loss_fn, ds, rec, epoch, seed, prog)
        row = _epoch_row(net, ds, epoch, lr_now, fitted, t0)
        history.append(row)
        done_this_call += 1
        prog.line(f"epoch {epoch + 1}/{rec.epochs}  loss {row['loss']:.4f}  train_acc {row['train_acc']:.4f}  "
                  f"val_acc {row['val_acc']:.4f}  density {row['density']:.4f}  {row['seconds']:.2f}s")
        config.update(epoch=epoch + 1, metrics={k: row[k] for k in ("loss", "train_acc", "val_acc", "density")})
        if out is not None:
            save_checkpoint(out, net, config,
                            extra_state={"optimizer": opt.state_dict(), "rng": _rng_state(), "history": history},
                            extra_files={"metrics.csv": _history_csv(history)})
    net.eval()
    if history:
        config["metrics"] = {k: history[-1][k] for k in ("loss", "train_acc", "val_acc", "density")}
    return TrainResult(net, config, pd.DataFrame(history), out)


def _restore(out: Path, config: dict, net, opt) -> tuple[int, list[dict]]:
    """Load a checkpoint into ``net``/``opt`` after checking it belongs to the same run."""
    saved = read_config(out)
    for key in RESUME_FIELDS:
        a, b = saved.get(key), config.get(key)
        if key == "recipe" and isinstance(a, dict) and isinstance(b, dict):
            a = Recipe.from_dict(a).as_dict()
        if a != b:
            raise PlumsimError(f"--resume with different settings: checkpoint has {a!r}, this run {b!r}",
                               path=out / "config.json", field=key)
    loaded, _ = load_checkpoint(out)
    net.load_state_dict(loaded.state_dict())
    state = load_extra_state(out)
    if state is None or "optimizer" not in state:
        raise PlumsimError("no training state to resume from (state.json/state.npz)", path=out, field="state")
    opt.load_state_dict(state["optimizer"])
    _set_rng_state(state["rng"])
    return int(saved["epoch"]), list(state.get("history", []))

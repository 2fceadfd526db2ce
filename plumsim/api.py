"""The Python API: one function per pipeline stage, each a thin wrapper over the stage's package.

    import plumsim
    wl = plumsim.lower(model, torch.randn(1, 3, 32, 32))          # or "model.onnx", "model.pt2", a checkpoint
    df = plumsim.simulate(wl, "accel_configs/sigma_128.cfg")      # one row per layer: cycles, counters
    att = plumsim.attribute(wl, "accel_configs/sigma_128.cfg", table="horowitz45")

Every function is also reachable as ``plumsim.<name>`` (imported lazily: ``import plumsim`` imports neither
torch nor this module). The columns of every returned DataFrame and of a sweep's ``results.parquet``, with
meaning and unit, are in ``docs/api.md``. Errors in user input raise :class:`plumsim.errors.PlumsimError`
(a subclass per stage) with a message naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["attribute", "load_workload", "lower", "plot", "run_sweep", "simulate", "synth", "workload_stats"]


def _config(accel):
    """An :class:`~plumsim.accel.AcceleratorConfig` from a config object or a STONNE ``.cfg`` path."""
    from plumsim.accel.config import AcceleratorConfig

    if isinstance(accel, AcceleratorConfig):
        return accel
    from plumsim.accel.cfg import load_config

    return load_config(accel)


def _workload(workload):
    if isinstance(workload, (str, Path)):
        return load_workload(workload)
    return workload


def lower(model, example_input=None, *, schemes=None, input_shape=None, rtol: float | None = None,
          batch: int = 1, input_samples: int = 0, seed: int = 0, name: str | None = None, out=None):
    """Lower a model to a :class:`~plumsim.workload.Workload` (needs torch; ONNX files need ``onnx``).

    ``model``: an ``nn.Module`` (with ``example_input``, a tensor or tuple of tensors, or ``input_shape``),
    or a path: a plumsim checkpoint folder, an ONNX file (``.onnx``), a ``torch.export`` archive
    (``.pt2``). ``schemes``: per-layer overrides, ``{"glob": "ternary", ...}`` or ``["glob=ternary"]``
    (names: auto, fp, binary, signed-binary, ternary, int2..int8); otherwise each layer's scheme is
    detected from its weight values within ``rtol`` x max|w| (default 1e-4, see
    :mod:`plumsim.workload.detect`). ``input_shape``: (N, C, H, W) where the file does not fix it.
    ``input_samples``: input activations kept per layer. ``out``: also save the workload folder there
    (atomically). Returns the Workload; ``workload.stats()`` and each ``layer.detection`` describe it.
    """
    from plumsim.workload.detect import DEFAULT_RTOL

    rtol = DEFAULT_RTOL if rtol is None else rtol
    if isinstance(model, (str, Path)) and not Path(model).exists():
        from plumsim.errors import WorkloadError
        from plumsim.workload.calls import SUPPORTED_INPUTS

        raise WorkloadError(f"not found; plumsim lower takes {SUPPORTED_INPUTS}", path=model)
    if isinstance(model, (str, Path)) and Path(model).suffix.lower() == ".onnx" and Path(model).is_file():
        from plumsim.workload.calls import parse_input_shape
        from plumsim.workload.onnx_import import lower_onnx  # an ONNX file needs no torch

        wl = lower_onnx(model, schemes=schemes, input_shape=parse_input_shape(input_shape), rtol=rtol, name=name)
    else:
        from plumsim.workload.lowering import lower as _lower

        wl = _lower(model, example_input, schemes=schemes, input_shape=input_shape, rtol=rtol, batch=batch,
                    input_samples=input_samples, seed=seed, name=name)
    if out is not None:
        wl.save(out)
    return wl


def synth(table, scheme: str, *, seed: int = 0, density: float | None = None, positive_fraction: float = 0.5,
          name: str | None = None, out=None):
    """A shape-only workload from a layer table (YAML path or parsed dict) quantized with ``scheme`` (fp,
    binary, ternary, signed-binary); see :func:`plumsim.workload.synth.synth`. ``density``: target
    fraction of non-zero weights (0..1]. ``out``: also save it there."""
    from plumsim.workload.synth import synth as _synth

    wl = _synth(table, scheme, seed=seed, density=density, positive_fraction=positive_fraction, name=name)
    if out is not None:
        wl.save(out)
    return wl


def load_workload(directory):
    """Read and validate a workload folder (``manifest.json`` + ``tensors.npz``)."""
    from plumsim.workload.format import Workload

    return Workload.load(directory)


def workload_stats(workload):
    """Per-layer weight statistics DataFrame (columns: :data:`plumsim.workload.stats.STATS_COLUMNS`)."""
    from plumsim.workload.stats import workload_stats as _stats

    return _stats(_workload(workload))


def simulate(workload, accel, *, tile=None, mode: str = "native"):
    """Run every layer of ``workload`` (a Workload or a folder) on ``accel`` (an AcceleratorConfig or a
    STONNE ``.cfg`` path). Returns one row per layer.

    ``mode`` "native" (STONNE's own dataflow; ``tile`` applies): columns of
    :func:`plumsim.accel.simulate.simulate_workload`: ``layer``, ``kind``, ``scheme``, ``cycles``,
    ``sram_*`` (accesses) and one column per STONNE counter ``COMPONENT.ACTION`` (events).
    Another dataflow (dense, skip, repeat, skip+repeat; :mod:`plumsim.accel.dataflow`): ``layer``,
    ``kind``, ``scheme``, ``mode``, ``cycles``, ``stonne_faithful``, ``hypothesis``, ``weight_format``,
    then the counters (events).
    """
    config = _config(accel)
    wl = _workload(workload)
    if mode == "native":
        from plumsim.accel.simulate import simulate_workload

        return simulate_workload(wl, config, tile)
    import pandas as pd

    from plumsim.accel.dataflow import simulate_dataflow

    rows = []
    for layer in wl.layers:
        r = simulate_dataflow(layer, config, mode)
        row = {"layer": layer.name, "kind": layer.kind, "scheme": layer.scheme, "mode": mode,
               "cycles": int(r.cycles), "stonne_faithful": bool(r.info.get("stonne_faithful", False)),
               "hypothesis": str(r.info.get("hypothesis", "")), "weight_format": str(r.info.get("weight_format", ""))}
        row.update({k: float(v) for k, v in sorted(r.counters.items())})
        rows.append(row)
    df = pd.DataFrame(rows)
    counters = [c for c in df.columns if "." in c]
    df[counters] = df[counters].fillna(0.0)
    return df


def attribute(workload, accel, table="stonne", *, summerge: bool = True, include_fp: bool = False,
              bitwidths: dict | None = None):
    """Energy and cycles of the dense (D), zero-skipping (S), repetition (R) and combined (SR) dataflows
    and the Shapley split of D - SR into sparsity and repetition shares, per layer and in total; see
    :func:`plumsim.energy.attribution.attribute` (columns ``layer, scheme, metric, D, S, R, SR,
    sparsity_share, repetition_share, unit``). ``table``: "stonne" (STONNE units), "horowitz45" (pJ) or a
    table file."""
    from plumsim.energy.attribution import attribute as _attribute

    return _attribute(_workload(workload), _config(accel), table, summerge=summerge, include_fp=include_fp,
                      bitwidths=bitwidths)


def run_sweep(grid, out, *, executor: str = "local", workers: int | None = None, fresh: bool = False,
              progress: bool | None = False, chunk_points: int | None = None, scheduler: str | None = None):
    """Run (or resume) the sweep grid ``grid`` (a YAML path or a Grid) into the folder ``out`` and return
    its results (one row per configuration x workload x layer x mode; the columns of
    ``out/results.parquet``, in ``docs/api.md``). The run's summary (points, seconds, ...) is in
    ``df.attrs["summary"]``. ``executor``, ``workers``, ``scheduler``, ``chunk_points``, ``fresh``,
    ``progress``: as :func:`plumsim.sweep.runner.run_sweep`."""
    from plumsim.sweep import load_results
    from plumsim.sweep.runner import run_sweep as _run

    summary = _run(grid, out, executor=executor, workers=workers, fresh=fresh, progress=progress,
                   chunk_points=chunk_points, scheduler=scheduler)
    df = load_results(out)
    df.attrs["summary"] = summary
    return df


def plot(results_dir, only=None) -> list:
    """Draw the figures of a sweep folder into ``results_dir/plots/`` (PNG, PDF, SVG); returns the paths.
    ``only``: names from :data:`plumsim.plots.FIGURES`."""
    from plumsim.plots import plot_results

    return plot_results(results_dir, only=only)

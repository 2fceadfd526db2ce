"""The paper's small experiments, on digits by default (seconds per run).

- :func:`equal_nnz`: signed-binary against binary thinned to the *same number of non-zero weights per
  layer* (each quantized layer of the binary net keeps the largest-|w| fraction equal to the trained
  signed-binary layer's density, re-selected every step), plus plain binary for reference.
- :func:`value_assignment`: accuracy and density of signed-binary against ``positive_fraction``.

Both return ``(runs, summary)`` DataFrames. ``runs``: one row per training run with ``variant``,
``seed``, ``val_acc`` (0..1), ``density`` (non-zero fraction of the quantized layers), ``nnz``.
``summary``: per variant ``runs``, ``acc_mean``, ``acc_std`` (sample std, 0 for one run),
``acc_min``, ``acc_max``, ``density_mean``, ``nnz_mean``.
"""

from __future__ import annotations

import pandas as pd

from plumsim.quant.data import load_data
from plumsim.quant.train import layer_stats, train

VALUE_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _row(variant, seed, result, **extra) -> dict:
    st = layer_stats(result.model)
    return {"variant": variant, "seed": seed, "val_acc": float(result.history["val_acc"].iloc[-1]),
            "density": float(st["nnz"].sum() / st["numel"].sum()), "nnz": int(st["nnz"].sum()), **extra}


def summarize(runs: pd.DataFrame, by="variant") -> pd.DataFrame:
    """Mean and spread of ``val_acc`` (and mean density / nnz) per ``by`` group, in first-seen order."""
    g = runs.groupby(by, sort=False)
    out = pd.DataFrame({
        "runs": g["val_acc"].size(), "acc_mean": g["val_acc"].mean(),
        "acc_std": g["val_acc"].std(ddof=1).fillna(0.0), "acc_min": g["val_acc"].min(),
        "acc_max": g["val_acc"].max(), "density_mean": g["density"].mean(), "nnz_mean": g["nnz"].mean(),
    })
    return out.reset_index()


def equal_nnz(seeds=(0, 1, 2), epochs: int | None = None, data: str = "digits", model: str = "cnn-digits",
              positive_fraction: float = 0.5, progress: str = "none"):
    """Signed-binary vs binary thinned to equal non-zeros (per layer) vs plain binary; see module doc."""
    ds = load_data(data)
    rows = []
    for seed in seeds:
        kw = dict(model=model, data=data, epochs=epochs, seed=seed, progress=progress, dataset=ds)
        sb = train(scheme="signed-binary", scheme_options={"positive_fraction": positive_fraction}, **kw)
        rows.append(_row("signed-binary", seed, sb))
        dens = {r.name: float(r.density) for r in layer_stats(sb.model).itertuples()}
        thin = train(scheme="binary", layer_schemes={n: {"scheme": "binary", "options": {"keep_fraction": d}}
                                                     for n, d in dens.items()}, **kw)
        rows.append(_row("binary-thinned", seed, thin))
        rows.append(_row("binary", seed, train(scheme="binary", **kw)))
    runs = pd.DataFrame(rows)
    return runs, summarize(runs)


def value_assignment(fractions=VALUE_FRACTIONS, seeds=(0, 1, 2), epochs: int | None = None,
                     data: str = "digits", model: str = "cnn-digits", progress: str = "none"):
    """Signed-binary accuracy and density for each positive_fraction; ``variant`` = 'p=<fraction>'."""
    fractions = list(dict.fromkeys(float(p) for p in fractions))   # unique, in order
    ds = load_data(data)
    rows = []
    for p in fractions:
        for seed in seeds:
            r = train(model=model, scheme="signed-binary", data=data, epochs=epochs, seed=seed,
                      scheme_options={"positive_fraction": float(p)}, progress=progress, dataset=ds)
            rows.append(_row(f"p={float(p):g}", seed, r, positive_fraction=float(p)))
    runs = pd.DataFrame(rows)
    summary = summarize(runs)
    summary.insert(1, "positive_fraction", [float(p) for p in fractions])
    return runs, summary

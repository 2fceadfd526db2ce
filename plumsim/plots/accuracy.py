"""Accuracy of trained models beside what they cost on an accelerator.

The data is a DataFrame of trained runs, one row per model (:func:`plumsim.results.accuracy_runs` builds
it from a sweep folder's ``models.csv`` and the results): ``scheme``, ``seed``, ``val_acc`` (0..1),
``density`` (non-zero fraction of the quantized layers), and for the energy view ``energy`` (or
``cycles``) and ``energy_unit``. Points are the mean over seeds with error bars of one sample standard
deviation (none for a single seed, said in the legend); the frontier joins the schemes no other scheme
beats in both accuracy and cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from plumsim.plots import style
from plumsim.results import accuracy_summary


def frontier(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both (lower cost, higher accuracy), by cost."""
    order = np.lexsort((-acc, cost))
    out, best = [], -np.inf
    for i in order:
        if acc[i] > best:
            out.append(i)
            best = acc[i]
    return np.asarray(out, dtype=int)


def _accuracy(runs: pd.DataFrame, x: str, size: str, xlabel: str, title: str):
    s = accuracy_summary(runs[runs[x].notna()]) if x in runs else pd.DataFrame()
    with style.context(size):
        fig, ax = style.new(size, height=2.6 if size == "column" else 3.0)
        ax = ax[0, 0]
        if s.empty:
            ax.text(0.5, 0.5, "no trained models with this measure", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            return fig, ax
        xm, xs = s[f"{x}_mean"].to_numpy(float), s[f"{x}_std"].to_numpy(float)
        ym, ys = 100 * s["acc_mean"].to_numpy(float), 100 * s["acc_std"].to_numpy(float)
        f = frontier(xm, ym)
        ax.plot(xm[f], ym[f], color="0.55", lw=0.8, ls=":", zorder=1, label="frontier")
        ax.set_xlim(0, max(float(np.nanmax(xm + xs)), 1e-12) * 1.12)
        lo, hi = float(np.nanmin(ym - ys)), float(np.nanmax(ym + ys))
        pad = max(0.5, 0.15 * (hi - lo))
        ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad) + (0.3 if hi + pad >= 100 else 0))
        offs = style.dodge_offsets(list(zip(s["scheme"], xm, ym)), ax.get_xlim()[1],
                                   ax.get_ylim()[1] - ax.get_ylim()[0], size, near=(0.04, 1.0))
        # (any two schemes at about the same x are spread, so their error bars do not hide each other)
        for k, r in s.iterrows():
            color, marker = style.scheme_style(r["scheme"], k)
            cont = ax.errorbar([xm[k]], [ym[k]], xerr=[xs[k]], yerr=[ys[k]], fmt=marker, color=color, mec="k",
                               mew=0.4, ecolor=color, elinewidth=0.8, capsize=2, zorder=3, clip_on=False,
                               transform=style.shifted(ax, offs[k]), label=f"{r['scheme']} (n={int(r['seeds'])})")
            cont.lines[0].set_gid(f"scheme:{r['scheme']}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(True, lw=0.4, alpha=0.35)
        single = bool((s["seeds"] == 1).all())
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3,
                   title="mean ± std over seeds" if not single else "one seed per scheme: no error bars")
        fig.suptitle(style.wrap(title, size), fontsize=style.FONT_PT[size] + 0.5)
        f = style.FONT_PT[size] - 0.5
        ax.tick_params(labelsize=f, width=0.6, length=2.5)
    return fig, ax


def accuracy_vs_energy(runs: pd.DataFrame, *, size: str = "column", metric: str = "energy"):
    """Validation accuracy vs ``metric`` per inference (energy in ``energy_unit``, or cycles) of the trained
    models' lowered workloads, per scheme, mean ± std over seeds, with the frontier; x from 0."""
    unit = "cycles" if metric == "cycles" else (str(runs["energy_unit"].dropna().iloc[0])
                                               if "energy_unit" in runs and runs["energy_unit"].notna().any()
                                               else "energy units")
    where = ", ".join(f"{k} {v}" for k, v in runs.attrs.items() if k in ("config", "mode"))
    return _accuracy(runs, metric, size, f"{metric} per inference ({unit})",
                     f"Accuracy vs {metric} of trained models" + (f" ({where})" if where else ""))


def accuracy_vs_density(runs: pd.DataFrame, *, size: str = "column"):
    """Validation accuracy vs weight density of the quantized layers (fraction), per scheme, mean ± std
    over seeds, with the frontier; x from 0."""
    return _accuracy(runs, "density", size, "weight density of quantized layers (non-zeros / weights)",
                     "Accuracy vs weight density of trained models")

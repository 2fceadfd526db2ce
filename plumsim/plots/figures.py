"""Figures of a sweep's results table (matplotlib, Agg backend: no display needed). Each figure is written as
PNG (for the report and quick looks) and SVG (for papers).

Every figure states its conventions in its title: the reference configuration, the mode and the
weight density are those of :mod:`plumsim.results.aggregate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from plumsim.results import (energy_group_columns, focus_workload, machine_note, main_mode, reference_configs,
                             unit_of, workload_totals)

SCHEME_ORDER = ("fp", "binary", "ternary", "signed-binary")
SCHEME_COLORS = {"fp": "#7f7f7f", "binary": "#1f77b4", "ternary": "#ff7f0e", "signed-binary": "#2ca02c"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FIGURES = ("energy_vs_density", "attribution", "size_scaling", "pareto", "layer_breakdown")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def _scheme_key(s: str) -> tuple:
    return (SCHEME_ORDER.index(s) if s in SCHEME_ORDER else len(SCHEME_ORDER), s)


def _panels(plt, n: int, width=5.0, height=4.0):
    cols = min(3, max(1, n))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _yscale(ax, values) -> None:
    """Log scale only when the values span more than ~1.5 decades (else a linear axis reads better)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() / v.min() > 30:
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))


#: what every figure is written as: PNG at print resolution, and PDF / SVG with their text kept as text
#: (searchable, editable, same font as the paper's): SVG text as <text>, PDF fonts embedded as TrueType
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300


def _save(fig, out: Path, name: str) -> list[Path]:
    import matplotlib

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
        for ext in FORMATS:
            p = out / f"{name}.{ext}"
            fig.savefig(p, dpi=PNG_DPI if ext == "png" else None, bbox_inches="tight")
            paths.append(p)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


# ------------------------------------------------------------------------------------------------------

def plot_energy_vs_density(df: pd.DataFrame, out: Path) -> list[Path]:
    """Workload energy vs weight density, one panel per accelerator (reference config), colour = scheme,
    marker = workload family; a thin line joins the versions of one family in density order."""
    plt = _plt()
    mode = main_mode(df)
    tot = workload_totals(df[df["mode"] == mode])
    refs = reference_configs(df)
    unit = unit_of(df)
    families = list(dict.fromkeys(tot["family"]))
    native = workload_totals(df[df["mode"] == "native"]) if mode != "native" and (df["mode"] == "native").any() \
        else None
    fig, axes = _panels(plt, len(refs))
    for ax, (acc, cid) in zip(axes, refs.items()):
        t = tot[tot["config_id"] == cid]
        for fi, fam in enumerate(families):
            f = t[t["family"] == fam].sort_values("weight_density")
            if f.empty:
                continue
            ax.plot(f["weight_density"], f["energy"], "-", color="0.75", lw=1, zorder=1)
            for _, r in f.iterrows():
                ax.scatter(r["weight_density"], r["energy"], color=SCHEME_COLORS.get(r["workload_scheme"], "k"),
                           marker=MARKERS[fi % len(MARKERS)], s=55, zorder=2, edgecolor="k", lw=0.5)
            if native is not None:   # STONNE's own dataflow beside it: hollow markers
                n = native[(native["config_id"] == cid) & (native["family"] == fam)]
                for _, r in n.iterrows():
                    ax.scatter(r["weight_density"], r["energy"], facecolor="none", s=55, zorder=2, lw=1.0,
                               edgecolor=SCHEME_COLORS.get(r["workload_scheme"], "k"),
                               marker=MARKERS[fi % len(MARKERS)])
        vals = t["energy"] if native is None else pd.concat([t["energy"], native[native["config_id"] == cid]["energy"]])
        _yscale(ax, vals)
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("weight density of quantized layers (non-zeros / weights)")
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.set_title(f"{acc}: {cid}\n{mode}: {machine_note(df, cid, [mode])}", fontsize=9)
        ax.grid(True, alpha=0.3, which="both")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=SCHEME_COLORS.get(s, "k"), label=s)
               for s in sorted(set(tot["workload_scheme"]), key=_scheme_key)]
    handles += [Line2D([], [], ls="", marker=MARKERS[i % len(MARKERS)], color="0.4", label=f)
                for i, f in enumerate(families)]
    if native is not None:
        handles += [Line2D([], [], ls="", marker="o", color="0.4", label=f"filled: {mode}"),
                    Line2D([], [], ls="", marker="o", markerfacecolor="none", color="0.4",
                           label="hollow: native (STONNE)")]
    fig.suptitle(f"Energy vs weight density (mode {mode}, reference configuration per accelerator)")
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper left", fontsize=8, bbox_to_anchor=(1.0, 0.95),
               title="colour: scheme\nmarker: network", title_fontsize=8)
    return _save(fig, out, "energy_vs_density")


def plot_attribution(df: pd.DataFrame, out: Path) -> list[Path]:
    """Stacked bars of the dense energy split into sparsity share, repetition share and remaining energy
    (skip+repeat), in % of dense energy, per (family, scheme); one panel per accelerator (reference config)."""
    plt = _plt()
    need = ["energy_dense", "energy_sparsity_share", "energy_repetition_share", "energy_remaining"]
    d0 = df[df["mode"] == df["mode"].iloc[0]]
    refs = reference_configs(df)
    fig, axes = plt.subplots(len(refs), 1, figsize=(max(6.0, 0.45 * d0["workload"].nunique() + 2.5),
                                                    3.6 * len(refs)), squeeze=False)
    axes = list(axes[:, 0])
    if d0[need].isna().all().all():
        for ax in axes:
            ax.text(0.5, 0.5, "attribution needs all four modes\n(dense, skip, repeat, skip+repeat)",
                    ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return _save(fig, out, "attribution")
    tot = workload_totals(d0)
    colors = {"energy_sparsity_share": "#d62728", "energy_repetition_share": "#9467bd",
              "energy_remaining": "#bcbd22"}
    labels = {"energy_sparsity_share": "sparsity share", "energy_repetition_share": "repetition share",
              "energy_remaining": "remaining (skip+repeat energy)"}
    for ax, (acc, cid) in zip(axes, refs.items()):
        t = tot[tot["config_id"] == cid].copy()
        t["_s"] = t["workload_scheme"].map(_scheme_key)
        t = t.sort_values(["family", "_s", "weight_density"], kind="stable")
        x = np.arange(len(t))
        pos = np.zeros(len(t))
        neg = np.zeros(len(t))
        for col in ("energy_remaining", "energy_repetition_share", "energy_sparsity_share"):
            v = 100.0 * t[col].to_numpy(float) / t["energy_dense"].to_numpy(float)
            bottom = np.where(v >= 0, pos, neg)
            ax.bar(x, v, bottom=bottom, color=colors[col], label=labels[col], edgecolor="k", lw=0.4)
            pos += np.where(v >= 0, v, 0)
            neg += np.where(v < 0, v, 0)
        names = [f"{f}\n{s}" + ("" if pd.isna(d) else f" d={d:.2f}")
                 for f, s, d in zip(t["family"], t["workload_scheme"], t["density_target"])]
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylabel("share of dense energy (%)")
        ax.set_title(f"{acc}: {cid} ({machine_note(df, cid, ['dense', 'skip', 'repeat', 'skip+repeat'])})",
                     fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Attribution of the energy saved: sparsity vs repetition (Shapley shares), "
                 "reference configuration")
    fig.tight_layout()
    h, lab = axes[0].get_legend_handles_labels()
    fig.legend(h[::-1], lab[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.9))
    return _save(fig, out, "attribution")


def plot_size_scaling(df: pd.DataFrame, out: Path) -> list[Path]:
    """Cycles and energy vs PE-array size (ms_size, multipliers) per accelerator, for the focus workload in
    the main mode; at each size the configuration with the least energy over the other axes."""
    plt = _plt()
    mode = main_mode(df)
    wl = focus_workload(df)
    tot = workload_totals(df[(df["mode"] == mode) & (df["workload"] == wl)])
    unit = unit_of(df)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (acc, g) in enumerate(tot.groupby("accelerator", sort=False)):
        best = g.loc[g.groupby("ms_size")["energy"].idxmin()].sort_values("ms_size")
        note = machine_note(df, g["config_id"].iloc[0], [mode])
        kw = dict(marker=MARKERS[i % len(MARKERS)], label=acc + ("" if note == "STONNE-faithful" else " (hypothetical)"))
        a1.plot(best["ms_size"], best["cycles"], **kw)
        a2.plot(best["ms_size"], best["energy"], **kw)
    for ax, lab, col in ((a1, "cycles per inference", "cycles"), (a2, f"energy per inference ({unit})", "energy")):
        ax.set_xscale("log", base=2)
        _yscale(ax, tot[col])
        ax.set_xlabel("PE-array size (multipliers, ms_size)")
        ax.set_ylabel(lab)
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"Scaling with PE-array size: {wl}, mode {mode} (best dn_bw/rn_bw per size)")
    fig.tight_layout()
    return _save(fig, out, "size_scaling")


def pareto_front(cycles: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both cycles and energy, by increasing cycles."""
    order = np.lexsort((energy, cycles))
    front, best = [], np.inf
    for i in order:
        if energy[i] < best:
            front.append(i)
            best = energy[i]
    return np.asarray(front, dtype=int)


def plot_pareto(df: pd.DataFrame, out: Path) -> list[Path]:
    """Energy vs cycles of every configuration (focus workload, main mode), colour = accelerator, with the
    Pareto front across all configurations."""
    plt = _plt()
    mode = main_mode(df)
    wl = focus_workload(df)
    tot = workload_totals(df[(df["mode"] == mode) & (df["workload"] == wl)]).reset_index(drop=True)
    unit = unit_of(df)
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, (acc, g) in enumerate(tot.groupby("accelerator", sort=False)):
        note = machine_note(df, g["config_id"].iloc[0], [mode])
        ax.scatter(g["cycles"], g["energy"], marker=MARKERS[i % len(MARKERS)], s=28, alpha=0.75,
                   label=acc + ("" if note == "STONNE-faithful" else " (hypothetical)"))
    f = pareto_front(tot["cycles"].to_numpy(float), tot["energy"].to_numpy(float))
    ft = tot.iloc[f]
    ax.step(ft["cycles"], ft["energy"], where="post", color="k", lw=1.2, label="Pareto front")
    ax.scatter(ft["cycles"], ft["energy"], facecolor="none", edgecolor="k", s=90, lw=1.2)
    for _, r in ft.head(6).iterrows():
        ax.annotate(r["config_id"], (r["cycles"], r["energy"]), fontsize=6, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cycles per inference")
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.set_title(f"Energy vs cycles, {len(tot)} configurations: {wl}, mode {mode}", fontsize=10)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out, "pareto")


def plot_layer_breakdown(df: pd.DataFrame, out: Path) -> list[Path]:
    """Per-layer energy by component group (stacked), focus workload, main mode, one panel per accelerator
    (reference configuration)."""
    plt = _plt()
    mode = main_mode(df)
    wl = focus_workload(df)
    d = df[(df["mode"] == mode) & (df["workload"] == wl)]
    refs = reference_configs(df)
    groups = energy_group_columns(df)
    groups = [g for g in groups if d[g].abs().sum() > 0]
    unit = unit_of(df)
    nl = d["layer_index"].nunique()
    fig, axes = plt.subplots(len(refs), 1, figsize=(max(7, 0.38 * nl + 3), 3.4 * len(refs)), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (acc, cid) in zip(axes[:, 0], refs.items()):
        t = d[d["config_id"] == cid].sort_values("layer_index")
        x = np.arange(len(t))
        bottom = np.zeros(len(t))
        for gi, g in enumerate(groups):
            v = t[g].to_numpy(float)
            ax.bar(x, v, bottom=bottom, color=cmap(gi % 10), label=g.removeprefix("energy_").replace("_", " "),
                   edgecolor="k", lw=0.3)
            bottom += v
        ax.set_xticks(x, t["layer"], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"energy ({unit})")
        ax.set_title(f"{acc}: {cid} ({mode}: {machine_note(df, cid, [mode])})", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"Per-layer energy by component: {wl}, mode {mode}")
    fig.tight_layout()
    h, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(h[::-1], lab[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.95),
               title="component group", title_fontsize=8)
    return _save(fig, out, "layer_breakdown")


PLOTTERS = {"energy_vs_density": plot_energy_vs_density, "attribution": plot_attribution,
            "size_scaling": plot_size_scaling, "pareto": plot_pareto, "layer_breakdown": plot_layer_breakdown}


def plot_frame(df: pd.DataFrame, out: str | Path, only=None) -> list[Path]:
    """Write every figure (or those named in ``only``) of a results table into folder ``out``."""
    out = Path(out)
    paths = []
    for name, fn in PLOTTERS.items():
        if only and name not in only:
            continue
        paths += fn(df, out)
    return paths

"""Figures of a sweep's results table. Each function takes the results table (``results.parquet`` as a
DataFrame, :mod:`plumsim.results.schema`) and returns ``(fig, ax)`` (``ax``: an array of axes for several
panels) without writing anything; :func:`plumsim.plots.style.save` writes PNG / PDF / SVG.

Common keywords: ``size`` ("column", 3.5 in, or "double", 7 in), ``config`` (a config_id; default
:func:`plumsim.results.default_config`), ``workload`` (default :func:`plumsim.results.focus_workload`),
``mode`` (default :func:`plumsim.results.main_mode`), ``metric`` ("energy" or "cycles"). Hypothetical
machines (a mode STONNE cannot run on the controller, the results' ``stonne_faithful``) are named in the
title or the legend of every figure that shows them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from plumsim.plots import style
from plumsim.results import (attribution_frame, config_label, default_config, energy_group_columns,
                             focus_workload, hypothetical_modes, main_mode, metric_unit, mode_totals,
                             workload_totals)


def _hyp(df, config, modes) -> str:
    """' (hypothetical machine)' when any of ``modes`` is one on ``config``."""
    return " (hypothetical machine)" if set(modes) & set(hypothetical_modes(df, config)) else ""


def _machines(df, config, modes) -> str:
    """'hypothetical: a, b' (the modes STONNE cannot run on ``config``) or 'STONNE-faithful'."""
    hyp = [m for m in modes if m in hypothetical_modes(df, config)]
    return f"hypothetical machine: {', '.join(hyp)}" if hyp else "STONNE-faithful"


def _grid(n: int, size: str, row_in: float):
    """Panels for ``n`` small multiples: two per row at column width, up to four at double width; the
    spare slots are returned hidden (the legend goes into the first of them)."""
    ncols = 1 if n == 1 else (2 if size == "column" else min(n, 4))
    nrows = int(np.ceil(n / ncols))
    fig, axes = style.new(size, nrows, ncols, height=row_in * nrows + 0.45)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_axis_off()
    return fig, flat[:n], flat[n:]


def _ticks(fig, size: str) -> None:
    """Fix tick fonts and grid lines on every axes (they are re-created at save time, outside the rc)."""
    f = style.FONT_PT[size] - 0.5
    for ax in fig.axes:
        ax.tick_params(labelsize=f, width=0.6, length=2.5, which="major")
        ax.tick_params(width=0.5, length=1.5, which="minor")


def _title(fig, text: str, size: str) -> None:
    fig.suptitle(style.wrap(text, size), fontsize=style.FONT_PT[size] + 0.5)


# ------------------------------------------------------------------------------------------------------

def energy_vs_density(df: pd.DataFrame, *, size: str = "column", config=None, mode=None, metric="energy"):
    """Energy (or cycles) per inference vs weight density of the quantized layers, on one configuration;
    one panel per network, one curve per scheme (points of a scheme at several densities joined in density
    order). ``mode`` filled markers and solid lines; STONNE's own ``native`` dataflow hollow and dashed.
    Markers that would hide one another (different schemes or variants at about the same point) are
    spread sideways by a few points around the true density (:func:`plumsim.plots.style.dodge_offsets`);
    the lines stay at the true densities. y from 0 (ratios are read)."""
    config = config or default_config(df)
    mode = mode or main_mode(df)
    d = df[df["config_id"] == config]
    tot = workload_totals(d[d["mode"] == mode])
    native = workload_totals(d[d["mode"] == "native"]) if mode != "native" and (d["mode"] == "native").any() \
        else None
    families = list(dict.fromkeys(tot["family"]))
    schemes = sorted(set(tot["workload_scheme"]), key=style.scheme_key)
    unit = metric_unit(df, metric)
    with style.context(size):
        fig, axes, spare = _grid(len(families), size, (1.45 if len(families) > 1 else 1.9) if size == "column"
                                 else 2.2)
        for ax, fam in zip(axes, families):
            pts, vals = [], []
            for k, s in enumerate(schemes):
                color, marker = style.scheme_style(s, k)
                for frame, filled in ((tot, True), (native, False)):
                    if frame is None:
                        continue
                    f = frame[(frame["family"] == fam) & (frame["workload_scheme"] == s)].sort_values(
                        "weight_density")
                    if f.empty:
                        continue
                    ax.plot(f["weight_density"], f[metric], ls="-" if filled else "--", color=color, lw=0.9,
                            zorder=2)
                    kw = dict(color=color, marker=marker, mfc=color if filled else "white", mec=color, mew=0.8)
                    pts += [((s, filled), x, y, kw) for x, y in zip(f["weight_density"], f[metric])]
                    vals += list(f[metric])
            style.ylim_from_zero(ax, vals)
            ax.set_xlim(0, 1.05)
            offs = style.dodge_offsets([p[:3] for p in pts], 1.05, ax.get_ylim()[1] - ax.get_ylim()[0], size)
            for ((s, filled), x, y, kw), dx in zip(pts, offs):
                m, = ax.plot([x], [y], ls="", transform=style.shifted(ax, dx), zorder=4 if filled else 3,
                             clip_on=False, **kw)
                m.set_gid(f"scheme:{s}")
            ax.set_title(fam, loc="right")
            ax.grid(True, lw=0.4, alpha=0.35)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=style.scheme_style(s, k)[0], marker=style.scheme_style(s, k)[1],
                          label=s) for k, s in enumerate(schemes)]
        handles.append(Line2D([], [], color="0.3", marker="o", label=f"{mode}{_hyp(df, config, [mode])}"))
        if native is not None:
            handles.append(Line2D([], [], color="0.3", marker="o", mfc="white", ls="--",
                                  label="native (STONNE's dataflow)"))
        xlab, ylab = "weight density of quantized layers (non-zeros / weights)", f"{metric} per inference ({unit})"
        if len(axes) == 1:
            axes[0].set_xlabel(xlab)
            axes[0].set_ylabel(ylab)
        else:   # a label per bottom panel (a figure-wide one would collide with the legend below)
            ncols = axes[0].get_gridspec().ncols
            for i, ax in enumerate(axes):
                if i + ncols >= len(axes) + len(spare) or (spare and i + ncols >= len(axes)):
                    ax.set_xlabel("weight density (fraction)")
            fig.supylabel(ylab, fontsize=style.FONT_PT[size])
        if spare:
            spare[0].legend(handles=handles, loc="center", fontsize=style.FONT_PT[size] - 0.5)
        else:
            fig.legend(handles=handles, loc="outside lower center", ncol=2 if size == "column" else 3)
        _title(fig, f"{metric.capitalize()} vs weight density of the quantized layers on "
               f"{config_label(df, config)}", size)
        _ticks(fig, size)
    return fig, np.asarray(axes)


def _layer_names(names, size: str) -> list[str]:
    """Layer names for tick labels; at column width 'layer' -> 'L' and 'shortcut' -> 'sc' (ResNet names)."""
    names = [str(n) for n in names]
    if size != "column":
        return names
    return [n.replace("layer", "L").replace("shortcut", "sc") for n in names]


def _bar_labels(t: pd.DataFrame) -> list[str]:
    return [s + ("" if pd.isna(dt) else f"\nd={dt:.2f}") for s, dt in zip(t["workload_scheme"], t["density_target"])]


def _stack(ax, x, t: pd.DataFrame, width=0.72):
    """Stacked bars remaining + repetition + sparsity (= dense); negative shares below zero; dense marked."""
    pos = np.zeros(len(t))
    neg = np.zeros(len(t))
    labels = {"remaining": "remaining (skip+repeat)", "repetition_share": "repetition share",
              "sparsity_share": "sparsity share"}
    for col in ("remaining", "repetition_share", "sparsity_share"):
        v = t[col].to_numpy(float)
        bottom = np.where(v >= 0, pos, neg)
        ax.bar(x, v, bottom=bottom, width=width, color=style.SHARE_COLORS[col.split("_")[0]],
               label=labels[col], edgecolor="k", lw=0.3)
        pos += np.where(v >= 0, v, 0)
        neg += np.where(v < 0, v, 0)
    dense = t["dense"].to_numpy(float)
    ax.hlines(dense, x - width / 2, x + width / 2, color="k", lw=1.1, label="dense (= the three summed)", zorder=4)
    ax.axhline(0, color="k", lw=0.5)
    return np.concatenate([pos, neg, dense])


def attribution(df: pd.DataFrame, *, size: str = "column", config=None, metric="energy", normalize="baseline"):
    """The dense -> skip+repeat saving of ``metric`` split into its sparsity and repetition shares
    (Shapley), one bar per workload, one panel per network, on one configuration. ``normalize="baseline"``:
    every bar in % of one common baseline per network, the dense binary workload (else the largest dense;
    :func:`plumsim.results.attribution_frame`), so bars of different schemes compare; ``"absolute"``: in
    the metric's unit. Bars are never clipped (the y axis reaches the tallest stack)."""
    config = config or default_config(df)
    t = attribution_frame(df, config, metric=metric, normalize=normalize)
    with style.context(size):
        if t.empty:
            fig, ax = style.new(size, height=1.2)
            ax[0, 0].text(0.5, 0.5, "attribution needs all four modes\n(dense, skip, repeat, skip+repeat)",
                          ha="center", va="center", transform=ax[0, 0].transAxes)
            ax[0, 0].set_axis_off()
            return fig, ax[0, 0]
        fams = list(dict.fromkeys(t["family"]))
        counts = [int((t["family"] == f).sum()) for f in fams]
        fig, axes = style.new(size, 1, len(fams), height=2.7 if size == "column" else 2.8,
                              sharey=normalize == "baseline", gridspec_kw={"width_ratios": counts})
        axes = list(axes[0])
        vals = []
        for ax, fam in zip(axes, fams):
            g = t[t["family"] == fam]
            x = np.arange(len(g))
            vals += list(_stack(ax, x, g))
            ax.set_xticks(x, _bar_labels(g), rotation=45, ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(g) - 0.4)
            ax.set_title(fam if normalize != "baseline" or len(g) < 3 else f"{fam}\n(100%: {g['baseline_scheme'].iloc[0]})",
                         fontsize=style.FONT_PT[size] - 0.5)
            ax.grid(True, axis="y", lw=0.4, alpha=0.35)
            if normalize != "baseline":
                style.ylim_from_zero(ax, list(_stack_extent(g)))
        if normalize == "baseline":
            style.ylim_from_zero(axes[0], vals)
            ylab = f"{metric} (% of dense {t['baseline_scheme'].iloc[0]})"
        else:
            ylab = f"{metric} ({metric_unit(df, metric)})"
        fig.supylabel(ylab, fontsize=style.FONT_PT[size])
        h, lab = axes[0].get_legend_handles_labels()
        fig.legend(h[::-1], lab[::-1], loc="outside lower center", ncol=2)
        _title(fig, f"{metric.capitalize()} saved by sparsity and repetition on {config_label(df, config)}\n"
               + _machines(df, config, ["dense", "skip", "repeat", "skip+repeat"]), size)
        _ticks(fig, size)
    return fig, np.asarray(axes)


def _stack_extent(g: pd.DataFrame):
    v = g[["remaining", "repetition_share", "sparsity_share"]].to_numpy(float)
    return np.concatenate([np.where(v > 0, v, 0).sum(1), np.where(v < 0, v, 0).sum(1), g["dense"].to_numpy(float)])


def layer_attribution(df: pd.DataFrame, *, size: str = "column", config=None, workload=None, metric="energy",
                      normalize="baseline"):
    """Per layer of one workload: its dense ``metric`` split into remaining (skip+repeat), repetition and
    sparsity shares; ``normalize="baseline"``: in % of the network's common baseline (the dense binary
    workload's total, so the bars of all layers add up to the workload's bar in :func:`attribution`)."""
    config = config or default_config(df)
    workload = workload or focus_workload(df[df["config_id"] == config])
    t = attribution_frame(df, config, metric=metric, normalize=normalize, by="layer", workload=workload)
    with style.context(size):
        fig, ax = style.new(size, height=3.0 if size == "column" else 3.0)
        ax = ax[0, 0]
        if t.empty:
            ax.text(0.5, 0.5, "attribution needs all four modes\n(dense, skip, repeat, skip+repeat)",
                    ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return fig, ax
        x = np.arange(len(t))
        style.ylim_from_zero(ax, _stack(ax, x, t, width=0.78))
        ax.set_xticks(x, _layer_names(t["layer"], size), rotation=90, fontsize=style.FONT_PT[size] - 1.5)
        ax.set_xlim(-0.6, len(t) - 0.4)
        ax.grid(True, axis="y", lw=0.4, alpha=0.35)
        ax.set_ylabel(f"{metric} (% of {t['baseline_scheme'].iloc[0]} dense total)" if normalize == "baseline"
                      else f"{metric} ({metric_unit(df, metric)})")
        h, lab = ax.get_legend_handles_labels()
        fig.legend(h[::-1], lab[::-1], loc="outside lower center", ncol=2)
        _title(fig, f"Per-layer {metric} saved: {workload}, {config_label(df, config)}\n"
               + _machines(df, config, ["dense", "skip", "repeat", "skip+repeat"]), size)
        _ticks(fig, size)
        ax.tick_params(axis="x", labelsize=style.FONT_PT[size] - 1.5)
    return fig, ax


def modes(df: pd.DataFrame, *, size: str = "column", config=None, workload=None, metric="energy"):
    """``metric`` per inference of every swept dataflow (mode), grouped by workload of one network (that of
    ``workload``), on one configuration; modes STONNE cannot run there (hypothetical machines) hatched and
    named in the legend. y from 0."""
    config = config or default_config(df)
    fam = None
    if workload is not None:
        fam = df.loc[df["workload"] == workload, "family"].iloc[0]
    t = mode_totals(df, config, metric=metric, family=fam)
    wls = list(dict.fromkeys(t.sort_values("workload_scheme", key=lambda s: s.map(style.scheme_key),
                                           kind="stable")["workload"]))
    ms = sorted(set(t["mode"]), key=style.mode_key)
    with style.context(size):
        slant = len(wls) > (4 if size == "column" else 8)   # many groups: one-line labels, slanted
        fig, ax = style.new(size, height=(2.1 if size == "column" else 2.6) + (0.7 if slant else 0))
        ax = ax[0, 0]
        w = 0.8 / len(ms)
        hyp = hypothetical_modes(df, config)
        for j, m in enumerate(ms):
            r = t[t["mode"] == m].set_index("workload").reindex(wls)
            ax.bar(np.arange(len(wls)) + (j - (len(ms) - 1) / 2) * w, r["value"], width=w * 0.95,
                   color=style.MODE_COLORS.get(m, "0.5"), edgecolor="k", lw=0.3,
                   hatch="//////" if m in hyp else None, label=m)
        style.ylim_from_zero(ax, t["value"])
        labels = t.drop_duplicates("workload").set_index("workload").reindex(wls)
        names = _bar_labels(labels.reset_index())
        if slant:
            ax.set_xticks(np.arange(len(wls)), [n.replace("\n", " ") for n in names], rotation=40, ha="right",
                          rotation_mode="anchor")
        else:
            ax.set_xticks(np.arange(len(wls)), names)
        ax.set_ylabel(f"{metric} ({metric_unit(df, metric)})")
        ax.grid(True, axis="y", lw=0.4, alpha=0.35)
        from matplotlib.patches import Patch

        h, lab = ax.get_legend_handles_labels()
        if any(m in hyp for m in ms):
            h.append(Patch(facecolor="white", edgecolor="k", lw=0.3, hatch="//////"))
            lab.append("hypothetical machine")
        fig.legend(h, lab, loc="outside lower center", ncol=3)
        _title(fig, f"{metric.capitalize()} per inference and dataflow: {t['family'].iloc[0]} on "
               f"{config_label(df, config)}", size)
        _ticks(fig, size)
    return fig, ax


def size_scaling(df: pd.DataFrame, *, size: str = "column", workload=None, mode=None):
    """Cycles and energy per inference vs PE-array size (ms_size), one line per accelerator, for one
    workload in one mode; at each size the configuration with the least energy over the other axes."""
    mode = mode or main_mode(df)
    workload = workload or focus_workload(df)
    tot = workload_totals(df[(df["mode"] == mode) & (df["workload"] == workload)])
    hyp = [acc for acc, g in tot.groupby("accelerator", sort=False) if _hyp(df, g["config_id"].iloc[0], [mode])]
    with style.context(size):
        fig, axes = style.new(size, 1, 2, height=2.3 if size == "column" else 2.6)
        axes = list(axes[0])
        for i, (acc, g) in enumerate(tot.groupby("accelerator", sort=False)):
            best = g.loc[g.groupby("ms_size")["energy"].idxmin()].sort_values("ms_size")
            for ax, col in zip(axes, ("cycles", "energy")):
                ax.plot(best["ms_size"], best[col], marker=style.ACCEL_MARKERS[i % 6],
                        color=style.ACCEL_COLORS[i % 6], label=acc, clip_on=False)
        sizes = sorted(set(tot["ms_size"].astype(int)))
        for ax, col in zip(axes, ("cycles", "energy")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(x) for x in sizes])
            ax.minorticks_off()
            v = tot[col].to_numpy(float)
            if v.size and v.min() > 0 and v.max() / v.min() > 30:
                ax.set_yscale("log")
            else:
                style.ylim_from_zero(ax, v)
            ax.set_ylabel(f"{col} ({metric_unit(df, col)})")
            ax.set_xlabel("multipliers (ms_size)")
            ax.grid(True, lw=0.4, alpha=0.35, which="both")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(hyp) or 3)
        note = f"; hypothetical machine on {', '.join(hyp)}" if hyp else ""
        _title(fig, f"Cycles and energy vs PE-array size: {workload}, {mode}, best bandwidths per size{note}",
               size)
        _ticks(fig, size)
    return fig, np.asarray(axes)


def pareto_front(cycles: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both cycles and energy, by increasing cycles."""
    order = np.lexsort((energy, cycles))
    front, best = [], np.inf
    for i in order:
        if energy[i] < best:
            front.append(i)
            best = energy[i]
    return np.asarray(front, dtype=int)


def pareto(df: pd.DataFrame, *, size: str = "column", workload=None, mode=None):
    """Energy vs cycles per inference of every configuration (one workload, one mode), marker and colour per
    accelerator, with the Pareto front across all configurations (log-log)."""
    mode = mode or main_mode(df)
    workload = workload or focus_workload(df)
    tot = workload_totals(df[(df["mode"] == mode) & (df["workload"] == workload)]).reset_index(drop=True)
    with style.context(size):
        fig, ax = style.new(size, height=2.4 if size == "column" else 3.4)
        ax = ax[0, 0]
        for i, (acc, g) in enumerate(tot.groupby("accelerator", sort=False)):
            lab = acc + _hyp(df, g["config_id"].iloc[0], [mode]).replace(" machine", "")
            ax.scatter(g["cycles"], g["energy"], marker=style.ACCEL_MARKERS[i % 6], s=14, alpha=0.8,
                       color=style.ACCEL_COLORS[i % 6], label=lab, lw=0, zorder=3)
        f = pareto_front(tot["cycles"].to_numpy(float), tot["energy"].to_numpy(float))
        ft = tot.iloc[f]
        ax.step(ft["cycles"], ft["energy"], where="post", color="k", lw=0.8, label="Pareto front", zorder=2)
        ax.scatter(ft["cycles"], ft["energy"], facecolor="none", edgecolor="k", s=36, lw=0.7, zorder=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("cycles per inference (cycles)")
        ax.set_ylabel(f"energy per inference ({metric_unit(df, 'energy')})")
        ax.grid(True, lw=0.4, alpha=0.35, which="both")
        ax.legend(loc="best")
        ax.margins(0.08)
        _title(fig, f"Energy vs cycles, {len(tot)} configurations: {workload}, mode {mode}", size)
        _ticks(fig, size)
    return fig, ax


def layer_breakdown(df: pd.DataFrame, *, size: str = "column", config=None, workload=None, mode=None):
    """Per-layer energy of one workload by component group (stacked), one configuration, one mode."""
    config = config or default_config(df)
    mode = mode or main_mode(df)
    workload = workload or focus_workload(df[df["config_id"] == config])
    d = df[(df["mode"] == mode) & (df["workload"] == workload) & (df["config_id"] == config)]
    d = d.sort_values("layer_index")
    groups = [g for g in energy_group_columns(df) if d[g].abs().sum() > 0]
    with style.context(size):
        fig, ax = style.new(size, height=3.0 if size == "column" else 3.0)
        ax = ax[0, 0]
        cmap = style.plt().get_cmap("tab10")
        x = np.arange(len(d))
        bottom = np.zeros(len(d))
        for gi, g in enumerate(groups):
            v = d[g].to_numpy(float)
            ax.bar(x, v, bottom=bottom, width=0.78, color=cmap(gi % 10), edgecolor="k", lw=0.25,
                   label=g.removeprefix("energy_").replace("_", " "))
            bottom += v
        style.ylim_from_zero(ax, bottom)
        ax.set_xticks(x, _layer_names(d["layer"], size), rotation=90)
        ax.set_xlim(-0.6, len(d) - 0.4)
        ax.set_ylabel(f"energy per layer ({metric_unit(df, 'energy')})")
        ax.grid(True, axis="y", lw=0.4, alpha=0.35)
        h, lab = ax.get_legend_handles_labels()
        fig.legend(h[::-1], lab[::-1], loc="outside lower center", ncol=3 if size == "column" else 4)
        _title(fig, f"Per-layer energy by component: {workload}, {config_label(df, config)}, "
               f"{mode}{_hyp(df, config, [mode])}", size)
        _ticks(fig, size)
        ax.tick_params(axis="x", labelsize=style.FONT_PT[size] - 1.5)
    return fig, ax

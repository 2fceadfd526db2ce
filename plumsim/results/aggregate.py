"""Aggregations of a results table that figures and the report share (one definition each).

Conventions:
- *reference configuration* of an accelerator: its largest PE array (ms_size), then the widest dn_bw and
  rn_bw, among the swept configurations;
- *main mode*: ``skip+repeat`` (zero-skipping and repetition both exploited) when it was swept, else the
  last swept mode;
- workload totals sum the layers; *weight density* counts the quantized layers only (FP stem and classifier
  would hide the scheme's density), or all layers of an all-FP workload.
"""

from __future__ import annotations

import pandas as pd

CONFIG_COLS = ["config_id", "accelerator", "controller_type", "ms_size", "dn_bw", "rn_bw", "ms_rows", "ms_cols",
               "accumulation_buffer", "tile_policy"]
WL_COLS = ["workload", "family", "workload_scheme", "density_target"]


def main_mode(df: pd.DataFrame) -> str:
    """The mode figures show when one is shown: ``skip+repeat`` if swept, else the last swept mode."""
    modes = list(dict.fromkeys(df["mode"]))
    return "skip+repeat" if "skip+repeat" in modes else modes[-1]


def unit_of(df: pd.DataFrame) -> str:
    """The energy unit of the table ('pJ', 'STONNE units'; several joined by '/')."""
    units = sorted(set(df["energy_unit"].astype(str)))
    return units[0] if len(units) == 1 else "/".join(units)


def workload_totals(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (configuration, workload, mode): cycles, energy, energy groups and attribution columns
    summed over layers (cycles, energy units as in the table); ``weight_density`` of the quantized layers
    (fraction)."""
    sums = [c for c in df.columns if (c.startswith("energy") and c != "energy_unit") or c.startswith("cycles")
            or c in ("multiplications", "macs")]
    keys = CONFIG_COLS + WL_COLS + ["mode", "energy_unit"]
    keys = [k for k in keys if k in df.columns]
    tot = df.groupby(keys, sort=False, dropna=False)[sums].sum(min_count=1).reset_index()
    q = df[df["scheme"] != "fp"]
    q = q if len(q) else df
    dens = q.groupby(["config_id", "workload", "mode"], sort=False)[["nnz", "numel"]].sum()
    dens = (dens["nnz"] / dens["numel"]).rename("weight_density").reset_index()
    allfp = df.groupby("workload")["scheme"].apply(lambda s: (s == "fp").all())
    if allfp.any():  # all-FP workloads: density of all their layers
        d2 = df[df["workload"].isin(allfp[allfp].index)].groupby(["config_id", "workload", "mode"])[
            ["nnz", "numel"]].sum()
        d2 = (d2["nnz"] / d2["numel"]).rename("weight_density").reset_index()
        dens = pd.concat([dens, d2], ignore_index=True).drop_duplicates(["config_id", "workload", "mode"])
    return tot.merge(dens, on=["config_id", "workload", "mode"], how="left")


def reference_configs(df: pd.DataFrame) -> dict[str, str]:
    """accelerator label -> config_id of its reference configuration (largest ms_size, dn_bw, rn_bw)."""
    cfg = df[["accelerator", "config_id", "ms_size", "dn_bw", "rn_bw"]].drop_duplicates("config_id")
    order = list(dict.fromkeys(cfg["accelerator"]))  # grid order
    cfg = cfg.sort_values(["ms_size", "dn_bw", "rn_bw"], ascending=False, kind="stable")
    best = {a: g["config_id"].iloc[0] for a, g in cfg.groupby("accelerator", sort=False)}
    return {a: best[a] for a in order}


def focus_workload(df: pd.DataFrame) -> str:
    """The workload most figures zoom in on: among those run on the most configurations, the largest (most
    MACs), signed-binary if there is one."""
    one = df[df["mode"] == df["mode"].iloc[0]]
    macs = one.drop_duplicates(["workload", "layer_index"]).groupby(
        ["workload", "workload_scheme"], sort=False)["macs"].sum().reset_index()
    macs["configs"] = macs["workload"].map(one.groupby("workload")["config_id"].nunique())
    macs["sb"] = macs["workload_scheme"] == "signed-binary"
    macs = macs.sort_values(["configs", "macs", "sb"], ascending=False, kind="stable")
    top = macs[(macs["configs"] == macs["configs"].iloc[0]) & (macs["macs"] == macs["macs"].iloc[0])]
    cands = top[top["sb"]]
    return str((cands if len(cands) else top)["workload"].iloc[0])


def machine_note(df: pd.DataFrame, config_id, modes) -> str:
    """Which of ``modes`` are hypothetical machines on this configuration ('' when all are STONNE-faithful),
    from the results' ``stonne_faithful`` column (results without it: every repetition mode)."""
    d = df[(df["config_id"] == config_id) & (df["mode"].isin(list(modes)))]
    if "stonne_faithful" in d:
        hyp = [m for m in dict.fromkeys(d["mode"]) if not bool(d[d["mode"] == m]["stonne_faithful"].iloc[0])]
    else:
        hyp = [m for m in modes if m != "native"]
    return f"hypothetical machine: {', '.join(hyp)}" if hyp else "STONNE-faithful"


# --- choices a figure is drawn for -------------------------------------------------------------------

METRICS = ("energy", "cycles")


def metric_unit(df: pd.DataFrame, metric: str) -> str:
    """Unit of ``metric`` ('cycles', or the energy unit of the table)."""
    return "cycles" if metric == "cycles" else unit_of(df)


def default_config(df: pd.DataFrame) -> str:
    """The configuration figures of one configuration show: the reference configuration of the accelerator
    that ran the most workloads (grid order breaks ties)."""
    refs = reference_configs(df)
    n = df.groupby("config_id")["workload"].nunique()
    return max(refs.values(), key=lambda c: (int(n.get(c, 0)), -list(refs.values()).index(c)))


def check_choices(df: pd.DataFrame, workload=None, config=None, mode=None, metric=None) -> None:
    """ConfigError (one line, naming the valid values) for a workload, configuration, mode or metric the
    results do not hold."""
    from plumsim.errors import ConfigError

    for field, value, valid in (("--workload", workload, list(dict.fromkeys(df["workload"]))),
                                ("--config", config, list(dict.fromkeys(df["config_id"]))),
                                ("--mode", mode, list(dict.fromkeys(df["mode"]))),
                                ("--metric", metric, list(METRICS))):
        if value is not None and value not in valid:
            raise ConfigError(f"{value!r} is not in these results; valid: {', '.join(map(str, valid))}",
                              field=field)
    if workload is not None and config is not None:
        ran = list(dict.fromkeys(df.loc[df["workload"] == workload, "config_id"]))
        if config not in ran:
            raise ConfigError(f"workload {workload!r} was not run on {config!r}; it ran on: {', '.join(ran)}",
                              field="--config")


def config_label(df: pd.DataFrame, config_id) -> str:
    """The configuration id for titles, prefixed by its accelerator label unless the id starts with it."""
    acc = df.loc[df["config_id"] == config_id, "accelerator"]
    if not len(acc) or str(config_id).startswith(str(acc.iloc[0])):
        return str(config_id)
    return f"{acc.iloc[0]} {config_id}"


def hypothetical_modes(df: pd.DataFrame, config_id) -> dict[str, str]:
    """mode -> what the hypothetical machine assumes, for the modes STONNE cannot run on this configuration."""
    d = df[df["config_id"] == config_id]
    if "stonne_faithful" not in d:
        return {m: "" for m in dict.fromkeys(d["mode"]) if m != "native"}
    g = d.groupby("mode", sort=False)[["stonne_faithful", "hypothesis"]].first()
    return {m: str(r["hypothesis"]) for m, r in g.iterrows() if not bool(r["stonne_faithful"])}


# --- attribution against one common baseline --------------------------------------------------------

SHARES = ("remaining", "repetition_share", "sparsity_share")


def _attr_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of one mode that carry the attribution columns (the value is the same on the four mode rows)."""
    has = df[df["energy_dense"].notna()] if "energy_dense" in df else df.iloc[:0]
    if has.empty:
        return has
    mode = "dense" if (has["mode"] == "dense").any() else has["mode"].iloc[0]
    return has[has["mode"] == mode]


def family_baselines(tot: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per family: the dense value every share of the family is a fraction of, and which workload it is:
    the binary workload's dense ``metric`` (the largest if several), else the largest dense of the family.
    ``tot``: workload totals with ``<metric>_dense``."""
    rows = []
    for fam, g in tot.groupby("family", sort=False):
        b = g[g["workload_scheme"] == "binary"]
        pick = b if len(b) else g
        r = pick.loc[pick[f"{metric}_dense"].idxmax()]
        rows.append({"family": fam, "baseline": float(r[f"{metric}_dense"]), "baseline_workload": r["workload"],
                     "baseline_scheme": r["workload_scheme"]})
    return pd.DataFrame(rows)


def attribution_frame(df: pd.DataFrame, config=None, metric: str = "energy", normalize: str = "baseline",
                      by: str = "workload", workload=None) -> pd.DataFrame:
    """The dense -> skip+repeat saving of ``metric`` split into its Shapley shares, on one configuration
    (default :func:`default_config`), one row per workload (``by="workload"``) or per layer of ``workload``
    (``by="layer"``, default :func:`focus_workload`).

    Columns: family, workload, workload_scheme, density_target, weight_density, (layer, layer_index),
    dense, sparsity_share, repetition_share, remaining (dense = the three summed), baseline,
    baseline_workload, unit. ``normalize="baseline"``: every value in % of the family's baseline
    (:func:`family_baselines`: dense binary of the same network, per layer too), unit '%';
    ``"absolute"``: in the metric's unit. Empty when the results lack the attribution (not all four of
    dense, skip, repeat, skip+repeat swept)."""
    if normalize not in ("baseline", "absolute"):
        raise ValueError("normalize must be 'baseline' or 'absolute'")
    config = config or default_config(df)
    d = _attr_rows(df[df["config_id"] == config])
    if d.empty:
        return pd.DataFrame()
    cols = {f"{metric}_{k}": k for k in ("dense",) + SHARES}
    tot = workload_totals(d).rename(columns=cols)
    base = family_baselines(tot.rename(columns={"dense": f"{metric}_dense"}), metric)
    if by == "layer":
        workload = workload or focus_workload(d)
        keep = ["family", "workload", "workload_scheme", "density_target", "layer", "layer_index"]
        out = d[d["workload"] == workload][keep + list(cols)].rename(columns=cols)
        out = out.sort_values("layer_index", kind="stable")
        out = out.merge(tot[["workload", "weight_density"]], on="workload", how="left")
    else:
        out = tot[["family", "workload", "workload_scheme", "density_target", "weight_density", *cols.values()]]
    out = out.merge(base, on="family", how="left").reset_index(drop=True)
    vals = ["dense", *SHARES]
    if normalize == "baseline":
        out[vals] = out[vals].div(out["baseline"], axis=0) * 100.0
        out["unit"] = "%"
    else:
        out["unit"] = metric_unit(df, metric)
    return out


def mode_totals(df: pd.DataFrame, config=None, metric: str = "energy", family=None) -> pd.DataFrame:
    """Workload totals of ``metric`` per mode on one configuration (default :func:`default_config`), for one
    family (default: that of :func:`focus_workload`): columns workload, workload_scheme, density_target,
    weight_density, mode, value, stonne_faithful, hypothesis."""
    config = config or default_config(df)
    d = df[df["config_id"] == config]
    family = family or d.loc[d["workload"] == focus_workload(d), "family"].iloc[0]
    d = d[d["family"] == family]
    tot = workload_totals(d)
    tot = tot.rename(columns={metric: "value"})
    hyp = hypothetical_modes(df, config)
    tot["stonne_faithful"] = ~tot["mode"].isin(list(hyp))
    tot["hypothesis"] = tot["mode"].map(hyp).fillna("")
    return tot[["family", "workload", "workload_scheme", "density_target", "weight_density", "mode", "value",
                "stonne_faithful", "hypothesis"]].reset_index(drop=True)


# --- trained models: accuracy beside the simulated cost ---------------------------------------------

def accuracy_runs(models: pd.DataFrame, df: pd.DataFrame | None = None, config=None, mode=None) -> pd.DataFrame:
    """One row per trained model: scheme, seed, val_acc (0..1), density (non-zero fraction of the quantized
    layers), workload, and, when its lowered workload is in ``df``, its energy, cycles and energy_unit on
    ``config`` (default :func:`default_config`) in ``mode`` (default :func:`main_mode`).

    ``models``: models.csv as the demo writes it (model, scheme, checkpoint, val_acc, quantized_density;
    optional seed, workload, density). The lowered workload of a model is its ``workload`` column, else the
    checkpoint folder's name (the demo lowers OUT/models/NAME to OUT/lowered/NAME), else model-scheme."""
    m = models.copy()
    if "val_acc" not in m or m["val_acc"].isna().all():
        return pd.DataFrame()
    if "workload" not in m:
        if "checkpoint" in m:
            m["workload"] = m["checkpoint"].astype(str).map(lambda p: p.rstrip("/").split("/")[-1])
        else:
            m["workload"] = m["model"].astype(str) + "-" + m["scheme"].astype(str)
    if "seed" not in m:
        m["seed"] = 0
    if "density" not in m:
        m["density"] = m["quantized_density"] if "quantized_density" in m else float("nan")
    out = m[["scheme", "seed", "val_acc", "density", "workload"]].copy()
    out = out[out["val_acc"].notna()]
    for c in ("energy", "cycles"):
        out[c] = float("nan")
    out["energy_unit"] = ""
    if df is not None and len(df) and out["workload"].isin(df["workload"]).any():
        if config is None:
            config = default_config(df)
            if not out["workload"].isin(df.loc[df["config_id"] == config, "workload"]).any():
                config = default_config(df[df["workload"].isin(out["workload"])])
        mode = mode or main_mode(df)
        d = df[(df["config_id"] == config) & (df["mode"] == mode) & df["workload"].isin(out["workload"])]
        if len(d):
            tot = workload_totals(d).set_index("workload")
            out["energy"] = out["workload"].map(tot["energy"])
            out["cycles"] = out["workload"].map(tot["cycles"])
            out["energy_unit"] = out["workload"].map(tot["energy_unit"]).fillna("")
        out.attrs.update(config=config, mode=mode)
    return out.reset_index(drop=True)


def accuracy_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scheme (in scheme order): seeds, acc_mean, acc_std (sample std over seeds, 0 for one), density,
    energy and cycles means and std."""
    if runs.empty:
        return pd.DataFrame()
    g = runs.groupby("scheme", sort=False)
    out = pd.DataFrame({"seeds": g["val_acc"].size(), "acc_mean": g["val_acc"].mean(),
                        "acc_std": g["val_acc"].std(ddof=1).fillna(0.0)})
    for c in ("density", "energy", "cycles"):
        out[f"{c}_mean"] = g[c].mean()
        out[f"{c}_std"] = g[c].std(ddof=1).fillna(0.0)
    out["energy_unit"] = g["energy_unit"].first()
    order = ["fp", "binary", "ternary", "signed-binary"]
    out = out.reset_index()
    out["_k"] = out["scheme"].map(lambda s: order.index(s) if s in order else len(order))
    return out.sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)

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

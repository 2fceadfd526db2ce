"""``report.html`` of a sweep folder: one file, no external resources (no scripts, fonts or remote images),
so it can be mailed or archived. Figures are PNGs embedded as base64 ``data:`` URIs.

Sections: summary (what was swept, when, how long), best configuration per accelerator and workload,
attribution per scheme, the figures, invalid configurations, the grid (YAML) and package versions.
"""

from __future__ import annotations

import base64
import html
import numbers
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from plumsim.plots import FIGURES
from plumsim.fileio import atomic_write_if_changed
from plumsim.sweep.store import INVALID_CSV, ResultStore, load_results

CAPTIONS = {
    "energy_vs_density": "Energy per inference vs weight density of the quantized layers, per scheme.",
    "attribution": "Energy saved, split into sparsity and repetition shares (Shapley), in % of dense energy.",
    "size_scaling": "Cycles and energy vs PE-array size per accelerator (best bandwidths per size).",
    "pareto": "Energy vs cycles of every configuration, with the Pareto front.",
    "layer_breakdown": "Per-layer energy by component group.",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.8em}
.muted{color:#666}
"""


def _table(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """A DataFrame as a plain HTML table (text left-aligned, numbers right-aligned, escaped)."""
    head = "".join(f'<th class="{"" if pd.api.types.is_numeric_dtype(df[c]) else "l"}">'
                   f'{html.escape(str(c))}</th>' for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            if isinstance(v, numbers.Real) and not isinstance(v, (numbers.Integral, bool)):
                txt = "" if pd.isna(v) else floatfmt.format(v)
                cells.append(f"<td>{txt}</td>")
            elif isinstance(v, numbers.Integral) and not isinstance(v, bool):
                cells.append(f"<td>{v}</td>")
            else:
                cells.append(f'<td class="l">{html.escape(str(v))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _unpriced(table_name) -> str:
    """The energy table's note on what it does not price ('' if all, or if the table cannot be loaded)."""
    from plumsim.energy.tables import load_energy_table
    from plumsim.errors import PlumsimError

    if not table_name:
        return ""
    try:
        return load_energy_table(str(table_name)).unpriced_note()
    except PlumsimError:
        return ""


def machines_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per controller and mode: STONNE-faithful or hypothetical, and what the hypothetical machine
    assumes (from the results' ``stonne_faithful`` and ``hypothesis`` columns)."""
    if "stonne_faithful" not in df:
        return pd.DataFrame()
    g = df.groupby(["controller_type", "mode"], sort=False)[["stonne_faithful", "hypothesis"]].first()
    g = g.reset_index()
    g["machine"] = np.where(g["stonne_faithful"], "STONNE-faithful", "hypothetical")
    return g[["controller_type", "mode", "machine", "hypothesis"]]


def best_configs(df: pd.DataFrame) -> pd.DataFrame:
    """Per accelerator and workload (main mode): the configuration with the least energy, its cycles, and
    the fastest configuration."""
    from plumsim.results import machine_note, main_mode, workload_totals

    mode = main_mode(df)
    tot = workload_totals(df[df["mode"] == mode])
    out = []
    for (acc, wl), g in tot.groupby(["accelerator", "workload"], sort=False):
        e = g.loc[g["energy"].idxmin()]
        c = g.loc[g["cycles"].idxmin()]
        out.append({"accelerator": acc, "workload": wl, "scheme": e["workload_scheme"],
                    "density": float(e["weight_density"]), "configs": len(g),
                    "least-energy config": e["config_id"], "energy": float(e["energy"]),
                    "its cycles": int(e["cycles"]), "fastest config": c["config_id"], "cycles": int(c["cycles"]),
                    "unit": e["energy_unit"], "mode": mode, "machine": machine_note(df, e["config_id"], [mode])})
    return pd.DataFrame(out)


def attribution_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per accelerator (reference configuration) and workload: dense and skip+repeat energy and the shares."""
    from plumsim.results import reference_configs, workload_totals

    d0 = df[df["mode"] == df["mode"].iloc[0]]
    if d0["energy_dense"].isna().all():
        return pd.DataFrame()
    tot = workload_totals(d0)
    refs = reference_configs(df)
    tot = tot[tot["config_id"].isin(refs.values())]
    out = pd.DataFrame({
        "config": tot["config_id"], "workload": tot["workload"], "scheme": tot["workload_scheme"],
        "dense energy": tot["energy_dense"], "skip+repeat energy": tot["energy_remaining"],
        "sparsity share %": 100 * tot["energy_sparsity_share"] / tot["energy_dense"],
        "repetition share %": 100 * tot["energy_repetition_share"] / tot["energy_dense"],
        "dense cycles": tot["cycles_dense"].round().astype("int64"),
        "skip+repeat cycles": tot["cycles_remaining"].round().astype("int64"),
        "unit": tot["energy_unit"]})
    return out.reset_index(drop=True)


def write_report(results_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the HTML report of a sweep folder (drawing missing figures first); returns its path."""
    from plumsim.plots import plot_results

    results_dir = Path(results_dir)
    df = load_results(results_dir)
    plots = results_dir / "plots"
    if not all((plots / f"{f}.png").is_file() for f in FIGURES):
        plot_results(results_dir)
    man = ResultStore(results_dir).read_manifest() or {}
    esc = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>plumsim sweep: {esc(str(man.get('grid_name', results_dir.name)))}</title>"
             f"<style>{CSS}</style></head><body>"]
    parts.append(f"<h1>plumsim sweep report: {esc(str(man.get('grid_name', results_dir.name)))}</h1>")
    modes = ", ".join(dict.fromkeys(df["mode"]))
    summary = pd.DataFrame([
        ("results folder", str(results_dir)), ("grid file", str(man.get("grid_file", ""))),
        ("rows (config x workload x layer x mode)", f"{len(df)}"),
        ("configurations run", f"{df['config_id'].nunique()}"),
        ("invalid configurations (not run)", f"{man.get('invalid_configs', 0)}"),
        ("workloads", ", ".join(dict.fromkeys(df["workload"]))), ("modes", modes),
        ("energy table", str(man.get("energy_table", ""))
         + (f" ({_unpriced(man.get('energy_table'))})" if _unpriced(man.get("energy_table")) else "")),
        ("energy unit", ", ".join(sorted(set(df["energy_unit"].astype(str))))),
        ("started", str(man.get("start_time", ""))), ("finished", str(man.get("end_time", ""))),
    ], columns=["item", "value"])
    parts.append("<h2>Summary</h2>" + _table(summary))
    machines = machines_table(df)
    if len(machines):
        parts.append("<h2>STONNE-faithful and hypothetical machines</h2><p class=\"muted\">Every mode runs "
                     "through the controller's one STONNE-faithful model; a mode STONNE cannot run on that "
                     "controller is a hypothetical machine, and what it assumes is listed here. Figures "
                     "and tables below label them.</p>" + _table(machines))
    runs = man.get("runs") or []
    if runs:
        parts.append("<h3>Runs</h3>" + _table(pd.DataFrame(runs)))
    parts.append("<h2>Best configuration per accelerator and workload</h2>"
                 f"<p class=\"muted\">Workload totals (sum over layers), mode {esc(modes.split(', ')[-1])} "
                 "when swept.</p>" + _table(best_configs(df)))
    att = attribution_table(df)
    if len(att):
        parts.append("<h2>Attribution: sparsity vs repetition</h2><p class=\"muted\">Reference configuration "
                     "(largest PE array) per accelerator; shares are two-player Shapley values of the "
                     "dense &rarr; skip+repeat saving and add up to it exactly.</p>" + _table(att))
    parts.append("<h2>Figures</h2>")
    for f in FIGURES:
        png = plots / f"{f}.png"
        if not png.is_file():
            continue
        b64 = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(f'<figure id="fig-{f}"><img alt="{esc(f)}" src="data:image/png;base64,{b64}">'
                     f"<figcaption>{esc(CAPTIONS.get(f, f))} (PDF, SVG: plots/{esc(f)}.pdf, plots/{esc(f)}.svg)</figcaption></figure>")
    inv = results_dir / INVALID_CSV
    if inv.is_file():
        idf = pd.read_csv(inv)
        parts.append(f"<h2>Invalid configurations ({len(idf)}, not run)</h2>"
                     + (_table(idf) if len(idf) else "<p>None.</p>"))
    if man.get("grid") is not None:
        parts.append("<h2>Grid</h2><pre>" + esc(yaml.safe_dump(man["grid"], sort_keys=False)) + "</pre>")
    versions = man.get("versions") or {}
    if versions:
        parts.append("<h2>Versions</h2>" + _table(pd.DataFrame(list(versions.items()),
                                                               columns=["package", "version"])))
    parts.append("</body></html>\n")
    out = Path(output) if output else results_dir / "report.html"
    atomic_write_if_changed(out, "".join(parts).encode("utf-8"))  # a same report is not rewritten
    return out

"""``report.html`` of a sweep folder: one file, no external resources (no scripts, fonts or remote images),
so it can be mailed or archived. Figures are PNGs embedded as base64 ``data:`` URIs.

Sections: summary (what was swept, when, how long), hypothetical machines, the paper's claims
(``paper.json``, when there is one), accuracy of the trained models (``models.csv``, when there is one),
best configuration per accelerator and workload, attribution, the figures, invalid configurations, the
grid (YAML), package versions, and one glossary explaining every column of every table once.

Paths in the report are relative to the sweep folder (the report can be moved with it); every table sits
in a wrapper that scrolls sideways on its own, so the page fits an 800 px window.
"""

from __future__ import annotations

import base64
import html
import numbers
import os
import re
from pathlib import Path

import pandas as pd
import yaml

from plumsim.fileio import atomic_write_if_changed
from plumsim.plots import ACCURACY_FIGURES, figure_files, load_models
from plumsim.report.tables import (accuracy_table, attribution_table, best_configs, explain, load_claims,
                                   machines_table)
from plumsim.sweep.store import INVALID_CSV, ResultStore, load_results

CAPTIONS = {
    "energy_vs_density": "Energy per inference vs weight density of the quantized layers: one curve per "
                         "scheme, the shown mode filled, STONNE's native dataflow hollow; markers that would "
                         "hide each other are spread sideways by a few points.",
    "attribution": "Energy saved from dense to skip+repeat, split into sparsity and repetition shares "
                   "(Shapley), in % of the dense binary workload of the same network.",
    "attribution_cycles": "The same attribution for cycles.",
    "layer_attribution": "Per-layer energy attribution of one workload, in % of the dense binary total of "
                         "the same network (the bars add up to the workload's bar above).",
    "layer_attribution_cycles": "Per-layer cycles attribution.",
    "modes": "Energy per inference of every dataflow; hatched bars are hypothetical machines.",
    "size_scaling": "Cycles and energy vs PE-array size per accelerator (best bandwidths per size).",
    "pareto": "Energy vs cycles of every configuration, with the Pareto front.",
    "layer_breakdown": "Per-layer energy by component group.",
    "accuracy_vs_energy": "Validation accuracy of the trained models vs the energy of their lowered "
                          "workloads (mean ± std over seeds).",
    "accuracy_vs_density": "Validation accuracy vs weight density of the trained models (mean ± std over "
                           "seeds).",
}

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1100px;
color:#222;padding:0 1em;overflow-wrap:anywhere}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.tw{overflow-x:auto;max-width:100%;margin:.5em 0}
table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;white-space:nowrap;overflow-wrap:normal}
th{background:#f3f3f3}td.l,th.l{text-align:left}
td.w{white-space:normal;min-width:14em;max-width:32em;overflow-wrap:break-word}
figure{margin:1em 0}img{width:100%;max-width:680px;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.8em}
dl.gl{font-size:.85em}dl.gl dt{font-weight:600;margin-top:.35em}dl.gl dd{margin-left:1.5em}
.muted{color:#666}
"""

#: an absolute path inside a string (at its start or after a space, quote, '=', ':', ',' or '(')
_ABS = re.compile(r"(?:(?<=^)|(?<=[\s'\"=(:,\[]))(/[\w.+@~-]+(?:/[\w.+@~-]*)+)")


def relative(text: str, root: Path) -> str:
    """``text`` with every absolute path in it rewritten relative to ``root`` (the report's folder)."""
    base = os.path.abspath(root)
    return _ABS.sub(lambda m: os.path.relpath(m.group(1), base), str(text))


class _Page:
    """The report being written: its parts and the columns its tables show (for the glossary)."""

    def __init__(self, root: Path):
        self.root = root
        self.parts: list[str] = []
        self.columns: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def table(self, df: pd.DataFrame, floatfmt: str = "{:.4g}", wide=()) -> str:
        """A DataFrame as an HTML table in a sideways-scrolling wrapper (text left, numbers right, escaped,
        paths relative); ``wide``: columns of long text that wrap."""
        self.columns += [str(c) for c in df.columns if str(c) not in self.columns]
        head = "".join(f'<th class="{"" if pd.api.types.is_numeric_dtype(df[c]) else "l"}">'
                       f'{html.escape(str(c))}</th>' for c in df.columns)
        rows = []
        for _, r in df.iterrows():
            cells = []
            for c in df.columns:
                v = r[c]
                if isinstance(v, numbers.Real) and not isinstance(v, (numbers.Integral, bool)):
                    cells.append(f"<td>{'' if pd.isna(v) else floatfmt.format(v)}</td>")
                elif isinstance(v, numbers.Integral) and not isinstance(v, bool):
                    cells.append(f"<td>{v}</td>")
                else:
                    cls = "l w" if c in wide else "l"
                    txt = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
                    cells.append(f'<td class="{cls}">{html.escape(relative(txt, self.root))}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
                "</table></div>")

    def glossary(self) -> str:
        items = []
        for c in self.columns:
            meaning, unit = explain(c)
            unit = {"energy_unit": "the row's energy unit", "unit column": "in the row's unit"}.get(unit, unit)
            items.append(f"<dt>{html.escape(c)}</dt><dd>{html.escape(meaning)}"
                         + (f" ({html.escape(unit)})" if unit else "") + "</dd>")
        return ("<h2>Columns</h2><p class=\"muted\">Every column of the tables above, once.</p>"
                f'<dl class="gl">{"".join(items)}</dl>')


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


def _figures_missing(plots: Path) -> bool:
    return not all((plots / f"{name}.png").is_file() for kind, _, name in figure_files()
                   if kind not in ACCURACY_FIGURES)


def _add_head(page: _Page, name: str) -> None:
    """Add the document head (title, inline CSS) and the ``<h1>`` for the (escaped) grid ``name``."""
    page.add(f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>plumsim sweep: {name}</title><style>{CSS}</style></head><body>")
    page.add(f"<h1>plumsim sweep report: {name}</h1>")


def _add_summary(page: _Page, df: pd.DataFrame, man: dict, results_dir: Path, out: Path, modes: str) -> None:
    """Add the Summary section: what was swept (folder, grid, row / configuration counts, workloads,
    ``modes``, energy table and unit) and when (start / end times from the manifest ``man``)."""
    table_note = _unpriced(man.get("energy_table"))
    summary = pd.DataFrame([
        ("results folder", results_dir.resolve().name + (" (this report's folder)"
                                                         if out.parent.resolve() == results_dir.resolve()
                                                         else f" ({relative(str(results_dir.resolve()), out.parent)})")),
        ("grid file", str(man.get("grid_file", ""))),
        ("rows (config x workload x layer x mode)", f"{len(df)}"),
        ("configurations run", f"{df['config_id'].nunique()}"),
        ("invalid configurations (not run)", f"{man.get('invalid_configs', 0)}"),
        ("workloads", ", ".join(dict.fromkeys(df["workload"]))), ("modes", modes),
        ("energy table", str(man.get("energy_table", "")) + (f" ({table_note})" if table_note else "")),
        ("energy unit", ", ".join(sorted(set(df["energy_unit"].astype(str))))),
        ("started", str(man.get("start_time", ""))), ("finished", str(man.get("end_time", ""))),
    ], columns=["item", "value"])
    page.add("<h2>Summary</h2>" + page.table(summary, wide=("value",)))


def _add_machines(page: _Page, df: pd.DataFrame, man: dict) -> None:
    """Add the STONNE-faithful / hypothetical machines table (when any) and the manifest's runs (when any)."""
    machines = machines_table(df)
    if len(machines):
        page.add("<h2>STONNE-faithful and hypothetical machines</h2><p class=\"muted\">Every mode runs "
                 "through the controller's one STONNE-faithful model; a mode STONNE cannot run on that "
                 "controller is a hypothetical machine, and what it assumes is listed here. Figures "
                 "and tables below label them.</p>" + page.table(machines, wide=("hypothesis",)))
    runs = man.get("runs") or []
    if runs:
        page.add("<h3>Runs</h3>" + page.table(pd.DataFrame(runs)))


def _add_findings(page: _Page, results_dir: Path, df: pd.DataFrame, models, modes: str) -> None:
    """Add the result tables: the paper's claims (paper.json, when there is one), the trained models'
    accuracy (``models``, when any), the best configuration per accelerator and workload (in the last of
    ``modes``) and the sparsity / repetition attribution (when there is one)."""
    esc = html.escape
    claims = load_claims(results_dir)
    if claims is not None and len(claims):
        page.add("<h2>The paper's claims, recomputed</h2><p class=\"muted\">From paper.json "
                 "(<code>plumsim experiment paper</code>): each claim of the PLUM paper beside plumsim's "
                 "figure, the setting it was computed in, and why they differ.</p>"
                 + page.table(claims, floatfmt="{:.3g}", wide=("claim", "setting", "note")))
    acc, acc_note = accuracy_table(models, df)
    if len(acc):
        page.add("<h2>Accuracy of the trained models</h2><p class=\"muted\">From models.csv; "
                 f"{esc(acc_note)}.</p>" + page.table(acc))
    page.add("<h2>Best configuration per accelerator and workload</h2>"
             f"<p class=\"muted\">Workload totals (sum over layers), mode {esc(modes.split(', ')[-1])} "
             "when swept.</p>" + page.table(best_configs(df)))
    att = attribution_table(df)
    if len(att):
        page.add("<h2>Attribution: sparsity vs repetition</h2><p class=\"muted\">Reference configuration "
                 "(largest PE array) per accelerator; shares are two-player Shapley values of the "
                 "dense &rarr; skip+repeat saving and add up to it exactly; the % columns share one "
                 "baseline per network (its dense binary workload), so schemes compare.</p>" + page.table(att))


def _add_figures(page: _Page, plots: Path, models) -> None:
    """Add the Figures section: every PNG present in the ``plots`` folder, embedded as a base64 data URI
    with its caption and the names of its PDF / SVG copies."""
    esc = html.escape
    page.add("<h2>Figures</h2><p class=\"muted\">Drawn at column width (3.5 in); "
             "<code>plumsim plot DIR --size double</code> redraws them 7 in wide.</p>")
    if models is None:
        page.add("<p class=\"muted\">No trained models in this folder (models.csv): no accuracy figures.</p>")
    for kind, _, f in figure_files():
        png = plots / f"{f}.png"
        if not png.is_file():
            continue
        b64 = base64.b64encode(png.read_bytes()).decode("ascii")
        page.add(f'<figure id="fig-{f}"><img alt="{esc(f)}" src="data:image/png;base64,{b64}">'
                 f"<figcaption>{esc(CAPTIONS.get(f, f))} (PDF, SVG: plots/{esc(f)}.pdf, "
                 f"plots/{esc(f)}.svg)</figcaption></figure>")


def _add_appendix(page: _Page, results_dir: Path, man: dict, out: Path) -> None:
    """Add the invalid configurations (``invalid_configs.csv``, when present), the grid YAML and the
    package versions from the manifest ``man`` (paths relative to the report's folder)."""
    esc = html.escape
    inv = results_dir / INVALID_CSV
    if inv.is_file():
        idf = pd.read_csv(inv)
        page.add(f"<h2>Invalid configurations ({len(idf)}, not run)</h2>"
                 + (page.table(idf, wide=("reason",)) if len(idf) else "<p>None.</p>"))
    if man.get("grid") is not None:
        grid = relative(yaml.safe_dump(man["grid"], sort_keys=False), out.parent)
        page.add("<h2>Grid</h2><pre>" + esc(grid) + "</pre>")
    versions = man.get("versions") or {}
    if versions:
        page.add("<h2>Versions</h2>" + page.table(pd.DataFrame(list(versions.items()),
                                                               columns=["package", "version"])))


def write_report(results_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the HTML report of a sweep folder (drawing missing figures first); returns its path."""
    from plumsim.plots import plot_results

    results_dir = Path(results_dir)
    df = load_results(results_dir)
    plots = results_dir / "plots"
    models = load_models(results_dir)
    if _figures_missing(plots):
        plot_results(results_dir, models=models)
    man = ResultStore(results_dir).read_manifest() or {}
    out = Path(output) if output else results_dir / "report.html"
    page = _Page(out.parent)
    _add_head(page, html.escape(relative(str(man.get("grid_name", results_dir.name)), out.parent)))
    modes = ", ".join(dict.fromkeys(df["mode"]))
    _add_summary(page, df, man, results_dir, out, modes)
    _add_machines(page, df, man)
    _add_findings(page, results_dir, df, models, modes)
    _add_figures(page, plots, models)
    _add_appendix(page, results_dir, man, out)
    page.add(page.glossary())
    page.add("</body></html>\n")
    atomic_write_if_changed(out, "".join(page.parts).encode("utf-8"))  # a same report is not rewritten
    return out

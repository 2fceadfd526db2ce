"""Figure sizes, fonts, colours, markers and the one save function every figure goes through.

Sizes are those of a two-column paper: ``"column"`` is 3.5 in wide with 7 pt text, ``"double"`` 7 in with
8 pt text, so a figure placed at 100 % in LaTeX keeps text as large as a footnote. Figures are laid out
with matplotlib's constrained layout and saved at exactly that width (no ``bbox_inches="tight"``, which
would change it); legends sit outside the axes, inside the figure.

Colours (Okabe-Ito, readable in grey and by colour-blind readers) and markers are one per scheme and the
same in every figure; the dataflow variants keep the scheme's colour: the shown mode filled, STONNE's own
``native`` dataflow hollow with a dashed line.

matplotlib is imported only when a figure is drawn (:func:`plt`).
"""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

#: figure widths (inches) and base font sizes (points)
WIDTHS = {"column": 3.5, "double": 7.0}
FONT_PT = {"column": 7.0, "double": 8.0}
SIZES = tuple(WIDTHS)

SCHEME_ORDER = ("fp", "binary", "ternary", "signed-binary")
SCHEME_COLORS = {"fp": "#555555", "binary": "#0072B2", "ternary": "#E69F00", "signed-binary": "#009E73"}
SCHEME_MARKERS = {"fp": "D", "binary": "s", "ternary": "^", "signed-binary": "o"}
EXTRA_MARKERS = ("v", "P", "X", "*", "h", "<", ">")
EXTRA_COLORS = ("#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MODE_ORDER = ("native", "dense", "skip", "repeat", "skip+repeat")
MODE_COLORS = {"native": "#000000", "dense": "#999999", "skip": "#56B4E9", "repeat": "#CC79A7",
               "skip+repeat": "#009E73"}
ACCEL_MARKERS = ("o", "s", "^", "D", "v", "P")
ACCEL_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: attribution stack: what is left (skip+repeat), the repetition share, the sparsity share
SHARE_COLORS = {"remaining": "#56B4E9", "repetition": "#CC79A7", "sparsity": "#D55E00"}

#: marker size (points) per size; schemes are shifted sideways by DODGE x marker size
MARKER_PT = {"column": 4.0, "double": 5.0}
DODGE = 1.25

#: what every figure is written as: PNG at print resolution, and PDF / SVG with their text kept as text
#: (searchable, editable, same font as the paper's): SVG text as <text>, PDF fonts embedded as TrueType
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300


def plt():
    """matplotlib.pyplot on the Agg backend (files only; never a window)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


def check_size(size: str) -> str:
    if size not in WIDTHS:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    return size


def rc(size: str) -> dict:
    """rcParams of a figure of this size (fonts, line widths, ticks)."""
    f = FONT_PT[check_size(size)]
    return {"font.size": f, "axes.titlesize": f, "axes.labelsize": f, "xtick.labelsize": f - 0.5,
            "ytick.labelsize": f - 0.5, "legend.fontsize": f - 0.5, "legend.title_fontsize": f - 0.5,
            "figure.titlesize": f + 0.5, "axes.linewidth": 0.6, "lines.linewidth": 1.0,
            "lines.markersize": MARKER_PT[size], "xtick.major.width": 0.6, "ytick.major.width": 0.6,
            "xtick.major.size": 2.5, "ytick.major.size": 2.5, "xtick.minor.size": 1.5, "ytick.minor.size": 1.5,
            "grid.linewidth": 0.4, "grid.alpha": 0.35, "legend.frameon": False, "legend.handlelength": 1.6,
            "legend.columnspacing": 1.0, "legend.borderaxespad": 0.2, "patch.linewidth": 0.4,
            "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": PNG_DPI,
            "svg.fonttype": "none", "pdf.fonttype": 42, "axes.formatter.limits": (-3, 4),
            "axes.formatter.use_mathtext": True, "figure.constrained_layout.h_pad": 0.02,
            "figure.constrained_layout.w_pad": 0.02}


@contextlib.contextmanager
def context(size: str):
    """Draw a figure of this size inside: ``with context(size): fig, ax = new(size, ...)``."""
    import matplotlib

    with matplotlib.rc_context(rc(size)):
        yield


def new(size: str, nrows: int = 1, ncols: int = 1, height: float | None = None, **kw):
    """(fig, axes) of the given width, ``height`` inches tall (default: 0.7 x the column width per row)."""
    width = WIDTHS[check_size(size)]
    height = height if height is not None else 0.7 * WIDTHS["column"] * nrows
    kw.setdefault("squeeze", False)
    fig, axes = plt().subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kw)
    return fig, axes


def wrap(text: str, size: str, fraction: float = 1.0, pt: float | None = None) -> str:
    """``text`` wrapped to fit ``fraction`` of the figure width at ``pt`` points (default: the title size)."""
    pt = pt or FONT_PT[size] + 0.5
    chars = max(20, int(WIDTHS[size] * fraction * 0.95 * 72 / (0.6 * pt)))
    return "\n".join(line for para in text.split("\n")
                     for line in (textwrap.wrap(para, chars, break_on_hyphens=False) or [""]))


def scheme_key(s: str) -> tuple:
    return (SCHEME_ORDER.index(s) if s in SCHEME_ORDER else len(SCHEME_ORDER), str(s))


def scheme_style(s: str, i: int = 0) -> tuple[str, str]:
    """(colour, marker) of a scheme (unknown schemes get the spare ones by their index ``i``)."""
    return (SCHEME_COLORS.get(s, EXTRA_COLORS[i % len(EXTRA_COLORS)]),
            SCHEME_MARKERS.get(s, EXTRA_MARKERS[i % len(EXTRA_MARKERS)]))


def mode_key(m: str) -> tuple:
    return (MODE_ORDER.index(m) if m in MODE_ORDER else len(MODE_ORDER), str(m))


def shifted(ax, dx_pt: float):
    """``ax.transData`` shifted sideways by ``dx_pt`` points."""
    from matplotlib.transforms import ScaledTranslation

    return ax.transData + ScaledTranslation(dx_pt / 72.0, 0, ax.figure.dpi_scale_trans)


def dodge_offsets(points, xspan: float, yspan: float, size: str, near=(0.06, 0.08)) -> list[float]:
    """Sideways offsets (points) for markers ``points`` = [(series key, x, y), ...] so that markers of
    different series never hide each other: points of different series closer than ``near`` (fractions of
    ``xspan`` / ``yspan``) form a group, and the series of a group are spread DODGE marker sizes apart,
    centred on the true x, in the order they first appear in ``points``; every other point stays put."""
    n = len(points)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            ki, xi, yi = points[i]
            kj, xj, yj = points[j]
            if ki != kj and abs(xi - xj) < near[0] * xspan and abs(yi - yj) < near[1] * yspan:
                parent[root(i)] = root(j)
    order = list(dict.fromkeys(k for k, _, _ in points))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    out = [0.0] * n
    step = DODGE * MARKER_PT[size]
    for members in groups.values():
        keys = sorted({points[i][0] for i in members}, key=order.index)
        if len(keys) < 2:
            continue
        for i in members:
            out[i] = (keys.index(points[i][0]) - (len(keys) - 1) / 2) * step
    return out


def ylim_from_zero(ax, values, pad: float = 0.08) -> None:
    """Linear y axis from 0 (or below, for negative values) to just above the largest value: never clips."""
    import numpy as np

    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    hi = max(float(v.max()) if v.size else 1.0, 0.0)
    lo = min(float(v.min()) if v.size else 0.0, 0.0)
    span = (hi - lo) or 1.0
    ax.set_ylim(lo - (pad * span if lo < 0 else 0.0), hi + pad * span)


def output_name(kind: str, metric: str) -> str:
    """File name (no extension) of figure ``kind`` drawn for ``metric``: the energy version keeps the kind's
    name; the cycles version says so (``energy_vs_density`` -> ``cycles_vs_density``, ``attribution`` ->
    ``attribution_cycles``)."""
    if metric == "energy":
        return kind
    return kind.replace("energy", metric) if "energy" in kind else f"{kind}_{metric}"


def save(fig, out: str | Path, name: str, formats=FORMATS) -> list[Path]:
    """Write ``fig`` as ``out/name.<ext>`` for each format (PNG at 300 dpi; PDF with TrueType fonts and SVG
    with text as ``<text>``), at the figure's own size, and close it; returns the paths."""
    import matplotlib

    from plumsim.fileio import atomic_write

    out = Path(out)
    paths = []
    try:
        with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
            for ext in formats:
                p = out / f"{name}.{ext}"
                # whole or not at all: a full disk leaves no cut-short figure (StorageError names the file)
                atomic_write(p, lambda fh, ext=ext: fig.savefig(
                    fh, format=ext, dpi=PNG_DPI if ext == "png" else None, metadata=_metadata(ext)))
                paths.append(p)
    finally:
        plt().close(fig)
    return paths


def _metadata(ext: str):
    # reproducible files: no creation date in PDF / SVG, no software stamp differences
    if ext == "pdf":
        return {"CreationDate": None}
    if ext == "svg":
        return {"Date": None}
    return None

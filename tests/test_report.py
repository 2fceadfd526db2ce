"""The HTML report: self-contained (no external resource), summary/attribution/invalid/grid/versions
sections, accuracy of the trained models (models.csv) and the paper's claims (paper.json) when the folder
has them, relative paths only, every column explained once; and it renders in a real headless Chromium at
800 px with no console error, every image decoded and no sideways scrolling of the page."""

from __future__ import annotations

import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from test_sweep import write_grid

from plumsim.cli import main
from plumsim.plots import figure_files
from plumsim.report import write_report
from plumsim.sweep.runner import run_sweep

CLAIMS = {"claims": [
    {"claim": "density binary / signed-binary", "paper": 2.9, "plumsim": 2.7, "unit": "x",
     "setting": {"network": "cnn-digits", "weights": "trained", "seeds": 3}, "note": "digits, 3 seeds"},
    {"claim": "energy binary / signed-binary, SIGMA native", "paper": "about 2", "plumsim": 1.9, "unit": "x",
     "setting": "resnet20 synthetic, sigma_128, stonne table, native", "note": ""}],
    "seconds": 1.0, "settings": {}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    p = write_grid(tmp)
    out = tmp / "out"
    run_sweep(p, out, workers=1, progress=False, log=io.StringIO())
    # trained models as the demo writes them (absolute checkpoint paths), several seeds
    pd.DataFrame([{"model": "cnn-digits", "scheme": s, "seed": seed, "workload": f"digits-{s}-s0",
                   "checkpoint": str(tmp / "models" / f"{s}-{seed}"), "val_acc": 0.95 + 0.01 * seed,
                   "quantized_density": 1.0 if s == "binary" else 0.35}
                  for s in ("binary", "signed-binary") for seed in range(3)]).to_csv(out / "models.csv", index=False)
    (out / "paper.json").write_text(json.dumps(CLAIMS))
    assert main(["report", str(out)]) == 0  # draws the missing figures first
    return out


@pytest.fixture(scope="module")
def report(folder):
    return folder / "report.html"


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.th, self.dt = [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("th", "dt") else None

    def handle_data(self, data):
        if self._in == "th":
            self.th.append(data)
        elif self._in == "dt":
            self.dt.append(data)

    def handle_endtag(self, tag):
        self._in = None


def _parse(text):
    p = _Collect()
    p.feed(text)
    return p


def test_report_is_self_contained_and_complete(report):
    text = report.read_text()
    parser = _parse(text)
    imgs = [a for t, a in parser.tags if t == "img"]
    assert len(imgs) == len(figure_files())  # every figure, the accuracy ones too (models.csv is there)
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    # nothing fetched from anywhere: no scripts, stylesheets, links to files or remote URLs
    assert not [t for t, a in parser.tags if t in ("script", "link", "iframe")]
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", text)
    for heading in ("Summary", "Best configuration per accelerator and workload", "Attribution",
                    "The paper's claims, recomputed", "Accuracy of the trained models",
                    "Figures", "Invalid configurations (3, not run)", "Grid", "Versions", "Columns"):
        assert heading in text, heading
    assert "sigma-ms32-dn128-rn128-ab0-auto" in text and "power of two" in text  # invalid ones listed
    assert "numpy" in text and "STONNE units" in text
    assert "energy binary / signed-binary, SIGMA native" in text and "network: cnn-digits" in text
    assert "96" in text  # mean accuracy over the 3 seeds, in %


def test_report_has_no_absolute_path(report, folder):
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", report.read_text())
    root = str(folder.parent.resolve())
    assert root not in text and str(Path.home()) + "/" not in text
    assert not re.search(r"(?<![\w.])/(tmp|home|work|usr|root|Users|private|var)/", text), \
        re.search(r".{40}(?<![\w.])/(tmp|home|work|usr|root|Users|private|var)/.{40}", text)
    assert "models.csv" in text and "grid" in text


def test_every_column_is_explained_once(report):
    parser = _parse(report.read_text())
    heads = {h.strip() for h in parser.th}
    explained = [d.strip() for d in parser.dt]
    assert len(explained) == len(set(explained))      # once
    assert heads == set(explained)                    # every column, nothing else
    assert "as recorded in the sweep folder" not in report.read_text()  # none left unexplained


def test_no_paper_json_no_claims_section(folder, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(folder, other)
    (other / "paper.json").unlink()
    (other / "models.csv").unlink()
    text = write_report(other).read_text()
    assert "The paper's claims" not in text and "paper.json" not in text
    assert "Accuracy of the trained models" not in text and "no accuracy figures" in text


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = "/usr/bin/chromedriver"
    if not chromium or not Path(driver_path).exists():
        pytest.skip("chromium + chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--window-size=800,900", "--hide-scrollbars"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        driver.get(report.resolve().as_uri())
        assert "plumsim sweep" in driver.title
        state = driver.execute_script("return document.readyState")
        assert state == "complete"
        widths = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(widths) == len(figure_files())
        assert all(c and w > 0 and h > 0 for c, w, h in widths), widths
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        assert errors == []
        tables = driver.execute_script("return document.querySelectorAll('table').length")
        assert tables >= 7
        # an 800 px window: the page never scrolls sideways; wide tables scroll inside their wrapper
        inner = driver.execute_script("return window.innerWidth")
        assert inner <= 800
        page = driver.execute_script("return document.scrollingElement.scrollWidth")
        assert page <= 800, page
        wrapped = driver.execute_script(
            "return Array.from(document.querySelectorAll('table')).every(t => "
            "t.parentElement.classList.contains('tw') && getComputedStyle(t.parentElement).overflowX == 'auto')")
        assert wrapped
        scrolls = driver.execute_script(
            "return Array.from(document.querySelectorAll('.tw')).filter(d => d.scrollWidth > d.clientWidth).length")
        assert scrolls >= 1   # some tables are wider than the window: they scroll inside
    finally:
        driver.quit()

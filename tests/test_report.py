"""The HTML report: self-contained (no external resource), summary/attribution/invalid/grid/versions
sections, and it renders in a real headless Chromium with no console error and every image decoded."""

from __future__ import annotations

import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from test_sweep import write_grid

from plumsim.cli import main
from plumsim.plots import FIGURES
from plumsim.sweep.runner import run_sweep


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    p = write_grid(tmp)
    run_sweep(p, tmp / "out", workers=1, progress=False, log=io.StringIO())
    assert main(["report", str(tmp / "out")]) == 0  # draws the missing figures first
    return tmp / "out" / "report.html"


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_self_contained_and_complete(report):
    text = report.read_text()
    parser = _Collect()
    parser.feed(text)
    imgs = [a for t, a in parser.tags if t == "img"]
    assert len(imgs) == len(FIGURES)
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    # nothing fetched from anywhere: no scripts, stylesheets, links to files or remote URLs
    assert not [t for t, a in parser.tags if t in ("script", "link", "iframe")]
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", text)
    for heading in ("Summary", "Best configuration per accelerator and workload", "Attribution",
                    "Figures", "Invalid configurations (3, not run)", "Grid", "Versions"):
        assert heading in text, heading
    assert "sigma-ms32-dn128-rn128-ab0-auto" in text and "power of two" in text  # invalid ones listed
    assert "numpy" in text and "STONNE units" in text


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
              "--disable-dev-shm-usage"):
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
        assert len(widths) == len(FIGURES)
        assert all(c and w > 0 and h > 0 for c, w, h in widths), widths
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        assert errors == []
        tables = driver.execute_script("return document.querySelectorAll('table').length")
        assert tables >= 5
    finally:
        driver.quit()

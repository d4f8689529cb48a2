"""report.html in a real headless Chromium (the OS package): the charts render, nothing is fetched.

CI (.ci/run) installs chromium and sets MEDCLAIM_BROWSER_TESTS=1, so there this test never skips;
on a developer's machine without chromium it is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

from report_ledger import report_with_budget

#: The series colours of the charts (medclaim.report.layout.COLOURS), as the PNG holds them.
BASIC, CRITICAL, ASSIST, PATIENT, TARGET = (31, 119, 180), (255, 127, 14), (44, 160, 44), (158, 158, 158), (214, 39, 40)


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if os.environ.get("MEDCLAIM_BROWSER_TESTS"):
        pytest.fail("chromium is not installed but MEDCLAIM_BROWSER_TESTS is set (CI): .ci/run must install it")
    pytest.skip("chromium not installed (apt-get install chromium); CI installs it and runs this test")


def screenshot(html, png, tmp_path, size="1280,2000"):
    profile = tmp_path / "profile"
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}", "--hide-scrollbars",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert png.exists(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    return Image.open(png).convert("RGB")


def count(img: Image.Image, rgb: tuple[int, int, int], box=None) -> int:
    region = img.crop(box) if box else img
    return sum(n for n, c in region.getcolors(maxcolors=1 << 24) if c == rgb)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    return report_with_budget(tmp_path_factory.mktemp("html")) / "report.html"


def test_self_contained(report_html):
    text = report_html.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", text), "the page must not load anything"
    assert not re.search(r"url\(", text)
    assert text.count("<svg") == 3 and 'lang="zh-CN"' in text
    assert "基金风险预警" in text and "102,180.00" in text  # the basic fund's projection, 3,406,000 fen × 12 / 4
    assert 'class="bad">未达标' in text and 'class="good">达标' in text and 'class="bad">预警' in text


def test_charts_render_in_chromium(report_html, tmp_path):
    img = screenshot(report_html, tmp_path / "report.png", tmp_path)
    # the three charts are drawn at the top of the page, before the tables
    top = (0, 0, img.width, 1400)
    for name, rgb in (("basic", BASIC), ("大病", CRITICAL), ("assistance", ASSIST), ("patients", PATIENT), ("target", TARGET)):
        assert count(img, rgb, top) > 150, f"no {name} series drawn ({rgb})"
    # the monthly chart: basic outlay is the largest layer of the year (34,060 of 65,100 yuan), so
    # its blue covers more of the page than the patients' grey (24,420) and 大病's orange (5,000)
    assert count(img, BASIC, top) > count(img, PATIENT, top) > count(img, CRITICAL, top)


def test_blank_page_would_fail(tmp_path):
    """The pixel check can fail: a page without charts has none of the series colours."""
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body><h1>no charts</h1></body></html>", encoding="utf-8")
    img = screenshot(page, tmp_path / "blank.png", tmp_path, size="800,600")
    assert count(img, BASIC) == 0 and count(img, TARGET) == 0

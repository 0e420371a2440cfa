"""End to end in headless Chromium: the report's 3D view, the annotation app, ``ductplan view``.

Chromium is driven over the DevTools protocol (:mod:`browser`).  These tests never skip
for want of a browser: ``make test`` installs Debian's ``chromium`` when it is missing,
and :func:`browser.find_chromium` does too when run as root; otherwise they fail
saying what to install.

The apps run as real ``ductplan`` subprocesses on a free port (``--port 0``), exactly as
a user starts them, on tiny inputs (a 96 x 72 x 10 synthetic volume, a three-branch
plan) so that the whole file takes well under a minute.
"""
from __future__ import annotations

import colorsys
import io
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import Chromium
from planner.markups import read_markups
from reconstruction.frame import ImageFrame
from test_view_cli import make_plan_dir

#: The synthetic volume: rotated in-plane like the samples, anisotropic.
FRAME = ImageFrame(origin=(-12.0, 30.0, 40.0), spacing=(0.5, 0.5, 1.0), direction=(0, 1, 0, -1, 0, 0, 0, 0, 1),
                   size=(96, 72, 10))
_CLI = "import sys; from ductplan.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def chromium():
    with Chromium(size=(1280, 860)) as b:
        yield b


@contextmanager
def served(args: list[str], *, timeout: float = 90.0):
    """Run ``ductplan ARGS`` until its URL is printed; yield (url, output lines); stop it."""
    proc = subprocess.Popen([sys.executable, "-c", _CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    lines: list[str] = []
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.append(line.rstrip())
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        t_end = time.monotonic() + timeout
        url = None
        while url is None:
            try:
                line = q.get(timeout=max(0.1, t_end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no URL within {timeout:.0f} s: {lines}") from None
            if line is None:
                raise AssertionError(f"ductplan {args[0]} exited ({proc.wait()}): {lines}")
            m = re.search(r"open (http://\S+) in a browser", line)
            url = m.group(1) if m else None
        yield url, lines
    finally:
        if proc.poll() is None:
            # SIGTERM, not SIGINT: a job started in the background ignores SIGINT.
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _hue_pixels(png: bytes, box: tuple[float, float, float, float], hue_deg: float, *, tol_deg: float = 20.0,
                min_sat: float = 0.35, min_val: float = 0.15) -> int:
    """Pixels of ``box`` (left, top, width, height) whose hue is within ``tol_deg`` of ``hue_deg``."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float) / 255.0
    x0, y0, w, h = (int(round(v)) for v in box)
    reg = img[max(y0, 0):y0 + h, max(x0, 0):x0 + w].reshape(-1, 3)
    mx, mn = reg.max(axis=1), reg.min(axis=1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0.0)
    keep = (sat >= min_sat) & (mx >= min_val)
    hues = np.array([colorsys.rgb_to_hsv(*p)[0] * 360.0 for p in reg[keep]])
    if hues.size == 0:
        return 0
    d = np.abs((hues - hue_deg + 180.0) % 360.0 - 180.0)
    return int((d <= tol_deg).sum())


def _rect(b: Chromium, selector: str) -> list[float]:
    return b.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                      " return [r.left, r.top, r.width, r.height]; })()")


def _wait_for_colour(b: Chromium, box, hue_deg: float, *, min_pixels: int, timeout: float = 30.0) -> bytes:
    """Screenshots until ``box`` holds ``min_pixels`` of the hue (WebGL draws a moment after load)."""
    t_end = time.monotonic() + timeout
    n = 0
    while time.monotonic() < t_end:
        png = b.screenshot()
        n = _hue_pixels(png, box, hue_deg)
        if n >= min_pixels:
            return png
        time.sleep(0.5)
    raise AssertionError(f"the 3D view stayed without its colours ({n} pixels of hue {hue_deg:.0f}); "
                         f"console: {b.console[-5:]}")


SYSTEM0_HUE = colorsys.rgb_to_hsv(0x1F / 255, 0x5F / 255, 0xBF / 255)[0] * 360.0  # palette.SYSTEM_COLORS[0]
EXCISION_HUE = colorsys.rgb_to_hsv(0x2E / 255, 0x9E / 255, 0x4F / 255)[0] * 360.0


# ------------------------------------------------------------------ report.html
def test_report_3d_view_renders_from_file(chromium, tmp_path):
    from viewers import write_report
    from viewers.plan_viewer import load_plan_dir

    files = load_plan_dir(make_plan_dir(tmp_path / "plan"))
    report = write_report(files.outdir, files.plan, views={}, interactive_html=True, tree=files.tree,
                          excision=files.excision)
    chromium.navigate(report.resolve().as_uri())
    chromium.wait_for("document.querySelector('#viewer3d')")
    chromium.evaluate("document.querySelector('#viewer3d').scrollIntoView({block: 'center'})")
    box = _rect(chromium, "#viewer3d")
    assert box[2] > 400 and box[3] > 300
    png = _wait_for_colour(chromium, box, SYSTEM0_HUE, min_pixels=150)
    assert _hue_pixels(png, box, EXCISION_HUE) > 150   # the translucent excision is drawn too
    # Nothing outside the page was asked for: the report is offline.
    requests = [e["params"]["request"]["url"] for e in chromium.events if e["method"] == "Network.requestWillBeSent"]
    assert not [u for u in requests if u.startswith("http")]


# --------------------------------------------------------------------- annotate
@pytest.fixture(scope="module")
def volume_path(tmp_path_factory) -> Path:
    import SimpleITK as sitk

    rng = np.random.default_rng(3)
    a = rng.normal(200.0, 12.0, FRAME.shape_zyx).astype(np.float32)
    a[:, 30:34, 10:80] += 150.0   # a bright duct along x, on every slice
    path = tmp_path_factory.mktemp("vol") / "tiny.nrrd"
    sitk.WriteImage(FRAME.to_sitk(a), str(path))
    return path


def _img_ready(b: Chromium) -> None:
    b.wait_for("document.querySelector('#slice-img') && document.querySelector('#slice-img').complete "
               "&& document.querySelector('#slice-img').naturalWidth > 0", timeout=30)


def test_annotate_click_saves_a_mark_that_survives_a_reload(chromium, volume_path, tmp_path):
    marks = tmp_path / "marks.mrk.json"
    with served(["annotate", str(volume_path), "--marks", str(marks), "--port", "0", "--no-browser"]) as (url, out):
        assert url.startswith("http://127.0.0.1:")
        chromium.navigate(url)
        _img_ready(chromium)
        assert "slice 5 / 9" in chromium.evaluate("document.querySelector('#slice-info').innerText")
        # Scroll two slices down with the wheel, then click at (30 %, 45 %) of the slice picture.
        left, top, width, height = _rect(chromium, "#slice-img")
        for _ in range(2):
            chromium.wheel(left + 50, top + 50, 100)
            time.sleep(0.3)
        chromium.wait_for("document.querySelector('#slice-info').innerText.includes('slice 7 /')")
        x, y = left + 0.30 * width, top + 0.45 * height
        chromium.click(x, y)
        chromium.wait_for("document.querySelector('#status').innerText.startsWith('lesion 1 placed')")
        # Autosaved at once: the planner's reader finds it where it was clicked, within a voxel.
        saved = read_markups(marks)
        assert [m.label for m in saved] == ["lesion 1"]
        fx, fy = (x - left) / width, (y - top) / height
        expected = FRAME.index_to_physical([fx * 96 - 0.5, fy * 72 - 0.5, 7])
        assert np.all(np.abs(saved[0].position_mm - expected) <= np.asarray(FRAME.spacing) * 1.0 + 1e-6)
        assert saved[0].position_mm[2] == pytest.approx(FRAME.index_to_physical([0, 0, 7])[2])
        # Rename it in the side panel (Enter commits), then press Save.
        # (Vuetify gives the id to the <input> itself.)
        chromium.evaluate("(() => { const e = document.querySelector('#sel-label');"
                          " const i = e.tagName === 'INPUT' ? e : e.querySelector('input');"
                          " i.focus(); i.select(); })()")
        chromium.type_text("papilloma")
        chromium.press_enter()
        chromium.wait_for("document.querySelector('#marks-list').innerText.includes('papilloma')")
        chromium.evaluate("document.querySelector('#save-btn').click()")
        chromium.wait_for("document.querySelector('#status').innerText.includes('saved to')")
        assert [m.label for m in read_markups(marks)] == ["papilloma"]
        # A reload (or a closed and reopened tab) shows the mark again.
        chromium.reload()
        _img_ready(chromium)
        chromium.wait_for("document.querySelector('#marks-list').innerText.includes('papilloma')")
    # A new server on the same file restores it too.
    with served(["annotate", str(volume_path), "--marks", str(marks), "--port", "0", "--no-browser"]) as (url, out):
        assert any("(1 mark(s) loaded)" in line for line in out)
        chromium.navigate(url)
        _img_ready(chromium)
        chromium.wait_for("document.querySelector('#marks-list').innerText.includes('papilloma')")
    assert not [p.name for p in tmp_path.iterdir() if p.name != "marks.mrk.json"]  # no temp files left


# ------------------------------------------------------------------------- view
def test_view_serves_a_page_that_renders_the_plan(chromium, tmp_path):
    plan_dir = make_plan_dir(tmp_path / "plan")
    args = ["view", str(plan_dir), "--browser", "--port", "0", "--no-browser", "--max-triangles", "20000"]
    with served(args) as (url, out):
        # The console says how much the browser's scene was lightened.
        assert any("lightened from" in line and "triangles" in line for line in out), out
        chromium.navigate(url)
        chromium.wait_for("document.querySelector('#plan-view canvas')", timeout=30)
        box = _rect(chromium, "#plan-view")
        assert box[2] > 500 and box[3] > 400
        _wait_for_colour(chromium, box, SYSTEM0_HUE, min_pixels=150)
        budget = chromium.evaluate("document.querySelector('#budget').innerText")
        assert "lightened from" in budget and "20,000" in budget
        legend = chromium.evaluate("document.querySelector('#legend').innerText")
        assert "duct system 0" in legend and "L0 filling defect" in legend

"""`fastpose run --serve` end to end: the printed address opened in a real browser (headless
Chromium, Debian's ``chromium`` package, driven by Playwright) draws the recording.

Rerun's web viewer renders with WebGL, here on SwiftShader (a CPU rasterizer): it draws the video
panel about 40-50 s after the page opens on a 2-core VM. Until then the page shows Rerun's loading
screen, then its layout with "No data available." in each panel.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from conftest import ROOT, data_file, scaled

from fastpose.sinks.rerun_measures import SERIES_COLOURS

CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI
    "--use-angle=swiftshader",  # WebGL without a GPU
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
#: Panels of fastpose's blueprint at VIEWPORT (rows, columns), inside their frames: "Result" (the
#: video, mask and skeleton; the left half) and "Raw video" (right, middle).
RESULT_PANEL = (slice(70, 760), slice(10, 760))
RAW_PANEL = (slice(380, 560), slice(780, 1270))
#: ... and, measured on the screenshot of 2026-12-07: Result's image (above the plot), the
#: "Joint angles" plot right of its legend, the "3D pose" view.
RESULT_IMAGE = (slice(70, 585), slice(10, 760))
ANGLES_PLOT = (slice(615, 745), slice(120, 760))
POSE_3D = (slice(60, 345), slice(775, 1270))
#: Drawn: the panels' pixel standard deviation (over channels and pixels) and, for Result, the
#: share of colourful pixels (max - min channel > 40). Measured 2026-12-06 (2-core VM), Result std
#: and colourful share, Raw std: the loading screen (dark, uniform) 1.7, 0.000, 1.7; the empty
#: layout ("No data available.") 4.2, 0.000, 10.0; the drawn recording 54.1, 0.062, 46.6.
MIN_STD = 25.0
MIN_COLOURFUL = 0.02
#: The skeleton's colour (RGB): track 0's (0, 190, 255) tinted 45 % towards white, as
#: fastpose.sinks.rerun draws bones and keypoints over the mask; a pixel within SKELETON_TOLERANCE
#: of it on every channel is the skeleton's. Measured 2026-12-07 (2-core VM, drawn): 0.66 % of
#: Result's image, 0.58 % of the 3D view, 0.00 % of the raw video (the same frames, no skeleton).
SKELETON_RGB = (115, 219, 255)
SKELETON_TOLERANCE = 20
MIN_SKELETON = 0.002
#: The plot's series colours (RGB) of the main joints (fastpose.sinks.rerun_measures); a series
#: is drawn when MIN_SERIES of the plot's pixels are within SERIES_TOLERANCE of its colour
#: (measured 2026-12-07: 0.11-0.54 % each; 0 before the plot is drawn).
SERIES_RGB = SERIES_COLOURS
SERIES_TOLERANCE = 30
MIN_SERIES = 0.0004
MIN_SERIES_DRAWN = 4
#: Waits, times TIMEOUT_SCALE: SwiftShader draws on the CPU, so another busy process slows it.
DRAW_TIMEOUT_S = scaled(120.0)
SERVE_TIMEOUT_S = scaled(120.0)
SCREENSHOT_TIMEOUT_MS = scaled(90_000)
#: Between screenshots (each one a frame SwiftShader draws on the CPU): the recording is drawn
#: ~5 s after the page opens here, so a shorter wait only adds screenshots (1.5 s: 4 of them, more
#: CPU, no shorter run).
POLL_MS = 5_000


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium not found on PATH: install Debian's `chromium` package "
            "(apt-get install -y chromium; .ci/run does)"
        )
    return path


@dataclass(frozen=True)
class Drawn:
    """What a screenshot shows: Result's std and colourful share, Raw video's std (the video),
    the skeleton's share of Result's image, the 3D view and the raw video, and the main joints'
    series seen in the plot."""

    result_std: float
    colourful: float
    raw_std: float
    skeleton_result: float
    skeleton_3d: float
    skeleton_raw: float
    series: tuple[str, ...]

    @property
    def video(self) -> bool:
        return (
            self.result_std >= MIN_STD
            and self.colourful >= MIN_COLOURFUL
            and self.raw_std >= MIN_STD
        )

    @property
    def poses(self) -> bool:
        """The skeleton over the video (and not in the raw video: it is the poses, not the
        video's own colours), in the 3D view, and the joints' series plotted."""
        return (
            self.skeleton_result >= MIN_SKELETON
            and self.skeleton_result > 20 * self.skeleton_raw
            and self.skeleton_3d >= MIN_SKELETON
            and len(self.series) >= MIN_SERIES_DRAWN
        )


def _share(image: np.ndarray, region: tuple[slice, slice], rgb, tolerance: int) -> float:
    """The share of ``region``'s pixels within ``tolerance`` of ``rgb`` on every channel."""
    return float((np.abs(image[region] - np.array(rgb)).max(axis=-1) <= tolerance).mean())


def _panel_stats(png: Path) -> Drawn:
    import cv2

    image = cv2.imread(str(png), cv2.IMREAD_COLOR)[..., ::-1].astype(np.int16)  # RGB
    result, raw = image[RESULT_PANEL], image[RAW_PANEL]
    colourful = float((result.max(axis=2) - result.min(axis=2) > 40).mean())
    skeleton = [
        _share(image, region, SKELETON_RGB, SKELETON_TOLERANCE)
        for region in (RESULT_IMAGE, POSE_3D, RAW_PANEL)
    ]
    series = tuple(
        name
        for name, rgb in SERIES_RGB.items()
        if _share(image, ANGLES_PLOT, rgb, SERIES_TOLERANCE) >= MIN_SERIES
    )
    return Drawn(float(result.std()), colourful, float(raw.std()), *skeleton, series)


def _drawn(stats: Drawn) -> bool:
    return stats.video and stats.poses


@contextlib.contextmanager
def _served(tmp_path: Path, video_mode: str = "auto"):
    """`fastpose run --serve` on 20 frames of pose_squats.mp4; yields the printed web address
    once tracking is done, and ends the process with Ctrl-C."""
    log = tmp_path / "stderr.txt"
    args = ["run", data_file("pose_squats.mp4"), "--serve", "--max-frames", "20"]
    args += ["--workers", "1", "--no-progress", "--video-mode", video_mode]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", *map(str, args)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while "still serving" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield re.search(r"web viewer: (http://\S+)", log.read_text()).group(1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(scaled(20))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, launched once for the tests below (each opens its own page)."""
    chromium = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail('playwright (Python) is missing: pip install "fastpose[test]"')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.e2e
@pytest.mark.parametrize("video_mode", ["auto", "stream"])
def test_served_web_viewer_draws_the_recording_in_chromium(tmp_path, browser, video_mode) -> None:
    """Headless Chromium opens the address `fastpose run --serve` prints (the frames: the MP4
    itself, ``auto``'s choice for a small file, or the AV1 stream a long one gets, which the
    browser decodes); within DRAW_TIMEOUT_S the viewer's Result and Raw video panels show the
    video (its pixels, not the loading screen's or the empty layout's uniform ones), and the
    poses: the skeleton's colour over Result's video (and not in the raw video's same frames),
    in the 3D view, and the main joints' series in the plot. The screenshots stay in the test's
    folder (printed). One browser serves both cases (a page each)."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with _served(tmp_path, video_mode) as web:
        allowed = urlsplit(web).hostname

        def local_only(route) -> None:  # the viewer fetches Rerun's examples: no such traffic
            if urlsplit(route.request.url).hostname in (allowed, "localhost", "127.0.0.1"):
                route.continue_()
            else:
                route.abort()

        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.route("**/*", local_only)
            page.goto(web)
            first = shots / "opened.png"
            page.screenshot(path=first, timeout=SCREENSHOT_TIMEOUT_MS)
            history = [_panel_stats(first)]
            deadline = time.monotonic() + DRAW_TIMEOUT_S
            shot = first
            while time.monotonic() < deadline and not _drawn(history[-1]):
                page.wait_for_timeout(POLL_MS)
                shot = shots / f"after_{len(history):02d}.png"
                page.screenshot(path=shot, timeout=SCREENSHOT_TIMEOUT_MS)
                history.append(_panel_stats(shot))
        finally:
            context.close()
    print(f"web viewer screenshots: {shots} (last: {shot.name})")
    assert _drawn(history[-1]), (
        f"the recording was not drawn within {DRAW_TIMEOUT_S:g} s (video: {history[-1].video}, "
        f"poses: {history[-1].poses}); per screenshot {history}; see {shots}"
    )

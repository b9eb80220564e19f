"""Soak: `fastpose run` with default options on a 20,000-frame video (pose_squats looped), against a
2,000-frame run of the same clip: every frame reaches the recording and memory stays flat.

Slow (minutes): run by `tox -e soak` (`pytest -m slow`), not by the default test command.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import psutil
import pytest
from clips import loop_video
from conftest import ROOT, data_file, read_rrd

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

LONG_FRAMES, SHORT_FRAMES = 20_000, 2_000
RSS_GROWTH = 1.2  # the long run's peak over the short run's, at most
RSS_LIMIT = 1.5e9  # bytes, the whole process tree
SAMPLE_S = 0.25


@dataclass(frozen=True)
class Soak:
    """One `fastpose run`: its exit, stderr, output, frames in the clip and memory peaks (bytes)."""

    returncode: int
    stderr: str
    rrd: Path
    frames: int
    seconds: float
    peak_tree_rss: int  # sum over the CLI and all its descendants, sampled every SAMPLE_S
    peak_process_rss: int  # the largest single process

    def describe(self) -> str:
        tree, largest = self.peak_tree_rss / 1e9, self.peak_process_rss / 1e9
        return (
            f"{self.frames} frames in {self.seconds:.0f} s, "
            f"peak RSS {tree:.2f} GB (largest process {largest:.2f} GB)"
        )


def _tree_rss(cli: psutil.Process) -> tuple[int, int]:
    """(sum, max) of the RSS of ``cli`` and its descendants; processes that just ended count 0."""
    sizes = []
    for proc in [cli, *cli.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            sizes.append(proc.memory_info().rss)
    return sum(sizes), max(sizes, default=0)


def _run(video: Path, rrd: Path) -> Soak:
    """`fastpose run VIDEO --save RRD` (default options otherwise), sampling its memory."""
    with av.open(str(video)) as container:
        frames = container.streams.video[0].frames
    err = rrd.with_suffix(".stderr.txt")
    start = time.monotonic()
    with err.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", "run", str(video), "--save", str(rrd)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    cli = psutil.Process(proc.pid)
    peak_tree = peak_process = 0
    try:
        while proc.poll() is None:
            try:
                tree, largest = _tree_rss(cli)
            except psutil.NoSuchProcess:
                break
            peak_tree, peak_process = max(peak_tree, tree), max(peak_process, largest)
            time.sleep(SAMPLE_S)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    seconds = time.monotonic() - start
    return Soak(proc.returncode, err.read_text(), rrd, frames, seconds, peak_tree, peak_process)


@pytest.fixture(scope="module")
def soaks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Soak]:
    d = tmp_path_factory.mktemp("soak")
    src = data_file("pose_squats.mp4")
    runs = {}
    for name, frames in (("short", SHORT_FRAMES), ("long", LONG_FRAMES)):
        video = loop_video(src, d / f"squats_{frames}.mp4", frames)
        runs[name] = _run(video, d / f"{name}.rrd")
        print(f"soak {name}: {runs[name].describe()}")
    return runs


def test_every_frame_is_recorded(soaks: dict[str, Soak]) -> None:
    long = soaks["long"]
    assert long.returncode == 0, long.stderr
    assert "Traceback" not in long.stderr
    assert long.frames >= LONG_FRAMES
    rec = read_rrd(long.rrd)
    assert rec.frames["video"] == set(range(long.frames))
    assert rec.frames["video/mask"] == set(range(long.frames))
    assert len(rec.frames["video/pose/points"]) > 0.95 * long.frames
    assert f"{long.frames} frames" in long.stderr


#: Measured here: 2,015 frames 4.45 GB, 20,020 frames 10.66 GB (largest process 5.63 GB).
DECORD_READ_AHEAD = pytest.mark.xfail(
    strict=True,
    reason="video.py: decord 0.6 keeps decoding ahead into memory after get_batch (dmlc/decord "
    "#197, #208) as fast as it can, to the end of the file: a worker's RSS grows by ~200 MB/s "
    "through a unit, so the peak grows with the video's length; the parent also holds an unused "
    "source (tracker.py) that reads ahead ~1 GB",
)


@DECORD_READ_AHEAD
def test_memory_stays_flat(soaks: dict[str, Soak]) -> None:
    short, long = soaks["short"], soaks["long"]
    assert short.returncode == 0 and long.returncode == 0, short.stderr + long.stderr
    ratio = long.peak_tree_rss / short.peak_tree_rss
    assert ratio <= RSS_GROWTH, f"{ratio:.2f}x: long {long.describe()}; short {short.describe()}"


@DECORD_READ_AHEAD
def test_memory_under_limit(soaks: dict[str, Soak]) -> None:
    long = soaks["long"]
    assert long.peak_tree_rss < RSS_LIMIT, long.describe()

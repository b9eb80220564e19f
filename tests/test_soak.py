"""Soak: `fastpose run --save --export --angles --trc` (every output but the rendered video, default
options otherwise) on a 20,000-frame 360p video (sports2d_demo played forwards and backwards at
640x360, 30 fps, looped), against a 2,000-frame run of the same clip: every frame reaches the
outputs and peak RSS grows at most 1.1x.

Slow (about 10 minutes on a quiet 2-core VM): run by `tox -e soak` (`pytest -m soak`), not by the
default test command nor CI.
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
import pyarrow.parquet as pq
import pytest
from clips import long_ping_pong
from conftest import ROOT, data_file, read_rrd

pytestmark = [pytest.mark.soak, pytest.mark.timeout(3600)]

LONG_FRAMES, SHORT_FRAMES = 20_000, 2_000
RSS_GROWTH = 1.1  # the long run's peak over the short run's, at most
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
    peak_tree_pss: int  # the same in PSS: shared library pages counted once, not per process
    peak_process_rss: int  # the largest single process

    def describe(self) -> str:
        tree, pss = self.peak_tree_rss / 1e9, self.peak_tree_pss / 1e9
        largest = self.peak_process_rss / 1e9
        return (
            f"{self.frames} frames in {self.seconds:.0f} s, peak RSS {tree:.2f} GB "
            f"(PSS {pss:.2f} GB; largest process {largest:.2f} GB)"
        )


def _tree_memory(cli: psutil.Process) -> tuple[int, int, int]:
    """(RSS sum, PSS sum, RSS max) over ``cli`` and its descendants; processes that just ended
    count 0."""
    rss, pss = [], []
    for proc in [cli, *cli.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss.append(info.rss)
            pss.append(info.pss)
    return sum(rss), sum(pss), max(rss, default=0)


def _run(video: Path, rrd: Path) -> Soak:
    """`fastpose run VIDEO --save RRD --export RRD.parquet --angles RRD.angles.parquet --trc
    RRD.trc` (default options otherwise: the recording with its joint angles, the landmarks' and
    the angles' tables, the OpenSim markers), sampling its memory."""
    with av.open(str(video)) as container:
        frames = container.streams.video[0].frames
    err = rrd.with_suffix(".stderr.txt")
    start = time.monotonic()
    with err.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fastpose",
                "run",
                str(video),
                "--save",
                str(rrd),
                "--export",
                str(rrd.with_suffix(".parquet")),
                "--angles",
                str(rrd.with_suffix(".angles.parquet")),
                "--trc",
                str(rrd.with_suffix(".trc")),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    cli = psutil.Process(proc.pid)
    peak_tree = peak_pss = peak_process = 0
    try:
        while proc.poll() is None:
            try:
                tree, pss, largest = _tree_memory(cli)
            except psutil.NoSuchProcess:
                break
            peak_tree, peak_pss = max(peak_tree, tree), max(peak_pss, pss)
            peak_process = max(peak_process, largest)
            time.sleep(SAMPLE_S)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    seconds = time.monotonic() - start
    return Soak(
        proc.returncode, err.read_text(), rrd, frames, seconds, peak_tree, peak_pss, peak_process
    )


@pytest.fixture(scope="module")
def soaks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Soak]:
    d = tmp_path_factory.mktemp("soak")
    src = data_file("sports2d_demo.mp4")
    runs = {}
    for name, frames in (("short", SHORT_FRAMES), ("long", LONG_FRAMES)):
        video = long_ping_pong(src, d / f"sports2d_360p_{frames}.mp4", frames)
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
    assert f"{long.frames} frames" in long.stderr
    table = long.rrd.with_suffix(".parquet")
    with_person = set(pq.read_table(table, columns=["frame_idx"]).column(0).to_pylist())
    assert len(with_person) > 0.85 * long.frames  # the backlit athlete is missed now and then
    # the recording also has points in a few frames the table has no row for (not explained yet)
    assert with_person <= rec.frames["video/pose/points"]
    angles = pq.read_table(long.rrd.with_suffix(".angles.parquet"), columns=["frame_idx"])
    assert set(angles.column(0).to_pylist()) >= with_person
    assert pq.ParquetFile(table).num_row_groups < 30


def test_memory_stays_flat(soaks: dict[str, Soak]) -> None:
    short, long = soaks["short"], soaks["long"]
    assert short.returncode == 0 and long.returncode == 0, short.stderr + long.stderr
    ratio = long.peak_tree_rss / short.peak_tree_rss
    assert ratio <= RSS_GROWTH, f"{ratio:.2f}x: long {long.describe()}; short {short.describe()}"


def test_memory_under_limit(soaks: dict[str, Soak]) -> None:
    """Under 1.5 GB in PSS over all processes (RSS sums count the libraries that the parent and
    each worker map, ~250 MB, once per process), and in RSS for every single process."""
    long = soaks["long"]
    assert long.peak_tree_pss < RSS_LIMIT, long.describe()
    assert long.peak_process_rss < RSS_LIMIT, long.describe()

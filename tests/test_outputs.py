"""Issue 14, outputs never destroy data: an output that is an input (or the other output) is refused
before any work, ``--save`` must end in ``.rrd``, an unfinished run never replaces a file (its
result is kept as ``NAME.partial.SUFFIX``, named in its message), and a run that wrote no frame
leaves no file. Through the real CLI on a copy of tests/data/pose_squats.mp4, and on the classes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, data_file, read_rrd, scaled

from fastpose.errors import OutputError
from fastpose.outputs import check_distinct
from fastpose.poses import PoseBatch
from fastpose.sinks.base import SinkContext, Tracked
from fastpose.sinks.landmarks import LandmarkTable
from fastpose.sinks.metadata import read_settings
from fastpose.transaction import Transaction
from fastpose.video import VideoInfo

FAST = ("--no-segment", "--no-progress")
PREVIOUS = b"a previous run's output\n"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A copy of pose_squats.mp4 (65 frames) that a run could damage."""
    return Path(shutil.copy(data_file("pose_squats.mp4"), tmp_path / "clip.mp4"))


def _fails(result, *needles: str) -> str:
    """Exit 1, no traceback, one line on stderr holding every needle."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- refused before any work --------------------------------------------------------------------


def test_save_onto_the_input_is_refused(cli_main, clip):
    original = clip.read_bytes()
    result = cli_main("run", clip, "--save", clip, "--overwrite", *FAST)
    _fails(result, str(clip), "expected a .rrd file for --save, got .mp4")
    assert clip.read_bytes() == original


def test_save_with_another_suffix_is_refused(cli_main, clip, tmp_path):
    original = clip.read_bytes()
    result = cli_main("run", clip, "--save", tmp_path / "x.mp4", *FAST)
    _fails(result, "x.mp4", "expected a .rrd file for --save, got .mp4")
    assert clip.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_output_named_as_the_input_is_refused(cli_main, clip, tmp_path):
    """A video whose name ends in .rrd, saved onto itself: refused although the suffix fits."""
    video = clip.rename(tmp_path / "clip.rrd")
    original = video.read_bytes()
    result = cli_main("run", video, "--save", video, "--overwrite", *FAST)
    _fails(result, "--save would overwrite the input video")
    assert video.read_bytes() == original
    # The same file under another spelling of its path.
    spelled = tmp_path / "." / "sub" / ".." / "clip.rrd"
    (tmp_path / "sub").mkdir()
    result = cli_main("run", video, "--save", spelled, "--overwrite", *FAST)
    _fails(result, "--save would overwrite the input video")
    assert video.read_bytes() == original


def test_hard_link_to_the_input_is_refused(cli_main, clip, tmp_path):
    link = tmp_path / "landmarks.parquet"
    os.link(clip, link)
    original = clip.read_bytes()
    result = cli_main("run", clip, "--export", link, "--overwrite", "--save", tmp_path / "o.rrd")
    _fails(result, str(link), "--export would overwrite the input video")
    assert clip.read_bytes() == original
    assert not (tmp_path / "o.rrd").exists()


def test_outputs_that_are_one_file_are_refused(cli_main, clip, tmp_path):
    save, export = tmp_path / "out.rrd", tmp_path / "out.parquet"
    save.write_bytes(PREVIOUS)
    os.link(save, export)
    result = cli_main("run", clip, "--save", save, "--export", export, "--overwrite", *FAST)
    _fails(result, "--save and --export name the same file")
    assert save.read_bytes() == PREVIOUS


def test_check_distinct_accepts_distinct_files(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.rrd", "b.parquet", "c.mp4"))
    c.write_bytes(b"video")
    check_distinct([("--save", a), ("--export", b)], [("the input video", c)])
    with pytest.raises(OutputError, match="--save would overwrite the input video"):
        check_distinct([("--save", c)], [("the input video", c)])


# --- an unfinished run --------------------------------------------------------------------------


@pytest.mark.e2e
def test_ctrl_c_during_overwrite_keeps_the_previous_files(clip, tmp_path):
    """Ctrl-C (SIGINT to the process group) during an --overwrite run: the previous files are
    byte-identical; the frames processed so far are in out.partial.rrd / out.partial.parquet,
    which the message names and which open with exactly those frames."""
    save, export = tmp_path / "out.rrd", tmp_path / "out.parquet"
    save.write_bytes(PREVIOUS)
    export.write_bytes(PREVIOUS + b"table")
    log = tmp_path / "stderr.txt"
    args = ("run", clip, "--save", save, "--export", export, "--overwrite", "--workers", "1")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", *map(str, args), *FAST],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    working = tmp_path / "out.partial.parquet"
    try:
        deadline = time.monotonic() + scaled(120)
        while not (working.exists() and working.stat().st_size > 4096):  # a row group is in
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=scaled(60))
    finally:
        proc.kill()
    stderr = log.read_text()
    assert code == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    n = int(re.search(r"interrupted by SIGINT after (\d+) frames", last).group(1))
    assert 0 < n < 65
    assert str(tmp_path / "out.partial.rrd") in last and str(working) in last, last
    assert save.read_bytes() == PREVIOUS
    assert export.read_bytes() == PREVIOUS + b"table"
    assert read_rrd(tmp_path / "out.partial.rrd").frames["video"] == set(range(n))
    assert set(pq.read_table(working).column("frame_idx").to_pylist()) == set(range(n))


def _poses(n: int) -> PoseBatch:
    """``n`` frames with one detected person (the values don't matter here)."""
    landmarks = np.full((n, 1, 33, 5), 0.5, np.float32)
    return PoseBatch(
        frame_idx=np.arange(n, dtype=np.int64),
        time_s=np.arange(n, dtype=np.float64) / 10,
        pts_s=np.arange(n, dtype=np.float64) / 10,
        landmarks=landmarks,
        world=np.zeros((n, 1, 33, 3), np.float32),
    )


def _context(settings: dict[str, str] | None = None) -> SinkContext:
    info = VideoInfo("clip.mp4", 64, 64, 10.0, 5, "h264", "mp4", 0, False, "pyav")
    return SinkContext(info, (64, 64), 1, settings or {"model": "full"})


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_table_finishes_only_a_complete_run(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    path.write_bytes(PREVIOUS)
    staging = Transaction()
    table = LandmarkTable(path)
    table.open(_context(), staging)
    table.write(Tracked(_poses(3)))
    table.close(complete=False)
    kept = staging.finish(complete=False, frames=3)
    assert path.read_bytes() == PREVIOUS
    assert kept == [tmp_path / f"out.partial{suffix}"]
    if suffix == ".parquet":
        assert pq.read_table(kept[0]).num_rows == 3 * 33

    again, table = Transaction(), LandmarkTable(path)  # out.partial.* exists: the next is beside it
    table.open(_context(), again)
    assert again.files == [(path, tmp_path / f"out.partial-1{suffix}")]
    table.write(Tracked(_poses(2)))
    table.close(complete=True)
    assert again.finish(complete=True, frames=2) == [path]
    assert not (tmp_path / f"out.partial-1{suffix}").exists()
    assert kept[0].exists(), "an earlier partial result was removed"


def test_parquet_records_the_settings(tmp_path):
    path = tmp_path / "out.parquet"
    staging, table = Transaction(), LandmarkTable(path)
    table.open(_context({"model": "lite", "num_poses": "2"}), staging)
    table.write(Tracked(_poses(1)))
    table.close(complete=True)
    staging.finish(complete=True, frames=1)
    assert read_settings(path) == {"model": "lite", "num_poses": "2"}


def test_no_frame_written_leaves_no_file(tmp_path):
    staging, table = Transaction(), LandmarkTable(tmp_path / "out.parquet")
    table.open(_context(), staging)
    table.close(complete=True)
    staging.claim(tmp_path / "out.rrd").write_bytes(b"header only")
    assert staging.finish(complete=False, frames=0) == []
    assert list(tmp_path.iterdir()) == []


def test_a_claimed_name_is_never_shared(tmp_path):
    """Two runs staging the same output get two working files (an exclusive create), and a
    batch's staging, which may not number its names, refuses a taken one."""
    final = tmp_path / "out.rrd"
    first, second = Transaction().claim(final), Transaction().claim(final)
    assert first != second and first.exists() and second.exists()
    strict = Transaction(lambda f: tmp_path / f.name, numbered=False)
    (tmp_path / "x.rrd").write_bytes(b"someone else's")
    with pytest.raises(OutputError, match="exists"):
        strict.claim(tmp_path / "sub" / "x.rrd")

"""`fastpose batch` and `fastpose.batching.batch`: real clips from tests/data copied under other
names, plus a file cut short; the local threads and a local Ray runtime."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest
from clips import faststart, loop_video, transcode
from conftest import ROOT, data_file, read_rrd, run_cli, scaled

FAST = ("--no-segment", "--no-progress")
FRAMES = 30  # --max-frames for the short runs


#: Frames of the short clip the signal tests wait for (pose_squats' first ones at half size): done
#: soon, so the signal comes early; the whole 65-frame clip at 720x1280 proved the same, later.
SHORT_FRAMES = 16


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """pose_squats' first SHORT_FRAMES frames at 360x640, made once for the tests below."""
    folder = tmp_path_factory.mktemp("short")
    return transcode(data_file("pose_squats.mp4"), folder / "short.mp4", (360, 640), SHORT_FRAMES)


def _cut(src: Path, dst: Path) -> Path:
    """The first half of ``src`` (pose_squats keeps its index at the end: truncated MP4)."""
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """squats.mp4, beam.mp4, and cam/beam.mp4 (the same stem), and cut.mp4, cut short."""
    folder = tmp_path / "clips"
    (folder / "cam").mkdir(parents=True)
    (folder / "squats.mp4").write_bytes(data_file("pose_squats.mp4").read_bytes())
    (folder / "beam.mp4").write_bytes(data_file("pose2sim_single_cam01.mp4").read_bytes())
    (folder / "cam" / "beam.mp4").write_bytes(data_file("pose2sim_single_cam01.mp4").read_bytes())
    _cut(data_file("pose_squats.mp4"), folder / "cut.mp4")
    (folder / "notes.txt").write_text("not a video\n")
    return folder


def _summary(out: Path, clips: Path) -> dict[str, dict[str, str]]:
    """summary.csv's rows by video, as a path relative to ``clips``."""
    with (out / "summary.csv").open(newline="") as f:
        return {Path(r["video"]).relative_to(clips).as_posix(): r for r in csv.DictReader(f)}


def _stamps(paths) -> dict[Path, tuple[int, int]]:
    """Each file's inode and modification time: tracking a clip again changes both (its outputs
    are written under working names, then renamed over the old ones)."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


def _frames(table: Path) -> set[int]:
    return set(pq.read_table(table, columns=["frame_idx"]).column(0).to_pylist())


def _landmarks(table: Path) -> tuple[np.ndarray, np.ndarray]:
    """The table's rows as keys (frame, person, landmark code) and x, y pixels, in key order."""
    t = pq.read_table(table)
    keys = np.stack(
        [
            t.column("frame_idx").to_numpy(),
            t.column("person").to_numpy(),
            t.column("landmark").combine_chunks().indices.to_numpy(),
        ],
        axis=1,
    )
    xy = np.stack([t.column("x_px").to_numpy(), t.column("y_px").to_numpy()], axis=1)
    order = np.lexsort(keys.T[::-1])
    return keys[order], xy[order]


def test_batch_tracks_every_good_clip_fails_the_cut_one_and_resumes(tmp_path, clips):
    """A folder: every video gets both outputs and a `done` row (two `beam` stems get distinct
    names); the cut file a `failed` row naming the problem; exit 1. Run again: every done clip is
    skipped, its outputs left as they were (not tracked again), and the cut one tried again."""
    out = tmp_path / "out"
    first = run_cli("batch", clips, "--recursive", "--out", out, "--max-frames", FRAMES, *FAST)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    rows = _summary(out, clips)
    assert set(rows) == {"squats.mp4", "beam.mp4", "cam/beam.mp4", "cut.mp4"}
    assert rows["cut.mp4"]["status"] == "failed"
    assert "truncated" in rows["cut.mp4"]["message"], rows["cut.mp4"]
    assert not (out / "cut.rrd").exists() and not (out / "cut.parquet").exists()
    names = set()
    for video in ("squats.mp4", "beam.mp4", "cam/beam.mp4"):
        row = rows[video]
        assert row["status"] == "done", row
        assert int(row["frames"]) == FRAMES and int(row["frames_with_person"]) > 0
        rrd, table = Path(row["rrd"]), Path(row["landmarks"])
        assert rrd.parent == out and table == rrd.with_suffix(".parquet")
        assert _frames(table) == set(range(FRAMES))
        assert read_rrd(rrd).frames["video/pose/points"] <= set(range(FRAMES))
        names.add(rrd.stem)
        assert f"{Path(video).name}: done, {FRAMES} frames" in first.stderr
    assert names == {"squats", "beam", "cam_beam"}, names
    assert "cut.mp4: failed: " in first.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [], "leftovers"

    outputs = _stamps(p for p in out.iterdir() if p.suffix in (".rrd", ".parquet"))
    assert len(outputs) == 6, sorted(outputs)

    again = run_cli("batch", clips, "--recursive", "--out", out, "--max-frames", FRAMES, *FAST)
    assert again.returncode == 1, again.stderr
    rows = _summary(out, clips)
    assert [rows[v]["status"] for v in ("squats.mp4", "beam.mp4", "cam/beam.mp4")] == [
        "skipped"
    ] * 3
    assert rows["squats.mp4"]["frames"] == str(FRAMES)  # carried over from the first summary
    assert rows["cut.mp4"]["status"] == "failed"
    assert "3 of 4 videos already have their outputs" in again.stderr, again.stderr
    assert "cut.mp4: failed: " in again.stderr, again.stderr  # the only one tried again
    assert ": done, " not in again.stderr, again.stderr
    assert _stamps(outputs) == outputs, "a skipped clip's outputs were written again"


def test_inputs_from_a_list_globs_and_paths(tmp_path, clips):
    """@FILE (comments, relative paths, a glob) and a path given twice: each video once; a missing
    file gets a `failed` row; the Python function returns the rows in input order."""
    from fastpose.batching import batch, expand_inputs

    listing = clips / "list.txt"
    listing.write_text("# clips to track\nsquats.mp4\n\ncam/*.mp4\nmissing.mp4\n")
    videos = expand_inputs([f"@{listing}", clips / "squats.mp4"])
    assert videos == [clips / "squats.mp4", clips / "cam" / "beam.mp4", clips / "missing.mp4"]
    assert expand_inputs([clips]) == sorted(
        clips / n for n in ("beam.mp4", "cut.mp4", "squats.mp4")
    )
    assert len(expand_inputs([clips], recursive=True)) == 4
    assert expand_inputs([str(clips / "*.txt")]) == []

    rows = batch([f"@{listing}"], tmp_path / "out", max_frames_for_test(10), workers=2)
    assert [(Path(r.video).name, r.status) for r in rows] == [
        ("squats.mp4", "done"), ("beam.mp4", "done"), ("missing.mp4", "failed"),
    ]  # fmt: skip
    assert "no such file" in rows[2].message
    assert rows[0].frames == 10 and Path(rows[0].landmarks).name == "squats.parquet"


def max_frames_for_test(n: int | None):
    from fastpose.landmarker import LandmarkerOptions
    from fastpose.models import resolve_model
    from fastpose.tracker import TrackOptions

    return TrackOptions(LandmarkerOptions(resolve_model("full").path, segment=False), max_frames=n)


def test_output_names_are_unique_and_stable(tmp_path):
    from fastpose.batching import output_names

    a, b, c = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", tmp_path / "a" / "clip.mov"
    assert output_names([a]) == {a: "clip"}
    assert output_names([a, b]) == {a: "a_clip", b: "b_clip"}
    assert output_names([b, a]) == {a: "a_clip", b: "b_clip"}
    names = output_names([a, b, c])
    assert len(set(names.values())) == 3 and names[b] == "b_clip.mp4", names
    summary = tmp_path / "summary.mp4"  # beside summary.csv when the tables are CSV
    assert output_names([summary], reserved=["summary"]) == {summary: "summary-2"}


def test_a_file_that_ends_early_fails_and_keeps_what_it_wrote_aside(tmp_path):
    """An MP4 with its index in front, cut in half: the frames there are tracked, but the video is
    `failed` ("truncated"), with nothing under the final names (a second run tries it again); what
    it wrote is kept in DIR/.incomplete/."""
    from fastpose.batching import batch

    front = faststart(data_file("pose_squats.mp4"), tmp_path / "faststart.mp4")
    video = _cut(front, tmp_path / "half.mp4")
    (row,) = batch([video], tmp_path / "out", max_frames_for_test(None))
    assert row.status == "failed" and row.message.startswith("truncated"), row
    assert 0 < row.frames < 65
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".incomplete", "summary.csv"]
    kept = tmp_path / "out" / ".incomplete"
    assert str(kept) in row.message
    assert _frames(kept / "half.parquet") == set(range(row.frames))


@pytest.mark.e2e
def test_ray_writes_the_same_outputs_as_the_local_batch(tmp_path, clips):
    """A local Ray runtime: the same rows and landmarks (within 1 px) as the threads."""
    pytest.importorskip("ray")
    from fastpose.batching import batch

    inputs = [clips / "squats.mp4", clips / "beam.mp4", clips / "cut.mp4"]
    options = max_frames_for_test(FRAMES)
    local = batch(inputs, tmp_path / "local", options, workers=2)
    env = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    on_ray = batch(inputs, tmp_path / "ray", options, workers=2, ray=True)
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == env  # set only while it ran
    assert [(r.status, r.frames, r.frames_with_person) for r in on_ray] == [
        (r.status, r.frames, r.frames_with_person) for r in local
    ]
    assert [r.status for r in local] == ["done", "done", "failed"]
    for name in ("squats", "beam"):
        keys_l, xy_l = _landmarks(tmp_path / "local" / f"{name}.parquet")
        keys_r, xy_r = _landmarks(tmp_path / "ray" / f"{name}.parquet")
        assert np.array_equal(keys_l, keys_r)
        assert np.abs(xy_l - xy_r).max() <= 1.0
        assert read_rrd(tmp_path / "ray" / f"{name}.rrd").frames["video"] == set(range(FRAMES))


def test_ray_without_the_extra_says_what_to_install(tmp_path, clips):
    """Without Ray importable (a `ray` package that fails to import shadows it): one line."""
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {"PYTHONPATH": f"{shadow.parent}{os.pathsep}{ROOT}"}
    result = run_cli("batch", clips, "--out", tmp_path / "out", "--ray", *FAST, env=env)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'pip install "fastpose[ray]"' in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


def _listening(processes: list[psutil.Process]) -> set[str]:
    found = set()
    for p in processes:
        with contextlib.suppress(psutil.Error):
            found |= {
                c.laddr.ip for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
            }
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("ray", [False, True], ids=["local", "ray"])
def test_ctrl_c_keeps_finished_videos_and_leaves_no_process(tmp_path, short_clip, ray):
    """SIGINT to the process group once a short clip is done: exit 130, the short clip's outputs
    complete, the long ones not under final names, the summary lists what ran, and no process
    the batch started (threads' landmarkers, Ray's runtime) is left."""
    if ray:
        pytest.importorskip("ray")
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copyfile(short_clip, clips / "short.mp4")
    for name in ("long_a", "long_b"):
        loop_video(data_file("pose_squats.mp4"), clips / f"{name}.mp4", 1500)
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    args = ["batch", clips, "--out", out, "--workers", "3", "--inference-size", "320", *FAST]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", *map(str, args), *(["--ray"] if ray else [])],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
        )  # fmt: skip
    cli = psutil.Process(proc.pid)
    family: dict[int, psutil.Process] = {}
    listening: set[str] = set()  # addresses the batch's processes listen on
    try:
        deadline = time.monotonic() + scaled(300)
        # The batch has the short clip's row once it logs it (its outputs are renamed earlier:
        # a signal in between, on Ray, would leave it `interrupted`, whatever the wait).
        while f"short.mp4: done, {SHORT_FRAMES} frames" not in log.read_text():
            with contextlib.suppress(psutil.Error):
                family.update({p.pid: p for p in cli.children(recursive=True)})
            listening |= _listening([cli, *family.values()])
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        with contextlib.suppress(psutil.Error):
            family.update({p.pid: p for p in cli.children(recursive=True)})
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=scaled(120))
    finally:
        proc.kill()
    stderr = log.read_text()
    assert code == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "interrupted by SIGINT" in stderr.splitlines()[-1], stderr
    assert read_rrd(out / "short.rrd").frames["video"] == set(range(SHORT_FRAMES))
    assert _frames(out / "short.parquet") == set(range(SHORT_FRAMES))
    for name in ("long_a", "long_b"):
        assert not (out / f"{name}.rrd").exists() and not (out / f"{name}.parquet").exists()
    with (out / "summary.csv").open(newline="") as f:
        statuses = {Path(r["video"]).stem: r["status"] for r in csv.DictReader(f)}
    assert statuses["short"] == "done"
    assert set(statuses) <= {"short", "long_a", "long_b"}
    assert all(s in ("done", "interrupted") for s in statuses.values()), statuses
    assert listening <= LOOPBACK, listening  # Ray's local runtime: 127.0.0.1 only
    if ray:
        assert listening, "no listening socket seen: the check above saw nothing"
    _, alive = psutil.wait_procs(list(family.values()), timeout=scaled(20))
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    names = [p.name() for p in alive]
    for p in alive:
        p.kill()
    assert not alive, names

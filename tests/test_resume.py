"""``fastpose run --resume`` and ``fastpose batch`` continuing a run cut short (fastpose.resume).

A run writing files journals the tracked poses beside its first output (``OUT.resume/``) with a
checkpoint every 100 frames and when it is cut short; the same command with ``--resume``
writes the journaled frames again without inference and tracks on from the checkpoint. The e2e
tests kill real processes (SIGKILL, SIGINT) on a real two-person clip and compare every output
with an uninterrupted run's: every frame once, the same ids, landmarks within 0.5 px (median),
the same poses but for a borderline detection where the restarted landmarker warms up.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from clips import transcode
from conftest import ROOT, data_file, read_rrd, run_cli, scaled

from fastpose.errors import ResumeError
from fastpose.poses import PoseBatch
from fastpose.resume import Checkpoint, Journal, journal_folder, read_checkpoint
from fastpose.resume.journal import journaled
from fastpose.tracker import Tracker

#: The e2e clip: sports2d_demo at 640x360, looped to this many frames (two people). A checkpoint
#: comes every 100 frames (CHECKPOINT_FRAMES): the first after frame 111; the kills land at frames
#: (after a batch journaled after it, see _kill_after_checkpoint), not seconds, so mid-run on any
#: machine, and the 188 frames or fewer resumed run on two ranges again (690 frames, as before
#: checkpoints came every 100, only made every run 2.3x longer).
FRAMES = 300
TRACK = ("--num-poses", "2", "--no-progress")
#: A run cut short on one landmarker: nothing is inferred ahead of the kill in a second range (in
#: vain: ~120 frames), and the kill lands at a known point; ``workers`` changes only the speed, so
#: the resumed run, on two, compares what an uninterrupted run writes (the SIGKILL test keeps two).
ONE = ("--workers", "1")


def _outputs(folder: Path) -> list[str]:
    return [
        "--save", str(folder / "o.rrd"), "--export", str(folder / "o.parquet"),
        "--angles", str(folder / "a.parquet"), "--angles", str(folder / "a.mot"),
        "--trc", str(folder / "o.trc"), "--render", str(folder / "o.mp4"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume_clip")
    return transcode(data_file("sports2d_demo.mp4"), folder / "s360.mp4", (640, 360), FRAMES)


@pytest.fixture(scope="module")
def whole(clip: Path, tmp_path_factory) -> Path:
    """An uninterrupted run's outputs."""
    folder = tmp_path_factory.mktemp("whole")
    result = run_cli("run", clip, *_outputs(folder), *TRACK)
    assert result.returncode == 0, result.stderr
    return folder


def _start(clip: Path, folder: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fastpose", "run", str(clip), *_outputs(folder), *TRACK, *extra],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_after_checkpoint(proc: subprocess.Popen, folder: Path, signum: int) -> str:
    """``signum`` to ``proc`` once its first checkpoint is written (frame 112) and a batch is
    journaled after it, its stderr. After a SIGKILL a resumed run must drop that batch (its frames
    are done again); after a SIGINT the run checkpoints the last batch written (frame 128 or
    later: where a landmarker restarted with a range's warm-up lost the athlete on frames
    147-161, 15 poses of 384, before it warmed up from the interrupted one's first frame)."""
    journal = journal_folder(folder / "o.rrd")
    deadline = time.monotonic() + scaled(300)
    while (checkpoint := read_checkpoint(journal)) is None:  # replaced atomically
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.02)
    while (journal / "poses.bin").stat().st_size <= checkpoint.offset:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no batch journaled after the checkpoint"
        time.sleep(0.02)
    proc.send_signal(signum)
    return proc.communicate(timeout=scaled(60))[1]


def _landmarks(path: Path) -> dict[tuple[int, int], np.ndarray]:
    """(frame, id) -> the (33, 2) pixel landmarks (the table's rows come 33 a pose)."""
    t = pq.read_table(path, columns=["frame_idx", "person", "x_px", "y_px"])
    frame, person = (t.column(c).to_numpy()[::33] for c in ("frame_idx", "person"))
    xy = np.stack([t.column(c).to_numpy() for c in ("x_px", "y_px")], axis=-1).reshape(-1, 33, 2)
    return {(int(f), int(p)): v for f, p, v in zip(frame, person, xy, strict=True)}


def _assert_same_people(a: dict, b: dict) -> None:
    """The same (frame, id) poses, but for a borderline detection or two where the restarted
    landmarker warms up (at most 0.5%, as between two frame ranges: measured 1 of 882 poses on
    690 frames of this clip; 1 of 384 may differ on 300), landmarks within 0.5 px (median)."""
    differ = sorted(set(a) ^ set(b))
    assert len(differ) <= 0.005 * len(a), f"(frame, id) poses differ: {differ[:10]}"
    gaps = np.concatenate([np.linalg.norm(a[k] - b[k], axis=1) for k in a if k in b])
    assert np.nanmedian(gaps) <= 0.5, f"landmarks {np.nanmedian(gaps):.2f} px apart (median)"


def _files(folder: Path, pattern: str) -> dict[str, int]:
    """The files matching ``pattern``, by name, with their line counts."""
    return {p.name: len(p.read_text().splitlines()) for p in sorted(folder.glob(pattern))}


def _assert_equal_outputs(whole: Path, resumed: Path) -> None:
    """Every output of ``resumed`` holds what the uninterrupted run's does (see module doc)."""
    _assert_same_people(_landmarks(whole / "o.parquet"), _landmarks(resumed / "o.parquet"))
    rows = pq.read_table(resumed / "a.parquet").num_rows
    assert rows == pq.read_table(whole / "a.parquet").num_rows
    for pattern in ("o*.trc", "a*.mot"):  # the same tracks, each with the same rows
        assert _files(resumed, pattern) == _files(whole, pattern), pattern
    rec = read_rrd(resumed / "o.rrd")
    assert rec.frames["video"] == read_rrd(whole / "o.rrd").frames["video"] == set(range(FRAMES))
    with av.open(str(resumed / "o.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == FRAMES
    left = sorted(p.name for p in resumed.iterdir() if "partial" in p.name or "resume" in p.name)
    assert not left, f"left behind: {left}"


@pytest.mark.e2e
def test_sigkill_then_resume_equals_an_uninterrupted_run(clip, whole, tmp_path) -> None:
    """Killed outright (as a reboot would) after a checkpoint: ``--resume`` continues from it,
    and every output equals the uninterrupted run's."""
    _kill_after_checkpoint(_start(clip, tmp_path), tmp_path, signal.SIGKILL)
    checkpoint = read_checkpoint(journal_folder(tmp_path / "o.rrd"))
    assert checkpoint is not None and 0 < checkpoint.next_frame < FRAMES
    result = run_cli("run", clip, *_outputs(tmp_path), *TRACK, "--resume")
    assert result.returncode == 0, result.stderr
    assert f"resuming at frame {checkpoint.next_frame}" in result.stderr
    _assert_equal_outputs(whole, tmp_path)


@pytest.mark.e2e
def test_ctrl_c_says_how_to_continue_and_resume_finishes(clip, whole, tmp_path) -> None:
    """Ctrl-C keeps the partial outputs as before and names the command that continues them;
    that command with other settings is refused in one line, as it is finishes the outputs."""
    stderr = _kill_after_checkpoint(_start(clip, tmp_path, *ONE), tmp_path, signal.SIGINT)
    last = stderr.strip().splitlines()[-1]
    assert "to continue it: fastpose run" in last and last.endswith("--resume"), last
    assert (tmp_path / "o.partial.parquet").exists(), sorted(os.listdir(tmp_path))
    checkpoint = read_checkpoint(journal_folder(tmp_path / "o.rrd"))
    written = pq.read_table(tmp_path / "o.partial.parquet").column("frame_idx").to_numpy()
    assert checkpoint.next_frame == written.max() + 1, "the last batch written is checkpointed"
    assert checkpoint.next_frame >= UNLUCKY_AT, checkpoint.next_frame

    other_settings = ("--min-tracking-confidence", "0.6", "--resume")
    other = run_cli("run", clip, *_outputs(tmp_path), *TRACK, *other_settings)
    assert other.returncode != 0 and "Traceback" not in other.stderr, other.stderr
    line = other.stderr.strip().splitlines()[-1]
    assert "other settings (min_tracking_confidence: 0.5, not 0.6)" in line, line
    assert (tmp_path / "o.partial.parquet").exists(), "a refused resume removed the partials"

    result = run_cli("run", clip, *_outputs(tmp_path), *TRACK, "--resume")
    assert result.returncode == 0, result.stderr
    _assert_equal_outputs(whole, tmp_path)


@pytest.mark.e2e
def test_a_full_disk_then_resume_once_there_is_room(clip, whole, tmp_path) -> None:
    """A run that fills its disk stops in one line naming the command that continues it; with
    room made, that command finishes the table as an uninterrupted run's. (The disk: 1 MB, full
    after the first checkpoint (frame 112), at frame 144: a whole run's journal and table take
    1.7 MB.)"""
    from test_batch_faults import _tmpfs

    with _tmpfs(tmp_path / "small", "1m") as small:
        args = ["run", clip, "--export", small / "o.parquet", *TRACK]
        first = run_cli(*args, *ONE)
        lines = first.stderr.strip().splitlines()
        assert first.returncode == 1 and "Traceback" not in first.stderr, first.stderr
        assert "no space left on device" in lines[-1].lower(), lines[-1]
        assert lines[-1].endswith("--resume"), lines[-1]
        checkpoint = read_checkpoint(journal_folder(small / "o.parquet"))
        assert checkpoint is not None and 0 < checkpoint.next_frame < FRAMES
        subprocess.run(["mount", "-o", "remount,size=256m", str(small)], check=True)
        result = run_cli(*args, "--resume")
        assert result.returncode == 0, result.stderr
        _assert_same_people(_landmarks(whole / "o.parquet"), _landmarks(small / "o.parquet"))


def test_resume_with_nothing_to_resume_is_one_line(tmp_path) -> None:
    result = run_cli(
        "run", data_file("pose_squats.mp4"), "--export", tmp_path / "o.parquet", "--resume"
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "nothing to resume" in lines[-1] and "o.parquet.resume" in lines[-1], lines[-1]
    assert not list(tmp_path.iterdir())


# --- the tracker, started from a state ------------------------------------------------------------


#: The tracker-state tests: sports2d_demo at full size on one landmarker, without masks (they carry
#: no identity). The state is taken after the batch reaching frame STATE_AT (frames 144-159), both
#: people in view; the outlier filter holds the next batch (160-175), in which the athlete goes out
#: of sight; she comes back (~frame 200) under her id, and the walker leaves. The resumed
#: landmarker warms up from frame 0, where the first one started (within MAX_WARMUP_FRAMES).
STATE_OPTIONS = {"num_poses": 2, "segment": False, "workers": 1}
STATE_AT = 150


def test_a_tracker_started_from_a_saved_state_continues_ids_and_landmarks() -> None:
    """A tracker's state taken after the batch reaching frame 150 of the two-person clip (its
    outlier filter holding the next frames back) and handed to one starting after that batch: the
    held frames come out first, then the rest to the clip's end; every frame once, the same ids on
    every frame (a person out of sight when it resumed comes back under her id), landmarks within
    0.5 px (median) of what the first tracker, going on uninterrupted, hands on."""
    _assert_continues(ray=False)


@pytest.mark.e2e
def test_a_resumed_run_on_ray_continues_on_ray(monkeypatch) -> None:
    """The same, the resumed tracker's ranges as Ray tasks on a local runtime (127.0.0.1)."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    _assert_continues(ray=True)


_STATE: list[tuple[int, bytes, PoseBatch]] = []


def _state_and_whole() -> tuple[int, bytes, PoseBatch]:
    """``(c, state, whole)``: a tracker's state after the batch ending at frame ``c - 1`` (the
    first reaching STATE_AT), and every frame's poses that tracker handed on, uninterrupted, to
    the clip's end (once per module: both tests read it)."""
    if not _STATE:
        with Tracker(data_file("sports2d_demo.mp4"), **STATE_OPTIONS) as first:
            batches, poses = iter(first), []
            for batch in batches:
                poses.append(batch.poses)
                if batch.poses.frame_idx[-1] >= STATE_AT:
                    break
            c, state = int(batch.poses.frame_idx[-1]) + 1, first.state()
            poses += [b.poses for b in batches]  # the same tracker goes on to the end
        _STATE.append((c, state, PoseBatch.concat(poses)))
    return _STATE[0]


def _assert_continues(*, ray: bool) -> None:
    clip = data_file("sports2d_demo.mp4")
    c, state, whole = _state_and_whole()
    with Tracker(clip, **STATE_OPTIONS, ray=ray, start_frame=c, state=state) as rest:
        assert rest.infer_from > c, "the outlier filter held no frame back"
        after = PoseBatch.concat([b.poses for b in rest])
        assert (rest.stats.ray is not None) == ray, rest.stats
        size = np.array([rest.info.width, rest.info.height])
    n = len(whole)
    np.testing.assert_array_equal(whole.frame_idx, np.arange(n))
    np.testing.assert_array_equal(after.frame_idx, np.arange(c, n))
    ids_whole, ids_after = np.sort(whole.ids[c:], axis=1), np.sort(after.ids, axis=1)
    same = (ids_whole == ids_after).all(axis=1)
    assert same.all(), f"ids differ on {np.flatnonzero(~same)[:5] + c}: {ids_after[~same][:3]}"
    gaps = []
    for f in range(n - c):
        for tid in whole.ids[c + f][whole.ids[c + f] >= 0]:
            a = whole.landmarks[c + f][whole.ids[c + f] == tid][0, :, :2]
            b = after.landmarks[f][after.ids[f] == tid][0, :, :2]
            gaps.append(np.linalg.norm((a - b) * size, axis=-1))
    assert np.nanmedian(np.concatenate(gaps)) <= 0.5
    held = slice(0, rest.infer_from - c)  # the frames the state carried: as the whole run's
    np.testing.assert_allclose(after.landmarks[held], whole.landmarks[c:][held], atol=1e-3)


#: The unlucky checkpoint: the e2e clip (640x360), cut to UNLUCKY_FRAMES, its state taken after
#: frame 127 on one landmarker (the outlier filter holding 128-143). A landmarker restarted there
#: with a range's warm-up (20 frames, then 80: found fewer people, run again) found both people
#: on every frame of its warm-up's end, yet lost the athlete on frames 147-161, which the run
#: from frame 0 kept (15 poses); warmed up from the frame the first landmarker started at, it
#: takes that landmarker's path (MediaPipe is deterministic).
UNLUCKY_AT, UNLUCKY_FRAMES = 128, 192


def test_a_tracker_resumed_at_an_unlucky_frame_finds_the_same_people(clip) -> None:
    """A tracker's state taken after frame 127 of the two-person clip: the tracker started from it
    finds the same people as the first one going on uninterrupted on every frame (the same ids),
    landmarks within 0.5 px (median), without running its warm-up again."""
    c, state, whole = _unlucky(clip)
    options = {**STATE_OPTIONS, "max_frames": UNLUCKY_FRAMES}
    with Tracker(clip, **options, start_frame=c, state=state) as rest:
        after = PoseBatch.concat([b.poses for b in rest])
        reruns = rest.stats.reruns
    np.testing.assert_array_equal(after.frame_idx, np.arange(c, UNLUCKY_FRAMES))
    counts, counts_after = whole.detected[c:].sum(axis=1), after.detected.sum(axis=1)
    differ = np.flatnonzero(counts != counts_after) + c
    assert not len(differ), f"people counts differ on frames {differ.tolist()}"
    np.testing.assert_array_equal(np.sort(whole.ids[c:], axis=1), np.sort(after.ids, axis=1))
    gaps = [
        np.linalg.norm(
            (
                whole.landmarks[c + f][whole.ids[c + f] == tid][0, :, :2]
                - after.landmarks[f][after.ids[f] == tid][0, :, :2]
            )
            * (640, 360),
            axis=-1,
        )
        for f in range(len(after))
        for tid in after.ids[f][after.ids[f] >= 0]
    ]
    assert np.nanmedian(np.concatenate(gaps)) <= 0.5
    assert reruns == 0, "the warm-up found fewer people and ran again"


def test_a_state_without_its_landmarkers_first_frame_warms_up_as_a_range(clip) -> None:
    """The same state, not saying where its landmarker started (a checkpoint saved before it was
    kept; or more than MAX_WARMUP_FRAMES back): the resumed landmarker warms up as a range does,
    its warm-up checked against the people the state recorded on the frames before it (20
    frames found fewer, so it runs again from further back), and hands on every frame."""
    from fastpose.tracker import _loaded

    c, state, _ = _unlucky(clip)
    state = pickle.dumps(replace(_loaded(state), origin=None))
    options = {**STATE_OPTIONS, "max_frames": UNLUCKY_FRAMES}
    with Tracker(clip, **options, start_frame=c, state=state) as rest:
        after = PoseBatch.concat([b.poses for b in rest])
        assert rest.stats.reruns >= 1, "the warm-up that found fewer people was kept"
    np.testing.assert_array_equal(after.frame_idx, np.arange(c, UNLUCKY_FRAMES))


_UNLUCKY: list[tuple[int, bytes, PoseBatch]] = []


def _unlucky(clip: Path) -> tuple[int, bytes, PoseBatch]:
    """``(c, state, whole)``: a tracker's state after frame ``c - 1`` = UNLUCKY_AT - 1 of
    ``clip``, and every frame's poses that tracker handed on, uninterrupted (once per module)."""
    if not _UNLUCKY:
        with Tracker(clip, **STATE_OPTIONS, max_frames=UNLUCKY_FRAMES) as first:
            batches, poses = iter(first), []
            for batch in batches:
                poses.append(batch.poses)
                if batch.poses.frame_idx[-1] + 1 >= UNLUCKY_AT:
                    break
            c, state = int(batch.poses.frame_idx[-1]) + 1, first.state()
            whole = PoseBatch.concat(poses + [b.poses for b in batches])
        assert c == UNLUCKY_AT
        _UNLUCKY.append((c, state, whole))
    return _UNLUCKY[0]


# --- the journal, on its own ----------------------------------------------------------------------


def _poses(start: int, n: int, masks: bool = True) -> PoseBatch:
    rng = np.random.default_rng(start)
    return PoseBatch(
        frame_idx=np.arange(start, start + n, dtype=np.int64),
        time_s=np.arange(start, start + n) / 30.0,
        pts_s=np.arange(start, start + n) / 30.0,
        landmarks=rng.random((n, 2, 33, 5), dtype=np.float32),
        world=rng.random((n, 2, 33, 3), dtype=np.float32),
        masks=rng.integers(0, 3, (n, 9, 16), dtype=np.uint8) if masks else None,
        track_ids=np.tile(np.array([0, 1], np.int32), (n, 1)),
    )


def _start_journal(journal: Journal) -> None:
    journal.start(settings={"model": "full"}, video="v.mp4", num_frames=100, working=("w",))


def test_journal_checkpoints_every_n_frames_and_a_kill_loses_only_what_follows(tmp_path) -> None:
    folder = tmp_path / "o.rrd.resume"
    journal = Journal(folder, ("o.rrd",), every=32)
    _start_journal(journal)
    batches = [_poses(16 * k, 16, masks=k % 2 == 0) for k in range(5)]
    for k, poses in enumerate(batches):
        journal.append(poses, lambda k=k: pickle.dumps(k))
    # 80 frames appended, checkpoints after 32 and 64: a kill now continues from frame 64
    checkpoint = read_checkpoint(folder)
    assert (checkpoint.next_frame, checkpoint.frames, pickle.loads(checkpoint.state)) == (64, 64, 3)
    back = list(journaled(folder, checkpoint))
    assert len(back) == 4
    for got, sent in zip(back, batches, strict=False):
        np.testing.assert_array_equal(got.landmarks, sent.landmarks)
        np.testing.assert_array_equal(got.ids, sent.ids)
        assert (got.masks is None) == (sent.masks is None)
        if sent.masks is not None:
            np.testing.assert_array_equal(got.masks, sent.masks)
    journal.close(complete=False)  # cut short: the last batch is checkpointed too
    assert read_checkpoint(folder).next_frame == 80

    again = Journal(folder, ("o.rrd",), every=32, resumed=checkpoint)  # continues from 64
    _start_journal(again)
    again.append(_poses(64, 16), lambda: b"")
    again.close(complete=False)
    assert [int(p.frame_idx[0]) for p in journaled(folder, read_checkpoint(folder))] == [
        0, 16, 32, 48, 64,
    ]  # fmt: skip
    again = Journal(folder, ("o.rrd",), resumed=read_checkpoint(folder))
    _start_journal(again)
    again.close(complete=True)
    assert not folder.exists(), "a complete run's journal stays"


def test_a_checkpoint_refuses_other_settings_outputs_or_video_in_one_line() -> None:
    checkpoint = Checkpoint(
        next_frame=300,
        frames=300,
        offset=1,
        settings={"model": "full", "workers": "2"},
        outputs=("o.rrd",),
        video="v.mp4",
        num_frames=600,
    )
    checkpoint.check(settings={"model": "full", "workers": "1"}, outputs=("o.rrd",), video="v.mp4")
    cases = [
        ({"model": "lite", "workers": "2"}, ("o.rrd",), "v.mp4", "model: full, not lite"),
        ({"model": "full"}, ("o.rrd", "o.csv"), "v.mp4", "wrote o.rrd, not o.rrd, o.csv"),
        ({"model": "full"}, ("o.rrd",), "w.mp4", "tracked v.mp4, not w.mp4"),
    ]
    for settings, outputs, video, needle in cases:
        with pytest.raises(ResumeError, match=needle) as err:
            checkpoint.check(settings=settings, outputs=outputs, video=video)
        assert "\n" not in str(err.value)


def test_an_unreadable_checkpoint_is_one_line(tmp_path) -> None:
    assert read_checkpoint(tmp_path) is None
    (tmp_path / "checkpoint.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ResumeError, match="is not a checkpoint"):
        read_checkpoint(tmp_path)


@pytest.mark.e2e
def test_batch_continues_an_interrupted_video_from_its_journal(clip, whole, tmp_path) -> None:
    """A batch killed in a video: the next batch continues that video from its checkpoint (not
    from zero), and its outputs hold every frame, as an uninterrupted run's."""
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    os.link(clip, videos / "v.mp4")
    cmd = [sys.executable, "-m", "fastpose", "batch", str(videos), "--out", str(out), *TRACK]
    proc = subprocess.Popen([*cmd, *ONE], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    checkpoint = out / ".incomplete" / "v.rrd.resume" / "checkpoint.pkl"
    deadline = time.monotonic() + scaled(300)
    while not checkpoint.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.02)
    proc.kill()
    proc.communicate(timeout=scaled(60))
    start = read_checkpoint(checkpoint.parent).next_frame
    result = run_cli(*cmd[3:])
    assert result.returncode == 0, result.stderr
    assert f"continuing at frame {start}" in result.stderr, result.stderr
    _assert_same_people(_landmarks(whole / "o.parquet"), _landmarks(out / "v.parquet"))
    assert read_rrd(out / "v.rrd").frames["video"] == set(range(FRAMES))
    assert not (out / ".incomplete").exists()


def test_a_batch_compares_the_settings_its_outputs_and_journal_record(tmp_path, caplog) -> None:
    """A batch's video stopped after its first batch: the journal's settings are those its
    outputs record (a setting added to the outputs is in both: one function makes them), and
    the next batch compares the same, so it continues the video (not from zero) to the end."""
    import logging
    import threading

    from fastpose.batching.job import Job, track_job
    from fastpose.options import TrackOptions
    from fastpose.sinks.metadata import read_settings

    out, frames = tmp_path / "out", 48
    out.mkdir()
    job = Job(data_file("pose_squats.mp4"), out / "v.rrd", out / "v.parquet")
    options = TrackOptions.create(workers=1, segment=False, max_frames=frames)
    stop = threading.Event()
    row = track_job(job, options, stop=stop, on_frames=lambda _: stop.set())
    assert row.status == "interrupted", row
    checkpoint = read_checkpoint(job.journal)
    assert checkpoint is not None and 0 < checkpoint.next_frame < frames
    (partial,) = job.staging.glob("*.parquet")
    recorded = read_settings(partial)
    assert {"left_right", "outliers", "cleaning"} <= set(recorded), sorted(recorded)
    assert checkpoint.settings == recorded
    with caplog.at_level(logging.INFO, logger="fastpose"):
        row = track_job(job, options)
    assert row.status == "done", row
    assert f"continuing at frame {checkpoint.next_frame}" in caplog.text, caplog.text
    done = pq.read_table(out / "v.parquet", columns=["frame_idx"]).column(0).to_numpy()
    assert set(done.tolist()) == set(range(frames))


def test_a_replay_hands_each_hook_the_frames_of_its_batch() -> None:
    """Replayed batches (journaled poses, sized as the tracker's, not as the decoder's) get each
    hook's result on exactly their frames, decoded again; a frame missing is one line."""
    from fastpose.replay import replayed
    from fastpose.video import VideoSource

    clip = data_file("pose_squats.mp4")
    sizes = [5, 16, 1, 30, 13]  # 65 frames
    starts = np.cumsum([0, *sizes[:-1]])
    batches = [_poses(int(a), n, masks=False) for a, n in zip(starts, sizes, strict=True)]

    def hook(frames, poses):
        assert frames.images.shape[1:] == (160, 90, 3)
        return frames.frame_idx.tolist(), poses.frame_idx.tolist()

    def frames() -> VideoSource:
        return VideoSource(str(clip), inference_size=160)

    items = list(replayed(batches, {"h": hook}, frames))
    for item, poses in zip(items, batches, strict=True):
        assert item.poses is poses
        assert item.extras["h"] == (poses.frame_idx.tolist(),) * 2
    assert [len(i.poses) for i in replayed(batches, {}, frames)] == sizes  # no hook: no decoding
    with pytest.raises(ValueError, match="expected frames 65-69 to decode again"):
        list(replayed([_poses(65, 5, masks=False)], {"h": hook}, frames))

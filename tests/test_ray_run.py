"""`fastpose run --ray`: a video's frame ranges as Ray tasks on a real local runtime (127.0.0.1
only), against the same ranges on threads; a range task that fails; `fastpose batch --ray` giving
one long video several tasks. Those start a Ray runtime (seconds): e2e. A task's body in this
process, and the option's parsing: the default suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, data_file, read_rrd, run_cli, scaled, tracked

TWO_PEOPLE = data_file("sports2d_demo.mp4")  # 1768x994, 230 frames, two people
ONE_PERSON = data_file("pose2sim_single_cam01.mp4")  # 1080x1920, 100 frames
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _cut(src: Path, dst: Path, start: int, frames: int, size: tuple[int, int]) -> Path:
    """Frames ``[start, start + frames)`` of ``src``, resized to ``size`` (w, h), as H.264."""
    import av
    import cv2

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=inp.streams.video[0].average_rate)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= start + frames:
                break
            if i >= start:
                image = cv2.resize(frame.to_ndarray(format="rgb24"), size, cv2.INTER_AREA)
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def two_people(tmp_path_factory) -> Path:
    """sports2d_demo's frames 45-164 at 960x540 (the size it is tracked at): one person, then
    both from the 15th frame on; 120 frames, two ranges of 60 at --min-range-frames 30."""
    folder = tmp_path_factory.mktemp("two_people")
    return _cut(TWO_PEOPLE, folder / "two_people.mp4", 45, 120, (960, 540))


def _people(table) -> dict[int, np.ndarray]:
    """A landmark table's poses by frame: (people, 33, 2) pixels."""
    frame = table.column("frame_idx").to_numpy()
    person = table.column("person").to_numpy()
    xy = np.stack([table.column("x_px").to_numpy(), table.column("y_px").to_numpy()], axis=1)
    order = np.lexsort((np.arange(len(frame)), person, frame))
    frame, person, xy = frame[order], person[order], xy[order]
    out: dict[int, np.ndarray] = {}
    for f in np.unique(frame):
        rows = frame == f
        ids = person[rows]
        out[int(f)] = np.stack([xy[rows][ids == p] for p in np.unique(ids)])
    return out


def _nearest(a: np.ndarray, b: np.ndarray) -> list[float]:
    """For each pose of ``a`` (33, 2), the median landmark distance to the nearest pose of ``b``."""
    return [min(float(np.median(np.linalg.norm(p - q, axis=-1))) for q in b) for p in a if len(b)]


@pytest.mark.e2e
def test_run_on_ray_equals_two_workers(tmp_path, two_people):
    """`fastpose run --ray` (a local runtime of 2 CPUs) on a two-person clip against the same
    options on two threads (`--workers 2`, through the API): the same people count in >= 98% of
    frames, landmarks <= 1 px apart (median), as many tracks (the identities handed over from
    range to range); its outputs record that the ranges ran on Ray, in several tasks; the
    recording has its masks (sent back bit-packed). The clip: 120 frames of sports2d_demo at the
    size it is tracked at, split in two ranges by --min-range-frames 30 (the whole clip, 230
    frames at 1768x994, proved the same at twice the cost)."""
    pytest.importorskip("ray")
    table, rrd = tmp_path / "ray.parquet", tmp_path / "ray.rrd"
    args = ["--num-poses", "2", "--workers", "2", "--min-range-frames", "30", "--no-progress"]
    result = run_cli(
        "run", two_people, "--ray", *args, "--export", table, "--save", rrd, env=LOOPBACK_ENV
    )
    assert result.returncode == 0, result.stderr
    assert "on 2 worker(s)" in result.stderr, result.stderr
    settings = {k.decode(): v.decode() for k, v in (pq.read_schema(table).metadata or {}).items()}
    assert settings["fastpose.ray"] == "local", settings
    assert int(settings["fastpose.ray_tasks"]) >= 2, settings

    # `fastpose run --workers 2`'s options
    threads = tracked(two_people, num_poses=2, workers=2, min_range_frames=30)
    assert threads.stats.workers == 2
    ref = threads.poses
    w, h = threads.info.width, threads.info.height
    on_ray = _people(pq.read_table(table))
    frames = ref.frame_idx.tolist()
    assert set(on_ray) <= set(frames)
    counts_ref = ref.detected.sum(axis=1)
    counts_ray = np.array([len(on_ray.get(f, ())) for f in frames])
    same = float(np.mean(counts_ref == counts_ray))
    assert same >= 0.98, f"the same people count in {same:.1%} of frames"
    pixels = ref.pixels(w, h)
    diffs = [
        d
        for k, f in enumerate(frames)
        if f in on_ray
        for d in _nearest(on_ray[f], pixels[k][ref.detected[k]])
    ]
    assert len(diffs) >= 0.98 * counts_ref.sum(), (len(diffs), counts_ref.sum())
    median = float(np.median(diffs))
    assert median <= 1.0, f"median landmark distance {median:.2f} px"
    ids_ray = set(pq.read_table(table, columns=["person"]).column(0).to_pylist())
    ids_ref = set(np.unique(ref.track_ids[ref.track_ids >= 0]).tolist())
    assert len(ids_ray) == len(ids_ref), f"tracks: {sorted(ids_ray)} on Ray, {sorted(ids_ref)}"
    assert len(read_rrd(rrd).frames.get("video/mask", ())) > 0, "no masks came back"


@pytest.mark.e2e
def test_a_range_task_that_fails_ends_the_run_in_one_line(tmp_path):
    """The video gone when the tasks open it (a path a node can't read): one line naming the
    range and the cause, exit 1, no traceback, no output left behind."""
    pytest.importorskip("ray")
    video = tmp_path / "clip.mp4"
    shutil.copyfile(ONE_PERSON, video)
    out = tmp_path / "out.parquet"
    args = ["run", video, "--ray", "--workers", "2", "--min-range-frames", "20", "--no-segment"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastpose", *map(str, args), "--export", str(out), "--no-progress"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **LOOPBACK_ENV},
    )
    lines = []
    deadline = time.monotonic() + scaled(60)
    assert proc.stderr is not None
    for line in proc.stderr:  # the video probed, the tasks not submitted yet: take it away
        lines.append(line)
        if f"{video}: " in line and " frames at " in line:
            video.unlink()
            break
        assert time.monotonic() < deadline, lines
    _, rest = proc.communicate(timeout=scaled(60))
    lines += rest.splitlines(keepends=True)
    assert proc.returncode == 1, "".join(lines)
    errors = [line for line in lines if line.startswith("fastpose: ") and " on Ray: " in line]
    assert len(errors) == 1, "".join(lines)
    assert "frames 0-" in errors[0] and "InputNotFoundError" in errors[0], errors[0]
    assert "Traceback" not in "".join(lines)
    assert not out.exists() and not list(tmp_path.glob("out.partial*")), list(tmp_path.iterdir())


@pytest.mark.e2e
def test_a_range_failing_midway_keeps_what_was_written(tmp_path):
    """Four ranges on a runtime of two CPUs, the video taken away once the first batch is
    written: a later range's task fails; the error names its frames and cause in one line, and
    the table keeps every frame written before it, under its working name. Without the left/right
    and outlier stages: the left/right look-ahead holds a track's first second (30 frames), so the
    first batch would be written only once the second range is back, and by then the later ranges'
    tasks have opened the video (an open file outlives its unlinking)."""
    pytest.importorskip("ray")
    from fastpose.errors import RemoteTaskError
    from fastpose.pipeline import Recorded, record
    from fastpose.spec import RunSpec, build_sinks
    from fastpose.tracker import Tracker

    video = tmp_path / "clip.mp4"
    shutil.copyfile(ONE_PERSON, video)
    spec = RunSpec.create(
        export=tmp_path / "out.parquet", num_poses=1, segment=False, workers=2, ray=True,
        min_range_frames=20, max_range_frames=25, cleaning=False,
    )  # fmt: skip
    result = Recorded()
    with pytest.raises(RemoteTaskError) as failed, Tracker(video, spec.options) as tracker:
        assert tracker.settings()["ray_tasks"] == "4"
        record(tracker, build_sinks(spec), on_batch=lambda _: video.unlink(True), result=result)
    message = str(failed.value)
    assert " on Ray: InputNotFoundError: " in message and "\n" not in message, message
    assert not message.startswith("frames 0-"), message  # the first range was read whole
    assert result.frames >= 25 and not result.complete
    (kept,) = result.kept
    frames = pq.read_table(kept, columns=["frame_idx"]).column(0).to_pylist()
    assert sorted(set(frames)) == list(range(result.frames)), (result.frames, kept)


@pytest.mark.e2e
def test_batch_on_ray_gives_one_long_video_several_tasks(tmp_path):
    """One video, two CPUs: `batch --ray` runs its frame ranges as tasks of their own (its outputs
    record them), every frame once, the person found as on threads."""
    pytest.importorskip("ray")
    out = tmp_path / "out"
    result = run_cli(
        "batch", ONE_PERSON, "--out", out, "--ray", "--workers", "2", "--min-range-frames", "20",
        "--no-segment", "--no-progress", env=LOOPBACK_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = out / f"{ONE_PERSON.stem}.parquet"
    meta = {k.decode(): v.decode() for k, v in (pq.read_schema(table).metadata or {}).items()}
    assert meta.get("fastpose.ray_tasks") == "2", meta
    frames = pq.read_table(table, columns=["frame_idx"]).column(0).to_numpy()
    assert set(frames.tolist()) == set(range(100))
    threads = tracked(ONE_PERSON, workers=2, segment=False, min_range_frames=20)
    assert int(threads.stats.frames_with_person) == len(np.unique(frames))


# --- the default suite: no Ray runtime ------------------------------------------------------------


@pytest.mark.parametrize("masks", [True, False], ids=["masks", "no-masks"])
def test_a_range_task_sends_back_its_frames_poses_and_masks_only_if_wanted(model_path, masks):
    """A task's body, here: frames 20-39 of a clip read from frame 10 hand on exactly frames
    20-39, the warm-up's poses as the first batch's overlap, the masks bit-packed (or none), and
    the bytes it sends back: a few kB a frame of poses, far more with masks."""
    from fastpose.core import DecodeOptions
    from fastpose.landmarker import LandmarkerOptions
    from fastpose.parallel import Packed, WorkUnit
    from fastpose.ray_ranges import RangeTask, run_range

    unit = WorkUnit(str(ONE_PERSON), 20, 40, warmup=10)
    landmarker = LandmarkerOptions(model_path=model_path, segment=True)
    task = RangeTask(unit, DecodeOptions(inference_size=320), landmarker, "full", masks=masks)
    result = run_range(task)
    items = [m.unpack() if isinstance(m, Packed) else m for m in result.items]
    frames = [int(f) for item in items for f in item.poses.frame_idx]
    assert frames == list(range(20, 40)), frames
    assert result.done.frames == 20 and result.done.decode_errors == 0
    overlap = items[0].overlap
    assert overlap is not None and overlap.frame_idx.tolist() == list(range(10, 20))
    assert all(item.overlap is None for item in items[1:])
    assert all((item.poses.masks is not None) == masks for item in items)
    if masks:
        assert all(isinstance(m, Packed) for m in result.items)
        assert max(int(item.poses.masks.max()) for item in items) == 1  # the man, found
    per_frame = result.payload / result.done.frames
    assert (per_frame > 5_000) if masks else (per_frame < 5_000), per_frame
    assert result.cpu_s > 0 and result.start_s > 0


def test_run_parses_ray_into_its_options():
    """`--ray` alone: a local runtime; `--ray ADDRESS`: that cluster; none: threads. `batch
    --ray` is the batch's own (each video a task), not the tracker's."""
    from fastpose.cli import build_parser
    from fastpose.commands.parsed import track_options
    from fastpose.models import resolve_model

    model = resolve_model("full")
    parse = build_parser().parse_args
    assert track_options(parse(["run", "x.mp4", "--ray"]), model).ray is True
    assert track_options(parse(["run", "x.mp4", "--ray", "10.0.0.1:6379"]), model).ray == (
        "10.0.0.1:6379"
    )
    assert track_options(parse(["run", "x.mp4"]), model).ray is False
    batch = parse(["batch", "x.mp4", "--out", "o", "--ray"])
    assert batch.ray is True and track_options(batch, model).ray is False

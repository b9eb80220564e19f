"""The library is the product: the Python API, `fastpose run` and `fastpose batch` give the same
landmarks; the number of landmarkers changes the speed, not who is found; outputs are only those
asked for, and each says how it was made; a slow consumer slows inference instead of filling
memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest
from clips import transcode
from conftest import ROOT, data_file, run_cli, scaled, tracked

import fastpose
from fastpose.sinks.metadata import read_settings
from fastpose.skeleton import NUM_LANDMARKS


def _table(path) -> dict[tuple[int, int], np.ndarray]:
    """(frame_idx, person) -> (33, 2) x_px, y_px from an exported table."""
    cols = pq.read_table(path, columns=["frame_idx", "person", "x_px", "y_px"]).to_pydict()
    frame, person = np.asarray(cols["frame_idx"]), np.asarray(cols["person"])
    xy = np.stack([cols["x_px"], cols["y_px"]], axis=1).reshape(-1, NUM_LANDMARKS, 2)
    keys = zip(frame[::NUM_LANDMARKS].tolist(), person[::NUM_LANDMARKS].tolist(), strict=True)
    return dict(zip(keys, xy, strict=True))


def _api_poses(video, **options) -> dict[tuple[int, int], np.ndarray]:
    """What ``fastpose.Tracker(video, **options)`` finds (the session's run of it), keyed like
    :func:`_table`, in float32 as the table holds them."""
    run = tracked(video, **options)
    out = {}
    pixels = run.poses.pixels(run.info.width, run.info.height)
    poses = run.poses
    for f, k in zip(*np.nonzero(poses.detected), strict=True):
        out[(int(poses.frame_idx[f]), int(poses.track_ids[f, k]))] = pixels[f, k]
    return out


def _assert_same(a: dict, b: dict) -> None:
    """The same frames and ids, and the same pixels to the table's precision (float32): the API
    and the CLI run the same code on the same frames, bit for bit."""
    assert a.keys() == b.keys(), f"frames/ids differ: {sorted(a.keys() ^ b.keys())[:10]}"
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst == 0.0, f"worst difference {worst:.6f} px"


@pytest.fixture(scope="module")
def sports2d_two(cli_run) -> dict[str, dict]:
    """sports2d_demo at --num-poses 2: the CLI and the API on one landmarker, and the API with no
    options but num_poses (2 landmarkers, the cores here) (the session's runs of each)."""
    clip = data_file("sports2d_demo.mp4")
    cli = cli_run(clip, "--num-poses", "2", "--workers", "1")
    return {
        "cli": _table(cli.table),
        "one": _api_poses(clip, num_poses=2, workers=1),
        "api": _api_poses(clip, num_poses=2, workers=2),
    }


def test_api_with_no_options_equals_the_cli_one_person(cli_run) -> None:
    clip = data_file("pose2sim_single_cam01.mp4")
    _assert_same(_api_poses(clip), _table(cli_run(clip).table))


def test_api_equals_the_cli_two_people(sports2d_two) -> None:
    _assert_same(sports2d_two["one"], sports2d_two["cli"])


def test_one_or_two_landmarkers_find_the_same_people(sports2d_two) -> None:
    """MediaPipe's tracker is path-dependent: a landmarker restarted mid-clip may not find the
    athlete the one that ran from the start follows. The restarted range runs again from further
    back, so the people count per frame is the same in >= 98% of frames."""
    one, two = sports2d_two["one"], sports2d_two["api"]
    frames = range(230)
    count_one = np.array([sum(1 for (f, _) in one if f == i) for i in frames])
    count_two = np.array([sum(1 for (f, _) in two if f == i) for i in frames])
    same = float((count_one == count_two).mean())
    assert same >= 0.98, f"same people count in {same:.1%} of frames"
    assert (count_one == 2).sum() >= 100, "both people should be found in most frames"


def test_batch_equals_run(tmp_path, cli_run) -> None:
    """The same options, the same landmarks, bit for bit (30 frames prove it as well as 65)."""
    clip, short = data_file("pose_squats.mp4"), ("--max-frames", "30", "--no-segment")
    batch = run_cli("batch", clip, "--out", tmp_path / "out", *short)
    assert batch.returncode == 0, batch.stderr
    run = cli_run(clip, *short)
    _assert_same(_table(tmp_path / "out" / "pose_squats.parquet"), _table(run.table))


def test_export_alone_writes_no_recording(tmp_path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(data_file("pose_squats.mp4").read_bytes())
    result = run_cli("run", clip, "--export", tmp_path / "t.csv", "--max-frames", "5")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "t.csv"]
    assert not list(ROOT.glob("clip*.rrd")), "a recording was written beside the tests"


def _rrd_settings(path) -> dict[str, str]:
    from fastpose.sinks.rerun_layout import recorded_settings

    return recorded_settings(path)


def test_every_output_records_its_settings(tmp_path) -> None:
    clip = data_file("pose_squats.mp4")
    result = run_cli(
        "run", clip, "--save", tmp_path / "r.rrd", "--export", tmp_path / "t.parquet",
        "--num-poses", "2", "--max-frames", "8", "--min-detection-confidence", "0.4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for settings in (read_settings(tmp_path / "t.parquet"), _rrd_settings(tmp_path / "r.rrd")):
        assert settings["num_poses"] == "2"
        assert settings["inference_size"] == "960"
        assert settings["min_detection_confidence"] == "0.4"
        assert settings["model"] == "full"
        assert settings["mediapipe"].startswith("1.")
        assert settings["fastpose"] == fastpose.__version__
        assert "one-euro" in settings["smoothing"]


def test_a_batch_resumed_with_other_settings_is_not_skipped(tmp_path) -> None:
    clip = data_file("pose_squats.mp4")
    out = tmp_path / "out"
    first = run_cli("batch", clip, "--out", out, "--max-frames", "4")
    assert first.returncode == 0, first.stderr
    again = run_cli("batch", clip, "--out", out, "--max-frames", "4", "--num-poses", "2")
    assert again.returncode == 1
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "num_poses 1 -> 2" in lines[0] and "--overwrite" in lines[0], lines
    redone = run_cli(
        "batch", clip, "--out", out, "--max-frames", "4", "--num-poses", "2", "--overwrite"
    )
    assert redone.returncode == 0, redone.stderr
    assert read_settings(out / "pose_squats.parquet")["num_poses"] == "2"
    same = run_cli("batch", clip, "--out", out, "--max-frames", "4", "--num-poses", "2")
    assert same.returncode == 0 and "skipped" in same.stderr, same.stderr
    assert not (out / ".incomplete").exists()


# --- a slow consumer ----------------------------------------------------------------------------

_CONSUMER = textwrap.dedent(
    """
    import os, re, sys, time
    import fastpose
    clip, workers, mode, limit_s = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    frames = int(sys.argv[5])
    fastpose.limit_malloc_arenas()  # as the docs advise, so freed frames don't blur the peaks
    if mode == "stall-unbounded":  # the head range's bound lifted: proves the measure can fail
        import fastpose.parallel
        fastpose.parallel.HEAD_BATCHES = 10**9

    def keep_frames(frames, poses):  # what a sink keeping the frames (a renderer) holds
        return frames.images.copy()

    def cpu():
        t = os.times()
        return t.user + t.system

    # no masks: the frames the hook keeps are what the bound is about
    with fastpose.Tracker(clip, workers=workers, segment=False, max_frames=frames) as tracker:
        for i, batch in enumerate(tracker.batches({"frames": keep_frames})):
            if mode != "go" and i == 0:  # stop consuming until the landmarkers stop working
                deadline = time.monotonic() + limit_s
                before = cpu()
                while time.monotonic() < deadline:
                    time.sleep(1.0)
                    # idle: ~0 s; a landmarker on a loaded machine still gets more than 0.02 s
                    if cpu() - before < 0.02:
                        break
                    before = cpu()
    # VmHWM: this process's own peak (ru_maxrss would start at the parent's: exec keeps it)
    print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
    """
)

#: Frames at 640x360 (the size the hook gets them at, whatever the clip's): 0.69 MB a frame kept
#: by the hook; HEAD_BATCHES (4) batches of 16 frames are ~45 MB (measured: +15..42 MB above the
#: fast consumer's peak, which holds a few batches itself). One landmarker reads 360 frames: its
#: range held whole is ~250 MB (measured +172 MB). Two read 600, so that the head range (310
#: frames) held whole shows as well (measured +133 MB with HEAD_BATCHES lifted; 360 frames' 190
#: gave +72). The bound sits between, ~45 MB from each: 85 MB (it was 150 MB with 600 frames for
#: both and masks on: +205 MB then).
_STALL_MB = 85
_FRAMES = {1: 360, 2: 600}
#: Peak RSS of a consumer by (workers, mode), measured once for the tests below.
_PEAKS: dict[tuple[int, str], float] = {}


def _peak_mb(clip, workers: int, mode: str) -> float:
    """Peak RSS (MB) of a process consuming ``clip`` (its first _FRAMES[workers] frames): mode
    "go", "stall" or "stall-unbounded" (each measured once per module)."""
    if (workers, mode) not in _PEAKS:
        args = [str(clip), str(workers), mode, str(scaled(300)), str(_FRAMES[workers])]
        proc = subprocess.run(
            [sys.executable, "-c", _CONSUMER, *args],
            capture_output=True, text=True, timeout=scaled(600),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        _PEAKS[workers, mode] = int(proc.stdout.split()[-1]) / 1024  # kB -> MB
    return _PEAKS[workers, mode]


@pytest.fixture(scope="module")
def consumer_clip(tmp_path_factory):
    """pose2sim_single_cam01 at 640x360, 600 frames (made once for the tests below)."""
    folder = tmp_path_factory.mktemp("consumer")
    return transcode(data_file("pose2sim_single_cam01.mp4"), folder / "clip.mp4", (640, 360), 600)


@pytest.mark.e2e
@pytest.mark.parametrize("workers", [1, 2])
def test_a_slow_consumer_does_not_fill_memory(consumer_clip, workers) -> None:
    """A consumer that stops at its first batch until the landmarkers stop working (the process's
    CPU time idle for a second) holds only HEAD_BATCHES batches more than one that never stops,
    although every batch carries its frames: peak RSS within _STALL_MB (85 MB). (A queue without
    bound would hold the whole head range, 250 MB more or so: see the test after this one.) No
    masks: the frames the hook keeps are what the bound holds back."""
    clip = consumer_clip
    fast, slow = _peak_mb(clip, workers, "go"), _peak_mb(clip, workers, "stall")
    print(f"peak RSS MB, {workers} landmarker(s): fast {fast:.0f}, stalled {slow:.0f}")
    assert slow - fast < _STALL_MB, f"peak RSS MB, fast vs stalled consumer: {fast:.0f}, {slow:.0f}"


@pytest.mark.e2e
def test_the_stalled_consumer_measure_sees_an_unbounded_queue(consumer_clip) -> None:
    """The measure above can fail: with the head range's bound lifted (HEAD_BATCHES huge), the
    same stalled consumer peaks more than _STALL_MB above the fast one (the fast one's peak
    measured once, shared with the test above)."""
    clip = consumer_clip
    fast = _peak_mb(clip, 1, "go")
    unbounded = _peak_mb(clip, 1, "stall-unbounded")
    print(f"peak RSS MB, 1 landmarker: fast {fast:.0f}, stalled without a bound {unbounded:.0f}")
    assert unbounded - fast > _STALL_MB, (fast, unbounded)

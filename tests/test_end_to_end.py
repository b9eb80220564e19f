"""`fastpose run` end to end on real clips: MediaPipe's references, the recording, the export."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import data_file, read_rrd, reference_image_landmarks, reference_squats, run_cli

from fastpose.skeleton import NUM_LANDMARKS


def _export(tmp_path, video, *args):
    rrd, table = tmp_path / "out.rrd", tmp_path / "landmarks.parquet"
    result = run_cli("run", video, "--save", rrd, "--export", table, *args)
    assert result.returncode == 0, result.stderr
    return rrd, pq.read_table(table), result


def _pixels(table, num_frames: int) -> np.ndarray:
    """(frames, 33, 2) x_px, y_px of person 0; NaN where no person."""
    out = np.full((num_frames, NUM_LANDMARKS, 2), np.nan)
    cols = table.to_pydict()
    frame = np.asarray(cols["frame_idx"])
    person = np.asarray(cols["person"])
    keep = person == 0
    xy = np.stack([np.asarray(cols["x_px"]), np.asarray(cols["y_px"])], axis=1)[keep]
    out[frame[keep], np.tile(np.arange(NUM_LANDMARKS), keep.sum() // NUM_LANDMARKS)] = xy
    return out


def test_image_matches_mediapipe_reference(tmp_path):
    """mediapipe_pose.jpg: every landmark within 0.03 (normalized) of MediaPipe's own output."""
    image = data_file("mediapipe_pose.jpg")
    _, table, _ = _export(tmp_path, image, "--no-smooth", "--inference-size", "0")
    got = _pixels(table, 1)[0] / np.array([1000, 667])
    err = np.abs(got - reference_image_landmarks())
    assert err.max() < 0.03, f"worst landmark error {err.max():.4f}"


@pytest.mark.parametrize("inference_size", [0, 640])
def test_squats_match_mediapipe_reference(tmp_path, inference_size):
    """pose_squats.mp4 at 30 fps, unsmoothed: every landmark of every frame within 31 px of the
    reference."""
    ref = reference_squats()
    _, table, _ = _export(
        tmp_path,
        data_file("pose_squats.mp4"),
        "--fps",
        "30",
        "--no-smooth",
        "--inference-size",
        str(inference_size),
    )
    got = _pixels(table, len(ref))
    assert not np.isnan(got).any(), "a frame without a person"
    err = np.linalg.norm(got - ref[..., :2], axis=-1)
    assert err.max() < 31, (
        f"worst error {err.max():.1f} px (median of per-frame worst {np.median(err.max(1)):.1f})"
    )


def test_recording_layout(tmp_path):
    """The .rrd holds the seed's entities, archetypes, timelines and static contexts; one points
    row a frame."""
    rrd, table, _ = _export(tmp_path, data_file("pose_squats.mp4"), "--fps", "30")
    rec = read_rrd(rrd)
    assert {"time", "frame_idx"} <= rec.timelines
    assert any("AnnotationContext" in c for c in rec.static["/"]), rec.static.get("/")
    assert any("AnnotationContext" in c for c in rec.static["video/mask"])
    assert any("ViewCoordinates" in c for c in rec.static["person"])
    assert any(c.startswith("Points2D:positions") for c in rec.temporal["video/pose/points"])
    assert any(c.startswith("Points2D:keypoint_ids") for c in rec.temporal["video/pose/points"])
    assert any(c.startswith("Points2D:class_ids") for c in rec.temporal["video/pose/points"])
    assert any(c.startswith("Points3D:positions") for c in rec.temporal["person/pose/points"])
    assert any(c.startswith("SegmentationImage:buffer") for c in rec.temporal["video/mask"])
    assert any("VideoFrameReference" in c for c in rec.temporal["video"])
    assert any("AssetVideo" in c for c in rec.static["video"])
    frames_with_person = set(table.column("frame_idx").to_pylist())
    assert rec.rows["video/pose/points"] == len(frames_with_person) == 65
    assert rec.frames["video/mask"] == set(range(65))


@pytest.mark.parametrize(
    ("clip", "frames"), [("sports2d_demo.mp4", 230), ("pose2sim_single_cam01.mp4", 100)]
)
def test_clips_run_to_the_end(tmp_path, clip, frames):
    """VP9 1768x994 and portrait 60 fps clips: every frame processed and logged."""
    rrd, _, result = _export(tmp_path, data_file(clip), "--workers", "2")
    rec = read_rrd(rrd)
    assert rec.frames["video"] == set(range(frames)), result.stderr
    assert rec.frames["video/mask"] == set(range(frames))
    assert len(rec.frames["video/pose/points"]) > frames * 0.8
    assert f"{frames} frames" in result.stderr


def test_gpu_falls_back_to_cpu_with_one_warning(tmp_path):
    result = run_cli(
        "run",
        data_file("pose_squats.mp4"),
        "--gpu",
        "--max-frames",
        "10",
        "--save",
        tmp_path / "g.rrd",
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "GPU" in line]
    assert len(warnings) == 1, result.stderr
    assert "on 1 worker(s), cpu" in result.stderr
    assert len(read_rrd(tmp_path / "g.rrd").frames["video/pose/points"]) == 10

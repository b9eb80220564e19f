"""The ground frame of the TRC (fastpose.ground) on real tracks: estimated from the footage (a
camera tilted another way gives the same heights), the feet on the ground, the trunk upright on
people who stand and walk, the hips going where the person goes; the bounded sample it reads."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fastpose.ground import (
    CONTACT_WINDOW_S,
    GroundFrame,
    contact_offsets,
    estimate_ground,
    lowest_foot,
    sample_rows,
    sample_stride,
)
from fastpose.measures.definitions import OPENSIM_MARKERS, landmark_groups
from fastpose.placement import TrackPlacer
from fastpose.sinks.opensim import SKELETON

MARKERS = [landmark_groups()[m][0] for m in OPENSIM_MARKERS]
FEET = list(SKELETON.feet)


def camera_markers(clip) -> dict[int, np.ndarray]:
    """Each track's markers (n, 25, 3) in the camera's frame, as the TRC writer places them."""
    poses = clip.poses
    w, h = clip.info.width, clip.info.height
    places = TrackPlacer(w, h)(poses.time_s, poses.ids, poses.pixels(w, h), poses.world)
    cam = poses.world[:, :, MARKERS].astype(np.float64) + places[:, :, None, :]
    cam[poses.landmarks[:, :, MARKERS, 3] < 0.5] = np.nan
    ids = poses.ids
    return {int(t): cam[ids == t] for t in np.unique(ids[ids >= 0])}


def trunk_from_vertical(ground: np.ndarray) -> float:
    """Degrees between the median mid-hips -> mid-shoulders and Y."""
    hips, shoulders = SKELETON.hips, SKELETON.shoulders
    trunk = ground[:, list(shoulders)].mean(1) - ground[:, list(hips)].mean(1)
    median = np.nanmedian(trunk, axis=0)
    return float(np.degrees(np.arccos(median[1] / np.linalg.norm(median))))


def in_ground_frame(markers: np.ndarray, rate: float) -> np.ndarray:
    """A track's markers as the TRC writes them: its ground frame, each frame's contact height
    taken out."""
    ground = estimate_ground(markers, SKELETON).apply(markers)
    offsets = contact_offsets(lowest_foot(ground, SKELETON), round(CONTACT_WINDOW_S * rate))
    ground[..., 1] -= offsets[:, None]
    return ground


def hip_travel(ground: np.ndarray) -> float:
    """Metres between the farthest-apart places of the mid-hips on the ground (X, Z)."""
    hips = ground[:, list(SKELETON.hips)].mean(1)[:, [0, 2]]
    hips = hips[np.isfinite(hips).all(1)]
    return float(np.linalg.norm(hips.max(0) - hips.min(0)))


@pytest.mark.parametrize(
    ("clip_name", "num_poses"), [("sports2d_demo.mp4", 2), ("pose2sim_single_cam01.mp4", 1)]
)
def test_feet_on_the_ground_trunk_upright_hips_travel(track_clip, clip_name, num_poses):
    """The issue's criteria on the TRC's markers of every person of sports2d_demo (a walker, a
    man jumping and balancing) and pose2sim_single_cam01 (a man on a beam): the lowest foot
    marker's median height within 5 cm of the ground, the median trunk within 10 degrees of
    vertical, the hips a leg's length up; on sports2d_demo, people cross the view (> 3 m) with
    their hips at a steady height."""
    clip = track_clip(clip_name, num_poses)
    grounds = {t: in_ground_frame(m, clip.info.fps) for t, m in camera_markers(clip).items()}
    for track, ground in grounds.items():
        assert abs(np.nanmedian(lowest_foot(ground, SKELETON))) < 0.05, track
        assert trunk_from_vertical(ground) < 10.0, track
        hips_y = ground[:, list(SKELETON.hips), 1].mean(1)
        assert 0.6 < np.nanmedian(hips_y) < 1.1, "the hips a leg's length above the ground"
        if clip_name == "sports2d_demo.mp4":
            assert np.nanpercentile(hips_y, 90) - np.nanpercentile(hips_y, 10) < 0.3, track
    if clip_name == "sports2d_demo.mp4":
        assert max(map(hip_travel, grounds.values())) > 3.0, "the walker crosses the view"


def test_the_tilt_comes_from_the_footage(track_clip):
    """The same people filmed by a camera pitched down 25 degrees and rolled 10 more (their
    camera-frame markers turned): the ground frame turns with them (within a degree: a median
    per axis is not quite a rotation's), so every marker's height above the ground stays within
    5 cm (1 cm on median). A frame assuming the camera's up is off by more than 20 cm."""
    tracks = camera_markers(track_clip("sports2d_demo.mp4", 2))
    turn = Rotation.from_euler("xz", [25.0, 10.0], degrees=True).as_matrix()
    for track, markers in tracks.items():
        frame = estimate_ground(markers, SKELETON)
        turned = estimate_ground(markers @ turn.T, SKELETON)
        assert np.degrees(np.arccos(turned.up @ (turn @ frame.up))) < 1.0, track
        heights = frame.apply(markers)[..., 1]
        moved = np.abs(turned.apply(markers @ turn.T)[..., 1] - heights)
        assert np.nanmax(moved) < 0.05 and np.nanmedian(moved) < 0.01, track
        camera = GroundFrame(np.diag([1.0, -1.0, -1.0]), turned.origin)
        assert np.nanmax(np.abs(camera.apply(markers @ turn.T)[..., 1] - heights)) > 0.2, track


def test_sample_is_bounded_and_even():
    """10,000 rows in 37 chunks, a sample of at most 64: every 256th row, from the first on,
    whatever the chunks; a short track: every row."""
    rows = np.stack([np.arange(10_000.0), -np.arange(10_000.0)], axis=1)
    assert sample_stride(10_000, 64) == 256 and sample_stride(64, 64) == 1
    kept = sample_rows(np.array_split(rows, 37), len(rows), capacity=64)
    assert len(kept) <= 64
    np.testing.assert_array_equal(kept, rows[::256])
    np.testing.assert_array_equal(sample_rows([rows[:300]], 300, capacity=1000), rows[:300])
    with pytest.raises(ValueError, match="expected 301 rows, got 300"):
        sample_rows([rows[:300]], 301)


def test_ground_frame_checks_its_rotation():
    with pytest.raises(ValueError, match="expected a right-handed rotation, got a mirror"):
        GroundFrame(np.diag([1.0, 1.0, -1.0]), np.zeros(3))
    with pytest.raises(ValueError, match="expected a 3x3 rotation"):
        GroundFrame(np.ones((3, 3)), np.zeros(3))

"""The outlier filter (fastpose.outliers): glitches injected at known frames of real tracks are
replaced and flagged, real motion is not, the vectorized filter equals the plain reference,
streaming equals one batch, and the flags reach the landmark and angle tables."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import data_file, tracked

from fastpose.measures import Measurer
from fastpose.outliers import FILTERS, Outliers
from fastpose.poses import PoseBatch
from fastpose.sinks.landmarks import table as landmark_table
from fastpose.skeleton import LANDMARK_NAMES

_AT = {n: i for i, n in enumerate(LANDMARK_NAMES)}
#: (frame, landmark, frames long): one-, two- and three-frame glitches on the man's limbs.
GLITCHES = ((20, "right_knee", 1), (45, "left_wrist", 2), (70, "right_ankle", 3))


def stream(poses: PoseBatch, aspect: float, step: int = 16, **kw) -> tuple[PoseBatch, Outliers]:
    filt = Outliers(aspect, **kw)
    out = []
    for i in range(0, len(poses), step):
        out += filt.push(poses.take(slice(i, i + step)))
    out += filt.finish()
    return PoseBatch.concat(out), filt


def glitched(poses: PoseBatch) -> PoseBatch:
    """``poses`` with each of :data:`GLITCHES` moved by a third of the frame's height in image
    coordinates and by 0.6 m in world ones (a landmark jumping onto something else)."""
    lm, world = poses.landmarks.copy(), poses.world.copy()
    for frame, name, length in GLITCHES:
        i = _AT[name]
        lm[frame : frame + length, 0, i, 1] += 0.33
        world[frame : frame + length, 0, i, 0] += 0.6
    return replace(poses, landmarks=lm, world=world)


@pytest.mark.parametrize("impl", sorted(FILTERS))
def test_glitches_replaced_and_flagged(track_clip, impl):
    """pose2sim_single_cam01 (a man balancing, 60 fps): every injected glitch is flagged and put
    back within 2% of the frame of where the landmark was; elsewhere under 1% of the landmarks
    are flagged."""
    clip = track_clip("pose2sim_single_cam01.mp4", 1)
    poses, aspect = clip.poses, clip.info.width / clip.info.height
    out, filt = stream(glitched(poses), aspect, filter=impl)
    injected = np.zeros(poses.landmarks.shape[:3], dtype=bool)
    for frame, name, length in GLITCHES:
        injected[frame : frame + length, 0, _AT[name]] = True
    assert out.replaced[injected].all(), np.argwhere(injected & ~out.replaced)
    back = np.abs(out.landmarks[injected][:, :2] - poses.landmarks[injected][:, :2])
    assert back.max() < 0.02, back.max()
    world_back = np.abs(out.world[injected] - poses.world[injected])
    assert world_back.max() < 0.05, world_back.max()
    others = out.replaced & ~injected & poses.detected[..., None]
    assert others.sum() <= 0.01 * poses.detected.sum() * 33, others.sum()
    untouched = ~out.replaced & poses.detected[..., None]
    np.testing.assert_array_equal(out.landmarks[untouched], poses.landmarks[untouched])
    assert filt.replaced == int(out.replaced.sum())


def test_real_motion_is_kept(track_clip):
    """pose_squats at 5 fps (the knees bend ~90 degrees in 2-3 frames) and sports2d_demo (a jump,
    a walk): under 1% of the landmarks replaced, the knee's range kept."""
    for name, num_poses in (("pose_squats.mp4", 1), ("sports2d_demo.mp4", 2)):
        clip = track_clip(name, num_poses)
        poses, aspect = clip.poses, clip.info.width / clip.info.height
        out, _ = stream(poses, aspect)
        assert out.replaced.sum() <= 0.01 * poses.detected.sum() * 33, (name, out.replaced.sum())
        if name == "pose_squats.mp4":
            before = Measurer(clip.info.width, clip.info.height)(poses).column("right knee 3d")
            after = Measurer(clip.info.width, clip.info.height)(out).column("right knee 3d")
            assert np.nanmax(before) - np.nanmin(before) > 80
            span = np.nanmax(after) - np.nanmin(after)
            assert span == pytest.approx(np.nanmax(before) - np.nanmin(before), abs=2)


def test_filters_equal_the_plain_reference(track_clip):
    """The vectorized Hampel filter against the plain one, landmark by landmark and frame by
    frame, on a real track with glitches: the same flags, the same replaced values."""
    clip = track_clip("pose2sim_single_cam01.mp4", 1)
    poses = glitched(clip.poses)
    aspect = clip.info.width / clip.info.height
    runs = {impl: stream(poses, aspect, filter=impl)[0] for impl in FILTERS}
    ref = runs["python"]
    assert ref.replaced.sum() >= sum(n for _, _, n in GLITCHES)
    for impl, got in runs.items():
        np.testing.assert_array_equal(got.replaced, ref.replaced, err_msg=impl)
        np.testing.assert_allclose(got.landmarks, ref.landmarks, rtol=0, atol=1e-6, err_msg=impl)
        np.testing.assert_allclose(got.world, ref.world, rtol=0, atol=1e-6, err_msg=impl)


def test_streaming_equals_one_batch(track_clip):
    """Batches of 16, of 5, of 1 and all at once: the same output, in the batches given."""
    clip = track_clip("sports2d_demo.mp4", 2)
    poses = glitched(clip.poses)
    aspect = clip.info.width / clip.info.height
    whole, _ = stream(poses, aspect, step=len(poses))
    for step in (16, 5, 1):
        filt = Outliers(aspect)
        out = []
        for i in range(0, len(poses), step):
            out += filt.push(poses.take(slice(i, i + step)))
        out += filt.finish()
        assert [len(b) for b in out] == [len(poses.take(slice(i, i + step)))
                                         for i in range(0, len(poses), step)]  # fmt: skip
        got = PoseBatch.concat(out)
        np.testing.assert_array_equal(got.replaced, whole.replaced, err_msg=str(step))
        np.testing.assert_array_equal(got.landmarks, whole.landmarks, err_msg=str(step))


def test_flags_reach_the_tables(track_clip):
    """A replaced knee: the landmark table's ``replaced`` is true on its rows alone, and the
    measures taken on it (knee, hip and ankle angles of that side, 2D and 3D) are flagged, the
    other side's are not."""
    clip = track_clip("pose2sim_single_cam01.mp4", 1)
    poses, aspect = glitched(clip.poses), clip.info.width / clip.info.height
    out, _ = stream(poses, aspect)
    frame = GLITCHES[0][0]
    batch = out.take(slice(frame, frame + 1))
    rows = landmark_table(batch, clip.info.width, clip.info.height).to_pydict()
    flagged = {lm for lm, r in zip(rows["landmark"], rows["replaced"], strict=True) if r}
    assert "right_knee" in flagged and "left_knee" not in flagged, flagged
    m = Measurer(clip.info.width, clip.info.height)(batch)
    for name in ("right knee", "right hip", "right knee 3d", "right ankle 3d"):
        assert m.replaced[0, 0, m.index(name)], name
    for name in ("left knee", "left knee 3d", "right elbow"):
        assert not m.replaced[0, 0, m.index(name)], name


def test_bad_options_say_what_was_expected():
    with pytest.raises(ValueError, match="filter: expected one of"):
        Outliers(1.0, filter="nope")
    with pytest.raises(ValueError, match="aspect: expected"):
        Outliers(0.0)
    with pytest.raises(ValueError, match="half_window: expected"):
        Outliers(1.0, half_window=0)


def test_the_tracker_runs_both(track_clip):
    """The tracker's output carries the filter's flags (its count in the stats), and its
    left/right correction fired on sports2d_demo (its trades counted by chain)."""
    run = tracked(data_file("pose2sim_single_cam01.mp4"), num_poses=1, segment=False, workers=1)
    assert all(b.replaced is not None for b in run.batches)
    assert run.stats.replaced == int(run.poses.replaced.sum())
    track_clip("sports2d_demo.mp4", 2)
    run = tracked(data_file("sports2d_demo.mp4"), num_poses=2, segment=False, workers=1)
    assert run.stats.swaps["leg"] > 0 and run.stats.swaps["arm"] > 0, run.stats.swaps


def test_cleaning_off(track_clip):
    """``cleaning=False`` (``--no-cleaning``): MediaPipe's landmarks as they come, nothing
    replaced nor flagged, where the default run replaced some on the same clip."""
    cleaned = track_clip("pose_squats.mp4", 1).poses
    clip = data_file("pose_squats.mp4")
    run = tracked(clip, num_poses=1, segment=False, workers=1, cleaning=False)
    assert all(b.replaced is None for b in run.batches)
    assert run.stats.replaced == 0 and sum(run.stats.swaps.values()) == 0
    flagged = cleaned.replaced
    assert flagged.any()
    image = np.abs(run.poses.landmarks[..., :2] - cleaned.landmarks[..., :2])[flagged]
    world = np.abs(run.poses.world - cleaned.world)[flagged]
    assert max(image.max(), world.max()) > 0.005, (image.max(), world.max())  # smoothed


@pytest.mark.parametrize("angle", ["right knee", "left knee", "right knee 3d", "left knee 3d"])
def test_cleaning_keeps_the_squats_range(track_clip, angle):
    """Real fast motion is not filtered away: pose_squats (5 fps, the knees bending ~90 degrees
    in 2-3 frames) keeps its knee angles' range within 3 degrees of MediaPipe's own landmarks'."""
    clip = track_clip("pose_squats.mp4", 1)
    run = tracked(
        data_file("pose_squats.mp4"), num_poses=1, segment=False, workers=1, cleaning=False
    )
    ranges = []
    for batches in (clip.batches, run.batches):
        measurer = Measurer(clip.info.width, clip.info.height)
        values = np.concatenate([measurer(b).column(angle)[:, 0] for b in batches])
        ranges.append(np.nanmax(values) - np.nanmin(values))
    assert ranges[1] > 60, ranges  # a deep squat
    assert abs(ranges[0] - ranges[1]) < 3, ranges

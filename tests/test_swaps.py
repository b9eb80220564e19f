"""Left and right kept apart (issue 28): swaps injected into real tracks at known frames undone,
none where there are none, the clips' own crossings after the correction, the visible side's
hysteresis, and the angle jumps left on every clip.

The crossing test and the jump count are written here from the issue's definitions, apart from
fastpose.laterality's code. Reads the session's tracked runs (conftest.track_clip); the clips of
our own making (sports2d_demo mirrored) are e2e.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from clips import mirrored
from conftest import data_file, tracked

from fastpose.laterality import CHAINS, DECIDERS, Laterality
from fastpose.measures import MeasureBatch, Measurer
from fastpose.measures.definitions import ANGLES_2D, ANGLES_3D, landmark_groups
from fastpose.measures.foreshortening import THRESHOLD, WINDOW, TrackForeshortening
from fastpose.measures.settling import FRAMES, MOTION, TrackSettling
from fastpose.measures.sides import TrackSides
from fastpose.poses import PoseBatch
from fastpose.skeleton import LANDMARK_NAMES

CLIPS = [("sports2d_demo.mp4", 2), ("pose2sim_single_cam01.mp4", 1), ("pose_squats.mp4", 1)]
JOINTS = ("knee", "hip", "elbow", "shoulder", "ankle")
IMPLS = [k for k, v in DECIDERS.items() if v is not None]
_AT = {n: i for i, n in enumerate(LANDMARK_NAMES)}
PARTS = {
    "arm": ("elbow", "wrist", "pinky", "index", "thumb"),
    "leg": ("knee", "ankle", "heel", "foot_index"),
}


def crossings(poses: PoseBatch, width: int, height: int) -> list[tuple[int, int, str]]:
    """(track, frame, limb) where the issue's crossing test fires on consecutive frames of a
    track: swapping the left and right labels of the limb's points explains the motion from the
    frame before far better than keeping them, ``d(L_t, R_t-1) + d(R_t, L_t-1) < 0.5 (d(L_t,
    L_t-1) + d(R_t, R_t-1))``, the kept labels having moved > 5% of the person's height."""
    out = []
    ids, px = poses.ids, poses.pixels(width, height).astype(np.float64)
    for track in np.unique(ids[ids >= 0]).tolist():
        rows, slots = np.nonzero(ids == track)
        xy, frames = px[rows, slots], poses.frame_idx[rows]
        for k in range(1, len(rows)):
            if frames[k] - frames[k - 1] != 1:
                continue
            a, b = xy[k - 1], xy[k]
            person = np.nanmax(a[:, 1]) - np.nanmin(a[:, 1])
            for limb, parts in PARTS.items():
                left = [_AT[f"left_{p}"] for p in parts]
                right = [_AT[f"right_{p}"] for p in parts]
                keep_l = np.linalg.norm(b[left] - a[left], axis=1)
                keep_r = np.linalg.norm(b[right] - a[right], axis=1)
                swap = np.linalg.norm(b[left] - a[right], axis=1)
                swap += np.linalg.norm(b[right] - a[left], axis=1)
                keep = keep_l.sum() + keep_r.sum()
                moved = (keep_l.mean() + keep_r.mean()) / 2 > 0.05 * person
                if swap.sum() < 0.5 * keep and moved:
                    out.append((track, int(frames[k]), limb))
    return out


def measure(
    poses: PoseBatch, width: int, height: int, batches: list[PoseBatch], **kw
) -> MeasureBatch:
    measurer = Measurer(width, height, **kw)
    parts = [measurer(b) for b in batches]
    return MeasureBatch(
        poses.frame_idx,
        poses.time_s,
        poses.ids,
        parts[0].names,
        parts[0].units,
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.side for p in parts]),
        foreshortened=np.concatenate([p.foreshortened for p in parts]),
        settling=np.concatenate([p.settling for p in parts]),
    )


def short_segments(poses: PoseBatch, width: int, height: int, threshold: float) -> np.ndarray:
    """(T, P, 2D + 3D angles) the plain reference of which angles have a segment pointing at the
    camera: its length (landmarks of visibility >= 0.5; 2D: in pixels, 3D: a world bone in
    metres) under ``threshold`` times the median of its lengths over the track's last WINDOW
    frames (this one included); a world bone also over 1 / ``threshold`` times it."""
    groups = landmark_groups()
    lm = poses.landmarks.astype(np.float64)
    ok = (np.isfinite(lm[..., :2]).all(-1) & (lm[..., 3] >= 0.5))[..., None]
    xy = np.where(ok, lm[..., :2] * [width, height], np.nan)
    world = np.where(ok, poses.world.astype(np.float64), np.nan)
    by_angle = [
        (xy, [(a.points[i], a.points[j]) for i, j in _SEGS[len(a.points)]]) for a in ANGLES_2D
    ]
    by_angle += [(world, [s for s in (a.u, a.v) if s]) for a in ANGLES_3D]
    out = np.zeros((*poses.ids.shape, len(by_angle)), dtype=bool)
    for m, (coords, segs) in enumerate(by_angle):
        for a, b in segs:
            ends = [np.mean([coords[:, :, i] for i in groups[p]], axis=0) for p in (a, b)]
            length = np.linalg.norm(ends[0] - ends[1], axis=-1)  # (T, P)
            for track in np.unique(poses.ids[poses.ids >= 0]).tolist():
                rows, slots = np.nonzero(poses.ids == track)
                seq = length[rows, slots]
                for i in range(len(seq)):
                    past = seq[max(0, i - WINDOW + 1) : i + 1]
                    if not np.isfinite(past).any():
                        continue
                    usual = np.nanmedian(past)
                    off = seq[i] < threshold * usual
                    off |= coords is world and seq[i] * threshold > usual
                    out[rows[i], slots[i], m] |= off
    return out


#: A 2D angle's segments by its number of points (definitions.Angle2D), as point index pairs.
_SEGS = {2: [(0, 1)], 3: [(0, 1), (2, 1)], 4: [(0, 1), (2, 3)]}


def jumps(m: MeasureBatch) -> tuple[int, int, list]:
    """Changes > 45 degrees and > 1500 deg/s between consecutive frames of one person (knees,
    hips, elbows, shoulders, ankles; 2D and 3D), as (jumps, angle frame pairs, the jumps). A 2D
    pair across which the side the angles are measured from changes (a person turning round,
    said in the side column) is not a jump: its signs flip by definition."""
    names = [f"{s} {j}" for j in JOINTS for s in ("right", "left")]
    names += [f"{n} 3d" for n in names]
    periods = m.periods()
    count = pairs = 0
    found = []
    for track in np.unique(m.track_ids[m.track_ids >= 0]).tolist():
        rows, slots = np.nonzero(m.track_ids == track)
        frames, t = m.frame_idx[rows], m.time_s[rows]
        next_frame = np.diff(frames) == 1
        same_side = np.diff(m.side[rows, slots]) == 0
        pairs += int(next_frame.sum()) * len(names)
        for name in names:
            k = m.index(name)
            v = m.values[rows, slots, k]
            dv = np.diff(v)
            if periods[k]:
                dv = (dv + periods[k] / 2) % periods[k] - periods[k] / 2
            bad = next_frame & (np.abs(dv) > 45) & (np.abs(dv) / np.diff(t) > 1500)
            if not name.endswith("3d"):
                bad &= same_side
            count += int(bad.sum())
            found += [(track, int(frames[i + 1]), name) for i in np.flatnonzero(bad)]
    return count, pairs, found


def trade(poses: PoseBatch, track: int, frames: range, chains: tuple[str, ...]) -> PoseBatch:
    """``poses`` with the left and right labels of ``chains`` traded on ``track`` in ``frames``."""
    lm, world = poses.landmarks.copy(), poses.world.copy()
    for f in frames:
        row = int(np.flatnonzero(poses.frame_idx == f)[0])
        slot = int(np.flatnonzero(poses.ids[row] == track)[0])
        for chain in chains:
            left, right = np.array(CHAINS[chain]).T
            lm[row, slot, left], lm[row, slot, right] = lm[row, slot, right], lm[row, slot, left]
            w = world[row, slot]
            w[left], w[right] = world[row, slot, right].copy(), world[row, slot, left].copy()
    return replace(poses, landmarks=lm, world=world)


def correct(
    poses: PoseBatch, aspect: float, fps: float, decide: str, step: int = 16, **kw
) -> tuple[PoseBatch, Laterality]:
    """``poses`` through the correction in batches of ``step`` frames (``fps``: the clip's rate,
    for the look-ahead); each batch comes out whole, in order, at most the look-ahead's frames
    and one batch held at once."""
    lat = Laterality(aspect, decide, fps=fps, **kw)
    batches = [poses.take(slice(i, i + step)) for i in range(0, len(poses), step)]
    out: list[PoseBatch] = []
    for k, batch in enumerate(batches):  # copies: what comes out is final
        out += [replace(b, landmarks=b.landmarks.copy(), world=b.world.copy()) for b in lat(batch)]
        held = sum(len(b) for b in batches[len(out) : k + 1])
        assert held <= lat.window + step, (held, lat.window, step)
    out += lat.finish()
    assert [len(b) for b in out] == [len(b) for b in batches]
    assert all(a.frame_idx[0] == b.frame_idx[0] for a, b in zip(out, batches, strict=True))
    return PoseBatch.concat(out), lat


def apart(poses: PoseBatch, track: int, chain: str, aspect: float) -> np.ndarray:
    """(T,) how far apart the chain's left and right points are, over the person's size (NaN
    where the track is not seen)."""
    out = np.full(len(poses), np.nan)
    rows, slots = np.nonzero(poses.ids == track)
    xy = poses.landmarks[rows, slots, :, :2] * [aspect, 1.0]
    left, right = np.array(CHAINS[chain]).T
    span = np.nanmax(xy, axis=1) - np.nanmin(xy, axis=1)
    out[rows] = np.linalg.norm(xy[:, left] - xy[:, right], axis=-1).mean(1) / np.hypot(*span.T)
    return out


def episode(far: np.ndarray, length: int, after: int, least: float = 0.25) -> range:
    """The first ``length`` frames from ``after`` on where the chain is well apart (and the frames
    either side are seen), so a trade there is a trade the motion can show."""
    for start in range(after, len(far) - length - 1):
        window = far[start - 1 : start + length + 1]
        if np.isfinite(window).all() and (window > least).all():
            return range(start, start + length)
    pytest.fail(f"no {length} frames with the chain apart after frame {after}")


def episodes(
    poses: PoseBatch, aspect: float, lengths: tuple[int, int, int], after: int
) -> tuple[range, range, range]:
    """Where to trade the athlete's (track 0) legs, then his arms, then his whole body, each for
    its length in ``lengths``, from ``after`` on, 5 frames apart, where the chains are apart."""
    legs = episode(apart(poses, 0, "leg", aspect), lengths[0], after=after)
    arms = episode(apart(poses, 0, "arm", aspect), lengths[1], after=legs.stop + 5)
    both = np.fmin(apart(poses, 0, "leg", aspect), apart(poses, 0, "arm", aspect))
    return legs, arms, episode(both, lengths[2], after=arms.stop + 5, least=0.15)


@pytest.mark.parametrize("decide", IMPLS)
def test_injected_swaps_are_undone(track_clip, decide):
    """sports2d_demo's athlete (track 0 of the tracked output): legs traded for 3 frames, arms for
    2, the whole body for 4, at frames where the limbs are apart; the correction gives back what
    it gives for the untouched track, firing twice more (trade, trade back) per chain and
    episode. (The clip's own trades fire too, MediaPipe trading the athlete's whole body, his
    back taken for his front, at frames 18, 55, 68 and 74: hence the comparison with the
    untouched track rather than with no firing at all.)"""
    clip = track_clip("sports2d_demo.mp4", 2)
    poses, aspect = clip.poses, clip.info.width / clip.info.height
    legs, arms, body = episodes(poses, aspect, (3, 2, 4), after=10)
    swapped = trade(poses, 0, legs, ("leg",))
    swapped = trade(swapped, 0, arms, ("arm",))
    swapped = trade(swapped, 0, body, ("arm", "leg", "core"))
    assert not np.array_equal(swapped.landmarks, poses.landmarks, equal_nan=True)
    fixed, lat = correct(swapped, aspect, clip.info.fps, decide)
    base, plain = correct(poses, aspect, clip.info.fps, decide)  # the same track untouched
    np.testing.assert_array_equal(fixed.landmarks, base.landmarks)
    np.testing.assert_array_equal(fixed.world, base.world)
    extra = {chain: lat.fired[chain] - plain.fired[chain] for chain in lat.fired}
    assert extra["leg"] == 4 and extra["arm"] == 4, (extra, legs, arms, body)
    changed = np.flatnonzero((fixed.landmarks != swapped.landmarks).any(axis=(1, 2, 3)))
    injected = {*legs, *arms, *body}
    assert injected <= set(changed.tolist()), (sorted(injected), changed)


def trade_through_middle(
    poses: PoseBatch, track: int, frames: range, chains: tuple[str, ...]
) -> tuple[PoseBatch, list[int]]:
    """``poses`` with ``chains`` traded on ``track`` over ``frames`` as MediaPipe trades over two
    frames: the first and last frame transitional (each left and right point at the midpoint of
    the two), the frames between traded; and where the midpoints are, as (row, slot, points)."""
    out = trade(poses, track, frames[1:-1], chains)
    lm, world = out.landmarks.copy(), out.world.copy()
    points = np.concatenate([np.array(CHAINS[chain]).ravel() for chain in chains])
    middle = []
    for f in (frames[0], frames[-1]):
        row = int(np.flatnonzero(poses.frame_idx == f)[0])
        slot = int(np.flatnonzero(poses.ids[row] == track)[0])
        middle.append((row, slot, points))
        for chain in chains:
            left, right = np.array(CHAINS[chain]).T
            for a in (lm, world):
                mid = (a[row, slot, left] + a[row, slot, right]) / 2
                a[row, slot, left], a[row, slot, right] = mid, mid
    return replace(out, landmarks=lm, world=world), middle


@pytest.mark.parametrize("decide", IMPLS)
def test_trades_over_two_frames_are_undone(track_clip, decide):
    """sports2d_demo's athlete (track 0) with trades done over two frames through a transitional
    frame (left and right at their midpoint), as MediaPipe trades his arms at frames 66 -> 67 ->
    68, where neither step passes the crossing test: the legs traded for 3 frames, the arms for
    2, the whole body for 3, each between two transitional frames. The test against the frame
    two back trades each back from the frame after the transition, and back again after the
    closing one: the output is what the correction makes of the untouched track but for the
    transitional frames (left and right at their midpoint, whichever the labels), two firings
    more per chain and episode."""
    clip = track_clip("sports2d_demo.mp4", 2)
    poses, aspect = clip.poses, clip.info.width / clip.info.height
    legs, arms, body = episodes(poses, aspect, (5, 4, 5), after=20)
    swapped, middle = trade_through_middle(poses, 0, legs, ("leg",))
    swapped, more = trade_through_middle(swapped, 0, arms, ("arm",))
    middle += more
    swapped, more = trade_through_middle(swapped, 0, body, ("arm", "leg", "core"))
    middle += more
    fixed, lat = correct(swapped, aspect, clip.info.fps, decide)
    base, plain = correct(poses, aspect, clip.info.fps, decide)
    expected, expected_world = base.landmarks.copy(), base.world.copy()
    for row, slot, points in middle:  # the midpoints, the same either way round
        expected[row, slot, points] = swapped.landmarks[row, slot, points]
        expected_world[row, slot, points] = swapped.world[row, slot, points]
    np.testing.assert_array_equal(fixed.landmarks, expected)
    np.testing.assert_array_equal(fixed.world, expected_world)
    extra = {chain: lat.fired[chain] - plain.fired[chain] for chain in lat.fired}
    assert extra == {"arm": 4, "leg": 4, "core": 2, "start": 0}, (extra, legs, arms, body)
    traded = sorted({*legs[1:-1], *arms[1:-1], *body[1:-1]})
    assert (fixed.landmarks[traded] != swapped.landmarks[traded]).any(axis=(1, 2, 3)).all()


@pytest.mark.parametrize(("name", "num_poses"), CLIPS[1:])
@pytest.mark.parametrize("decide", IMPLS)
def test_no_swap_nothing_fires(track_clip, name, num_poses, decide):
    """The control: real motion with no trade (a man balancing on a beam seen from the side at 60
    fps, squats at 5 fps) through the correction: nothing fires, nothing changes.
    (sports2d_demo's control is test_side_views_of_one_person, on its unsmoothed output.)"""
    clip = track_clip(name, num_poses)
    poses = clip.poses
    fixed, lat = correct(poses, clip.info.width / clip.info.height, clip.info.fps, decide)
    assert sum(lat.fired.values()) == 0, lat.fired
    np.testing.assert_array_equal(fixed.landmarks, poses.landmarks)


def test_batches_and_implementations_agree(track_clip):
    """Frame by frame, with the look-ahead at each segment's start: batches of 16, of 5 and of 1
    frame, and the plain reference, give the same labels (so 1 or N landmarkers, whose batches
    the caller's thread corrects in frame order, give the same), the walker's legs traded at his
    track's start flipped back by the look-ahead in each; every batch comes out whole and in
    order, at most the look-ahead and one batch held (``correct``)."""
    clip = track_clip("sports2d_demo.mp4", 2)
    aspect, fps = clip.info.width / clip.info.height, clip.info.fps
    swapped = trade(clip.poses, 0, range(60, 63), ("leg",))
    walker = int(clip.poses.frame_idx[(clip.poses.ids == 1).any(axis=1)][0])
    swapped = trade(swapped, 1, range(walker, walker + 10), ("leg",))
    base, lat = correct(swapped, aspect, fps, "numpy", 16)
    assert lat.fired["start"] > 0, lat.fired
    for decide, step in (("numpy", 5), ("numpy", 1), ("python", 16), ("python", 3)):
        got, other = correct(swapped, aspect, fps, decide, step)
        np.testing.assert_array_equal(got.landmarks, base.landmarks, err_msg=f"{decide} {step}")
        np.testing.assert_array_equal(got.world, base.world, err_msg=f"{decide} {step}")
        assert other.fired == lat.fired, (decide, step)


@pytest.mark.parametrize("decide", IMPLS)
@pytest.mark.parametrize(("track", "chains"), [(1, ("leg",)), (0, ("arm", "leg", "core"))])
def test_a_trade_at_a_tracks_start_is_undone(track_clip, decide, track, chains):
    """sports2d_demo's walker (track 1) with his legs traded from his track's first frame, and
    the athlete (track 0) with his whole body traded from his track's return (frame 13), for 10
    frames (a third of the look-ahead, 1 s at 30 fps): followed from its first frame the
    correction takes the return to the right labels for a trade and holds them wrong; the
    look-ahead, MediaPipe's labels being right in most of the track's first second, flips them
    back: the track's output is what the correction makes of it untouched (without the
    look-ahead it is not)."""
    clip = track_clip("sports2d_demo.mp4", 2)
    poses, aspect, fps = clip.poses, clip.info.width / clip.info.height, clip.info.fps
    rows = np.flatnonzero((poses.ids == track).any(axis=1))
    frames = poses.frame_idx[rows]
    start = int(frames[0]) if track == 1 else 13
    assert start - 1 not in frames and start in frames  # a segment starts there
    swapped = trade(poses, track, range(start, start + 10), chains)
    fixed, lat = correct(swapped, aspect, fps, decide)
    base, plain = correct(poses, aspect, fps, decide)
    np.testing.assert_array_equal(fixed.landmarks[rows], base.landmarks[rows])
    np.testing.assert_array_equal(fixed.world[rows], base.world[rows])
    blind, _ = correct(swapped, aspect, fps, decide, lookahead_s=0.0)
    assert not np.array_equal(blind.landmarks[rows], base.landmarks[rows])
    if track == 1:  # the walker's start flipped once more than untouched
        assert lat.fired["start"] == plain.fired["start"] + 1, (lat.fired, plain.fired)


def test_a_video_ending_in_a_tracks_first_second_comes_out_whole():
    """sports2d_demo's first 70 frames (2 people): the walker's track starts at frame 59, its
    first second still undecided when the video ends; the tracker hands every frame on, once,
    in order, the walker in the last ones."""
    from fastpose.tracker import Tracker

    clip = data_file("sports2d_demo.mp4")
    with Tracker(clip, num_poses=2, segment=False, workers=1, max_frames=70) as tracker:
        poses = PoseBatch.concat([b.poses for b in tracker])
    np.testing.assert_array_equal(poses.frame_idx, np.arange(70))
    assert (poses.ids[59:] == 1).any(axis=1).all()


@pytest.mark.e2e
def test_a_saved_state_hands_on_the_batches_the_look_ahead_holds():
    """The tracker's state (fastpose.resume) taken after the batch reaching frame 175 of
    sports2d_demo (2 people): the athlete's track comes back at frame 198, so the correction
    holds the batch 192-207 (the outlier filter the one before it) until her first second is
    decided. A tracker started from that state hands the held frames on first, under the same
    ids and with the same landmarks as the uninterrupted run (up to the frames whose outlier
    window reaches the frames inferred again), then the rest to the clip's end, every frame
    once."""
    import pickle

    from fastpose.tracker import Tracker

    options = {"num_poses": 2, "segment": False, "workers": 1}
    clip = data_file("sports2d_demo.mp4")
    with Tracker(clip, **options) as whole:
        batches, state = [], None
        for item in whole:
            batches.append(item.poses)
            if item.poses.frame_idx[-1] == 175:
                state = whole.state()
    assert state is not None
    laterality = pickle.loads(state).stages[1]
    held = [int(f) for b in laterality._pending for f in b.frame_idx]
    assert held == list(range(192, 208)) and list(laterality._open) == [0], held
    with Tracker(clip, **options, start_frame=176, state=state) as rest:
        assert rest.infer_from == 208
        after = PoseBatch.concat([b.poses for b in rest])
    whole_poses = PoseBatch.concat(batches)
    n = len(whole_poses)
    np.testing.assert_array_equal(whole_poses.frame_idx, np.arange(n))
    np.testing.assert_array_equal(after.frame_idx, np.arange(176, n))
    np.testing.assert_array_equal(after.ids[:32], whole_poses.ids[176:208])
    # the same poses, up to frame 204 (the outlier filter's window reaches the frames inferred
    # again from 205 on: a restarted landmarker's warm-up differs a little)
    np.testing.assert_allclose(after.landmarks[:29], whole_poses.landmarks[176:205], atol=1e-3)


@pytest.mark.parametrize(("name", "num_poses"), CLIPS)
def test_clips_own_crossings_at_most_one(track_clip, name, num_poses):
    """After the correction, the issue's crossing test fires at most once per clip on the
    output (before it: sports2d_demo 17 times on 2 people, 11 on 1). On sports2d_demo for 2
    people it fired twice (frames 18 and 68) while the correction tested against the frame before
    alone: the athlete faces the camera doing jumping jacks, and MediaPipe trades his whole body
    over two frames through a transitional frame (both elbows in the middle at frame 67), which
    smoothing makes one step; the test against the frame two back takes it back (now 0)."""
    clip = track_clip(name, num_poses)
    found = crossings(clip.poses, clip.info.width, clip.info.height)
    assert len(found) <= 1, found


def test_athlete_facing_the_camera_keeps_his_sides(track_clip):
    """sports2d_demo's athlete (track 0) does jumping jacks facing the camera in frames 13-99
    (seen in the frames: his face and his T-shirt's front), so his left shoulder is on the
    image's right, and his left elbow too: in at most 20% of those frames the output has them
    the other way round (MediaPipe's own labels: 13 of 87 frames, 15%, its whole body traded at
    13-17, 55-56 and 68-73). His track comes back at frame 13 traded: the look-ahead at its start
    chooses MediaPipe's labels of most of its first second (2026-12-07: 0 wrong; without the
    look-ahead 87, with it but the ratio 0.5, missing his arms traded back at frame 57, 42)."""
    shares = facing_the_wrong_way(track_clip("sports2d_demo.mp4", 2).poses)
    assert all(share <= 0.2 for share in shares.values()), shares


def facing_the_wrong_way(poses: PoseBatch) -> dict[str, float]:
    """The share of track 0's frames 13-99 (sports2d_demo's athlete, or its mirror's, facing the
    camera) where his left shoulder, or elbow, is on the image's left."""
    rows, slots = np.nonzero(poses.ids == 0)
    keep = (poses.frame_idx[rows] >= 13) & (poses.frame_idx[rows] < 100)
    lm = poses.landmarks[rows[keep], slots[keep]]
    assert len(lm) > 80
    return {
        part: float((lm[:, _AT[f"left_{part}"], 0] < lm[:, _AT[f"right_{part}"], 0]).mean())
        for part in ("shoulder", "elbow")
    }


@pytest.mark.parametrize(("name", "num_poses"), CLIPS)
def test_angle_jumps_at_most_2_per_1000(track_clip, name, num_poses):
    clip = track_clip(name, num_poses)
    m = measure(clip.poses, clip.info.width, clip.info.height, clip.batches)
    count, pairs, found = jumps(m)
    assert pairs > 0
    assert count <= 2 * pairs / 1000, (count, pairs, found)


@pytest.mark.parametrize(("name", "num_poses"), CLIPS)
def test_foreshortened_angles_are_nan_and_flagged(track_clip, name, num_poses):
    """A 2D angle with a segment seen under THRESHOLD of its track's usual image length (pointing
    at the camera), and a 3D flexion on a world bone under THRESHOLD or over its inverse times
    its usual length, is NaN and flagged, exactly where the plain reference says; every other
    value is what the measurer gives without the rule; few are blanked."""
    clip = track_clip(name, num_poses)
    w, h = clip.info.width, clip.info.height
    m = measure(clip.poses, w, h, clip.batches)
    every = measure(clip.poses, w, h, clip.batches, foreshortened=0.0, foreshortened_3d=0.0)
    n = len(ANGLES_2D) + len(ANGLES_3D)
    flagged = m.foreshortened[..., :n]
    np.testing.assert_array_equal(flagged, short_segments(clip.poses, w, h, THRESHOLD))
    assert not m.foreshortened[..., n:].any() and not every.foreshortened.any()
    assert np.isnan(m.values[..., :n][flagged]).all()
    np.testing.assert_array_equal(m.values[~m.foreshortened], every.values[~m.foreshortened])
    seen = clip.poses.ids >= 0
    share2d = flagged[..., : len(ANGLES_2D)][seen].mean()
    share3d = flagged[..., len(ANGLES_2D) :][seen].mean()
    assert share2d < 0.06 and share3d < 0.05, (share2d, share3d)  # 2026-12-07: <= 5.0%, 1.8%
    if name == "sports2d_demo.mp4":
        assert share2d > 0.01, share2d  # the athlete's arms and feet point at the camera


def settling_reference(poses: PoseBatch, width: int, height: int) -> np.ndarray:
    """(T, P) the plain reference of the settling rule: in a track's frames 1 to FRAMES - 1 of an
    appearance (frame 0: it appears, or reappears after a frame without it), a frame whose body
    landmarks (11-32, visibility >= 0.5 in both frames) moved from the frame before by a median
    of more than MOTION times the person's size (the diagonal of the frame before's body
    landmarks), each landmark's motion less the face's (landmarks 0-10, mean motion; 0 if none
    seen in both)."""
    lm = poses.landmarks.astype(np.float64)
    ok = np.isfinite(lm[..., :2]).all(-1) & (lm[..., 3] >= 0.5)
    xy = lm[..., :2] * [width, height]
    out = np.zeros(poses.ids.shape, dtype=bool)
    for track in np.unique(poses.ids[poses.ids >= 0]).tolist():
        rows, slots = np.nonzero(poses.ids == track)
        place = 0
        for k in range(1, len(rows)):
            place = place + 1 if poses.frame_idx[rows[k]] - poses.frame_idx[rows[k - 1]] == 1 else 0
            if not 1 <= place < FRAMES:
                continue
            a, b = (rows[k - 1], slots[k - 1]), (rows[k], slots[k])
            both = ok[a] & ok[b]
            face = [i for i in range(11) if both[i]]
            head = np.mean([xy[b][i] - xy[a][i] for i in face], axis=0) if face else 0.0
            moved = [np.linalg.norm(xy[b][i] - xy[a][i] - head) for i in range(11, 33) if both[i]]
            body = np.array([xy[a][i] for i in range(11, 33) if ok[a][i]])
            if not moved:
                continue
            size = np.hypot(*(body.max(0) - body.min(0)))
            out[b] = np.median(moved) > MOTION * size
    return out


@pytest.mark.parametrize(("name", "num_poses"), CLIPS)
def test_settling_frames_are_nan_and_flagged(track_clip, name, num_poses):
    """A track's first frames while MediaPipe settles on the person: the frames the plain
    reference finds settling have every angle NaN and flagged ``settling``, in batches of 16 or
    5 frames alike; every other value is the measurer's without the rule. On sports2d_demo (a
    walker appearing, the athlete's track lost and found) the rule finds such frames and takes
    angle jumps away; on the squats at 5 fps (fast real motion from the first frame) none."""
    clip = track_clip(name, num_poses)
    w, h = clip.info.width, clip.info.height
    m = measure(clip.poses, w, h, clip.batches)
    every = measure(clip.poses, w, h, clip.batches, settling_frames=0)
    fives = [b.take(slice(i, i + 5)) for b in clip.batches for i in range(0, len(b), 5)]
    np.testing.assert_array_equal(measure(clip.poses, w, h, fives).settling, m.settling)
    n = len(ANGLES_2D) + len(ANGLES_3D)
    expected = settling_reference(clip.poses, w, h)
    np.testing.assert_array_equal(m.settling[..., :n], np.repeat(expected[..., None], n, -1))
    assert not m.settling[..., n:].any() and not every.settling.any()
    assert np.isnan(m.values[m.settling]).all()
    np.testing.assert_array_equal(m.values[~m.settling], every.values[~m.settling])
    share = expected[clip.poses.ids >= 0].mean()
    assert share < 0.04, share  # 2026-12-07: <= 2.7%
    if name == "sports2d_demo.mp4":
        assert expected.any()
        assert jumps(m)[0] < jumps(every)[0], (jumps(m)[2], jumps(every)[2])
    if name == "pose_squats.mp4":
        assert not expected.any()


def test_settling_rejects_bad_settings():
    with pytest.raises(ValueError, match="frames: expected >= 0, got -1"):
        TrackSettling(-1)
    with pytest.raises(ValueError, match=r"motion: expected > 0 \(a share of the person's size"):
        TrackSettling(motion=0.0)


def test_foreshortening_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"threshold: expected 0 <= threshold < 1, got 1\.5"):
        TrackForeshortening(1.5)
    with pytest.raises(ValueError, match="window: expected >= 1 frame, got 0"):
        TrackForeshortening(window=0)


def test_squat_flexion_is_kept(track_clip):
    """Real fast motion stays: pose_squats at 5 fps bends the knees ~90 degrees in 2-3 frames
    (> 100 degrees/s); the knee's range over the clip stays that of a deep squat."""
    clip = track_clip("pose_squats.mp4", 1)
    m = measure(clip.poses, clip.info.width, clip.info.height, clip.batches)
    knee = m.column("right knee 3d")[:, 0]
    assert np.nanmax(knee) - np.nanmin(knee) > 80
    assert np.nanmax(np.abs(np.diff(knee))) * 5 > 100  # degrees per second at 5 fps


def test_side_is_stable(track_clip):
    """The side each track is measured from changes at most twice on sports2d_demo (the walker
    never; the athlete turns), where Sports2D's frame-by-frame choice changes many times."""
    clip = track_clip("sports2d_demo.mp4", 2)
    m = measure(clip.poses, clip.info.width, clip.info.height, clip.batches)
    frame_by_frame = measure_sides(clip, TrackSides(margin=0.0, confirm=1))
    for track in np.unique(m.track_ids[m.track_ids >= 0]).tolist():
        rows, slots = np.nonzero(m.track_ids == track)
        if len(rows) < 30:
            continue
        side = m.side[rows, slots]
        assert set(np.unique(side).tolist()) <= {-1, 1}
        changes = int((np.diff(side) != 0).sum())
        flicker = int((np.diff(frame_by_frame[rows, slots]) != 0).sum())
        assert changes <= 2, (track, changes)
        assert flicker >= changes, (track, flicker, changes)
    assert int((np.diff(frame_by_frame[:, 0]) != 0).sum()) > 4, "expected Sports2D's flicker"


def measure_sides(clip, sides: TrackSides) -> np.ndarray:
    measurer = Measurer(clip.info.width, clip.info.height)
    measurer.sides = sides
    return np.concatenate([measurer(b).side for b in clip.batches])


# --- clips of our own making --------------------------------------------------------------------


@pytest.fixture(scope="session")
def mirrored_clip(tmp_path_factory) -> Path:
    return mirrored(data_file("sports2d_demo.mp4"), tmp_path_factory.mktemp("mirrored") / "m.mp4")


def smoothed(run) -> list[PoseBatch]:
    """An unsmoothed run's batches smoothed as the tracker smooths them by default."""
    from fastpose.options import SmoothingOptions
    from fastpose.tracker import _PoseSmoother

    smooth = _PoseSmoother(SmoothingOptions())
    return [smooth(b) for b in run.batches]


@pytest.mark.e2e
@pytest.mark.parametrize("which", ["sports2d_demo", "mirrored"])
def test_side_views_of_one_person(mirrored_clip, which):
    """sports2d_demo and its mirror image tracked for one person (one landmarker, no masks,
    smoothing after): on the labels as corrected, the crossing test fires at most once on each
    (before the correction: 11 and 4 times) and the correction, run again, finds nothing more;
    the angle jumps of the smoothed output stay <= 2 per 1000 on sports2d_demo (0.2; the
    mirror's: test_mirrored_jumps). On the mirror the athlete, facing the camera in frames
    13-99, keeps his shoulders and elbows the right way round in at least 70% of them
    (MediaPipe's own labels: 89%; a look-ahead flipping chains traded in most of a track's first
    second but not at its end: 23%)."""
    clip = data_file("sports2d_demo.mp4") if which == "sports2d_demo" else mirrored_clip
    run = tracked(clip, segment=False, workers=1, smooth=False)
    poses, info = run.poses, run.info
    found = crossings(poses, info.width, info.height)
    assert len(found) <= 1, (clip.name, found)
    _, again = correct(poses, info.width / info.height, info.fps, "numpy")
    assert sum(again.fired.values()) == 0, again.fired
    if which == "mirrored":  # the athlete facing the camera: his sides kept in most frames
        shares = facing_the_wrong_way(poses)  # 2026-12-07: shoulders 23%, elbows 2%
        assert all(share <= 0.3 for share in shares.values()), shares
    if which == "sports2d_demo":
        batches = smoothed(run)
        m = measure(PoseBatch.concat(batches), info.width, info.height, batches)
        count, pairs, found = jumps(m)
        assert count <= 2 * pairs / 1000, (count, pairs, found)


@pytest.mark.e2e
@pytest.mark.parametrize("num_poses", [1, 2])
def test_mirrored_jumps(mirrored_clip, num_poses):
    """The mirror of sports2d_demo, for 1 and 2 people (one landmarker, no masks, smoothed as
    the tracker smooths): the angle jumps <= 2 per 1000 (2026-12-07: 1.9 and 0.9; 1.7 with 1
    person before the test against the frame two back, its jumps in the athlete's first frames
    17-23 either way; with 2 people 3.1 without the settling rule, the walker's first frames
    69-71)."""
    run = tracked(mirrored_clip, segment=False, workers=1, smooth=False, num_poses=num_poses)
    batches = smoothed(run)
    m = measure(PoseBatch.concat(batches), run.info.width, run.info.height, batches)
    count, pairs, found = jumps(m)
    assert count <= 2 * pairs / 1000, (count, pairs, found)

"""Angles and speeds on real clips: Pose2Sim's 2D definitions recomputed by hand from the exported
landmark table, 3D knee flexion against MediaPipe's reference world landmarks, speeds against a
plain polynomial fit, batch independence, NaN where points are missing; the tidy table sink and
the Rerun series read back."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import data_file, read_rrd

from fastpose.measures import MeasureBatch, Measurer, angles2d, angles3d
from fastpose.measures.speeds import TrackSpeeds
from fastpose.poses import PoseBatch
from fastpose.sinks.base import SinkContext, Tracked
from fastpose.sinks.landmarks import table as landmark_table

CLIPS = [("pose_squats.mp4", 1), ("sports2d_demo.mp4", 2), ("pose2sim_single_cam01.mp4", 1)]

# Pose2Sim's angle_dict (common.py), as its documentation states it: points, offset, scale; the
# left wrist in the right wrist's order. Points are MediaPipe landmarks or the mean of two.
P2S = {
    "right ankle": (["RKnee", "RAnkle", "RBigToe", "RHeel"], 90, 1),
    "left ankle": (["LKnee", "LAnkle", "LBigToe", "LHeel"], 90, 1),
    "right knee": (["RAnkle", "RKnee", "RHip"], -180, 1),
    "left knee": (["LAnkle", "LKnee", "LHip"], -180, 1),
    "right hip": (["RKnee", "RHip", "Hip", "Neck"], 0, -1),
    "left hip": (["LKnee", "LHip", "Hip", "Neck"], 0, -1),
    "right shoulder": (["RElbow", "RShoulder", "Hip", "Neck"], 0, -1),
    "left shoulder": (["LElbow", "LShoulder", "Hip", "Neck"], 0, -1),
    "right elbow": (["RWrist", "RElbow", "RShoulder"], 180, -1),
    "left elbow": (["LWrist", "LElbow", "LShoulder"], 180, -1),
    "right wrist": (["RElbow", "RWrist", "RIndex"], -180, 1),
    "left wrist": (["LElbow", "LWrist", "LIndex"], -180, 1),
    "right foot": (["RBigToe", "RHeel"], 0, -1),
    "left foot": (["LBigToe", "LHeel"], 0, -1),
    "right shank": (["RAnkle", "RKnee"], 0, -1),
    "left shank": (["LAnkle", "LKnee"], 0, -1),
    "right thigh": (["RKnee", "RHip"], 0, -1),
    "left thigh": (["LKnee", "LHip"], 0, -1),
    "pelvis": (["LHip", "RHip"], 0, -1),
    "trunk": (["Neck", "Hip"], 0, -1),
    "shoulders": (["LShoulder", "RShoulder"], 0, -1),
    "head": (["Head", "Neck"], 0, -1),
    "right arm": (["RElbow", "RShoulder"], 0, -1),
    "left arm": (["LElbow", "LShoulder"], 0, -1),
    "right forearm": (["RWrist", "RElbow"], 0, -1),
    "left forearm": (["LWrist", "LElbow"], 0, -1),
    "right hand": (["RIndex", "RWrist"], 0, -1),
    "left hand": (["LIndex", "LWrist"], 0, -1),
}
SIDE = {"R": "right", "L": "left"}
PARTS = {
    "Ankle": "ankle",
    "Knee": "knee",
    "Hip": "hip",
    "Shoulder": "shoulder",
    "Elbow": "elbow",
    "Wrist": "wrist",
    "Index": "index",
    "Heel": "heel",
    "BigToe": "foot_index",
}
MIDS = {"Hip": "hip", "Neck": "shoulder", "Head": "ear"}


def ref_point(lms: dict[str, tuple[float, float, float]], name: str) -> tuple[float, float] | None:
    """Pose2Sim's point ``name`` from one person's landmarks {name: (x_px, y_px, visibility)}."""
    names = (
        [f"left_{MIDS[name]}", f"right_{MIDS[name]}"]
        if name in MIDS
        else [f"{SIDE[name[0]]}_{PARTS[name[1:]]}"]
    )
    if any(lms[n][2] < 0.5 for n in names):
        return None
    return (
        sum(lms[n][0] for n in names) / len(names),
        sum(lms[n][1] for n in names) / len(names),
    )


def ref_angles(
    lms: dict[str, tuple[float, float, float]], side: int | None = None
) -> dict[str, float]:
    """Sports2D's angles of one person in one frame, written from Pose2Sim's definitions; seen
    from ``side`` (-1: the left, x flipped; 1: the right), or where the feet point (Sports2D's
    ``auto``, frame by frame)."""
    pts = {n: ref_point(lms, n) for defs in P2S.values() for n in defs[0]}
    lead = 0.0
    for toe, heel in (("LBigToe", "LHeel"), ("RBigToe", "RHeel")):
        if pts[toe] and pts[heel]:
            lead += pts[toe][0] - pts[heel][0]
    sign_x = -1.0 if lead < 0 else 1.0  # feet pointing left: seen from the left, x flipped
    if side is not None:
        sign_x = float(side)
    out = {}
    for name, (points, offset, scale) in P2S.items():
        if any(pts[p] is None for p in points):
            out[name] = math.nan
            continue
        q = [(sign_x * pts[p][0], pts[p][1]) for p in points]
        if len(q) == 2:
            ang = math.degrees(math.atan2(q[0][1] - q[1][1], q[0][0] - q[1][0]))
        else:
            if len(q) == 3:
                u = (q[0][0] - q[1][0], q[0][1] - q[1][1])
                v = (q[2][0] - q[1][0], q[2][1] - q[1][1])
            else:
                u = (q[1][0] - q[0][0], q[1][1] - q[0][1])
                v = (q[3][0] - q[2][0], q[3][1] - q[2][1])
            ang = -math.degrees(math.atan2(u[0] * v[1] - u[1] * v[0], u[0] * v[0] + u[1] * v[1]))
        ang = (ang + offset) * scale
        half = 90 if name in ("pelvis", "shoulders") else 180
        out[name] = (ang + half) % (2 * half) - half
    return out


def measure_all(clip, measurer: Measurer) -> MeasureBatch:
    batches = [measurer(b) for b in clip.batches]
    return MeasureBatch(
        np.concatenate([b.frame_idx for b in batches]),
        np.concatenate([b.time_s for b in batches]),
        np.concatenate([b.track_ids for b in batches]),
        batches[0].names,
        batches[0].units,
        np.concatenate([b.values for b in batches]),
        np.concatenate([b.side for b in batches]),
        np.concatenate([b.replaced for b in batches]),
        np.concatenate([b.foreshortened for b in batches]),
        np.concatenate([b.settling for b in batches]),
    )


@pytest.mark.parametrize(("name", "num_poses"), CLIPS)
def test_2d_angles_equal_pose2sim_definitions_on_exported_landmarks(track_clip, name, num_poses):
    clip = track_clip(name, num_poses)
    w, h = clip.info.width, clip.info.height
    # every frame, settling ones included (their blanking: tests/test_swaps.py)
    measures = measure_all(clip, Measurer(w, h, settling_frames=0))
    rows = landmark_table(clip.poses, w, h).to_pydict()
    persons: dict[tuple[int, int], dict] = defaultdict(dict)
    for f, p, lm, x, y, vis in zip(
        rows["frame_idx"], rows["person"], rows["landmark"], rows["x_px"], rows["y_px"],
        rows["visibility"], strict=True,
    ):  # fmt: skip
        persons[(f, p)][lm] = (x, y, vis)
    frame_row = {int(f): i for i, f in enumerate(measures.frame_idx)}
    compared = flipped = blanked = 0
    for (f, p), lms in persons.items():
        slot = int(np.flatnonzero(measures.track_ids[frame_row[f]] == p)[0])
        side = int(measures.side[frame_row[f], slot])
        assert side in (-1, 1), (name, f, p, side)
        ref = ref_angles(lms, side)  # the side the measures say they were measured from
        flipped += side == -1
        for angle, expected in ref.items():
            got = measures.values[frame_row[f], slot, measures.index(angle)]
            if measures.foreshortened[frame_row[f], slot, measures.index(angle)]:
                assert math.isnan(got), (name, f, p, angle, got)  # not measurable: NaN
                blanked += 1
                continue
            if math.isnan(expected):
                assert math.isnan(got), (name, f, p, angle, got)
                continue
            diff = (got - expected + 180) % 360 - 180
            assert abs(diff) <= 0.1, (name, f, p, angle, got, expected)
            compared += 1
    assert compared + blanked > 0.8 * len(persons) * len(P2S), f"too few angles on {name}"
    assert blanked < 0.06 * len(persons) * len(P2S), (name, blanked)
    if name == "sports2d_demo.mp4":
        assert flipped > 0, "expected someone seen from the left on sports2d_demo"


def test_squats_knee_flexion_3d_follows_mediapipe_reference(track_clip):
    clip = track_clip("pose_squats.mp4", 1)
    measures = measure_all(clip, Measurer(clip.info.width, clip.info.height))
    world = np.array(json.loads(data_file("pose_squats_3d.full.json").read_text()), np.float64)
    reference = angles3d.angles_python(world, np.ones(world.shape[:2], bool))
    assert len(reference) == len(measures) == 65
    for side in ("right", "left"):
        ours = measures.column(f"{side} knee 3d")[:, 0]
        theirs = reference[:, angles3d.NAMES.index(f"{side} knee 3d")]
        assert np.isfinite(ours).sum() >= 60
        assert np.nanmedian(np.abs(ours - theirs)) <= 10
        ours_range = np.nanmax(ours) - np.nanmin(ours)
        assert ours_range > 60, "the squats bend the knees"
        assert abs(ours_range - (np.nanmax(theirs) - np.nanmin(theirs))) <= 15
        assert ours[0] < 25, "frame 0: standing"
    # and the 2D knee flexion bends with it
    assert np.nanmax(measures.column("right knee")[:, 0]) > 60


#: MediaPipe's landmark indices of the left side (the right one's are one more).
LEFT = {"shoulder": 11, "elbow": 13, "wrist": 15, "hip": 23, "knee": 25, "ankle": 27,
        "heel": 29, "toe": 31}  # fmt: skip


def flexion(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Degrees between the vectors ``u`` and ``v`` (N, 3), 0 when they point the same way."""
    cos = np.einsum("nd,nd->n", u, v) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def reference_3d(world: np.ndarray, seen: np.ndarray) -> dict[str, np.ndarray]:
    """The 3D flexions of one person's world landmarks (N, 33, 3), written out from the segments
    Pose2Sim's angles join (knee: hip-knee-ankle, hip: trunk and thigh, shoulder: trunk and arm,
    elbow: arm and forearm, ankle: shank and foot from square, trunk: from vertical); ``seen``
    (N, 33) the landmarks that count (the rest make NaN)."""
    w = np.where(seen[..., None], world.astype(np.float64), np.nan)
    neck, mid_hip = (w[:, 11] + w[:, 12]) / 2, (w[:, 23] + w[:, 24]) / 2
    out = {}
    for side, extra in (("left", 0), ("right", 1)):
        j = {k: w[:, i + extra] for k, i in LEFT.items()}
        out[f"{side} knee 3d"] = flexion(j["knee"] - j["hip"], j["ankle"] - j["knee"])
        out[f"{side} hip 3d"] = flexion(mid_hip - neck, j["knee"] - j["hip"])
        out[f"{side} shoulder 3d"] = flexion(mid_hip - neck, j["elbow"] - j["shoulder"])
        out[f"{side} elbow 3d"] = flexion(j["elbow"] - j["shoulder"], j["wrist"] - j["elbow"])
        out[f"{side} ankle 3d"] = 90 - flexion(j["ankle"] - j["knee"], j["toe"] - j["heel"])
    up = np.broadcast_to([0.0, -1.0, 0.0], neck.shape)  # MediaPipe's world y points down
    out["trunk 3d"] = flexion(neck - mid_hip, up)
    return out


@pytest.mark.parametrize(("name", "num_poses"), CLIPS[:2])
def test_3d_angles_equal_an_independent_reference(track_clip, name, num_poses):
    """Every 3D angle of every tracked person, frame by frame, equals the flexion written out
    here from MediaPipe's landmark indices (so an angle taken on the wrong side, joint or segment
    fails), NaN where a landmark it needs is not visible (< 0.5)."""
    clip = track_clip(name, num_poses)
    poses = clip.poses
    # every value, broken world bones and settling frames included (tests/test_swaps.py)
    measurer = Measurer(clip.info.width, clip.info.height, foreshortened_3d=0, settling_frames=0)
    measures = measure_all(clip, measurer)
    names_3d = [n for n in measures.names if n.endswith(" 3d")]
    compared = 0
    for track in np.unique(poses.ids[poses.ids >= 0]):
        rows, slots = np.nonzero(poses.ids == track)
        lm = poses.landmarks[rows, slots]
        seen = np.isfinite(lm[..., :2]).all(axis=-1) & (lm[..., 3] >= 0.5)
        reference = reference_3d(poses.world[rows, slots], seen)
        assert sorted(reference) == sorted(names_3d)
        for angle, expected in reference.items():
            got = measures.values[rows, slots, measures.index(angle)]
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=angle)
            np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=(name, track, angle))
            compared += np.isfinite(expected).sum()
        if len(rows) > 30:  # the sides differ: a swap would show
            for joint in ("knee", "hip", "elbow"):
                diff = reference[f"right {joint} 3d"] - reference[f"left {joint} 3d"]
                assert np.nanmax(np.abs(diff)) > 3, (name, track, joint)
    assert compared > 0.5 * len(poses) * len(names_3d)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize(("name", "num_poses"), CLIPS[:2])
def test_kernels_equal_the_plain_python_reference(track_clip, name, num_poses, dims):
    clip = track_clip(name, num_poses)
    poses = clip.poses
    lm = poses.landmarks.reshape(-1, 33, 5)
    ok = lm[..., 3] >= 0.5
    if dims == "2d":
        coords = lm[..., :2].astype(np.float64) * [clip.info.width, clip.info.height]
        kernels = angles2d.KERNELS
    else:
        coords = poses.world.reshape(-1, 33, 3).astype(np.float64)
        kernels = angles3d.KERNELS
    reference = kernels["python"](coords, ok)
    assert np.isfinite(reference).mean() > 0.3
    for impl, kernel in kernels.items():
        got = kernel(coords, ok)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(reference), err_msg=impl)
        diff = np.nan_to_num(got - reference)
        if dims == "2d":  # a value at the wrap may come out at either end
            diff = (diff + 180) % 360 - 180
        assert np.abs(diff).max() < 1e-9, impl


def test_missing_or_unseen_points_give_nan_not_numbers(track_clip):
    clip = track_clip("pose_squats.mp4", 1)
    poses = clip.batches[0]
    lm = poses.landmarks.copy()
    lm[2, 0, 26, 3] = 0.1  # right knee barely visible in frame 2
    lm[3, 0, 26, :2] = np.nan  # and missing in frame 3
    measurer = Measurer(clip.info.width, clip.info.height)
    got = measurer(replace(poses, landmarks=lm))
    clean = Measurer(clip.info.width, clip.info.height)(poses)
    needs_knee = {
        "right knee", "right hip", "right ankle", "right shank", "right thigh", "right knee 3d",
        "right hip 3d", "right ankle 3d",
    }  # fmt: skip
    for m, name in enumerate(got.names):
        for f in (2, 3):
            if name in needs_knee:
                assert np.isnan(got.values[f, 0, m]), (f, name)
            elif got.units[m] == "deg":
                np.testing.assert_equal(got.values[f, 0, m], clean.values[f, 0, m], err_msg=name)
    # an empty slot is NaN throughout
    two = track_clip("sports2d_demo.mp4", 2).poses
    m2 = Measurer(1768, 994)(two)
    assert np.isnan(m2.values[two.ids < 0]).all()
    assert (m2.track_ids == two.ids).all()


def test_batches_give_what_one_batch_gives(track_clip):
    clip = track_clip("sports2d_demo.mp4", 2)
    w, h = clip.info.width, clip.info.height
    whole = Measurer(w, h, height_m=1.75)(clip.poses)
    poses, parts, measurer = clip.poses, [], Measurer(w, h, height_m=1.75)
    for start in range(0, len(poses), 7):
        parts.append(measurer(poses.take(slice(start, start + 7))).values)
    np.testing.assert_allclose(np.concatenate(parts), whole.values, rtol=1e-9, atol=1e-9)


def reference_speed(t: np.ndarray, x: np.ndarray, i: int) -> float:
    """The speed at sample i: np.polyfit's slope over the same window as TrackSpeeds'."""
    chosen = [
        s
        for s in range(max(0, i - 15), i + 1)
        if (t[i] - t[s] <= 0.25 or i - s < 3) and t[i] - t[s] <= 1.0 and np.isfinite(x[s]).all()
    ]
    if len(chosen) < 3 or not np.isfinite(x[i]).all():
        return math.nan
    vx = np.polyfit(t[chosen], x[chosen, 0], 1)[0]
    vy = np.polyfit(t[chosen], x[chosen, 1], 1)[0]
    return math.hypot(vx, vy)


def test_speeds_are_smoothed_slopes(track_clip):
    clip = track_clip("pose2sim_single_cam01.mp4", 1)  # 60 fps
    poses = clip.poses
    w, h = clip.info.width, clip.info.height
    measures = measure_all(clip, Measurer(w, h))
    px = poses.landmarks[:, 0, :, :2].astype(np.float64) * [w, h]
    hip = (px[:, 23] + px[:, 24]) / 2
    hip[(poses.landmarks[:, 0, [23, 24], 3] < 0.5).any(axis=1)] = np.nan
    ours = measures.column("hips speed")[:, 0]
    ref = np.array([reference_speed(poses.time_s, hip, i) for i in range(len(hip))])
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)
    assert np.isfinite(ours).sum() > 80
    raw = np.hypot(*np.diff(hip, axis=0).T) / np.diff(poses.time_s)
    jitter = lambda s: np.nanmedian(np.abs(np.diff(s, 2)))  # noqa: E731  (motion cancels out)
    assert jitter(ours) < jitter(raw) / 3, "the slope smooths the frame-to-frame noise"
    # m/s from the height: the scale is the body's pixel height over the given height
    metric = measure_all(clip, Measurer(w, h, height_m=1.8))
    ms = metric.column("hips speed", "m/s")[:, 0]
    ratio = metric.column("hips speed", "px/s")[:, 0] / ms
    top = np.nanmin(poses.landmarks[:, 0, :, 1] * h, axis=1)
    bottom = np.nanmax(poses.landmarks[:, 0, :, 1] * h, axis=1)
    assert 0.7 < np.nanmedian(ratio * 1.8 / (bottom - top)) < 1.4


def test_track_speeds_rejects_bad_windows():
    with pytest.raises(ValueError, match="expected > 0"):
        TrackSpeeds(0)


def test_measure_batch_validates():
    ok = dict(
        frame_idx=np.arange(2, dtype=np.int64),
        time_s=np.zeros(2),
        track_ids=np.zeros((2, 1), np.int32),
        names=("a", "a"),
        units=("px/s", "m/s"),
        values=np.zeros((2, 1, 2)),
    )
    MeasureBatch(**ok)
    with pytest.raises(ValueError, match=r"values: expected shape \(2, 1, 2\)"):
        MeasureBatch(**{**ok, "values": np.zeros((2, 1, 3))})
    with pytest.raises(ValueError, match="units: expected one of"):
        MeasureBatch(**{**ok, "units": ("px/s", "furlongs")})
    with pytest.raises(ValueError, match=r"names: expected each \(name, unit\) once"):
        MeasureBatch(**{**ok, "units": ("px/s", "px/s")})
    with pytest.raises(ValueError, match="track_ids: expected int32"):
        MeasureBatch(**{**ok, "track_ids": np.zeros((2, 1), np.int64)})


class Staging:
    """Hands out working paths in a folder, recording what it handed out."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.claimed = folder, {}

    def claim(self, final: Path) -> Path:
        working = self.folder / f"{final.stem}.partial{final.suffix}"
        working.touch()
        self.claimed[Path(final).name] = working
        return working


def run_sink(sink, clip, folder: Path, measurer: Measurer | None = None, drop=None):
    """Drive ``sink`` as the pipeline does over a tracked clip; ``drop(poses)`` may blank frames."""
    staging = Staging(folder)
    context = SinkContext(
        clip.info, clip.decode_size, clip.batches[0].max_persons, {"model": "full", "fps": "30"}
    )
    measurer = measurer or Measurer(clip.info.width, clip.info.height)
    sink.open(context, staging)
    for poses in clip.batches:
        poses = drop(poses) if drop else poses
        sink.write(Tracked(poses=poses, measures=measurer(poses) if sink.wants_measures else None))
    sink.close(complete=True)
    return staging


def blank(frames: range):
    """A ``drop`` that removes the person of slot 0 in ``frames``."""

    def drop(poses: PoseBatch) -> PoseBatch:
        gone = np.isin(poses.frame_idx, list(frames))
        if not gone.any():
            return poses
        lm, world, ids = poses.landmarks.copy(), poses.world.copy(), poses.track_ids.copy()
        lm[gone, 0], world[gone, 0], ids[gone, 0] = np.nan, np.nan, -1
        return replace(poses, landmarks=lm, world=world, track_ids=ids)

    return drop


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_tidy_table_rows_per_frame_track_measure(track_clip, tmp_path, suffix):
    from fastpose.sinks.angles import angles_sink

    clip = track_clip("pose_squats.mp4", 1)
    # the person vanishes for 5 frames (filled) and for 12 (left NaN)
    drop = blank(range(20, 25))
    drop2 = blank(range(40, 52))
    sink = angles_sink(tmp_path / f"angles{suffix}")
    staging = run_sink(sink, clip, tmp_path, drop=lambda p: drop2(drop(p)))
    path = staging.claimed[f"angles{suffix}"]
    if suffix == ".parquet":
        table = pq.read_table(path)
        assert table.schema.metadata[b"fastpose.model"] == b"full"
    else:
        table = pacsv.read_csv(path)
    assert table.column_names == [
        "frame_idx", "time_s", "person", "measure", "value", "unit", "interpolated", "side",
        "replaced", "foreshortened", "settling",
    ]  # fmt: skip
    measures = Measurer(clip.info.width, clip.info.height).names
    assert table.num_rows == 65 * len(measures), "every frame x measure, NaN included"
    frames = table.column("frame_idx").to_numpy()
    knee = table.filter(pc.equal(table.column("measure").cast(pa.string()), "right knee"))
    kf, kv = knee.column("frame_idx").to_numpy(), knee.column("value").to_numpy()
    interp = knee.column("interpolated").to_numpy(zero_copy_only=False)
    order = np.argsort(kf)
    kf, kv, interp = kf[order], kv[order], interp[order]
    assert (kf == np.arange(65)).all()
    assert interp[20:25].all() and np.isfinite(kv[20:25]).all()
    assert not interp[40:52].any() and np.isnan(kv[40:52]).all()
    assert not interp[:20].any() and not interp[25:40].any()
    # interpolated values lie between the values around the gap
    lo, hi = sorted((kv[19], kv[25]))
    assert ((kv[20:25] >= lo - 1e-9) & (kv[20:25] <= hi + 1e-9)).all()
    assert set(np.unique(frames)) == set(range(65))
    units = set(table.column("unit").cast(pa.string()).to_pylist())
    assert units == {"deg", "px/s"}
    # the side on the 2D angles of the frames the person was found in, nowhere else
    side = [v or None for v in knee.column("side").to_pylist()]  # CSV: "" for null
    side = [side[i] for i in order]
    assert set(side[:20] + side[25:40]) <= {"left", "right"} and side[:20] != [None] * 20
    assert side[20:25] == [None] * 5 and side[40:52] == [None] * 12
    # a 2D angle whose segment pointed at the camera: NaN, flagged, never interpolated over
    short = table.column("foreshortened").to_numpy(zero_copy_only=False)
    values = table.column("value").to_numpy()
    filled = table.column("interpolated").to_numpy(zero_copy_only=False)
    assert short.any() and np.isnan(values[short]).all() and not filled[short].any()
    hip3d = table.filter(pc.equal(table.column("measure").cast(pa.string()), "right hip 3d"))
    assert {v or None for v in hip3d.column("side").to_pylist()} == {None}


def test_rerun_series_read_back(track_clip, tmp_path):
    import rerun as rr

    from fastpose.sinks.rerun_measures import log_measure_styles, log_measures, measures_view

    clip = track_clip("sports2d_demo.mp4", 2)
    measurer = Measurer(clip.info.width, clip.info.height, height_m=1.75)
    rec = rr.RecordingStream("fastpose_measures_test")
    path = tmp_path / "measures.rrd"
    rec.save(path)
    seen: set[int] = set()
    last: set[int] = set()
    for poses in clip.batches:
        m = measurer(poses)
        new = set(np.unique(m.track_ids[m.track_ids >= 0]).tolist()) - seen
        if new:
            log_measure_styles(rec, m.names, m.units, sorted(new), single_person=False)
            seen |= new
        last = log_measures(rec, m, single_person=False, previous=last)
    rec.send_blueprint(rr.blueprint.Blueprint(measures_view(sorted(seen))))
    rec.flush()
    rec.disconnect()
    rrd = read_rrd(path)
    track = min(seen)
    angles = f"angles/track_{track}"
    assert "Scalars:scalars" in rrd.temporal[angles]
    assert "SeriesLines:names" in rrd.static[angles]
    assert {"time", "frame_idx"} <= rrd.timelines
    assert f"speeds/track_{track}" in rrd.temporal
    whole = measure_all(clip, Measurer(clip.info.width, clip.info.height))
    col = whole.column("right knee")
    expected = {
        int(f) for f, row, ids in zip(whole.frame_idx, col, whole.track_ids, strict=True)
        if np.isfinite(row[ids == track]).any()
    }  # fmt: skip
    present = (whole.track_ids == track).any(axis=1)
    gone = np.concatenate([[False], present[:-1]]) & ~present
    assert gone.any(), "the clip should have the track leave the frame"
    # rows only in the frames it is in, and a NaN (a break in the plotted line) where it leaves
    assert rrd.frames[angles] <= {int(f) for f in whole.frame_idx[present | gone]}
    from rerun.chunk import RrdReader

    values = {}
    for chunk in RrdReader(path).stream().to_chunks():
        if chunk.entity_path.lstrip("/") != angles:
            continue
        b = chunk.to_record_batch()
        if chunk.is_static:  # the series' names, in order: the knee's place
            names = b.column("SeriesLines:names").to_pylist()[-1]
            continue
        scalars = b.column("Scalars:scalars").to_pylist()
        frames = b.column("frame_idx").to_pylist()
        values.update(zip(frames, scalars, strict=True))
    k = names.index(f"right knee, person {track}")
    values = {f: v[k] for f, v in values.items()}
    assert {f for f, v in values.items() if np.isfinite(v)} == expected
    assert all(np.isnan(values[int(f)]) for f in whole.frame_idx[gone])

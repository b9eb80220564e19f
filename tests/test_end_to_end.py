"""`fastpose run` end to end on real clips: MediaPipe's references, the recording, the export.

Each clip and setting is tracked once per session (``cli_run``, tests/conftest.py): the tests here
read those runs' outputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    data_file,
    read_rrd,
    reference_image_landmarks,
    reference_squats,
    run_cli,
    tracked,
)

from fastpose.skeleton import NUM_LANDMARKS


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


def test_image_matches_mediapipe_reference(cli_run):
    """mediapipe_pose.jpg: every landmark within 0.03 (normalized) of MediaPipe's own output."""
    image = data_file("mediapipe_pose.jpg")
    table = cli_run(image, "--no-smooth", "--inference-size", "0").landmarks()
    got = _pixels(table, 1)[0] / np.array([1000, 667])
    err = np.abs(got - reference_image_landmarks())
    assert err.max() < 0.03, f"worst landmark error {err.max():.4f}"


@pytest.mark.parametrize("inference_size", [0, 640, 960])
def test_squats_match_mediapipe_reference(cli_run, inference_size):
    """pose_squats.mp4 at 30 fps, unsmoothed: every landmark of every frame within 31 px of the
    reference."""
    ref = reference_squats()
    args = ("--fps", "30", "--no-smooth", "--inference-size", str(inference_size))
    table = cli_run(data_file("pose_squats.mp4"), *args).landmarks()
    got = _pixels(table, len(ref))
    assert not np.isnan(got).any(), "a frame without a person"
    err = np.linalg.norm(got - ref[..., :2], axis=-1)
    assert err.max() < 31, (
        f"worst error {err.max():.1f} px (median of per-frame worst {np.median(err.max(1)):.1f})"
    )


def test_recording_layout(cli_run):
    """The .rrd holds the seed's entities, archetypes, timelines and static contexts; one points
    row a frame."""
    run = cli_run(data_file("pose_squats.mp4"), "--fps", "30")
    rec, table = read_rrd(run.rrd), run.landmarks()
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


#: Each clip as the tests below run it: sports2d_demo is their two-person run (one landmarker: the
#: bouncing clip below and the API's runs in test_pipeline and test_identities split it); the
#: portrait clip on 2 landmarkers that really run (ranges of at least 30 frames).
TO_THE_END = {
    "sports2d_demo.mp4": (230, 1, ("--num-poses", "2", "--workers", "1")),
    "pose2sim_single_cam01.mp4": (100, 2, ("--workers", "2", "--min-range-frames", "30")),
}


@pytest.mark.parametrize("clip", sorted(TO_THE_END))
def test_clips_run_to_the_end(cli_run, clip):
    """VP9 1768x994 and portrait 60 fps clips: every frame processed and logged once, people
    found in most."""
    frames, workers, args = TO_THE_END[clip]
    run = cli_run(data_file(clip), *args)
    rec = read_rrd(run.rrd)
    assert f"on {workers} worker(s)" in run.stderr, run.stderr
    assert rec.frames["video"] == set(range(frames)), run.stderr
    assert rec.rows["video"] == frames, "a frame logged twice (a range boundary)"
    assert rec.frames["video/mask"] == set(range(frames))
    with_person = set(run.landmarks().column("frame_idx").to_pylist())
    assert with_person <= set(range(frames)) and len(with_person) > frames * 0.8
    assert f"{frames} frames" in run.stderr


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


# --- several people (issue 12) ---


@pytest.fixture(scope="session")
def two_people(cli_run):
    """``two_people(clip, *args)``: ``fastpose run CLIP --num-poses 2 ARGS`` (once a session, as
    cli_run runs it): the recording, the export and the run's stderr."""

    def run(clip, *args):
        done = cli_run(clip, "--num-poses", "2", *args)
        return done.rrd, done.landmarks(), done.stderr

    return run


def _appearances(table) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """track id -> (time_s, landmark centroid (n, 2), size (n,)) of its frames, in order; size
    is the larger side of the landmarks' box (an upright person's height)."""
    cols = table.to_pydict()
    person = np.asarray(cols["person"])
    xy = np.stack([np.asarray(cols["x_px"]), np.asarray(cols["y_px"])], axis=1)
    frame, time_s = np.asarray(cols["frame_idx"]), np.asarray(cols["time_s"])
    out = {}
    for track in np.unique(person):
        rows = np.flatnonzero(person == track)
        order = np.argsort(frame[rows], kind="stable")
        pts = xy[rows][order].reshape(-1, NUM_LANDMARKS, 2)
        t = time_s[rows][order][::NUM_LANDMARKS]
        out[int(track)] = (t, pts.mean(axis=1), (pts.max(1) - pts.min(1)).max(axis=1))
    return out


#: Heights a second a person re-identified after a loss may have moved (fastpose.identities.reid
#: allows one height plus this much of the gap: the athlete falls 1.1 heights in 0.3 s).
REID_SPEED = 3.0


def _teleports(table) -> list[str]:
    """Where a track's centroid moves more than half the person's height between appearances
    less than 0.25 s apart, or, across a longer gap, more than re-identification allows (one
    height plus REID_SPEED heights a second)."""
    found = []
    for track, (t, center, size) in _appearances(table).items():
        height = np.median(size)
        gap = np.diff(t)
        moved = np.linalg.norm(np.diff(center, axis=0), axis=1)
        limit = np.where(gap < 0.25, 0.5, 1.0 + REID_SPEED * gap) * height
        found += [
            f"track {track} moved {moved[i]:.0f} px in {gap[i]:.2f} s at {t[i + 1]:.2f} s "
            f"(height {height:.0f} px)"
            for i in np.flatnonzero(moved > limit)
        ]
    return found


def test_two_people_keep_their_identities(two_people):
    """sports2d_demo (one person on a box, one walking across): no track teleports, and exactly
    2 ids (the jumper, out of sight after leaving the box, is re-identified on landing)."""
    _, table, _ = two_people(data_file("sports2d_demo.mp4"), "--workers", "1")
    assert _teleports(table) == []
    assert len(_appearances(table)) == 2, sorted(_appearances(table))


def _people(table, num_frames: int) -> list[dict[int, np.ndarray]]:
    """Per frame: track id -> the landmarks' centroid (x, y) in pixels."""
    cols = table.to_pydict()
    frame = np.asarray(cols["frame_idx"])[::NUM_LANDMARKS]
    person = np.asarray(cols["person"])[::NUM_LANDMARKS]
    xy = np.stack([cols["x_px"], cols["y_px"]], axis=1).reshape(-1, NUM_LANDMARKS, 2)
    out: list[dict[int, np.ndarray]] = [{} for _ in range(num_frames)]
    for f, p, points in zip(frame.tolist(), person.tolist(), xy, strict=True):
        out[f][p] = np.nanmean(points, axis=0)
    return out


def _same_people(got, want, min_same: float) -> None:
    """``got`` and ``want`` (from :func:`_people`) count the same people in at least ``min_same``
    of the frames, and their ids match one to one: in every frame where both count the same,
    each of ``got``'s tracks is nearest to the same one of ``want``'s, all along."""
    counts = np.array([[len(g), len(w)] for g, w in zip(got, want, strict=True)])
    same = counts[:, 0] == counts[:, 1]
    assert same.mean() >= min_same, (
        f"the same people count in {same.mean():.1%} of frames; differ at "
        f"{np.flatnonzero(~same)[:20].tolist()}"
    )
    pairs: dict[int, set[int]] = {}
    for g, w in zip(got, want, strict=True):
        if len(g) != len(w):
            continue
        for track, center in g.items():
            nearest = min(w, key=lambda k: float(np.linalg.norm(w[k] - center)))
            pairs.setdefault(track, set()).add(nearest)
    assert all(len(v) == 1 for v in pairs.values()), f"ids mixed up: {pairs}"
    matched = [next(iter(v)) for v in pairs.values()]
    assert len(set(matched)) == len(matched), f"two ids for one person: {pairs}"
    ids = {k for frame in want for k in frame}
    assert len(pairs) == len(ids), f"ids {sorted(pairs)} against {sorted(ids)}"


def _split_run():
    """sports2d_demo at --num-poses 2 on 2 landmarkers through the API (the session's run, which
    test_pipeline and test_identities read too): the run and its landmark table."""
    from fastpose.sinks.landmarks import table

    run = tracked(data_file("sports2d_demo.mp4"), num_poses=2, workers=2)
    assert run.stats.workers == 2, run.stats
    return run, table(run.poses, run.info.width, run.info.height)


def test_two_people_keep_their_identities_across_ranges(two_people):
    """sports2d_demo on 2 landmarkers (the second range restarted mid-video, the walker crossing
    the boundary) against one (`fastpose run`, which gives what the API gives, bit for bit:
    test_pipeline): no teleport; frame by frame the same number of people, with ids that match
    one to one (the range boundary adds, drops or swaps none)."""
    clip = data_file("sports2d_demo.mp4")
    _, table = _split_run()
    assert len(set(table.column("frame_idx").to_pylist())) > 0.8 * 230
    assert _teleports(table) == []
    sequential = two_people(clip, "--workers", "1")[1]
    _same_people(_people(table, 230), _people(sequential, 230), min_same=0.98)


def test_two_person_recording_layout(two_people):
    """Each track at its own entities (2D points and bones, 3D points), one row per frame it is
    in; a class (skeleton, colour) per track; the mask with a class per track."""
    rrd, table, _ = two_people(data_file("sports2d_demo.mp4"), "--workers", "1")
    rec = read_rrd(rrd)
    cols = table.to_pydict()
    frames = {}
    for f, p in zip(cols["frame_idx"], cols["person"], strict=True):
        frames.setdefault(p, set()).add(f)
    assert len(frames) >= 2
    classes = _class_ids(rrd)
    for track, seen in frames.items():
        points2d, points3d = f"video/pose/track_{track}/points", f"person/pose/track_{track}/points"
        bones = f"video/pose/track_{track}/bones"
        cleared = {f + 1 for f in seen} - seen  # a Clear where the track is gone
        for entity in (points2d, points3d, bones):
            assert seen <= rec.frames[entity] <= seen | cleared, entity
        assert any(c.startswith("Points2D:positions") for c in rec.temporal[points2d])
        assert any(c.startswith("Points3D:positions") for c in rec.temporal[points3d])
        assert classes[points2d] == {track + 1}  # the track's own class: skeleton and colour
    assert "video/pose/points" not in rec.temporal  # the one-person path is for one person
    assert any("AnnotationContext" in c for c in rec.static["/"])
    assert any("AnnotationContext" in c for c in rec.static["video/mask"])
    assert any("TextDocument" in c for c in rec.static["description"])
    assert rec.frames["video/mask"] == set(range(230))


def test_masks_hold_a_class_per_track(two_people):
    """In every frame of sports2d_demo, the mask's person classes are those of the tracks the
    export has there (the recording's, on one landmarker)."""
    rrd, table, _ = two_people(data_file("sports2d_demo.mp4"), "--workers", "1")
    masks = _mask_classes(rrd)
    cols = table.to_pydict()
    people: dict[int, set[int]] = {}
    for f, p in zip(cols["frame_idx"], cols["person"], strict=True):
        people.setdefault(f, set()).add(p % 250 + 1)
    wrong = {f: (want, masks.get(f)) for f, want in people.items() if masks.get(f) != want}
    assert not wrong, f"{len(wrong)} frames, e.g. {sorted(wrong.items())[:3]}"


def test_masks_of_ranges_that_waited_keep_a_class_per_person():
    """On 2 landmarkers, whose later ranges wait with their masks packed, every frame's mask
    holds a class for each person found there (the tracker's classes are slots, 1 + the person's
    index in the frame; the recording turns them into track classes, as the test above shows)."""
    run, _ = _split_run()
    poses = run.poses
    assert poses.masks is not None and len(poses.masks) == 230
    wrong = {}
    for f, mask, found in zip(poses.frame_idx, poses.masks, poses.detected, strict=True):
        want = {int(k) + 1 for k in np.flatnonzero(found)}
        got = set(np.unique(mask).tolist()) - {0}
        if got != want:
            wrong[int(f)] = (want, got)
    assert not wrong, f"{len(wrong)} frames, e.g. {sorted(wrong.items())[:3]}"


def _mask_classes(rrd) -> dict[int, set[int]]:
    """frame_idx -> the non-zero classes of the mask logged for it."""
    from rerun.chunk import RrdReader

    out: dict[int, set[int]] = {}
    for chunk in RrdReader(rrd).stream().to_chunks():
        if chunk.is_static or chunk.entity_path.lstrip("/") != "video/mask":
            continue
        batch = chunk.to_record_batch()
        names = [n for n in batch.schema.names if n.startswith("SegmentationImage:buffer")]
        if not names:
            continue
        frames = batch.column("frame_idx").to_pylist()
        for frame, buffer in zip(frames, batch.column(names[0]).to_pylist(), strict=True):
            out[frame] = set(np.unique(np.asarray(buffer[0], np.uint8)).tolist()) - {0}
    return out


def _class_ids(rrd) -> dict[str, set[int]]:
    """entity -> the Points2D class ids logged on it."""
    from rerun.chunk import RrdReader

    out: dict[str, set[int]] = {}
    for chunk in RrdReader(rrd).stream().to_chunks():
        batch = chunk.to_record_batch()
        for name in batch.schema.names:
            if name.startswith("Points2D:class_ids"):
                values = batch.column(name).to_pylist()
                ids = {v for row in values if row for v in row}
                out.setdefault(chunk.entity_path.lstrip("/"), set()).update(ids)
    return out

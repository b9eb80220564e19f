"""What the Rerun recording shows, read back with rerun-sdk's own reader and compared value by
value with the tables the same run wrote: the 2D skeleton at the landmark table's pixels, the 3D
one at its world coordinates (and, with several people, where fastpose.placement stands each),
the joint-angle and speed series equal to the angles table, the TRC markers equal to the world
coordinates, the frames a video stream of every frame, few chunks (a handful per few hundred
frames), and the blueprint the default layout. One `fastpose run` per layout (one person,
several people), shared by every test of the module."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import data_file, run_cli
from rerun.chunk import RrdReader
from rrd_video import decode_stream, stream_samples
from test_opensim import BLAZEPOSE_MARKERS, read_trc

from fastpose.placement import TrackPlacer

#: MediaPipe's landmarks (pose_landmarker's documented order) that the TRC markers are.
MEDIAPIPE = {
    "Nose": 0, "LEye": 2, "REye": 5, "LShoulder": 11, "RShoulder": 12, "LElbow": 13,
    "RElbow": 14, "LWrist": 15, "RWrist": 16, "LHip": 23, "RHip": 24, "LKnee": 25, "RKnee": 26,
    "LAnkle": 27, "RAnkle": 28, "LBigToe": 31, "LHeel": 29, "RBigToe": 32, "RHeel": 30,
    "RThumb": 22, "RPinky": 18, "RIndex": 20, "LThumb": 21, "LPinky": 17, "LIndex": 19,
}  # fmt: skip
#: MediaPipe's POSE_CONNECTIONS (35 bones), as the 2D skeleton's lines join the landmarks.
BONES = {
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
    (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20),
    (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
}  # fmt: skip
MAIN_ANGLES = {"right knee", "left knee", "right hip", "left hip", "right elbow", "left elbow"}


@dataclass
class Run:
    """One `fastpose run`'s outputs: the recording's temporal chunks by entity, its static data
    (entity -> column -> value), its blueprint's chunks, the landmark and angles tables."""

    rrd: Path
    temporal: dict[str, list[pa.RecordBatch]]
    static: dict[str, dict[str, list]]
    blueprint: dict[str, dict[str, list]]  # entity -> column -> value of its (one) row
    landmarks: pa.Table
    angles: pa.Table | None
    trc: Path | None
    width: int
    height: int

    def column(self, entity: str, name: str) -> dict[int, object]:
        """``frame_idx -> value`` of one component column of ``entity``."""
        out: dict[int, object] = {}
        for batch in self.temporal.get(entity, []):
            if name in batch.schema.names:
                frames = batch.column("frame_idx").to_pylist()
                out.update(zip(frames, batch.column(name).to_pylist(), strict=True))
        return out

    def times(self, entity: str) -> dict[int, float]:
        """``frame_idx -> time`` (seconds) of ``entity``'s rows."""
        out: dict[int, float] = {}
        for batch in self.temporal.get(entity, []):
            frames = batch.column("frame_idx").to_pylist()
            nanos = batch.column("time").cast(pa.int64()).to_pylist()
            out.update(zip(frames, (n / 1e9 for n in nanos), strict=True))
        return out


def _read(rrd: Path, export: Path, angles: Path | None, trc: Path | None, clip: str) -> Run:
    reader = RrdReader(rrd)
    temporal: dict[str, list[pa.RecordBatch]] = defaultdict(list)
    static: dict[str, dict[str, list]] = defaultdict(dict)
    for chunk in reader.stream().to_chunks():
        batch = chunk.to_record_batch()
        if not chunk.is_static:
            temporal[chunk.entity_path.lstrip("/")].append(batch)
            continue
        for name in batch.schema.names:
            if ":" in name:
                static[chunk.entity_path.lstrip("/")][name] = batch.column(name).to_pylist()[-1]
    (store,) = reader.blueprints()
    blueprint: dict[str, dict[str, list]] = defaultdict(dict)
    for chunk in reader.stream(store=store).to_chunks():
        batch = chunk.to_record_batch()
        for name in batch.schema.names:
            if ":" in name:
                blueprint[chunk.entity_path.lstrip("/")][name] = batch.column(name).to_pylist()[-1]
    import cv2

    video = cv2.VideoCapture(str(data_file(clip)))
    width, height = (
        int(video.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(video.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    video.release()
    return Run(
        rrd,
        dict(temporal),
        dict(static),
        dict(blueprint),
        pq.read_table(export),
        pq.read_table(angles) if angles else None,
        trc,
        width,
        height,
    )


@pytest.fixture(scope="module")
def one_person(tmp_path_factory) -> Run:
    """`fastpose run pose_squats.mp4` (65 frames, one person) writing a recording (its frames as
    a video stream), the landmark and angles tables and a TRC at once."""
    out = tmp_path_factory.mktemp("squats")
    rrd, export, angles, trc = (
        out / n for n in ("s.rrd", "s.parquet", "s.angles.parquet", "s.trc")
    )
    done = run_cli(
        "run", data_file("pose_squats.mp4"), "--save", rrd, "--export", export,
        "--angles", angles, "--trc", trc, "--video-mode", "stream", "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return _read(rrd, export, angles, trc, "pose_squats.mp4")


@pytest.fixture(scope="module")
def two_people(tmp_path_factory) -> Run:
    """`fastpose run sports2d_demo.mp4 --num-poses 2`, its first 80 frames (a second person
    from frame ~59 on; no masks, 1 s less), writing a recording and the landmark table."""
    out = tmp_path_factory.mktemp("demo")
    rrd, export = out / "d.rrd", out / "d.parquet"
    done = run_cli(
        "run", data_file("sports2d_demo.mp4"), "--num-poses", "2", "--max-frames", "80",
        "--no-segment", "--save", rrd, "--export", export, "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return _read(rrd, export, None, None, "sports2d_demo.mp4")


def _landmarks(table: pa.Table, person: int) -> dict[int, np.ndarray]:
    """``frame_idx -> (33, 6)`` x_px, y_px, world_x, world_y, world_z, visibility of one person
    of the landmark table, in landmark order."""
    t = table.filter(pc.equal(table.column("person"), person))
    codes = t.column("landmark").combine_chunks().indices.to_numpy()
    cols = ["x_px", "y_px", "world_x", "world_y", "world_z", "visibility"]
    values = np.stack([t.column(c).to_numpy() for c in cols], axis=1)
    frames = t.column("frame_idx").to_numpy()
    out = {}
    for f in np.unique(frames):
        rows = np.flatnonzero(frames == f)
        assert sorted(codes[rows]) == list(range(33)), f"frame {f}: 33 landmarks"
        out[int(f)] = values[rows[np.argsort(codes[rows])]]
    return out


def _table_times(run: Run) -> dict[int, float]:
    """``frame_idx -> time_s`` of the landmark table."""
    frames, times = (run.landmarks.column(c).to_pylist() for c in ("frame_idx", "time_s"))
    return dict(zip(frames, times, strict=True))


def _check_skeleton(run: Run, person: int, points2d: str, bones: str, points3d: str) -> None:
    """The recording's 2D points, bones and 3D points of one person, frame by frame, against the
    landmark table's pixels and world coordinates (same frames, same values, same order)."""
    table = _landmarks(run.landmarks, person)
    assert len(table) > 20
    positions = run.column(points2d, "Points2D:positions")
    keypoints = run.column(points2d, "Points2D:keypoint_ids")
    strips = run.column(bones, "LineStrips2D:strips")
    world = run.column(points3d, "Points3D:positions")
    assert set(positions) == set(strips) == set(world) == set(table), "the frames with a person"
    times = run.times(points2d)
    table_times = _table_times(run)
    for f, expected in table.items():
        assert keypoints[f] == list(range(33))
        xy = np.array(positions[f], np.float64)
        np.testing.assert_allclose(xy, expected[:, :2], atol=1e-3, err_msg=f"2D, frame {f}")
        lines = {tuple(map(tuple, s)) for s in strips[f]}
        joined = {(tuple(xy[a]), tuple(xy[b])) for a, b in BONES}
        assert lines == joined, f"bones, frame {f}"
        xyz = np.array(world[f], np.float64)
        np.testing.assert_allclose(xyz, expected[:, 2:5], atol=1e-6, err_msg=f"3D, frame {f}")
        assert times[f] == pytest.approx(table_times[f], abs=1e-6)


def run_person(run: Run) -> int:
    """The one person's id in the landmark table."""
    (person,) = set(run.landmarks.column("person").to_pylist())
    return person


def test_the_2d_and_3d_skeletons_are_the_landmark_tables(one_person):
    """One person: `video/pose/points` at the table's pixels (x, y in that order), the bones
    joining them, `person/pose/points` at the table's world metres, on the same frames and
    times; no translation moves the one person's 3D skeleton."""
    run = one_person
    _check_skeleton(
        run, run_person(run), "video/pose/points", "video/pose/bones", "person/pose/points"
    )
    xy = np.array(list(run.column("video/pose/points", "Points2D:positions").values()))
    assert run.width < run.height and xy[..., 0].max() < run.width < xy[..., 1].max(), (
        "a portrait video: x within its width, y beyond it (the feet)"
    )
    assert "person/pose" not in run.temporal


def test_several_people_each_drawn_at_their_rows_and_placed(two_people):
    """Several people: each track's 2D points, bones and 3D points at its own entities equal the
    table's rows of that person; its id label at its nose; its 3D skeleton translated where
    fastpose.placement (smoothed per track) puts it from the table's pixels and world metres."""
    run = two_people
    people = sorted(set(run.landmarks.column("person").to_pylist()))
    assert people == [0, 1], people
    tables = {p: _landmarks(run.landmarks, p) for p in people}
    frames = sorted(set().union(*tables.values()))
    t_of = _table_times(run)
    pixels = np.full((len(frames), len(people), 33, 2), np.nan, np.float32)
    world = np.zeros((len(frames), len(people), 33, 3), np.float32)
    ids = np.full((len(frames), len(people)), -1, np.int32)
    for p in people:
        video, body = f"video/pose/track_{p}", f"person/pose/track_{p}"
        _check_skeleton(run, p, f"{video}/points", f"{video}/bones", f"{body}/points")
        labels = run.column(f"{video}/label", "Points2D:positions")
        assert set(labels) == set(tables[p])
        for f, rows in tables[p].items():
            np.testing.assert_allclose(labels[f], rows[:1, :2], atol=1e-3, err_msg=f"nose, {f}")
            k = frames.index(f)
            pixels[k, p], world[k, p], ids[k, p] = rows[:, :2], rows[:, 2:5], p
    placer = TrackPlacer(run.width, run.height)
    places = placer(np.array([t_of[f] for f in frames]), ids, pixels, world)
    for p in people:
        got = run.column(f"person/pose/track_{p}", "Transform3D:translation")
        assert set(got) == set(tables[p])
        for f in tables[p]:
            expected = places[frames.index(f), p]
            np.testing.assert_allclose(got[f][0], expected, atol=1e-4, err_msg=f"place {p}, {f}")
    # the two stand apart, each a few metres from the camera
    both = [f for f in tables[0] if f in tables[1]]
    assert len(both) > 10
    gap = [
        np.linalg.norm(np.subtract(places[frames.index(f), 0], places[frames.index(f), 1]))
        for f in both
    ]
    assert 0.5 < np.median(gap) < 6.0


def _series(run: Run, entity: str, label: str) -> dict[int, float]:
    """``frame_idx -> value`` of the series named ``label`` of ``entity``'s multi-series
    ``Scalars`` (its static ``SeriesLines`` names the series, in order)."""
    names = run.static[entity]["SeriesLines:names"]
    k = names.index(label)
    values = run.column(entity, "Scalars:scalars")
    assert all(len(v) == len(names) for v in values.values()), f"{entity}: a value a series"
    return {f: v[k] for f, v in values.items()}


def test_angle_and_speed_series_are_the_angles_table(one_person):
    """Every measure is a series of `angles` or `speeds` (one entity each: a row a frame, a
    value a series, named by the static SeriesLines), holding the angles table's value in each
    frame the table has not interpolated (NaN where it is NaN), and NaN where it has filled a
    gap (the plot shows the gap): the same frames, the same numbers."""
    table = one_person.angles.to_pydict()
    by_measure: dict[tuple[str, str], dict[int, tuple[float, bool]]] = defaultdict(dict)
    for f, m, u, v, i in zip(
        table["frame_idx"], table["measure"], table["unit"], table["value"],
        table["interpolated"], strict=True,
    ):  # fmt: skip
        by_measure[(m, u)][f] = (v, i)
    assert len(by_measure) > 30
    compared = 0
    for (name, unit), rows in by_measure.items():
        path = "angles" if unit == "deg" else "speeds"
        series = _series(one_person, path, name if unit == "deg" else f"{name} ({unit})")
        assert set(series) == set(rows), (path, name)
        for f, (value, interpolated) in rows.items():
            got = series[f]
            if interpolated or np.isnan(value):
                assert np.isnan(got), (path, f, got, value)
            else:
                assert got == pytest.approx(value, rel=1e-6, abs=1e-6), (path, f)
                compared += 1
    assert compared > 0.8 * sum(map(len, by_measure.values()))
    assert len(one_person.static["angles"]["SeriesLines:names"]) + len(
        one_person.static["speeds"]["SeriesLines:names"]
    ) == len(by_measure)
    knee = _series(one_person, "angles", "right knee")
    assert np.nanmax(list(knee.values())) - np.nanmin(list(knee.values())) > 60, "squats"


def test_trc_markers_are_the_tables_world_coordinates(one_person):
    """The TRC's markers are the table's world landmarks (MediaPipe's x, -y, -z) where seen."""
    trc = read_trc(one_person.trc)
    table = _landmarks(one_person.landmarks, run_person(one_person))
    assert trc["markers"] == BLAZEPOSE_MARKERS
    assert list(trc["frames"]) == sorted(table)
    compared = 0
    for i, f in enumerate(trc["frames"]):
        for m, marker in enumerate(BLAZEPOSE_MARKERS):
            row = table[int(f)][MEDIAPIPE[marker]]
            if row[5] >= 0.5:
                np.testing.assert_allclose(
                    trc["data"][i, m], row[2:5] * [1, -1, -1], atol=2e-6, err_msg=(f, marker)
                )
                compared += 1
    assert compared > 0.8 * len(trc["frames"]) * len(BLAZEPOSE_MARKERS)


def _tree(blueprint: dict[str, dict[str, list]]) -> tuple:
    """The blueprint's layout as nested tuples: a container as (kind, shares, children), a view
    as (class, name, origin, contents)."""
    import uuid

    def node(entity: str):
        comps = blueprint[entity]
        if entity.startswith("view/"):
            return (
                *(comps[f"ViewBlueprint:{c}"][0] for c in ("class_identifier", "display_name")),
                comps["ViewBlueprint:space_origin"][0],
                blueprint.get(f"{entity}/ViewContents", {}).get("ViewContents:query"),
            )
        kind = {1: "tabs", 2: "horizontal", 3: "vertical", 4: "grid"}[
            comps["ContainerBlueprint:container_kind"][0]
        ]
        shares = comps.get("ContainerBlueprint:col_shares") or comps.get(
            "ContainerBlueprint:row_shares"
        )
        return (kind, shares, tuple(node(c) for c in comps["ContainerBlueprint:contents"]))

    root = blueprint["viewport"]["ViewportBlueprint:root_container"]
    return node(f"container/{uuid.UUID(bytes=bytes(root[0]))}")


def test_the_blueprint_is_the_default_layout(one_person, two_people):
    """Result (video, mask, skeleton) over the main joints' angles, beside the 3D pose, the raw
    video and the description; with several people, the angles of tracks 0 and 1: each track's
    `angles` entity, of whose series the view shows the main joints' (an override of the
    SeriesLines' visible_series: the names at its True places are the main joints')."""
    several = ["angles/track_0", "angles/track_1"]
    for run, plotted in ((one_person, ["angles"]), (two_people, several)):
        assert _tree(run.blueprint) == (
            "horizontal",
            [3.0, 2.0],
            (
                (
                    "vertical",
                    [3.0, 1.0],
                    (
                        ("2D", "Result", "video", ["$origin/**"]),
                        ("TimeSeries", "Joint angles", "/", plotted),
                    ),
                ),
                (
                    "vertical",
                    [3.0, 2.0, 2.0],
                    (
                        ("3D", "3D pose", "person", ["$origin/**"]),
                        ("2D", "Raw video", "video", ["$origin"]),
                        ("TextDocument", "Description", "description", ["$origin/**"]),
                    ),
                ),
            ),
        )
        for panel in ("blueprint_panel", "selection_panel"):
            assert run.blueprint[panel]["PanelBlueprint:state"] == [2], "collapsed"
        # every track plotted is in the recording, the main joints' series shown
        assert set(plotted) <= set(run.temporal)
        for entity in plotted:
            (shown,) = [
                comps["SeriesLines:visible_series"]
                for path, comps in run.blueprint.items()
                if f"/overrides/{entity}/visualizers/" in path
                and "SeriesLines:visible_series" in comps
            ]
            names = [n.split(",")[0] for n in run.static[entity]["SeriesLines:names"]]
            assert len(shown) == len(names) > 30
            assert {n for n, on in zip(names, shown, strict=True) if on} == MAIN_ANGLES


def test_the_frames_are_a_video_stream_of_every_frame(one_person):
    """`--video-mode stream`: an AV1 sample for every frame of the clip on `video`, keyframes
    every KEYFRAME_INTERVAL frames from the first; decoded, each is the clip's frame (the
    inference size's, 360 x 640) within what compression loses (PSNR > 30 dB)."""
    import av
    import cv2

    from fastpose.sinks.rerun_video import KEYFRAME_INTERVAL

    run = one_person
    assert run.static["video"]["VideoStream:codec"] == [0x61763031], "AV1"
    frames, samples, keys = stream_samples(run.rrd)
    assert frames == list(range(65))
    assert [f for f, k in zip(frames, keys, strict=True) if k] == list(
        range(0, 65, KEYFRAME_INTERVAL)
    )
    assert 300 < sum(map(len, samples)) / len(samples) < 10_000, "bytes a frame"
    decoded = decode_stream(run.rrd)
    with av.open(str(data_file("pose_squats.mp4"))) as video:
        source = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(source) == 65
    for f in (0, 1, 30, 64):
        got = decoded[f].astype(np.float64)
        assert got.shape == (640, 360, 3)
        want = cv2.resize(source[f], (360, 640), interpolation=cv2.INTER_AREA)
        psnr = 10 * np.log10(255**2 / np.mean((got - want) ** 2))
        assert psnr > 30, (f, psnr)
    assert np.mean(np.abs(decoded[0] - decoded[30].astype(float))) > 3, "frames that move"


def test_chunks_are_few(one_person, two_people):
    """Poses, measures and frames go in a chunk per entity per few hundred frames, masks per few
    MB: a 65-frame clip's recording holds one temporal chunk per entity (at most two: a Clear),
    far under a chunk per measure (~44 a batch, ~3 a frame) of the old layout; the masks at half
    the inference size (180 x 320), in every frame."""
    for run, frames in ((one_person, 65), (two_people, 80)):
        chunks = sum(len(batches) for batches in run.temporal.values())
        assert len(run.temporal) <= 20, sorted(run.temporal)
        assert chunks <= 2 * len(run.temporal), {e: len(b) for e, b in run.temporal.items()}
        assert chunks / frames < 0.3
    masks = one_person.column("video/mask", "SegmentationImage:buffer")
    assert sorted(masks) == list(range(65))
    assert one_person.static["video/mask"]["SegmentationImage:format"][0]["width"] == 180


def _rows(rrd: Path) -> dict[str, dict[int, str]]:
    """entity -> frame_idx -> every component of its temporal row, as text (NaN included)."""
    import json

    out: dict[str, dict[int, str]] = defaultdict(dict)
    for chunk in RrdReader(rrd).stream().to_chunks():
        if chunk.is_static:
            continue
        batch = chunk.to_record_batch()
        names = sorted(n for n in batch.schema.names if ":" in n)
        columns = {n: batch.column(n).to_pylist() for n in names}
        for i, f in enumerate(batch.column("frame_idx").to_pylist()):
            row = {n: columns[n][i] for n in names if columns[n][i] is not None}
            if np.isnan(row.get("Scalars:scalars", [0.0])).all():
                continue  # a track's first rows while its measures are all NaN: sent or not
            out[chunk.entity_path.lstrip("/")][f] = json.dumps(row, sort_keys=True, default=str)
    return dict(out)


def test_gathering_frames_changes_nothing_but_the_chunks(track_clip, tmp_path):
    """The recording of the two-person clip (its session run) written a batch at a time, 37
    frames at a time and all at once holds the same rows, value for value, on every entity:
    poses, Clears where a track leaves, placements and measures cross a flush unchanged (rows
    of NaN only aside: a track just seen sends none, so where it starts depends on the flush);
    only the chunk count differs."""
    from test_measures import run_sink

    from fastpose.sinks.rerun import RerunRecording
    from fastpose.target import RerunTarget

    clip = track_clip("sports2d_demo.mp4", 2)
    rows, chunks = [], []
    for flush in (1, 37, 10_000):
        rrd = tmp_path / f"f{flush}.rrd"
        sink = RerunRecording(RerunTarget(save=rrd), video_mode="none", flush_frames=flush)
        folder = tmp_path / f"s{flush}"
        folder.mkdir()
        staging = run_sink(sink, clip, folder)
        (path,) = staging.claimed.values()
        rows.append(_rows(path))
        chunks.append(sum(1 for c in RrdReader(path).stream().to_chunks() if not c.is_static))
    assert "video/pose/track_1/points" in rows[0] and "angles/track_1" in rows[0]
    assert any("Clear" in row for entity in rows[0].values() for row in entity.values()), (
        "a track leaves"
    )
    assert rows[1] == rows[0] and rows[2] == rows[0]
    assert chunks[0] > 2 * chunks[1] > 4 * chunks[2], chunks

"""OpenSim files from real clips: TRC read back with a strict reader (OpenSim's rules: header
fields, marker count and names, frame count, rate, units, row width) and with OpenSim itself where
installed, in a ground frame (Y up along gravity, the feet at Y = 0, the hips where the person
goes); MOT's header and columns (names OpenSim's Storage reads), short gaps filled and long ones
left empty, one file per track."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from opensim_support import needs_opensim, opensim, storage
from test_measures import blank, run_sink

from fastpose.measures import Measurer
from fastpose.measures.settling import FRAMES as SETTLING_FRAMES
from fastpose.placement import TrackPlacer
from fastpose.sinks.angles import AnglesTable
from fastpose.sinks.opensim import MotWriter, TrcWriter, mot_name

#: Pose2Sim's Markers_BlazePose.xml, in its order.
BLAZEPOSE_MARKERS = [
    "Nose", "LEye", "REye", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
    "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "LBigToe", "LHeel", "RBigToe", "RHeel",
    "RThumb", "RPinky", "RIndex", "LThumb", "LPinky", "LIndex",
]  # fmt: skip
KEYS = (
    "DataRate CameraRate NumFrames NumMarkers Units OrigDataRate OrigDataStartFrame OrigNumFrames"
)


def read_trc(path: Path) -> dict:
    """A TRC file, read strictly as OpenSim's TRCFileAdapter does, failing on any deviation."""
    lines = path.read_text().split("\n")
    assert lines[-1] == "", "ends with a newline"
    lines = lines[:-1]
    first = lines[0].split("\t")
    assert first[:3] == ["PathFileType", "4", "(X/Y/Z)"], first
    keys = [k for k in lines[1].split("\t") if k]
    assert keys == KEYS.split(), keys
    values = [v for v in lines[2].split("\t") if v]
    assert len(values) == len(keys)
    meta = dict(zip(keys, values, strict=True))
    n_markers, n_frames = int(meta["NumMarkers"]), int(meta["NumFrames"])
    labels = [c for c in lines[3].split("\t") if c]
    assert labels[:2] == ["Frame#", "Time"] and len(labels) == n_markers + 2
    xyz = [c for c in lines[4].split("\t") if c]
    assert xyz == [f"{a}{i}" for i in range(1, n_markers + 1) for a in "XYZ"]
    rows = [r for r in lines[5:]]
    assert all(rows), "no blank line inside the data"
    assert len(rows) == n_frames == int(meta["OrigNumFrames"])
    frames, times, data = [], [], np.full((n_frames, n_markers, 3), np.nan)
    for i, row in enumerate(rows):
        cells = row.split("\t")
        assert len(cells) == 2 + 3 * n_markers, (i, len(cells))
        frames.append(int(cells[0]))
        times.append(float(cells[1]))
        for m in range(n_markers):
            xyz_cells = cells[2 + 3 * m : 5 + 3 * m]
            missing = [c == "NaN" for c in xyz_cells]
            assert all(missing) or not any(missing), "a marker is whole or missing"
            assert all(xyz_cells), "no empty cell (OpenSim drops an empty last one)"
            data[i, m] = [float(c) for c in xyz_cells]
    assert np.all(np.diff(times) > 0), "time increases"
    return {
        "rate": float(meta["DataRate"]),
        "camera_rate": float(meta["CameraRate"]),
        "units": meta["Units"],
        "start": int(meta["OrigDataStartFrame"]),
        "markers": labels[2:],
        "frames": np.array(frames),
        "time": np.array(times),
        "data": data,
    }


def test_trc_reads_strictly_with_pose2sim_markers_in_metres_y_up(track_clip, tmp_path):
    clip = track_clip("pose_squats.mp4", 1)
    sink = TrcWriter(tmp_path / "squats.trc")
    staging = run_sink(sink, clip, tmp_path)
    assert list(staging.claimed) == ["squats.trc"], "one track: no id in the name"
    trc = read_trc(staging.claimed["squats.trc"])
    assert trc["markers"] == BLAZEPOSE_MARKERS
    assert trc["rate"] == trc["camera_rate"] == clip.info.fps == 5
    assert trc["units"] == "m"
    assert (trc["frames"] == np.arange(65)).all() and trc["start"] == 0
    np.testing.assert_allclose(trc["time"], clip.poses.time_s, atol=1e-6)
    data = trc["data"]
    assert np.isfinite(data).mean() > 0.9
    nose, ankles = data[0, 0], data[0, [13, 14]]
    assert nose[1] - ankles[:, 1].mean() > 1.0, "standing: the nose a metre above the ankles, Y up"
    # the values are MediaPipe's world landmarks, placed and turned into the ground frame: a
    # rigid motion (the same rotation for every frame, a translation per frame), lowered by the
    # ground's height under the frame
    poses = clip.poses
    world = poses.world[:, 0].astype(np.float64)
    frame = sink.ground(0)
    seen = (poses.landmarks[:, 0, [25, 23], 3] >= 0.5).all(axis=1)  # left knee and hip
    knee = data[:, BLAZEPOSE_MARKERS.index("LKnee")] - data[:, BLAZEPOSE_MARKERS.index("LHip")]
    np.testing.assert_allclose(
        knee[seen], (world[seen, 25] - world[seen, 23]) @ frame.rotation.T, atol=2e-6
    )
    placer = TrackPlacer(clip.info.width, clip.info.height)
    pixels = poses.pixels(clip.info.width, clip.info.height)
    places = placer(poses.time_s, poses.ids, pixels, poses.world)
    hip = data[:, BLAZEPOSE_MARKERS.index("LHip")]
    placed = frame.apply(world[:, 23] + places[:, 0])
    placed[:, 1] -= sink.offsets(0)  # the ground under each frame
    np.testing.assert_allclose(hip[seen], placed[seen], atol=1e-5)
    assert frame.rotation[0] @ [1, 0, 0] > 0.9, "X: the image's right"


def test_trc_fills_short_gaps_and_leaves_long_ones_empty(track_clip, tmp_path):
    clip = track_clip("pose_squats.mp4", 1)
    short, long_ = blank(range(10, 20)), blank(range(30, 41))
    sink = TrcWriter(tmp_path / "gaps.trc")
    staging = run_sink(sink, clip, tmp_path, drop=lambda p: long_(short(p)))
    trc = read_trc(staging.claimed["gaps.trc"])
    assert len(trc["frames"]) == 65, "every frame of the track's lifetime"
    hip = trc["data"][:, BLAZEPOSE_MARKERS.index("RHip")]
    assert np.isfinite(hip[10:20]).all(), "10 frames: interpolated"
    assert np.isnan(hip[30:41]).all(), "11 frames: left empty"
    # linear in time between the frames around the gap (in the ground frame, before the ground's
    # height under each frame is taken out)
    hip = hip + np.stack([np.zeros(65), sink.offsets(0), np.zeros(65)], axis=1)
    t = trc["time"]
    expected = hip[9] + (hip[20] - hip[9]) * ((t[10:20] - t[9]) / (t[20] - t[9]))[:, None]
    np.testing.assert_allclose(hip[10:20], expected, atol=2e-6)


def test_one_file_per_track_and_mot_as_sports2d_writes_it(track_clip, tmp_path):
    clip = track_clip("sports2d_demo.mp4", 2)
    measurer = Measurer(clip.info.width, clip.info.height)
    staging = run_sink(TrcWriter(tmp_path / "demo.trc"), clip, tmp_path)
    ids = clip.poses.ids
    tracks = sorted(set(ids[ids >= 0].tolist()))
    assert len(tracks) >= 2
    assert sorted(staging.claimed) == sorted(f"demo_{t}.trc" for t in tracks)
    for t in tracks:
        trc = read_trc(staging.claimed[f"demo_{t}.trc"])
        frames = clip.poses.frame_idx[(ids == t).any(axis=1)]
        assert trc["frames"][0] == trc["start"] == frames[0]
        assert (trc["frames"] == np.arange(frames[0], frames[-1] + 1)).all()

    staging = run_sink(MotWriter(tmp_path / "demo.mot"), clip, tmp_path, measurer=measurer)
    assert sorted(staging.claimed) == sorted(f"demo_{t}.mot" for t in tracks)
    longest = max(tracks, key=lambda t: (ids == t).sum())
    lines = staging.claimed[f"demo_{longest}.mot"].read_text().split("\n")
    end = lines.index("endheader")
    header = dict(line.split("=") for line in lines[:end] if "=" in line)
    columns = lines[end + 1].split("\t")
    units = zip(measurer.names, measurer.units, strict=True)
    angles = [n.replace(" ", "_") for n, u in units if u == "deg"]
    assert lines[0] == "Coordinates" and header["inDegrees"] == "yes"
    assert columns == ["time", *angles]
    rows = [r.split("\t") for r in lines[end + 2 : -1]]
    assert int(header["nRows"]) == len(rows) and int(header["nColumns"]) == len(columns)
    assert all(len(r) == len(columns) for r in rows)
    knee = [float(r[columns.index("right_knee")] or "nan") for r in rows]
    assert sum(math.isfinite(k) for k in knee) > 0.5 * len(rows)


def read_mot(path: Path) -> tuple[list[str], np.ndarray]:
    """A MOT file's columns and values (rows x columns), read as OpenSim does: the header up to
    ``endheader``, then tab-separated rows, as many as ``nRows`` says, no cell empty."""
    lines = path.read_text().split("\n")
    end = lines.index("endheader")
    header = dict(line.split("=") for line in lines[:end] if "=" in line)
    columns = lines[end + 1].split("\t")
    rows = [r.split("\t") for r in lines[end + 2 : -1]]
    assert lines[-1] == "" and int(header["nRows"]) == len(rows)
    assert int(header["nColumns"]) == len(columns) and all(len(r) == len(columns) for r in rows)
    assert all(all(r) for r in rows), "no empty cell: a missing value is NaN"
    return columns, np.array([[float(c) for c in r] for r in rows])


@pytest.mark.parametrize(
    ("clip_name", "num_poses"), [("pose_squats.mp4", 1), ("sports2d_demo.mp4", 2)]
)
def test_mot_values_are_the_angles_tables(track_clip, tmp_path, clip_name, num_poses):
    """Every angle of every MOT row equals the angles table's value of that track, time and
    measure (to the file's 4 decimals), gaps filled or left empty alike; squats with a person
    lost for 5 frames (filled) and 12 (left empty)."""
    clip = track_clip(clip_name, num_poses)
    drop = None
    if num_poses == 1:
        short, long_ = blank(range(20, 25)), blank(range(40, 52))
        drop = lambda p: long_(short(p))  # noqa: E731
    w, h = clip.info.width, clip.info.height
    mot = run_sink(MotWriter(tmp_path / "a.mot"), clip, tmp_path, Measurer(w, h), drop)
    table = run_sink(AnglesTable(tmp_path / "a.parquet"), clip, tmp_path, Measurer(w, h), drop)
    rows = pq.read_table(table.claimed["a.parquet"]).to_pydict()
    expected: dict[tuple[int, str], dict[float, float]] = {}
    for person, measure, unit, t, v in zip(
        rows["person"], rows["measure"], rows["unit"], rows["time_s"], rows["value"], strict=True
    ):
        if unit == "deg":
            expected.setdefault((person, measure), {})[round(t, 6)] = v
    tracks = sorted({p for p, _ in expected})
    names = {t: "a.mot" if len(tracks) == 1 else f"a_{t}.mot" for t in tracks}
    assert sorted(mot.claimed) == sorted(names.values())
    compared = 0
    for track, name in names.items():
        columns, values = read_mot(mot.claimed[name])
        times = [round(t, 6) for t in values[:, 0]]
        names = {mot_name(m): m for _, m in expected}
        for c, column in enumerate(columns[1:], start=1):
            measure = names[column]
            table_values = expected[(track, measure)]
            assert sorted(table_values) == times, (track, measure)
            want = np.array([table_values[t] for t in times])
            np.testing.assert_array_equal(np.isnan(values[:, c]), np.isnan(want), err_msg=measure)
            np.testing.assert_allclose(values[:, c], want, atol=5.1e-5, err_msg=(track, measure))
            compared += np.isfinite(want).sum()
    assert compared > 1000
    if num_poses == 1:
        columns, values = read_mot(mot.claimed["a.mot"])
        knee = values[:, columns.index("right_knee")]
        assert np.isfinite(knee[20:25]).all() and np.isnan(knee[40:52]).all()


@needs_opensim
def test_opensim_reads_every_mot_row_and_column_and_the_trc(track_clip, tmp_path):
    """OpenSim's own readers on MOTs with gaps (NaN: sports2d_demo's tracks, and squats with a
    person lost for 12 frames): ``Storage`` (what its GUI and many scripts read) reads every row
    and finds every column by name, NaN where fastpose left a gap and the file's values elsewhere,
    as ``TimeSeriesTable`` does; the TRC reads whole as OpenSim's table."""
    squats = track_clip("pose_squats.mp4", 1)
    w, h = squats.info.width, squats.info.height
    lost = blank(range(40, 52))
    gap = run_sink(MotWriter(tmp_path / "s.mot"), squats, tmp_path, Measurer(w, h), lost)
    clip = track_clip("sports2d_demo.mp4", 2)
    w, h = clip.info.width, clip.info.height
    mot = run_sink(MotWriter(tmp_path / "d.mot"), clip, tmp_path, Measurer(w, h)).claimed
    trc = run_sink(TrcWriter(tmp_path / "d.trc"), clip, tmp_path).claimed
    gaps = rows = 0
    for name, path in [*mot.items(), ("s.mot", gap.claimed["s.mot"])]:
        columns, values = read_mot(path)
        got_columns, got = storage(path)
        assert got_columns == columns, name
        assert got.shape == values.shape, f"{name}: every row and column"
        np.testing.assert_array_equal(np.isnan(got), np.isnan(values), err_msg=name)
        np.testing.assert_allclose(got, values, err_msg=name)
        table = opensim.TimeSeriesTable(str(path))
        assert list(table.getColumnLabels()) == columns[1:]
        np.testing.assert_allclose(table.getMatrix().to_numpy(), values[:, 1:], err_msg=name)
        gaps += np.isnan(got).any(axis=1).sum()
        rows += len(got)
        if name == "s.mot":
            assert np.isnan(got[40:52, 1:]).all()
            # values again after the return, once the pose has settled (measures/settling.py)
            assert np.isfinite(got[52 + SETTLING_FRAMES :, 1:]).all()
            continue
        markers = read_trc(trc[name.replace(".mot", ".trc")])
        table = opensim.TimeSeriesTableVec3(str(trc[name.replace(".mot", ".trc")]))
        assert list(table.getColumnLabels()) == BLAZEPOSE_MARKERS
        assert table.getNumRows() == len(markers["frames"])
        row = len(markers["frames"]) // 2
        got = np.array([table.getRowAtIndex(row)[m].to_numpy() for m in range(25)])
        np.testing.assert_allclose(got, markers["data"][row], atol=1e-6)
    assert gaps > 30 and rows > 400, "rows with NaN read, and the rows after them"

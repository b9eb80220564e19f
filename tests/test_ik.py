"""``--ik``: OpenSim's scaling and inverse kinematics with Pose2Sim's BlazePose model on
fastpose's TRC, with the real ``opensim`` package (skipped with the reason where it is not
installed; CI installs it through the test extra), on real clips: it runs to the last frame, the
markers' RMS error median stays under 33 mm (the bar of 35 with margin), the model stands on the
ground (its lowest foot marker's median height within 5 cm) with its trunk within 10 degrees of
vertical, OpenSim's ``Storage`` reads every column, and the joint angles reach the recording, in
a view of the default layout. Without OpenSim, ``--ik`` says how to get it in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import data_file, read_rrd, run_cli
from opensim_support import needs_opensim, opensim, storage
from test_measures import run_sink

from fastpose.ik import IK_MISSING
from fastpose.ik.viewer import MAIN_COORDINATES
from fastpose.sinks.opensim import TrcWriter
from fastpose.sinks.rerun_layout import IK_VIEW, blueprint


def model_markers(osim: Path, columns: list[str], values: np.ndarray) -> dict[str, np.ndarray]:
    """The scaled model's markers (n, 3) in OpenSim's ground, posed at each row of the IK."""
    model = opensim.Model(str(osim))
    state = model.initSystem()
    coordinates = model.getCoordinateSet()
    markers = model.getMarkerSet()
    names = [markers.get(i).getName() for i in range(markers.getSize())]
    out = np.empty((len(values), len(names), 3))
    rotational = {
        c: coordinates.get(c).getMotionType() == opensim.Coordinate.Rotational for c in columns[1:]
    }
    for r, row in enumerate(values):
        for name, value in zip(columns[1:], row[1:], strict=True):
            coordinates.get(name).setValue(
                state, np.radians(value) if rotational[name] else value, False
            )
        model.realizePosition(state)
        for m in range(len(names)):
            out[r, m] = markers.get(m).getLocationInGround(state).to_numpy()
    return {n: out[:, m] for m, n in enumerate(names)}


def trunk_from_vertical(m: dict[str, np.ndarray]) -> float:
    trunk = (m["LShoulder"] + m["RShoulder"]) / 2 - (m["LHip"] + m["RHip"]) / 2
    median = np.median(trunk, axis=0)
    return float(np.degrees(np.arccos(median[1] / np.linalg.norm(median))))


def lowest_foot(m: dict[str, np.ndarray]) -> np.ndarray:
    return np.min(np.stack([m[n][:, 1] for n in ("LHeel", "RHeel", "LBigToe", "RBigToe")]), 0)


@needs_opensim
@pytest.mark.e2e
@pytest.mark.parametrize(
    ("clip_name", "num_poses"),
    [
        ("pose2sim_single_cam01.mp4", 1),
        ("sports2d_demo.mp4", 2),
    ],
)
def test_ik_to_the_last_frame_on_the_ground_upright(track_clip, tmp_path, clip_name, num_poses):
    """Every track's IK: a row for every TRC frame with markers, ``Storage`` reading every
    column; on the man of pose2sim_single_cam01 and the walker of sports2d_demo (the woman
    walking on the grass: the track whose ankles are lowest in the image; the man jumps and
    balances on a block above her), marker RMS median <= 33 mm (the bar is 35), the model's
    lowest foot marker's median height within 5 cm of the ground and its trunk within 10 degrees
    of vertical, her pelvis crossing the view."""
    opensim.Logger.setLevelString("Error")
    clip = track_clip(clip_name, num_poses)
    solved = {}
    sink = TrcWriter(tmp_path / "m.trc", ik=True, on_ik=lambda t, n, r: solved.setdefault(t, r))
    staging = run_sink(sink, clip, tmp_path)
    tracks = sorted(solved)
    assert tracks and len(sink.files.written) == len(tracks)
    travel = {}
    for file in sink.files.written:
        stem = file.final.stem
        assert {f"{stem}_ik.mot", f"{stem}_ik_marker_errors.sto", f"{stem}_scaled.osim"} <= set(
            staging.claimed
        )
        frames = [
            int(line.split("\t")[0])
            for line in file.working.read_text().split("\n")[5:]
            if line and set(line.split("\t")[2:]) != {"NaN"}
        ]
        result = solved[file.track]
        assert list(result.frame_idx) == frames, "a row for every frame with markers"
        columns, values = storage(staging.claimed[f"{stem}_ik.mot"])
        assert columns == ["time", *result.coordinates] and len(columns) == 41
        np.testing.assert_allclose(values[:, 0], result.time_s, atol=1e-6)
        np.testing.assert_allclose(values[:, 1:], result.values, atol=1e-6)
        errors, rms = storage(staging.claimed[f"{stem}_ik_marker_errors.sto"])
        np.testing.assert_allclose(rms[:, errors.index("marker_error_RMS")], result.marker_rms)
        pelvis = values[:, [columns.index(c) for c in ("pelvis_tx", "pelvis_tz")]]
        travel[file.track] = np.linalg.norm(pelvis.max(0) - pelvis.min(0))
    poses = clip.poses
    ankles_y = {t: np.nanmedian(poses.landmarks[poses.ids == t][:, 27:29, 1]) for t in tracks}
    person = max(ankles_y, key=ankles_y.get)
    result = solved[person]
    stem = next(f.final.stem for f in sink.files.written if f.track == person)
    assert np.median(result.marker_rms) <= 0.033, "marker RMS median: 33 mm, 35 with margin"
    columns, values = storage(staging.claimed[f"{stem}_ik.mot"])
    markers = model_markers(staging.claimed[f"{stem}_scaled.osim"], columns, values)
    assert abs(np.median(lowest_foot(markers))) <= 0.05
    assert trunk_from_vertical(markers) <= 10.0
    if clip_name == "sports2d_demo.mp4":
        assert travel[person] > 3.0, "the walker's pelvis crosses the view"


@needs_opensim
@pytest.mark.e2e
def test_run_ik_writes_joint_angles_and_series(tmp_path):
    """``fastpose run --trc --ik --save``: the IK's files beside the TRC, and every rotation's
    series (degrees) in the recording, a value for every frame."""
    out = tmp_path / "beam"
    result = run_cli(
        "run", data_file("pose2sim_single_cam01.mp4"), "--trc", f"{out}.trc", "--ik",
        "--save", f"{out}.rrd", "--no-progress", "--max-frames", "60",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and not result.stdout.strip(), "OpenSim kept quiet"
    for suffix in ("_ik.mot", "_ik_marker_errors.sto", "_scaled.osim"):
        assert Path(f"{out}{suffix}").is_file()
    _, values = storage(Path(f"{out}_ik.mot"))
    assert len(values) == 60
    rrd = read_rrd(Path(f"{out}.rrd"))
    assert rrd.frames["ik/knee_angle_r"] == set(range(60))
    assert rrd.frames["ik/marker_error_rms_mm"] == set(range(60))
    # the default layout sent at the start, and again with the IK view when IK is done (the
    # viewer shows the last one sent)
    first, then = sorted(layout_views(Path(f"{out}.rrd")), key=lambda views: IK_VIEW in views)
    assert IK_VIEW not in first and set(then) == {*first, IK_VIEW}
    assert then[IK_VIEW] == [f"ik/{c}" for c in MAIN_COORDINATES], "the main IK series"
    assert not list(Path.cwd().glob("opensim.log")), "no OpenSim log in the current folder"


def layout_views(rrd: Path) -> list[dict[str, list[str]]]:
    """The views of each layout (blueprint) a recording file holds: name -> contents."""
    from rerun.chunk import RrdReader

    reader = RrdReader(rrd)
    layouts = []
    for store in reader.blueprints():
        comps: dict[str, dict[str, list]] = {}
        for chunk in reader.stream(store=store).to_chunks():
            batch = chunk.to_record_batch()
            for name in batch.schema.names:
                if ":" in name:
                    value = batch.column(name).to_pylist()[-1]
                    comps.setdefault(chunk.entity_path.lstrip("/"), {})[name] = value
        layouts.append(
            {
                c["ViewBlueprint:display_name"][0]: comps[f"{e}/ViewContents"]["ViewContents:query"]
                for e, c in comps.items()
                if "ViewBlueprint:display_name" in c
            }
        )
    return layouts


def test_the_ik_view_is_in_the_layout_only_when_ik_ran(tmp_path):
    """The default layout has a view of IK's main joint angles beside the joint angles when IK
    ran (``ik_series``: what fastpose.ik.viewer sends with the series), none otherwise (a run
    without ``--ik``: test_recording_content checks its whole layout)."""
    import rerun as rr

    single = [f"ik/{c}" for c in MAIN_COORDINATES]
    several = [f"ik/track_{t}/{c}" for t in (0, 3) for c in MAIN_COORDINATES]
    for num_persons, series in ((1, None), (1, single), (2, []), (2, several)):
        path = tmp_path / f"{num_persons}_{len(series or [])}.rrd"
        rec = rr.RecordingStream("fastpose")
        rec.save(path, default_blueprint=blueprint(num_persons, ik_series=series))
        rec.disconnect()
        (views,) = layout_views(path)
        assert "Joint angles" in views and "Result" in views
        assert views.get(IK_VIEW) == (series or None), (num_persons, series)


def test_ik_without_trc_or_opensim_is_one_line(tmp_path):
    """``--ik`` alone: it needs ``--trc``. Without OpenSim (hidden from the import system):
    one line saying how to get it, before any model is loaded; ``batch --ik`` too."""
    result = run_cli("run", data_file("pose_squats.mp4"), "--ik", "--export", tmp_path / "a.csv")
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("--ik: expected --trc FILE.trc too (IK solves its markers)")
    )
    hide = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'opensim': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from fastpose.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    clip = data_file("pose_squats.mp4")
    for args in (
        ["run", clip, "--trc", tmp_path / "a.trc", "--ik"],
        ["batch", clip, "--out", tmp_path / "out", "--ik"],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", hide, *map(str, args)], capture_output=True, text=True
        )
        assert proc.returncode != 0, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].endswith(IK_MISSING), proc.stderr
    assert not (tmp_path / "a.trc").exists() and not (tmp_path / "out").exists()


@needs_opensim
@pytest.mark.e2e
def test_batch_ik_writes_each_videos_joint_angles(tmp_path):
    """``fastpose batch --ik``: each video's TRC and its IK (``DIR/<name>_ik.mot``, a row per
    frame); a second batch finds them complete and skips the video."""
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "beam.mp4").write_bytes(data_file("pose2sim_single_cam01.mp4").read_bytes())
    out = tmp_path / "out"
    args = ("batch", clips, "--out", out, "--ik", "--max-frames", "40", "--no-progress")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert (out / "beam.trc").is_file() and (out / "beam_scaled.osim").is_file()
    _, values = storage(out / "beam_ik.mot")
    assert len(values) == 40
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert "skipped" in (out / "summary.csv").read_text()


@needs_opensim
def test_a_passer_by_gets_a_trc_and_no_ik(track_clip, tmp_path, caplog):
    """A track seen in one frame only: its TRC is written, its IK skipped with a warning (a
    passer-by does not fail the run)."""
    from test_measures import blank

    clip = track_clip("pose_squats.mp4", 1)
    solved = []
    sink = TrcWriter(tmp_path / "p.trc", ik=True, on_ik=lambda *a: solved.append(a))
    with caplog.at_level("WARNING"):
        staging = run_sink(sink, clip, tmp_path, drop=blank(range(1, 65)))
    assert list(staging.claimed) == ["p.trc"] and not solved
    assert "p.trc: no inverse kinematics: 1 frames with markers, expected 2 or more" in caplog.text

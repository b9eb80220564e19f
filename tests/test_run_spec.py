"""One run specification: the options `fastpose run`, `fastpose batch` and the API share are
declared once, parsed into one RunSpec, and every output records what really ran.

Option parsing is walked in-process (fastpose.cli.build_parser + the spec builder); two real
processes (one `run`, one `batch`, 12 frames each) prove the end to end: `--angles` given twice
writes both files, `--height` reaches the speeds (m/s rows) and the settings, every Parquet carries
`fastpose.*` keys, the two commands record the same settings, and a clip too short to split
records the one landmarker that ran.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fastpose.cli import build_parser
from fastpose.commands.parsed import spec_from_args
from fastpose.options import RESULT_SETTINGS, TrackOptions
from fastpose.pipeline import track
from fastpose.sinks.metadata import read_settings
from fastpose.spec import Outputs, RunSpec, build_sinks

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "tests" / "data" / "pose_squats.mp4"
FRAMES = 12

#: Every shared option but the model's name (only `full` is sure to be cached here), with a
#: value other than its default, and the setting it changes (None: none recorded: it changes
#: the run's conduct, not what it writes) with its expected text.
SHARED: list[tuple[list[str], str | None, str | None]] = [
    (["--num-poses", "2"], "num_poses", "2"),
    (["--min-detection-confidence", "0.4"], "min_detection_confidence", "0.4"),
    (["--min-presence-confidence", "0.3"], "min_presence_confidence", "0.3"),
    (["--min-tracking-confidence", "0.6"], "min_tracking_confidence", "0.6"),
    (["--no-segment"], "segment", "false"),
    (["--fps", "25"], "fps", "25"),
    (["--max-frames", str(FRAMES)], "max_frames", str(FRAMES)),
    (["--inference-size", "320"], "inference_size", "320"),
    (["--workers", "3"], "workers", "3"),
    (["--no-smooth"], "smoothing", "none"),
    (["--no-cleaning"], "cleaning", "off"),
    (["--height", "1.7"], "height_m", "1.7"),
    (["--min-range-frames", "5"], "min_range_frames", "5"),
    (["--gpu"], "delegate", "gpu"),
    (["--require-gpu"], "delegate", "gpu"),
    (["--model", "full"], "model", "full"),
    (["--video-mode", "jpeg"], None, None),
    (["--overwrite"], None, None),
    (["--no-progress"], None, None),
]


def _parse(command: str, *extra: str) -> argparse.Namespace:
    head = ["run", str(CLIP)] if command == "run" else ["batch", str(CLIP), "--out", "out"]
    return build_parser().parse_args([*head, *extra])


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _declared(command: str) -> dict[str, tuple]:
    """Each option of a command as argparse holds it: what it accepts and its default."""
    return {
        a.option_strings[-1]: (a.dest, a.type, a.default, a.choices, a.nargs, a.const)
        for a in _subparser(command)._actions
        if a.option_strings
    }


def test_run_and_batch_declare_the_shared_options_alike() -> None:
    run, batch = _declared("run"), _declared("batch")
    for flags, _, _ in SHARED:
        assert run[flags[0]] == batch[flags[0]], flags[0]
    # each command's own: run names files, batch flags them (DIR/<name>.*)
    angles = _subparser("run")._option_string_actions["--angles"]
    assert isinstance(angles, argparse._AppendAction)
    assert batch["--angles"][2] is False


@pytest.mark.parametrize(("flags", "key", "text"), SHARED, ids=[s[0][0] for s in SHARED])
def test_each_shared_option_reaches_the_same_spec_from_run_and_batch(
    flags: list[str], key: str | None, text: str | None
) -> None:
    run_spec, batch_spec = (spec_from_args(_parse(c, *flags)) for c in ("run", "batch"))
    default = spec_from_args(_parse("run"))
    assert run_spec.options == batch_spec.options
    assert run_spec.settings() == batch_spec.settings()
    common = ("video_mode", "height", "overwrite")
    assert [getattr(run_spec.outputs, f) for f in common] == [
        getattr(batch_spec.outputs, f) for f in common
    ]
    if key is not None:
        assert run_spec.settings()[key] == text
        if flags != ["--model", "full"]:
            assert default.settings()[key] != text, "the option changed nothing"
    else:
        changed = run_spec.outputs != default.outputs or run_spec.options != default.options
        assert changed or flags == ["--no-progress"]


def test_height_is_a_result_setting_a_resumed_batch_compares() -> None:
    assert "height_m" in RESULT_SETTINGS


def test_run_takes_angles_several_times_and_builds_a_sink_for_each(tmp_path: Path) -> None:
    args = _parse("run", "--angles", "a.csv", "--angles", "a.mot", "--height", "1.7")
    spec = spec_from_args(args)
    assert spec.outputs.angles == (Path("a.csv"), Path("a.mot"))
    assert spec.outputs.height == 1.7
    names = [type(s).__name__ for s in build_sinks(spec)]
    assert names == ["AnglesTable", "MotWriter"]


def test_a_batch_job_maps_its_outputs_into_the_same_spec(tmp_path: Path) -> None:
    from fastpose.batching.job import Job

    out = tmp_path
    job = Job(
        CLIP,
        out / "v.rrd",
        out / "v.parquet",
        (out / "v.angles.parquet", out / "v.trc", out / "v.mp4"),
        video_mode="jpeg",
        height=1.8,
    )
    options = TrackOptions.create(workers=1)
    spec = job.spec(options)
    assert spec.options is options
    assert spec.outputs.recording is not None and spec.outputs.recording.save == out / "v.rrd"
    assert (spec.outputs.landmarks, spec.outputs.angles) == (
        out / "v.parquet",
        (out / "v.angles.parquet",),
    )
    assert (spec.outputs.trc, spec.outputs.render) == (out / "v.trc", out / "v.mp4")
    assert (spec.outputs.video_mode, spec.outputs.height) == ("jpeg", 1.8)
    names = [type(s).__name__ for s in build_sinks(spec)]
    assert names == ["RerunRecording", "LandmarkTable", "AnglesTable", "TrcWriter", "VideoRenderer"]


def test_two_angle_tables_are_refused_in_one_line() -> None:
    from fastpose.errors import OutputError

    with pytest.raises(OutputError, match="one table"):
        Outputs(angles=(Path("a.csv"), Path("b.parquet")))


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fastpose", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )


#: Shared options the end-to-end runs pass (non-default where it changes what is recorded).
E2E = [
    "--max-frames", str(FRAMES), "--workers", "2", "--height", "1.7", "--no-smooth",
    "--min-detection-confidence", "0.4", "--inference-size", "320", "--no-progress",
]  # fmt: skip
#: Settings that may differ between two processes (none today; the versions are the same).
_SAME_PROCESS_ONLY: set[str] = set()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `run` and one `batch` of the same 12 frames with the same shared options."""
    where = tmp_path_factory.mktemp("spec")
    run = _cli(
        "run", CLIP, "--save", "r.rrd", "--export", "l.parquet",
        "--angles", "a.parquet", "--angles", "a.mot", *E2E, cwd=where,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    batch = _cli("batch", CLIP, "--out", "out", "--angles", *E2E, cwd=where)
    assert batch.returncode == 0, batch.stderr
    return where


def test_run_writes_every_angles_file_with_speeds_in_metres(outputs: Path) -> None:
    assert (outputs / "a.mot").stat().st_size > 0
    units = set(pq.read_table(outputs / "a.parquet", columns=["unit"]).column(0).to_pylist())
    assert {"deg", "px/s", "m/s"} <= units, units
    mot = (outputs / "a.mot").read_text()
    assert "inDegrees=yes" in mot


def test_every_parquet_records_what_ran_under_fastpose_keys(outputs: Path) -> None:
    for path in ("l.parquet", "a.parquet", "out/pose_squats.parquet"):
        settings = read_settings(outputs / path)
        assert settings, f"{path}: no fastpose.* settings"
        assert settings["height_m"] == "1.7", path
        assert settings["workers"] == "1", f"{path}: 12 frames run one landmarker"
        assert settings["smoothing"] == "none", path
        assert settings["min_detection_confidence"] == "0.4", path
        assert settings["inference_size"] == "320", path
        assert settings["max_frames"] == str(FRAMES), path
    angles = pq.read_schema(outputs / "out" / "pose_squats.angles.parquet").metadata
    assert all(k.startswith(b"fastpose.") for k in angles), sorted(angles)


def test_run_and_batch_record_the_same_settings(outputs: Path) -> None:
    run = read_settings(outputs / "l.parquet")
    batch = read_settings(outputs / "out" / "pose_squats.parquet")
    assert run == batch
    assert read_settings(outputs / "a.parquet") == run
    assert read_settings(outputs / "out" / "pose_squats.angles.parquet") == run
    summary = pacsv.read_csv(outputs / "out" / "summary.csv").to_pylist()[0]
    recorded = {k.removeprefix("fastpose."): str(v) for k, v in summary.items()}
    assert recorded.get("height_m", run["height_m"]) == run["height_m"]


def test_the_recording_records_the_same_settings(outputs: Path) -> None:
    from fastpose.sinks.rerun_layout import recorded_settings

    assert recorded_settings(outputs / "r.rrd") == read_settings(outputs / "l.parquet")


def test_the_api_takes_the_same_spec(tmp_path: Path) -> None:
    result = track(
        CLIP,
        export=tmp_path / "l.parquet",
        angles=[tmp_path / "a.csv"],
        height=1.7,
        max_frames=4,
        workers=1,
    )
    assert result.complete and result.frames == 4
    assert read_settings(tmp_path / "l.parquet")["height_m"] == "1.7"
    units = set(pacsv.read_csv(tmp_path / "a.csv").column("unit").to_pylist())
    assert "m/s" in units
    spec = RunSpec.create(export=tmp_path / "x.parquet", max_frames=4, workers=1)
    assert spec.outputs.landmarks == tmp_path / "x.parquet"


# --- the house: where things live ---------------------------------------------------------------

#: The layers of fastpose/, bottom first (docs/architecture.md): a module imports its own layer
#: or those below, never one above.
LAYERS = [
    ["errors", "cores", "memory", "native_log", "signals", "colors", "closing", "model_names",
     "target", "skeleton", "cache", "outputs", "kernels", "transaction", "ray_runtime"],
    ["video", "poses", "mediapipe_api", "models", "landmarker", "smoothing", "appearance",
     "identities", "measures", "placement", "ground", "ik", "render", "samples", "core",
     "laterality", "outliers", "replay"],
    ["parallel", "ray_ranges"],
    ["options", "tracker"],
    ["sinks", "viewer", "spec", "resume", "pipeline"],
    ["batching"],
    ["commands", "cli", "__main__", ""],
]  # fmt: skip


def _imports() -> dict[str, set[str]]:
    """Each module of fastpose/ -> the modules of fastpose/ it imports at run time (at the top or
    inside functions; not under TYPE_CHECKING)."""
    import ast

    modules = {}
    for path in (ROOT / "fastpose").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_no_import_goes_back_up_a_layer_and_none_is_a_cycle() -> None:
    graph = _imports()
    back = [(a, b) for a, bs in graph.items() for b in bs if _layer(b) > _layer(a)]
    assert not back, back
    # a cycle: a module that reaches itself (a package's __init__ re-exporting its own modules
    # is the package, not a cycle)
    for start in graph:
        seen, todo = set(), [b for b in graph[start] if not b.startswith(start + ".")]
        while todo:
            m = todo.pop()
            assert m != start, f"{start} imports itself through {sorted(seen)}"
            if m not in seen:
                seen.add(m)
                todo += [b for b in graph[m] if not b.startswith(m + ".")]


def test_the_skeleton_written_out_is_mediapipes() -> None:
    from fastpose.mediapipe_api import pose_api
    from fastpose.skeleton import CONNECTIONS, LANDMARK_NAMES, NUM_LANDMARKS

    api = pose_api()
    assert tuple(lm.name.lower() for lm in api.PoseLandmark) == LANDMARK_NAMES
    assert NUM_LANDMARKS == len(api.PoseLandmark) == 33
    assert (
        tuple((c.start, c.end) for c in api.PoseLandmarksConnections.POSE_LANDMARKS) == CONNECTIONS
    )


def test_importing_the_poses_or_the_cli_loads_no_mediapipe() -> None:
    code = (
        "import sys, fastpose.poses, fastpose.cli; "
        "print(sorted(m for m in sys.modules if 'mediapipe' in m or m == 'rerun'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_a_full_disk_is_worded_alike_by_every_output() -> None:
    import errno

    from fastpose.errors import one_line

    full = [OSError(errno.ENOSPC, "No space left on device"), OSError(errno.ENOSPC, "")]
    assert {one_line(e) for e in full} == {"no space left on device"}
    assert one_line(ValueError("a\n  b")) == "a b"
    assert one_line(RuntimeError("first\nsecond"), first_line=True) == "first"
    assert one_line(RuntimeError()) == "RuntimeError"
    inline = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "fastpose").rglob("*.py")
        if path.name != "errors.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "strerror" in line
    ]
    assert not inline, f"an error worded by hand instead of by errors.one_line: {inline}"

"""Shared fixtures: the real data in tests/data, the offline model, and the runs tests read.

Each clip and setting is tracked once per session, and every test that only reads results reads
that run: :func:`tracked` (the API: ``fastpose.Tracker``; ``track_clip`` and ``track_poses`` are
views of it) and ``cli_run`` (a ``fastpose run`` process writing every output at once). Refusals
and option errors run ``fastpose.cli.main`` in this process (``cli_main``); :func:`run_cli` starts
a real process. Markers: ``e2e`` (long end-to-end tests, ``python -m pytest -m e2e``) and ``soak``
(``tox -e soak``) are left out of the default run (pyproject.toml's addopts)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _timeout_scale() -> float:
    raw = os.environ.get("FASTPOSE_TEST_TIMEOUT_SCALE")
    if raw is None:
        return 3.0 if os.environ.get("CI", "").lower() in ("1", "true", "yes") else 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not scale >= 1.0:  # also NaN
        raise pytest.UsageError(f"FASTPOSE_TEST_TIMEOUT_SCALE: expected a number >= 1, got {raw!r}")
    return scale


#: How much slower than a quiet 2-core VM this machine may be (FASTPOSE_TEST_TIMEOUT_SCALE; 3
#: under CI=true, else 1). Waits and "within N s" bounds on work the machine's speed decides are
#: multiplied by it; fastpose's own timeouts (a viewer's 5 s handshake...) are not.
TIMEOUT_SCALE = _timeout_scale()


def scaled(seconds: float) -> float:
    """``seconds`` of work on a quiet 2-core VM, as a bound on this machine (see TIMEOUT_SCALE)."""
    return seconds * TIMEOUT_SCALE


def data_file(name: str) -> Path:
    """A file of tests/data; a missing one fails the test, naming the path."""
    path = DATA / name
    if not path.is_file():
        pytest.fail(f"test data missing: {path} (see tests/data/SOURCES.md)")
    return path


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default `full` bundle, resolved as `fastpose run` does (cached after the first build)."""
    from fastpose.models import resolve_model

    return resolve_model("full").path


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str | Path, timeout: float | None = None, env: dict[str, str] | None = None
) -> CliResult:
    """``python -m fastpose ARGS`` in a subprocess, as a user runs it (by default, a hung one is
    stopped after ``scaled(600)`` s)."""
    proc = subprocess.run(
        [sys.executable, "-m", "fastpose", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=scaled(600) if timeout is None else timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def reference_image_landmarks() -> np.ndarray:
    """MediaPipe's expected (33, 2) normalized x, y for mediapipe_pose.jpg."""
    text = data_file("mediapipe_pose_landmarks.pbtxt").read_text()
    blocks = re.findall(r"landmark\s*\{([^}]*)\}", text)[:33]
    return np.array(
        [[float(re.search(rf"\b{k}:\s*(\S+)", b).group(1)) for k in ("x", "y")] for b in blocks]
    )


def reference_squats() -> np.ndarray:
    """MediaPipe's (65, 33, 3) pixel landmarks for pose_squats.mp4."""
    return np.array(json.loads(data_file("pose_squats.full.json").read_text()), dtype=np.float64)


@dataclass
class RrdSummary:
    """What a .rrd holds, read back with Rerun's own reader."""

    static: dict[str, set[str]]  # entity -> component columns logged statically
    temporal: dict[str, set[str]]  # entity -> component columns logged on timelines
    rows: dict[str, int]  # entity -> temporal rows
    timelines: set[str]
    frames: dict[str, set[int]]  # entity -> frame_idx values with data

    def columns(self, entity: str) -> set[str]:
        return self.static.get(entity, set()) | self.temporal.get(entity, set())


def read_rrd(path: Path) -> RrdSummary:
    from rerun.chunk import RrdReader

    static: dict[str, set[str]] = defaultdict(set)
    temporal: dict[str, set[str]] = defaultdict(set)
    rows: dict[str, int] = defaultdict(int)
    frames: dict[str, set[int]] = defaultdict(set)
    timelines: set[str] = set()
    for chunk in RrdReader(path).stream().to_chunks():
        batch = chunk.to_record_batch()
        names = {n for n in batch.schema.names if ":" in n}
        entity = chunk.entity_path.lstrip("/") or "/"
        if chunk.is_static:
            static[entity] |= names
            continue
        temporal[entity] |= names
        rows[entity] += chunk.num_rows
        timelines |= set(chunk.timeline_names)
        if "frame_idx" in batch.schema.names:
            frames[entity] |= set(batch.column("frame_idx").to_pylist())
    return RrdSummary(dict(static), dict(temporal), dict(rows), timelines, dict(frames))


@dataclass(frozen=True)
class Tracked:
    """A clip tracked through the API (``fastpose.Tracker(clip, **options)``) to its end: the
    smoothed batches in order, the video's info, the run's stats, the hooks' frame size and the
    decoder's layout."""

    clip: Path
    options: tuple[tuple[str, object], ...]
    batches: list  # [PoseBatch]
    info: object  # VideoInfo
    stats: object  # TrackStats
    frame_size: tuple[int, int]
    layout: object  # VideoLayout | None

    @property
    def poses(self):
        from fastpose.poses import PoseBatch

        return PoseBatch.concat(self.batches)


_TRACKED: dict[tuple, Tracked] = {}

#: Under pytest-xdist, the folder this run's workers share (see :func:`_made_once`).
_SHARED: dict[str, Path] = {}


@pytest.fixture(scope="session", autouse=True)
def _shared_folder(tmp_path_factory):
    """Under pytest-xdist, a folder every worker of this run sees (the parent of the workers'
    own temporary folders): a run one worker made is read there by the others."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _SHARED["folder"] = tmp_path_factory.getbasetemp().parent / "shared_runs"
        _SHARED["folder"].mkdir(exist_ok=True)
    yield
    _SHARED.clear()


def _made_once(key: tuple, make):
    """``make()``, once in this test run for ``key``: with several workers the first to ask makes
    it (the others wait for it) and leaves it pickled in the shared folder; the rest read it."""
    folder = _SHARED.get("folder")
    if folder is None:
        return make()
    path = folder / hashlib.sha1(repr(key).encode()).hexdigest()
    with FileLock(f"{path}.lock"):
        if path.exists():
            return pickle.loads(path.read_bytes())
        made = make()
        path.with_suffix(".tmp").write_bytes(pickle.dumps(made, pickle.HIGHEST_PROTOCOL))
        path.with_suffix(".tmp").rename(path)
        return made


def tracked(clip: Path, **options) -> Tracked:
    """``fastpose.Tracker(clip, **options)`` run to the end once per session (by clip and options,
    ``fastpose run``'s defaults filled in: num_poses 1, segment on, workers the cores here): every
    test that only reads a tracked clip reads this one run (with several workers, the one the
    first made). The one place the tests call the tracker for a whole clip."""
    from fastpose.cores import default_workers

    defaults = {"num_poses": 1, "segment": True, "workers": default_workers()}
    key_options = tuple(sorted({**defaults, **options}.items()))
    key = (str(Path(clip).resolve()), key_options)
    if key not in _TRACKED:
        made = _made_once(("tracked", *key), lambda: _track(Path(clip), options))
        _TRACKED[key] = replace(made, options=key_options)
    return _TRACKED[key]


def _track(clip: Path, options: dict) -> Tracked:
    from fastpose.tracker import Tracker

    with Tracker(clip, **options) as tracker:
        batches = [item.poses for item in tracker]
        return Tracked(
            clip,
            tuple(sorted(options.items())),
            batches,
            tracker.info,
            tracker.stats,
            tracker.frame_size,
            tracker.source.layout,
        )


@dataclass
class TrackedClip:
    """A clip tracked as `fastpose run` tracks it: its smoothed batches, in order, and its info."""

    batches: list  # [PoseBatch]
    info: object  # VideoInfo
    decode_size: tuple[int, int]

    @property
    def poses(self):
        from fastpose.poses import PoseBatch

        return PoseBatch.concat(self.batches)


@pytest.fixture(scope="session")
def track_clip():
    """``track_clip(name, num_poses)``: a tests/data clip tracked once per session on one
    landmarker, without masks (the run :func:`tracked` shares with every test asking the same)."""

    def track(name: str, num_poses: int = 1) -> TrackedClip:
        run = tracked(data_file(name), num_poses=num_poses, segment=False, workers=1)
        return TrackedClip(run.batches, run.info, run.frame_size)

    return track


@pytest.fixture(scope="session")
def track_poses():
    """``track_poses(clip, workers, num_poses=2, segment=True)``: every frame's tracked, smoothed
    poses of ``clip`` as one PoseBatch (with the video's info and the run's stats), through the
    Tracker API at the CLI's inference size for several people (960), once per arguments in the
    session (the run :func:`tracked` shares with every test asking the same)."""

    def track_run(clip: Path, workers: int, num_poses: int = 2, segment: bool = True):
        run = tracked(clip, num_poses=num_poses, segment=segment, workers=workers)
        return run.poses, run.info, run.stats

    return track_run


# --- `fastpose run` once per clip and settings ----------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    """One `fastpose run` that wrote every output at once (see :func:`cli_run`)."""

    clip: Path
    args: tuple[str, ...]
    stderr: str
    rrd: Path  # --save
    table: Path  # --export (Parquet)
    angles: Path  # --angles (Parquet)
    trc: Path  # --trc (FILE_<id>.trc with several people)
    render: Path | None  # --render, when asked for

    def landmarks(self):
        import pyarrow.parquet as pq

        return pq.read_table(self.table)


_CLI_RUNS: dict[tuple, CliRun] = {}


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory):
    """``cli_run(clip, *args, render=False)``: ``fastpose run CLIP --save out.rrd --export
    landmarks.parquet --angles angles.parquet --trc markers.trc [--render render.mp4] --no-progress
    ARGS`` in a real process, once per session for each clip and args (a run with ``--render``
    also serves those asking for none); the run must succeed. Tests that only read a run's outputs
    read this one (with several workers, the one the first made: :func:`_made_once`)."""

    def run(clip: Path, *args: str | Path, render: bool = False) -> CliRun:
        args = tuple(map(str, args))
        clip = Path(clip)
        key = (str(clip.resolve()), args)
        have = _CLI_RUNS.get(key)
        if have is not None and (have.render is not None or not render):
            return have

        def make() -> CliRun:
            folder = tmp_path_factory.mktemp("cli_run")
            outputs = {
                "rrd": folder / "out.rrd",
                "table": folder / "landmarks.parquet",
                "angles": folder / "angles.parquet",
                "trc": folder / "markers.trc",
                "render": folder / "render.mp4" if render else None,
            }
            flags = ["--save", outputs["rrd"], "--export", outputs["table"]]
            flags += ["--angles", outputs["angles"], "--trc", outputs["trc"]]
            flags += ["--render", outputs["render"]] if render else []
            result = run_cli("run", clip, *flags, "--no-progress", *args)
            assert result.returncode == 0, result.stderr
            return CliRun(clip, args, result.stderr, **outputs)

        _CLI_RUNS[key] = _made_once(("cli_run", *key, render), make)
        return _CLI_RUNS[key]

    return run


# --- `fastpose` in this process -------------------------------------------------------------------


@pytest.fixture
def cli_main(capfd, monkeypatch):
    """``cli_main(*args)``: ``fastpose.cli.main(ARGS)`` in this process (no interpreter to start):
    the exit code (an argparse error's 2 too) and what it wrote on descriptors 1 and 2, as a
    :class:`CliResult`. For refusals and option errors; runs that track use real processes."""
    import faulthandler
    import logging

    from fastpose.cli import main

    # pytest's own faulthandler keeps descriptor 2; main() would aim it at the captured stream.
    monkeypatch.setattr(faulthandler, "enable", lambda *a, **k: None)
    log = logging.getLogger("fastpose")

    def call(*args: str | Path) -> CliResult:
        saved = (list(log.handlers), log.level, log.propagate)
        capfd.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            log.handlers[:], log.propagate = saved[0], saved[2]
            log.setLevel(saved[1])
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return call

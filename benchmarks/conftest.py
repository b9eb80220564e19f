"""The benchmark session: its settings, the clips made at run time, the model, the report.

``python -m pytest benchmarks`` (``tox -e bench``) measures; ``--fastpose-smoke`` (``tox -e
bench-smoke``) runs every benchmark once on short clips, to prove they still run (CI).
``--fastpose-report PATH`` (or ``FASTPOSE_BENCH_REPORT``) writes the report there; without it the
report is only printed, so a run never rewrites a tracked file. ``FASTPOSE_BENCH_FRAMES``
(default 600) sets the clips' length and ``FASTPOSE_BENCH_ROUNDS`` (default 2) the rounds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import fastpose
from benchmarks.measure import ROOT
from benchmarks.report import Results, write
from fastpose.options import default_inference_size
from tests.clips import loop_video, transcode  # the tests' clip makers: one copy

DATA = ROOT / "tests" / "data"
SOURCE_CLIP = "pose2sim_single_cam01.mp4"  # 1080x1920, 60 fps, 100 frames
CLIP_SIZES = ("1080x1920", "480x854")
#: A smoke run: this many frames per clip, one round, the 1080x1920 clip only.
SMOKE_FRAMES = 24
RESULTS = pytest.StashKey["Results"]()
SETTINGS = pytest.StashKey["Settings"]()


@dataclass(frozen=True)
class Settings:
    """What this session measures: frames per clip, rounds per benchmark, whether it is a smoke
    run, and where the report goes (None: printed only)."""

    frames: int
    rounds: int
    smoke: bool
    report: Path | None

    def __post_init__(self) -> None:
        if self.frames < 1 or self.rounds < 1:
            raise ValueError(
                f"Settings: expected frames >= 1 and rounds >= 1, got {self.frames}, {self.rounds}"
            )

    @property
    def clip_sizes(self) -> tuple[str, ...]:
        return CLIP_SIZES[:1] if self.smoke else CLIP_SIZES

    @property
    def max_frames(self) -> int | None:
        """Frames per video for benchmarks on whole committed clips: all of them unless smoke."""
        return SMOKE_FRAMES if self.smoke else None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fastpose benchmarks")
    group.addoption(
        "--fastpose-report",
        type=Path,
        metavar="PATH",
        default=os.environ.get("FASTPOSE_BENCH_REPORT") or None,
        help="write the markdown report there (default: FASTPOSE_BENCH_REPORT, else print only)",
    )
    group.addoption(
        "--fastpose-smoke",
        action="store_true",
        help=f"every benchmark once on {SMOKE_FRAMES}-frame clips: proves they run (CI)",
    )


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, str(default))
    if not text.isdigit() or int(text) < 1:
        raise pytest.UsageError(f"{name}: expected an integer >= 1, got {text!r}")
    return int(text)


def pytest_configure(config: pytest.Config) -> None:
    smoke = bool(config.getoption("fastpose_smoke", False))
    report = config.getoption("fastpose_report", None)
    settings = Settings(
        frames=SMOKE_FRAMES if smoke else _env_int("FASTPOSE_BENCH_FRAMES", 600),
        rounds=1 if smoke else _env_int("FASTPOSE_BENCH_ROUNDS", 2),
        smoke=smoke,
        report=None if report is None else Path(report),
    )
    config.stash[SETTINGS] = settings
    config.stash[RESULTS] = Results(frames=settings.frames, rounds=settings.rounds)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``clip_size``: the clips this session measures (one in a smoke run), unless the test
    names its own."""
    marks = metafunc.definition.iter_markers("parametrize")
    own = any("clip_size" in str(m.args[0]) for m in marks)
    if "clip_size" in metafunc.fixturenames and not own:
        sizes = metafunc.config.stash[SETTINGS].clip_sizes
        metafunc.parametrize("clip_size", sizes, scope="session")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    results, settings = config.stash.get(RESULTS, None), config.stash.get(SETTINGS, None)
    if results is None or settings is None or not (results.rows or results.extra):
        return
    if settings.report is None:
        text = results.markdown()
        where = "printed only: --fastpose-report PATH writes it"
    else:
        text = write(results, settings.report)
        where = f"written to {settings.report}"
    terminalreporter.write_sep("=", f"fastpose benchmarks ({where})")
    terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def results(pytestconfig: pytest.Config) -> Results:
    return pytestconfig.stash[RESULTS]


def data_clip(name: str) -> Path:
    """A committed test clip; the benchmark fails (not skips) if it is missing."""
    path = DATA / name
    if not path.is_file():
        pytest.fail(f"benchmark data missing: {path} (see tests/data/SOURCES.md)")
    return path


#: The committed clips the CPU-per-frame benchmarks run on, with their people.
CPU_CLIPS = [("pose2sim_single_cam01.mp4", 1), ("sports2d_demo.mp4", 2)]


@dataclass(frozen=True)
class TrackedRun:
    """A tracking run's poses (one landmarker, `fastpose run`'s defaults otherwise), its video
    and the CPU time it took, for a stage's CPU per frame against the run's."""

    batches: list[fastpose.PoseBatch]
    info: fastpose.VideoInfo
    cpu_s: float

    @property
    def frames(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1e3 * self.cpu_s / self.frames


def tracked_run(name: str, num_poses: int, settings: Settings) -> TrackedRun:
    """Track the committed clip ``name`` on one landmarker, timing its CPU."""
    options = fastpose.TrackOptions.create(
        num_poses=num_poses, workers=1, max_frames=settings.max_frames
    )
    cpu = time.process_time()
    with fastpose.Tracker(data_clip(name), options) as tracker:
        batches = [item.poses for item in tracker]
    return TrackedRun(batches, tracker.info, time.process_time() - cpu)


@dataclass(frozen=True)
class Clip:
    """A clip made for this session: ``name`` is its size, ``frames`` how many to process."""

    name: str
    path: Path
    frames: int


@pytest.fixture(scope="session")
def clip(clip_size: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """The source clip looped (remuxed, 1080x1920), or scaled to 480x854 and re-encoded;
    ``settings.frames`` long."""
    src = data_clip(SOURCE_CLIP)
    folder = tmp_path_factory.mktemp("clips")
    if clip_size == "1080x1920":
        path = loop_video(src, folder / "looped_1080x1920.mp4", settings.frames)
    else:
        path = transcode(src, folder / "scaled_480x854.mp4", (480, 854), settings.frames)
    return Clip(clip_size, path, settings.frames)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The `full` bundle, resolved as `fastpose run` resolves it."""
    return fastpose.resolve_model("full").path


@pytest.fixture(scope="session")
def inference_size() -> int:
    """`fastpose run`'s default inference size for one person (the benchmarks' clips)."""
    return default_inference_size(1)

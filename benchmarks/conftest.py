"""The benchmark session: long clips made at run time, the model, and the results report.

``FASTPOSE_BENCH_FRAMES`` (default 600) sets the clips' length and ``FASTPOSE_BENCH_ROUNDS``
(default 2; the fastest counts) the rounds per benchmark. At the end of the session the report is
printed and written to ``benchmarks/results.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.measure import ROOT
from benchmarks.report import Results, write

DATA = ROOT / "tests" / "data"
SOURCE_CLIP = "pose2sim_single_cam01.mp4"  # 1080x1920, 60 fps, 100 frames
REPORT = Path(__file__).resolve().parent / "results.md"
RESULTS = pytest.StashKey[Results]()


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, str(default))
    if not text.isdigit() or int(text) < 1:
        raise pytest.UsageError(f"{name}: expected an integer >= 1, got {text!r}")
    return int(text)


def pytest_configure(config: pytest.Config) -> None:
    frames = _env_int("FASTPOSE_BENCH_FRAMES", 600)
    config.stash[RESULTS] = Results(frames=frames, rounds=_env_int("FASTPOSE_BENCH_ROUNDS", 2))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    results = config.stash.get(RESULTS, None)
    if results is None or not results.rows:
        return
    text = write(results, REPORT)
    terminalreporter.write_sep("=", f"fastpose benchmarks (also in {REPORT.relative_to(ROOT)})")
    terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def results(pytestconfig: pytest.Config) -> Results:
    return pytestconfig.stash[RESULTS]


@dataclass(frozen=True)
class Clip:
    """A clip made for this session: ``name`` is its size, ``frames`` how many frames to process."""

    name: str
    path: Path
    frames: int


@pytest.fixture(scope="session", params=["1080x1920", "480x854"])
def clip(
    request: pytest.FixtureRequest, results: Results, tmp_path_factory: pytest.TempPathFactory
) -> Clip:
    """The source clip looped (remuxed), or scaled to 480x854 and re-encoded; ``results.frames``
    long."""
    from tests.clips import loop_video, transcode

    src = DATA / SOURCE_CLIP
    if not src.is_file():
        pytest.fail(f"benchmark data missing: {src} (see tests/data/SOURCES.md)")
    folder = tmp_path_factory.mktemp("clips")
    if request.param == "1080x1920":
        path = loop_video(src, folder / "looped_1080x1920.mp4", results.frames)
    else:
        path = transcode(src, folder / "scaled_480x854.mp4", (480, 854), results.frames)
    return Clip(request.param, path, results.frames)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The `full` bundle, resolved as `fastpose run` resolves it."""
    from fastpose.models import resolve_model

    return resolve_model("full").path


@pytest.fixture(scope="session")
def inference_size() -> int:
    """`fastpose run`'s default --inference-size for one person (the benchmarks' clips)."""
    from fastpose.cli import default_inference_size

    return default_inference_size(1)

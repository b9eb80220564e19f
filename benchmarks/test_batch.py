"""`fastpose batch` over six short real clips against `fastpose run` on each in turn (the loop a
user writes without it), and with Ray's runtime; one group, whole processes as a user runs them.

"run on each in turn" is one benchmark of six processes, one after the other: the work a batch
replaces. The target (issue 13): the batch at least 1.8x faster (in the report's figures; not
asserted, as no timing here is). A smoke run takes one clip, a few frames of it, and no Ray.
"""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import pytest

from benchmarks.conftest import Settings, data_clip
from benchmarks.measure import ProcessRun, parse_summary, run_process
from benchmarks.report import (
    BASELINE,
    BATCH,
    BATCH_RAY,
    FASTPOSE,
    RUN_EACH,
    Results,
    Row,
    best_seconds,
)

pytestmark = pytest.mark.timeout(3600)

#: The test data's three videos (65, 100 and 230 frames), twice each.
CLIPS = ("pose_squats.mp4", "pose2sim_single_cam01.mp4", "sports2d_demo.mp4")
HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="module")
def videos(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the clips: six, or one in a smoke run."""
    folder = tmp_path_factory.mktemp("videos")
    names, copies = (CLIPS[:1], 1) if settings.smoke else (CLIPS, 2)
    for name in names:
        for k in range(1, copies + 1):
            shutil.copyfile(data_clip(name), folder / f"{Path(name).stem}_{k}.mp4")
    return folder


def label(videos: Path) -> str:
    """ "6 clips" (the report's name for this set)."""
    n = len(list(videos.iterdir()))
    return f"{n} clip{'s' if n > 1 else ''}"


def group(videos: Path) -> str:
    return f"{label(videos)}: fastpose run on each, fastpose batch"


def _limit(settings: Settings) -> list[str]:
    return [] if settings.max_frames is None else ["--max-frames", str(settings.max_frames)]


def _row(videos: Path, name: str, role: str, benchmark, runs: list[ProcessRun], frames: int) -> Row:
    """The fastest round's time and CPU, the largest round's memory. Ray's CPU is left out: its
    runtime's processes are not children the command waits for, so it would count nearly none."""
    seconds, rounds = best_seconds(benchmark, [r.wall_s for r in runs])
    fastest = min(runs, key=lambda r: r.wall_s)
    return Row(
        group=group(videos), clip=label(videos), name=name, role=role,
        frames=frames, seconds=seconds, rounds=rounds,
        cpu_s=None if name == BATCH_RAY else fastest.cpu_s,
        peak_rss=max(r.peak_rss for r in runs),
    )  # fmt: skip


def test_run_each(
    benchmark, videos: Path, results: Results, settings: Settings, tmp_path: Path
) -> None:
    """`fastpose run CLIP --save --export` on each clip, one process after the other."""
    benchmark.group = group(videos)
    rounds: list[ProcessRun] = []
    frames: list[int] = []

    def once() -> None:
        runs = []
        for clip in sorted(videos.iterdir()):
            save, export = tmp_path / f"{clip.stem}.rrd", tmp_path / f"{clip.stem}.parquet"
            args = ["-m", "fastpose", "run", str(clip), "--save", str(save)]
            args += ["--export", str(export), "--overwrite"]
            runs.append(run_process([*args, "--no-progress", *_limit(settings)]))
        frames.append(sum(parse_summary(r.stderr).frames for r in runs))
        wall, cpu = sum(r.wall_s for r in runs), sum(r.cpu_s for r in runs)
        rounds.append(ProcessRun(wall, cpu, max(r.peak_rss for r in runs), None, None, "", ""))

    benchmark.pedantic(once, rounds=settings.rounds, iterations=1)
    assert len(set(frames)) == 1, f"run on each: expected the same frames every round, got {frames}"
    results.add(benchmark, _row(videos, RUN_EACH, BASELINE, benchmark, rounds, frames[0]))


@pytest.mark.parametrize("ray", [False, True], ids=["local", "ray"])
def test_batch(
    benchmark, videos: Path, ray: bool, results: Results, settings: Settings, tmp_path: Path
) -> None:
    """`fastpose batch DIR --out OUT` (local threads, or on a local Ray runtime)."""
    if ray and not HAS_RAY:
        pytest.skip("Ray is not installed (pip install fastpose[ray])")
    if ray and settings.smoke:
        pytest.skip("a smoke run leaves Ray (~15 s to start) to the full run")
    benchmark.group = group(videos)
    out = tmp_path / "out"
    args = ["-m", "fastpose", "batch", str(videos), "--out", str(out), "--no-progress"]
    args += [*_limit(settings), *(["--ray"] if ray else [])]
    runs: list[ProcessRun] = []
    frames: list[int] = []

    def once() -> None:
        shutil.rmtree(out, ignore_errors=True)
        runs.append(run_process(args))
        with (out / "summary.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        statuses = [r["status"] for r in rows]
        assert statuses == ["done"] * len(rows) and len(rows) == len(list(videos.iterdir())), rows
        frames.append(sum(int(r["frames"]) for r in rows))

    benchmark.pedantic(once, rounds=settings.rounds, iterations=1)
    each = results.find(label(videos), RUN_EACH)
    if each is not None:
        assert frames[-1] == each.frames, (
            f"batch: expected the {each.frames} frames run on each tracked, got {frames[-1]}"
        )
    name = BATCH_RAY if ray else BATCH
    results.add(benchmark, _row(videos, name, FASTPOSE, benchmark, runs, frames[-1]))

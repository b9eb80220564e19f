"""The seed's per-frame loop against `fastpose run`, one benchmark per command, in one group per
clip; and the parts alone (decoding, one landmarker) that the CPU figures compare with.

The commands run as whole processes, as a user runs them: their times include start-up, their
memory every process they start. The parts run here and measure only their loop.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import fastpose
from benchmarks.conftest import Clip, Settings
from benchmarks.measure import ProcessRun, last_json, parse_summary, run_process
from benchmarks.report import (
    BASELINE,
    DECODE,
    DECODE_DECORD,
    FASTPOSE,
    LANDMARKER,
    PART,
    Results,
    Row,
    best_seconds,
)
from fastpose.cores import default_workers

pytestmark = pytest.mark.timeout(3600)

BASELINE_NAME = "seed's loop (benchmarks/baseline.py)"
WORKERS = sorted({1, default_workers()})


def group(clip: Clip) -> str:
    """The pytest-benchmark group of a clip's commands: the baseline and fastpose side by side."""
    return f"{clip.name}, {clip.frames} frames: the seed's loop and fastpose"


def process_row(clip: Clip, name: str, role: str, benchmark, runs: list[ProcessRun], **kw) -> Row:
    """A whole process's row: the fastest round's times, the largest round's memory."""
    seconds, rounds = best_seconds(benchmark, [r.wall_s for r in runs])
    fastest = min(runs, key=lambda r: r.wall_s)
    return Row(
        group=group(clip), clip=clip.name, name=name, role=role, frames=clip.frames,
        seconds=seconds, rounds=rounds, cpu_s=fastest.cpu_s,
        peak_rss=max(r.peak_rss for r in runs), first_frame_s=fastest.first_frame_s,
        steady_cpu_s=fastest.steady_cpu_s, **kw,
    )  # fmt: skip


def test_baseline(
    benchmark, clip: Clip, model_path: Path, results: Results, settings: Settings, tmp_path: Path
) -> None:
    """The seed's loop: OpenCV -> PoseLandmarker -> rr.log, frame by frame, into an .rrd."""
    benchmark.group = group(clip)
    out = tmp_path / "baseline.rrd"
    args = ["-m", "benchmarks.baseline", str(clip.path), str(out), str(model_path)]
    runs: list[ProcessRun] = []

    def once() -> None:
        out.unlink(missing_ok=True)
        runs.append(run_process([*args, "--max-frames", str(clip.frames)]))

    benchmark.pedantic(once, rounds=settings.rounds, iterations=1)
    report = last_json(runs[-1].stdout)
    assert report.get("frames") == clip.frames, (
        f"baseline: expected {clip.frames} frames logged, got {report.get('frames')}"
    )
    row = process_row(
        clip, BASELINE_NAME, BASELINE, benchmark, runs,
        with_person=report["with_person"], rrd_bytes=out.stat().st_size,
    )  # fmt: skip
    results.add(benchmark, row)


@pytest.mark.parametrize("workers", WORKERS, ids=lambda n: f"workers{n}")
def test_fastpose_run(
    benchmark, clip: Clip, workers: int, results: Results, settings: Settings, tmp_path: Path
) -> None:
    """`fastpose run CLIP --save OUT.rrd --workers N`, defaults otherwise."""
    benchmark.group = group(clip)
    run_fastpose(benchmark, clip, workers, tmp_path / "out.rrd", results, settings)


def run_fastpose(
    benchmark,
    clip: Clip,
    workers: int,
    out: Path,
    results: Results,
    settings: Settings,
    render: Path | None = None,
) -> Row:
    """Benchmark `fastpose run CLIP --save OUT --workers N [--render VIDEO]` (through cli_probe)
    and keep its row."""
    options = ["--workers", str(workers), *(["--render", str(render)] if render else [])]
    args = ["-m", "benchmarks.cli_probe", "run", str(clip.path), "--save", str(out)]
    args += ["--overwrite", "--max-frames", str(clip.frames), "--no-progress", *options]
    runs: list[ProcessRun] = []

    def once() -> None:
        runs.append(run_process(args))

    benchmark.pedantic(once, rounds=settings.rounds, iterations=1)
    summary = parse_summary(runs[-1].stderr)
    assert summary.frames == clip.frames, (
        f"fastpose run: expected {clip.frames} frames, got {summary.frames}"
    )
    assert runs[-1].first_frame_s is not None, (
        "cli_probe: expected a batch written to fastpose.RerunRecording, got none"
    )
    name = f"fastpose run --workers {workers}{' --render OUT.mp4' if render else ''}"
    row = process_row(
        clip, name, FASTPOSE, benchmark, runs,
        with_person=summary.frames - summary.without_person, rrd_bytes=out.stat().st_size,
        workers=summary.workers, requested_workers=workers,
    )  # fmt: skip
    return results.add(benchmark, row)


def parts_group(clip: Clip) -> str:
    return f"{clip.name}, {clip.frames} frames: parts alone (in this process)"


def part_row(clip: Clip, name: str, benchmark, walls: list[float], cpus: list[float], **kw) -> Row:
    seconds, rounds = best_seconds(benchmark, walls)
    cpu = cpus[walls.index(min(walls))]
    return Row(
        group=parts_group(clip), clip=clip.name, name=name, role=PART, frames=clip.frames,
        seconds=seconds, rounds=rounds, cpu_s=cpu, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("decoder", ["auto", "decord"])
def test_decode(
    benchmark, clip: Clip, inference_size: int, results: Results, settings: Settings, decoder: str
) -> None:
    """Decoding and scaling alone (fastpose's VideoSource at the default inference size), every
    batch; and with decord, the decoder the design first chose."""
    benchmark.group = parts_group(clip)
    options = fastpose.DecodeOptions(inference_size=inference_size)
    walls: list[float] = []
    cpus: list[float] = []

    def once() -> None:
        start, cpu = time.perf_counter(), time.process_time()
        with options.source(str(clip.path), max_frames=clip.frames, decoder=decoder) as src:
            frames = sum(len(batch) for batch in src)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        assert frames == clip.frames, f"decode: expected {clip.frames} frames, got {frames}"

    benchmark.pedantic(once, rounds=settings.rounds, iterations=1)
    name = DECODE if decoder == "auto" else DECODE_DECORD
    results.add(benchmark, part_row(clip, name, benchmark, walls, cpus))


@pytest.fixture
def decoded(clip: Clip, inference_size: int) -> list:
    """The clip's frames, decoded as `fastpose run` decodes them, before any timing."""
    options = fastpose.DecodeOptions(inference_size=inference_size)
    with options.source(str(clip.path), max_frames=clip.frames) as src:
        return list(src)


def test_landmarker(
    benchmark, clip: Clip, decoded: list, model_path: Path, results: Results, settings: Settings
) -> None:
    """One landmarker (`fastpose run`'s defaults: full model, masks) on pre-decoded frames."""
    benchmark.group = parts_group(clip)
    walls: list[float] = []
    cpus: list[float] = []
    found: list[int] = []

    def setup() -> tuple[tuple, dict]:
        return (fastpose.Landmarker(fastpose.LandmarkerOptions(model_path)),), {}

    def once(landmarker) -> None:
        with landmarker:
            start, cpu = time.perf_counter(), time.process_time()
            poses = [landmarker.detect(batch) for batch in decoded]
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        found.append(sum(int(p.detected.any(axis=1).sum()) for p in poses))

    benchmark.pedantic(once, setup=setup, rounds=settings.rounds, iterations=1)
    row = part_row(clip, LANDMARKER, benchmark, walls, cpus, with_person=found[-1])
    results.add(benchmark, row)

"""Throughput of the seed's per-frame loop (a), decoding (b), inference (c) and `fastpose run` (d).

(a) and (d) run as subprocesses, so both pay interpreter and model start-up and their RSS includes
every process they start; (b) and (c) run here and measure only their loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.conftest import Clip
from benchmarks.measure import InProcessRun, ProcessRun, in_process, parse_summary, run_process
from benchmarks.report import (
    BASELINE,
    DECODE,
    DECODE_DECORD,
    LANDMARKER,
    PIPELINE,
    Measurement,
    Results,
)
from fastpose.landmarker import Landmarker, LandmarkerOptions
from fastpose.parallel import DecodeOptions
from fastpose.tracker import default_workers
from fastpose.video import FrameBatch

pytestmark = pytest.mark.timeout(3600)


def _rounds(results: Results) -> dict[str, int]:
    return {"rounds": results.rounds, "iterations": 1}


def _from_runs(clip: Clip, kind: str, runs: list[ProcessRun], **fields: object) -> Measurement:
    """A subprocess measurement: the fastest round's time, the largest round's memory."""
    fastest = min(runs, key=lambda r: r.wall_s)
    return Measurement(
        clip=clip.name,
        kind=kind,
        frames=clip.frames,
        seconds=fastest.wall_s,
        cpu_s=fastest.cpu_s,
        rounds=len(runs),
        peak_rss=max(r.peak_tree_rss for r in runs),
        peak_process_rss=max(r.peak_process_rss for r in runs),
        first_frame_s=fastest.first_frame_s,
        steady_cpu_s=fastest.steady_cpu_s,
        **fields,
    )


def _from_in_process(
    clip: Clip, kind: str, runs: list[InProcessRun], **fields: object
) -> Measurement:
    """A measurement made here: the fastest round's times, the largest RSS growth."""
    fastest = min(runs, key=lambda r: r.wall_s)
    return Measurement(
        clip=clip.name,
        kind=kind,
        frames=clip.frames,
        seconds=fastest.wall_s,
        rounds=len(runs),
        cpu_s=fastest.cpu_s,
        peak_rss=max(r.rss_growth for r in runs),
        in_process=True,
        **fields,
    )


def test_baseline(
    benchmark, clip: Clip, model_path: Path, results: Results, tmp_path: Path
) -> None:
    """(a) OpenCV -> PoseLandmarker -> rr.log, frame by frame, into an .rrd."""
    out = tmp_path / "baseline.rrd"
    args = ["-m", "benchmarks.baseline", str(clip.path), str(out), str(model_path)]
    runs: list[ProcessRun] = []

    def once() -> None:
        out.unlink(missing_ok=True)
        runs.append(run_process([*args, "--max-frames", str(clip.frames)]))

    benchmark.pedantic(once, **_rounds(results))
    report = json.loads(runs[-1].stdout.strip().splitlines()[-1])
    assert report["frames"] == clip.frames, (
        f"baseline logged {report['frames']} frames, expected {clip.frames}"
    )
    row = _from_runs(
        clip, BASELINE, runs, with_person=report["with_person"], rrd_bytes=out.stat().st_size
    )
    benchmark.extra_info.update(results.add(row).info())


@pytest.mark.parametrize("decoder", ["auto", "decord"])
def test_decode(benchmark, clip: Clip, inference_size: int, results: Results, decoder: str) -> None:
    """(b) VideoSource at `fastpose run`'s default inference size, every batch; and decord."""
    runs: list[InProcessRun] = []
    options = DecodeOptions(inference_size=inference_size)
    path = str(clip.path)

    def once() -> None:
        with (
            in_process() as run,
            options.source(path, max_frames=clip.frames, decoder=decoder) as src,
        ):
            frames = sum(len(batch) for batch in src)
        runs.append(run)
        assert frames == clip.frames, f"decoded {frames} frames, expected {clip.frames}"

    benchmark.pedantic(once, **_rounds(results))
    kind = DECODE if decoder == "auto" else DECODE_DECORD
    benchmark.extra_info.update(results.add(_from_in_process(clip, kind, runs)).info())


@pytest.fixture
def decoded(clip: Clip, inference_size: int) -> list[FrameBatch]:
    """The clip's frames, decoded as the pipeline decodes them, before any timing."""
    options = DecodeOptions(inference_size=inference_size)
    with options.source(str(clip.path), max_frames=clip.frames) as src:
        return list(src)


def test_landmarker(
    benchmark, clip: Clip, decoded: list[FrameBatch], model_path: Path, results: Results
) -> None:
    """(c) One Landmarker (`fastpose run`'s defaults: full model, masks) on pre-decoded frames."""
    runs: list[InProcessRun] = []
    found: list[int] = []

    def setup() -> tuple[tuple[Landmarker], dict[str, object]]:
        return (Landmarker(LandmarkerOptions(model_path)),), {}

    def once(landmarker: Landmarker) -> None:
        with landmarker, in_process() as run:
            poses = [landmarker.detect(batch) for batch in decoded]
        runs.append(run)
        found.append(sum(int(p.detected.any(axis=1).sum()) for p in poses))

    benchmark.pedantic(once, setup=setup, **_rounds(results))
    row = _from_in_process(clip, LANDMARKER, runs, with_person=found[-1])
    benchmark.extra_info.update(results.add(row).info())


def test_pipeline(benchmark, clip: Clip, results: Results, tmp_path: Path) -> None:
    """(d) `fastpose run CLIP --save OUT.rrd --workers N` as a user runs it (defaults otherwise),
    with 1 worker and with all of them.

    The two alternate within the test (1, N, then N, 1 in the next round...), so that a machine
    whose speed drifts over minutes (a shared VM) slows both alike; the efficiency is taken per
    round from runs minutes apart at most. One benchmark round is one such pair.
    """
    counts = sorted({1, default_workers()})
    runs: dict[int, list[ProcessRun]] = {n: [] for n in counts}

    def pair() -> None:
        order = counts if len(runs[1]) % 2 == 0 else counts[::-1]
        for workers in order:
            runs[workers].append(_run_pipeline(clip, workers, tmp_path / f"w{workers}.rrd"))

    benchmark.pedantic(pair, **_rounds(results))
    for workers in counts:
        row = _pipeline_row(clip, workers, runs[workers], tmp_path / f"w{workers}.rrd")
        benchmark.extra_info[f"workers={workers}"] = results.add(row).info()
    benchmark.extra_info["figures"] = {f.name: f.value for f in results.figures(clip.name)}


def _run_pipeline(clip: Clip, workers: int, out: Path) -> ProcessRun:
    args = ["-m", "benchmarks.cli_probe", "run", str(clip.path), "--save", str(out), "--overwrite"]
    args += ["--workers", str(workers), "--max-frames", str(clip.frames), "--no-progress"]
    run = run_process(args)
    summary = parse_summary(run.stderr)
    assert summary.frames == clip.frames, (
        f"fastpose logged {summary.frames} frames, expected {clip.frames}"
    )
    return run


def _pipeline_row(clip: Clip, workers: int, runs: list[ProcessRun], out: Path) -> Measurement:
    fastest = min(runs, key=lambda r: r.wall_s)
    summary = parse_summary(fastest.stderr)
    return _from_runs(
        clip, PIPELINE, runs,
        requested_workers=workers,
        workers=summary.workers,
        with_person=summary.frames - summary.without_person,
        rrd_bytes=out.stat().st_size,
        reported_fps=summary.fps,
        round_seconds=tuple(r.wall_s for r in runs),
    )  # fmt: skip

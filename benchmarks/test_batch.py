"""`fastpose batch` on six short real clips against `fastpose run` on each in turn, and the Ray
runtime's overhead against the local batch; whole processes, as a user runs them.

Each round runs the three (run each, batch, batch --ray), in alternating order from one round to the
next, so a machine whose speed drifts (a shared VM) slows them alike; the speed-up is taken per
round. The figures go to ``benchmarks/batch_results.md`` (and the benchmark's ``extra_info``).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.measure import ROOT, ProcessRun, cpu_model, parse_summary, run_process
from benchmarks.report import Results

pytestmark = pytest.mark.timeout(3600)

DATA = ROOT / "tests" / "data"
#: Six short clips: the test data's three videos, twice each (65, 100 and 230 frames).
CLIPS = ("pose_squats.mp4", "pose2sim_single_cam01.mp4", "sports2d_demo.mp4")
REPORT = Path(__file__).resolve().parent / "batch_results.md"
RUN_EACH, BATCH, RAY = "fastpose run on each in turn", "fastpose batch", "fastpose batch --ray"
SPEEDUP_TARGET = 1.8
HAS_RAY = importlib.util.find_spec("ray") is not None


@dataclass(frozen=True)
class Round:
    """One kind's run in one round: wall and CPU seconds, peak RSS, frames that reached outputs."""

    wall_s: float
    cpu_s: float
    peak_rss: int
    frames: int


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("six")
    for name in CLIPS:
        src = DATA / name
        if not src.is_file():
            pytest.fail(f"benchmark data missing: {src} (see tests/data/SOURCES.md)")
        for k in (1, 2):
            shutil.copyfile(src, folder / f"{Path(name).stem}_{k}.mp4")
    return folder


def _run_each(six: Path, out: Path) -> Round:
    """`fastpose run CLIP --save --export` on each clip, one process after the other."""
    runs: list[ProcessRun] = []
    for clip in sorted(six.iterdir()):
        save, export = out / f"{clip.stem}.rrd", out / f"{clip.stem}.parquet"
        args = ["-m", "benchmarks.cli_probe", "run", str(clip), "--save", str(save)]
        runs.append(run_process([*args, "--export", str(export), "--overwrite", "--no-progress"]))
    return Round(
        sum(r.wall_s for r in runs),
        sum(r.cpu_s for r in runs),
        max(r.peak_tree_rss for r in runs),
        sum(parse_summary(r.stderr).frames for r in runs),
    )


def _batch(six: Path, out: Path, *extra: str) -> Round:
    shutil.rmtree(out, ignore_errors=True)
    args = ["-m", "benchmarks.cli_probe", "batch", str(six), "--out", str(out), "--no-progress"]
    run = run_process([*args, *extra])
    with (out / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["done"] * 6, rows
    return Round(run.wall_s, run.cpu_s, run.peak_tree_rss, sum(int(r["frames"]) for r in rows))


def test_batch_against_run_each(benchmark, six: Path, tmp_path: Path, results: Results) -> None:
    rounds = results.rounds  # FASTPOSE_BENCH_ROUNDS
    kinds = [RUN_EACH, BATCH, *([RAY] if HAS_RAY else [])]
    runs: dict[str, list[Round]] = {k: [] for k in kinds}
    measure = {
        RUN_EACH: lambda: _run_each(six, _fresh(tmp_path / "each")),
        BATCH: lambda: _batch(six, tmp_path / "batch"),
        RAY: lambda: _batch(six, tmp_path / "ray", "--ray"),
    }
    load_before, started = os.getloadavg(), time.time()

    def one_round() -> None:
        order = kinds if len(runs[BATCH]) % 2 == 0 else kinds[::-1]
        for kind in order:
            runs[kind].append(measure[kind]())

    benchmark.pedantic(one_round, rounds=rounds, iterations=1)
    text = _report(runs, load_before, started)
    REPORT.write_text(text)
    benchmark.extra_info["report"] = text
    print(text)
    frames = {k: {r.frames for r in rs} for k, rs in runs.items()}
    assert all(f == frames[BATCH] for f in frames.values()), frames


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def _report(runs: dict[str, list[Round]], load_before: tuple[float, ...], started: float) -> str:
    frames = runs[BATCH][0].frames
    lines = [
        "# fastpose batch: benchmark",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, {platform.machine()}; "
        f"Python {platform.python_version()}",
        f"- fastpose: {_revision()}; run {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}"
        " (local time)",
        f"- six clips ({', '.join(CLIPS)}, twice each; {frames} frames in all), "
        f"{len(runs[BATCH])} round(s), the kinds' order alternating; load average (1 min) "
        f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after",
        "- other jobs may share this machine (see the load average): the figures are noisy",
        "- CPU s: the command's and the processes it waited for (Ray's runtime is not among "
        "them); peak RSS: the whole process tree",
        "",
        "| measure | s (each round) | best s | frames/s (best) | CPU s (best round) | cores busy | "
        "peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, rs in runs.items():
        best = min(rs, key=lambda r: r.wall_s)
        each = ", ".join(f"{r.wall_s:.1f}" for r in rs)
        cpu, busy = f"{best.cpu_s:.1f}", f"{best.cpu_s / best.wall_s:.2f}"
        if kind == RAY:  # its runtime's processes are not children the command waits for
            cpu, busy = "– (not counted)", "–"
        lines.append(
            f"| {kind} | {each} | {best.wall_s:.1f} | {frames / best.wall_s:.1f} | "
            f"{cpu} | {busy} | {best.peak_rss / 2**20:.0f} |"
        )
    paired = [a.wall_s / b.wall_s for a, b in zip(runs[RUN_EACH], runs[BATCH], strict=True)]
    best = min(r.wall_s for r in runs[RUN_EACH]) / min(r.wall_s for r in runs[BATCH])
    met = "yes" if statistics.median(paired) >= SPEEDUP_TARGET else "**no**"
    lines += [
        "",
        "| figure | value | target | met |",
        "| --- | --- | --- | --- |",
        f"| speed-up: run on each / batch, round by round "
        f"({', '.join(f'{p:.2f}x' for p in paired)}): median | {statistics.median(paired):.2f}x "
        f"| >= {SPEEDUP_TARGET}x | {met} |",
        f"| speed-up: best of each | {best:.2f}x | | |",
        f"| CPU per frame: run on each / batch (start-up paid once, not six times) | "
        f"{_cpu(runs[RUN_EACH]) / _cpu(runs[BATCH]):.2f}x | | |",
    ]
    if RAY in runs:
        overhead = [a.wall_s - b.wall_s for a, b in zip(runs[RAY], runs[BATCH], strict=True)]
        ratio = [a.wall_s / b.wall_s for a, b in zip(runs[RAY], runs[BATCH], strict=True)]
        lines += [
            f"| Ray's overhead: batch --ray - batch, round by round "
            f"({', '.join(f'{o:+.1f} s' for o in overhead)}): median | "
            f"{statistics.median(overhead):+.1f} s | | |",
            f"| batch --ray / batch (wall), median | {statistics.median(ratio):.2f}x | | |",
        ]
    return "\n".join(lines) + "\n"


def _cpu(rounds: list[Round]) -> float:
    """CPU seconds of the fastest round."""
    return min(rounds, key=lambda r: r.wall_s).cpu_s


def _revision() -> str:
    """The commit measured, flagged when the working tree differs from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "fastpose")
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{head}{' + uncommitted changes in fastpose/' if dirty else ''}"


def _git(*args: str) -> str:
    run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return run.stdout.strip()

"""(e) What ``--render`` costs: ``fastpose run CLIP --save OUT.rrd`` with and without
``--render OUT.mp4``, as whole processes, as a user runs them.

Both on the 1080x1920 clip (pose2sim looped to ``FASTPOSE_BENCH_FRAMES``) with `fastpose run`'s
defaults (a landmarker per core, its inference size), in alternating rounds (A B A B...) so both
see the same machine. The target: the rendered run's wall time at most :data:`RENDER_TARGET`
times the plain run's (printed with the figures, and the rows in the report; not asserted, as no
timing here is).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import av
import pytest

from benchmarks.conftest import DATA, SOURCE_CLIP
from benchmarks.measure import ProcessRun, parse_summary, run_process
from benchmarks.report import Measurement, Results
from fastpose.cores import default_workers

pytestmark = pytest.mark.timeout(3600)

PLAIN, RENDERED = "e fastpose run", "e fastpose run --render"
RENDER_TARGET = 1.3


@pytest.fixture(scope="module")
def clip_1080(results: Results, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.clips import loop_video

    src = DATA / SOURCE_CLIP
    if not src.is_file():
        pytest.fail(f"benchmark data missing: {src} (see tests/data/SOURCES.md)")
    folder = tmp_path_factory.mktemp("render_clips")
    return loop_video(src, folder / "looped_1080x1920.mp4", results.frames)


def _run(path: Path, frames: int, rrd: Path, render: Path | None) -> ProcessRun:
    args = ["-m", "fastpose", "run", str(path), "--save", str(rrd), "--overwrite"]
    args += ["--max-frames", str(frames), "--no-progress"]
    if render is not None:
        render.unlink(missing_ok=True)
        args += ["--render", str(render)]
    run = run_process(args)
    summary = parse_summary(run.stderr)
    assert summary.frames == frames, f"tracked {summary.frames} frames, expected {frames}"
    return run


def test_render_cost(clip_1080: Path, results: Results, tmp_path: Path) -> None:
    frames = results.frames
    plain: list[ProcessRun] = []
    rendered: list[ProcessRun] = []
    out = tmp_path / "rendered.mp4"
    for _ in range(results.rounds):
        plain.append(_run(clip_1080, frames, tmp_path / "plain.rrd", None))
        rendered.append(_run(clip_1080, frames, tmp_path / "rendered.rrd", out))
    with av.open(str(out)) as c:
        packets = sum(1 for p in c.demux(video=0) if p.size)
    assert packets == frames, f"the rendered video holds {packets} frames, expected {frames}"

    pairs = [r.wall_s / p.wall_s for p, r in zip(plain, rendered, strict=True)]
    ratio = min(r.wall_s for r in rendered) / min(p.wall_s for p in plain)
    for kind, runs in ((PLAIN, plain), (RENDERED, rendered)):
        fastest = min(runs, key=lambda r: r.wall_s)
        results.add(
            Measurement(
                clip="1080x1920",
                kind=kind,
                frames=frames,
                seconds=fastest.wall_s,
                rounds=len(runs),
                cpu_s=fastest.cpu_s,
                peak_rss=max(r.peak_tree_rss for r in runs),
                round_seconds=tuple(r.wall_s for r in runs),
            )
        )
    met = "met" if ratio <= RENDER_TARGET else "NOT met"
    print(
        f"\n--render on {frames} 1080x1920 frames, {default_workers()} landmarkers: wall "
        f"{ratio:.2f}x the plain run's (fastest of {results.rounds} each; round by round "
        f"{', '.join(f'{x:.2f}' for x in pairs)}, median {statistics.median(pairs):.2f}); "
        f"CPU {min(r.cpu_s for r in rendered) / min(p.cpu_s for p in plain):.2f}x; "
        f"target wall <= {RENDER_TARGET}x: {met} (timings on a shared machine are noisy: "
        "reported, not asserted)"
    )

"""What angles and speeds cost: the Measurer's CPU time per frame on real poses, against the CPU
time per frame of the tracking run that made them (decode, landmarker, identities, smoothing: one
landmarker, `fastpose run`'s defaults otherwise), in the same session. The budget (issue 18):
measures add <= 5% CPU per frame to a run; asserted, as it is CPU time, not wall time.
"""

from __future__ import annotations

import time

import pytest

from benchmarks.conftest import CPU_CLIPS, Settings, tracked_run
from benchmarks.report import MEASURES_TARGET, Results, figure
from fastpose.measures import Measurer


@pytest.mark.parametrize(("name", "num_poses"), CPU_CLIPS)
def test_measures_cpu_per_frame(
    benchmark, name: str, num_poses: int, results: Results, settings: Settings
) -> None:
    benchmark.group = "angles and speeds: CPU per frame against the tracking run's"
    run = tracked_run(name, num_poses, settings)
    batches, frames, info = run.batches, run.frames, run.info
    cpus: list[float] = []

    def measure() -> None:
        measurer = Measurer(info.width, info.height, height_m=1.75)
        cpu = time.process_time()
        for poses in batches:
            measurer(poses)
        cpus.append(time.process_time() - cpu)

    benchmark.pedantic(measure, rounds=3, iterations=1, warmup_rounds=1)
    run_ms, measures_ms = run.cpu_ms_per_frame, 1e3 * min(cpus) / frames
    share = measures_ms / run_ms
    benchmark.extra_info.update(
        frames=frames,
        run_cpu_ms_per_frame=round(run_ms, 3),
        measures_cpu_ms_per_frame=round(measures_ms, 3),
        share=round(share, 4),
    )
    what = f"CPU per frame: angles and speeds / the tracking run ({run_ms:.1f} ms)"
    results.extra.append(figure(name, what, share, MEASURES_TARGET, "<=", "%"))
    assert share <= MEASURES_TARGET, (
        f"{name}: expected measures <= {MEASURES_TARGET:.0%} of the run's CPU per frame, "
        f"got {share:.2%} ({measures_ms:.3f} of {run_ms:.1f} ms)"
    )

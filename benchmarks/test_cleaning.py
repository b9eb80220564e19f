"""What keeping left and right apart and replacing glitches cost: the CPU time per frame of the
left/right correction (fastpose.laterality) and of the outlier filter (fastpose.outliers) on real
poses, against the CPU time per frame of the tracking run that made them (one landmarker,
`fastpose run`'s defaults otherwise), in the same session. Both run on the caller's thread, in
frame order; asserted <= 5% of the run's CPU per frame together (CPU time, not wall time).
"""

from __future__ import annotations

import time

import pytest

from benchmarks.conftest import CPU_CLIPS, Settings, tracked_run
from fastpose.laterality import Laterality
from fastpose.outliers import Outliers

#: The most the two may add to a run's CPU per frame.
TARGET = 0.05


@pytest.mark.parametrize(("name", "num_poses"), CPU_CLIPS)
def test_cleaning_cpu_per_frame(benchmark, name: str, num_poses: int, settings: Settings) -> None:
    benchmark.group = "left/right and outliers: CPU per frame against the tracking run's"
    run = tracked_run(name, num_poses, settings)
    batches, frames, aspect = run.batches, run.frames, run.info.width / run.info.height
    cpus: dict[str, list[float]] = {"laterality": [], "outliers": []}

    def clean() -> None:
        laterality, outliers = Laterality(aspect, fps=run.info.fps), Outliers(aspect)
        lat = out = 0.0
        for poses in [*batches, None]:  # None: the stream's end
            cpu = time.process_time()
            ready = laterality(poses) if poses is not None else laterality.finish()
            lat += time.process_time() - cpu
            cpu = time.process_time()
            for corrected in ready:
                outliers.push(corrected)
            out += time.process_time() - cpu
        cpu = time.process_time()
        outliers.finish()
        cpus["laterality"].append(lat)
        cpus["outliers"].append(out + time.process_time() - cpu)

    benchmark.pedantic(clean, rounds=3, iterations=1, warmup_rounds=1)
    run_ms = run.cpu_ms_per_frame
    ms = {k: 1e3 * min(v) / frames for k, v in cpus.items()}
    share = sum(ms.values()) / run_ms
    benchmark.extra_info.update(
        frames=frames,
        run_cpu_ms_per_frame=round(run_ms, 3),
        laterality_cpu_ms_per_frame=round(ms["laterality"], 3),
        outliers_cpu_ms_per_frame=round(ms["outliers"], 3),
        share=round(share, 4),
    )
    assert share <= TARGET, (
        f"{name}: expected left/right + outliers <= {TARGET:.0%} of the run's CPU per frame, "
        f"got {share:.2%} ({ms} of {run_ms:.1f} ms)"
    )

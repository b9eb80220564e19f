"""What angles and speeds cost: the Measurer's CPU time per frame on real poses, against the CPU
time per frame of the tracking run that made them (decode, landmarker, identities, smoothing), in
the same session. The issue's budget: measures add <= 5% CPU per frame to a run.

Run: ``pytest benchmarks/test_measures.py`` (short: the committed clips, once each).
"""

from __future__ import annotations

import time

import pytest

from benchmarks.conftest import DATA
from fastpose.measures import Measurer

CLIPS = [("pose2sim_single_cam01.mp4", 1), ("sports2d_demo.mp4", 2)]


def _track(name: str, num_poses: int):
    from fastpose.landmarker import LandmarkerOptions
    from fastpose.models import resolve_model
    from fastpose.tracker import Tracker, TrackOptions

    path = DATA / name
    if not path.is_file():
        pytest.fail(f"benchmark data missing: {path} (see tests/data/SOURCES.md)")
    options = TrackOptions(
        LandmarkerOptions(resolve_model("full").path, num_poses=num_poses), workers=1
    )
    cpu = time.process_time()
    with Tracker(path, options) as tracker:
        batches = [item.poses for item in tracker]
        info = tracker.info
    return batches, info, time.process_time() - cpu


@pytest.mark.parametrize(("name", "num_poses"), CLIPS)
def test_measures_cpu_per_frame(benchmark, name: str, num_poses: int) -> None:
    batches, info, run_cpu = _track(name, num_poses)
    frames = sum(len(b) for b in batches)

    cpus: list[float] = []

    def measure() -> None:
        measurer = Measurer(info.width, info.height, height_m=1.75)
        cpu = time.process_time()
        for poses in batches:
            measurer(poses)
        cpus.append(time.process_time() - cpu)

    benchmark.pedantic(measure, rounds=3, iterations=1, warmup_rounds=1)
    cpu = min(cpus)
    run_ms, measures_ms = 1e3 * run_cpu / frames, 1e3 * cpu / frames
    share = measures_ms / run_ms
    benchmark.extra_info.update(
        run_cpu_ms_per_frame=round(run_ms, 3),
        measures_cpu_ms_per_frame=round(measures_ms, 3),
        share=round(share, 4),
    )
    print(
        f"\n{name} ({num_poses} pose slot(s), {frames} frames): run {run_ms:.1f} ms CPU/frame, "
        f"measures {measures_ms:.3f} ms CPU/frame = {100 * share:.2f}%"
    )
    assert share <= 0.05

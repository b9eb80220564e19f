"""What ``--render`` costs: ``fastpose run CLIP --save OUT.rrd --render OUT.mp4`` on the 1080x1920
clip, in the clip's group beside the same run without it (``test_throughput.py``), as whole
processes. The target (issue 19): the rendered run's wall time at most 1.3 times the plain run's
(in the report's figures; not asserted, as no timing here is)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from benchmarks.conftest import Clip, Settings
from benchmarks.report import Results
from benchmarks.test_throughput import WORKERS, group, run_fastpose

pytestmark = pytest.mark.timeout(3600)


@pytest.mark.parametrize("clip_size", ["1080x1920"], scope="session")
def test_fastpose_run_render(
    benchmark, clip: Clip, results: Results, settings: Settings, tmp_path: Path
) -> None:
    benchmark.group = group(clip)
    video = tmp_path / "rendered.mp4"
    run_fastpose(benchmark, clip, WORKERS[-1], tmp_path / "out.rrd", results, settings, video)
    with av.open(str(video)) as c:
        packets = sum(1 for p in c.demux(video=0) if p.size)
    assert packets == clip.frames, f"--render: expected {clip.frames} frames, got {packets}"

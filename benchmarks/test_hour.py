"""An hour of video, every output on: sports2d_demo played forwards and backwards at 640x360, 30
fps, looped to 108,000 frames (made at run time, never committed), through ``fastpose.track``
with ``--save --export --angles --trc`` as ``fastpose run`` makes them (``benchmarks/hour.py``, as
a process of its own). Reported: peak RSS after 10, 30 and 60 minutes of video (1/6, 1/2 and all
of a shorter run), the RSS slope per frame, frames/s and the recording's bytes per hour of video.

It takes about an hour on 2 cores, so it runs only when asked: ``FASTPOSE_HOUR_FRAMES=108000
python -m pytest benchmarks/test_hour.py -p no:cacheprovider --dist no --benchmark-only -s`` (fewer
frames for a shorter run); the smoke run (``--fastpose-smoke``) runs it on 24 frames.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.conftest import SMOKE_FRAMES, Settings, data_clip
from benchmarks.measure import last_json, run_process
from benchmarks.report import Results, figure
from tests.clips import long_ping_pong

pytestmark = pytest.mark.timeout(4 * 3600)

HOUR_FRAMES = 108_000  # an hour at 30 fps
ENV = "FASTPOSE_HOUR_FRAMES"
CLIP = "640x360, 30 fps"
SLOPE_FRAMES = 1000  # fewer: no slope reported (start-up dominates)


def hour_frames(settings: Settings) -> int | None:
    """Frames to run: SMOKE_FRAMES in a smoke run, ``FASTPOSE_HOUR_FRAMES`` if set, else None
    (not asked for: skipped)."""
    if settings.smoke:
        return SMOKE_FRAMES
    text = os.environ.get(ENV)
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise pytest.UsageError(f"{ENV}: expected an integer >= 1, got {text!r}")
    return int(text)


def test_hour_every_output(
    benchmark, results: Results, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    frames = hour_frames(settings)
    if frames is None:
        pytest.skip(f"an hour of video (about an hour to run): {ENV}={HOUR_FRAMES} runs it")
    folder = tmp_path_factory.mktemp("hour")
    clip = long_ping_pong(data_clip("sports2d_demo.mp4"), folder / f"hour_{frames}.mp4", frames)
    out = folder / "out"
    runs = []

    def once() -> None:
        runs.append(run_process(["-m", "benchmarks.hour", str(clip), str(out)], 4 * 3600))

    benchmark.group = "an hour of video, every output"
    benchmark.pedantic(once, rounds=1, iterations=1)
    report = last_json(runs[-1].stdout)
    assert report.get("frames", 0) >= frames, f"expected {frames} frames, got {report}"
    assert all(report["bytes"][k] > 0 for k in ("save", "export", "angles", "trc")), report
    report.pop("samples")
    benchmark.extra_info.update(report, peak_tree_rss_mb=round(runs[-1].peak_rss / 1e6, 1))
    where = f"{CLIP}, {report['frames']} frames"
    mb = report["peak_rss_mb_at_minutes"]
    results.extra += [
        figure(where, f"peak RSS after {m} min of video (MB)", v, fmt=".0f") for m, v in mb.items()
    ]
    results.extra.append(
        figure(where, "peak RSS, the whole run (MB)", report["peak_rss_mb"], fmt=".0f")
    )
    if report["frames"] >= SLOPE_FRAMES:
        slope = report["slope_kb_per_frame"]
        results.extra.append(figure(where, "RSS slope after the first 10% (KB/frame)", slope))
    results.extra += [
        figure(where, "frames/s", report["frames_per_s"], fmt=".1f"),
        figure(where, "recording, GB per hour of video", report["recording_bytes_per_hour"] / 1e9),
    ]
    print(f"hour: {report}")

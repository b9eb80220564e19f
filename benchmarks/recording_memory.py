"""The Rerun recording's share of a long run's memory: a clip tracked once, its batches (poses,
masks, measures, the decoded frames for the frame hook) replayed into the recording sink over
and over, frame indices and times running on, to ``--frames`` frames; RSS sampled after every
batch. Prints RSS at 2,000 frames and at the end, the slope (KB a frame, fitted over the last
90 %), the recording's chunks a frame and bytes a frame.

    python benchmarks/recording_memory.py tests/data/sports2d_demo.mp4 --frames 20000 \\
        --video-mode stream --out /tmp/rec.rrd

Only the sink's interface is used (``RerunRecording(target, video_mode=...)``, ``open``,
``frame_hook``, ``write``, ``close``), so the same script measures an older checkout
(``PYTHONPATH=OLD``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil


def capture(clip: Path, frames: int):
    """``clip``'s first ``frames`` frames tracked (one person, masks): the batches and the
    frames the recording's frame hook sees, the video's info and the hooks' frame size."""
    from fastpose.tracker import Tracker

    captured = []

    def keep(batch, _poses):
        captured.append(batch)
        return None

    with Tracker(clip, max_frames=frames, workers=1) as tracker:
        batches = [b.poses for b in tracker.batches({"keep": keep})]
        return batches, captured, tracker.info, tracker.frame_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--source-frames", type=int, default=120)
    parser.add_argument("--video-mode", default="stream")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from fastpose.measures.measurer import Measurer
    from fastpose.sinks.base import SinkContext, Tracked
    from fastpose.sinks.rerun import RerunRecording
    from fastpose.target import RerunTarget

    batches, frames, info, frame_size = capture(args.clip, args.source_frames)
    n = sum(len(b) for b in batches)
    assert sum(len(f) for f in frames) == n, "a frame batch a pose batch"

    class Here:
        def claim(self, final: Path) -> Path:
            final.unlink(missing_ok=True)
            final.touch()
            return final

    sink = RerunRecording(RerunTarget(save=args.out), video_mode=args.video_mode)
    context = SinkContext(info, frame_size, batches[0].max_persons, {"model": "full"})
    sink.open(context, Here())
    hook = sink.frame_hook()
    measurer = Measurer(info.width, info.height)
    proc = psutil.Process()
    dt = float(np.median(np.diff(batches[0].time_s))) if len(batches[0]) > 1 else 1 / 30
    written, lap, samples = 0, 0, []
    start = time.perf_counter()
    while written < args.frames:
        for poses, images in zip(batches, frames, strict=True):
            shift = lap * n
            poses = replace(
                poses,
                frame_idx=poses.frame_idx + shift,
                time_s=poses.time_s + shift * dt,
                pts_s=poses.pts_s + shift * dt,
            )
            images = replace(
                images, frame_idx=poses.frame_idx, time_s=poses.time_s, pts_s=poses.pts_s
            )
            extras = {sink.name: hook(images, poses)} if hook is not None else {}
            sink.write(Tracked(poses, extras, measurer(poses)))
            written += len(poses)
            samples.append((written, proc.memory_info().rss))
            if written >= args.frames:
                break
        lap += 1
    sink.close(complete=True)
    elapsed = time.perf_counter() - start
    done, rss = np.array(samples, np.float64).T
    tail = done >= 0.1 * done[-1]
    slope = np.polyfit(done[tail], rss[tail], 1)[0] / 1024
    at2k = rss[np.searchsorted(done, 2000)] if done[-1] >= 2000 else np.nan
    chunks = count_chunks(args.out)
    size = args.out.stat().st_size
    print(
        f"{args.video_mode}: {written} frames in {elapsed:.0f} s; RSS at 2,000 frames "
        f"{at2k / 2**20:.0f} MB, at the end {rss[-1] / 2**20:.0f} MB (peak "
        f"{rss.max() / 2**20:.0f} MB), slope {slope:.2f} KB/frame; {chunks} chunks "
        f"({chunks / written:.3f}/frame); {size / written / 1024:.2f} KB/frame"
    )


def count_chunks(rrd: Path) -> int:
    """The recording's temporal chunks."""
    from rerun.chunk import RrdReader

    return sum(1 for c in RrdReader(rrd).stream().to_chunks() if not c.is_static)


if __name__ == "__main__":
    main()

"""`fastpose run --ray` on a local runtime against `--workers 1` and `--workers 2`: the figures
docs/ray.md scales to a cluster from.

    python -m benchmarks.ray_run [CLIP] [--num-poses 2] [--render]

One run per mode, through the API as `fastpose run CLIP --save --export` runs it (the recording
and the landmark table; ``--render`` adds the drawn video, whose sink decodes the file again on the
driver). Per mode: wall seconds and frames/s from the first range's start (the Ray runtime is up
before, as it is on a cluster); the CPU of the thread that writes the outputs (identities,
smoothing, measures, the sinks' writing) per frame; on Ray, the driver process's CPU per frame
(everything the driver does, its sinks' own threads included), and the ranges' costs on their
nodes: seconds and CPU per range, the landmarker's start, frames read (warm-ups included) against
frames handed on, and the bytes sent back per frame.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from fastpose.options import TrackOptions
from fastpose.pipeline import record
from fastpose.spec import Outputs, RunSpec, build_sinks
from fastpose.target import RerunTarget
from fastpose.tracker import Tracker

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "tests" / "data" / "sports2d_demo.mp4"
MODES = {"--workers 1": (1, False), "--workers 2": (2, False), "--ray (2 CPUs)": (2, True)}


def measure(clip: Path, workers: int, ray: bool, num_poses: int, render: bool) -> dict:
    options = TrackOptions.create(num_poses=num_poses, workers=workers, ray=ray)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        outputs = Outputs(
            recording=RerunTarget(save=out / "run.rrd"),
            landmarks=out / "run.parquet",
            render=out / "run.mp4" if render else None,
        )
        consumer: list[float] = []
        with Tracker(clip, options) as tracker:
            wall, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
            result = record(
                tracker,
                build_sinks(RunSpec(options, outputs)),
                on_batch=lambda _: consumer.append(time.thread_time()),
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            stats = tracker.stats
        frames = result.frames
        row = {
            "frames": frames,
            "seconds": wall,
            "fps": frames / wall,
            "consumer_ms": 1e3 * (consumer[-1] - thread) / frames,
            "driver_ms": 1e3 * cpu / frames if ray else None,
            "ranges": stats.workers,
            "reruns": stats.reruns,
        }
        if stats.ray is not None:
            r = stats.ray
            row |= {
                "tasks": r.tasks,
                "task_s": r.seconds / r.tasks,
                "task_cpu_ms": 1e3 * r.cpu_s / r.read,
                "start_s": r.start_s / r.tasks,
                "read": r.read,
                "kb_per_frame": r.payload / r.frames / 1e3,
            }
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path, default=CLIP)
    parser.add_argument("--num-poses", type=int, default=2)
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    print(f"{args.clip.name}, --num-poses {args.num_poses}; load {os.getloadavg()[0]:.1f}")
    for name, (workers, ray) in MODES.items():
        row = measure(args.clip, workers, ray, args.num_poses, args.render)
        print(name, {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

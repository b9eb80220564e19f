"""``fastpose run --resume``'s time against a whole run's, killed at ~60% (issue 27: <= 0.6x).

    python benchmarks/resume_ratio.py [FRAMES] [--kill-at 0.6]

sports2d_demo (two people) at 640x360, looped to FRAMES frames (default 3,000), every output
(``--save --export --angles .parquet --angles .mot --trc --render``, ``--num-poses 2``): one whole
run, then the same command SIGKILLed once it used ``kill-at`` of that run's CPU time, then the same
command with ``--resume``. Prints wall and CPU times, their ratios and the machine's load average
(on a loaded machine the CPU ratio is the one to trust).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import psutil  # noqa: E402
from clips import transcode  # noqa: E402


def _command(clip: Path, folder: Path) -> list[str]:
    out = [
        "--save", folder / "o.rrd", "--export", folder / "o.parquet",
        "--angles", folder / "a.parquet", "--angles", folder / "a.mot",
        "--trc", folder / "o.trc", "--render", folder / "o.mp4",
    ]  # fmt: skip
    return [sys.executable, "-m", "fastpose", "run", str(clip), *map(str, out),
            "--num-poses", "2", "--no-progress", "-q"]  # fmt: skip


def _run(cmd: list[str], kill_at_cpu: float | None = None) -> tuple[float, float]:
    """Run ``cmd``: (wall seconds, CPU seconds of it and its children). With ``kill_at_cpu``,
    SIGKILL it once it has used that much CPU (a measure of progress the machine's load moves
    less than the wall clock's)."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = psutil.Popen(cmd, cwd=ROOT)
    while proc.poll() is None:
        if kill_at_cpu is not None:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                if times.user + times.system >= kill_at_cpu:
                    proc.send_signal(signal.SIGKILL)
        time.sleep(0.1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if kill_at_cpu is None and proc.returncode != 0:
        raise SystemExit(f"{cmd}: exit {proc.returncode}")
    return time.perf_counter() - started, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("frames", type=int, nargs="?", default=3000)
    parser.add_argument("--kill-at", type=float, default=0.6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = ROOT / "tests" / "data" / "sports2d_demo.mp4"
        clip = transcode(src, work / "clip.mp4", (640, 360), args.frames)
        (work / "whole").mkdir()
        (work / "cut").mkdir()
        load = [os.getloadavg()[0]]
        whole, whole_cpu = _run(_command(clip, work / "whole"))
        load.append(os.getloadavg()[0])
        _run(_command(clip, work / "cut"), kill_at_cpu=args.kill_at * whole_cpu)
        from fastpose.resume import journal_folder, read_checkpoint

        checkpoint = read_checkpoint(journal_folder(work / "cut" / "o.rrd"))
        resumed, resumed_cpu = _run([*_command(clip, work / "cut"), "--resume"])
        load.append(os.getloadavg()[0])
    at = checkpoint.next_frame if checkpoint else 0
    print(
        f"{args.frames} frames: whole run {whole:.1f} s ({whole_cpu:.1f} s CPU); killed at "
        f"{args.kill_at:.0%} of its CPU (checkpoint at frame {at}); --resume {resumed:.1f} s "
        f"({resumed_cpu:.1f} s CPU): {resumed / whole:.2f}x the time, "
        f"{resumed_cpu / whole_cpu:.2f}x the CPU; load average (1 min) "
        f"{', '.join(f'{x:.1f}' for x in load)} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()

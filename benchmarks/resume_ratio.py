"""``fastpose run --resume``'s time against a whole run's, killed at ~60% (issue 27: <= 0.6x).

    python benchmarks/resume_ratio.py [FRAMES] [--kill-at 0.6]

sports2d_demo (two people) at 640x360, looped to FRAMES frames (default 3,000), every output
(``--save --export --angles .parquet --angles .mot --trc --render``, ``--num-poses 2``): one whole
run (timed), then the same command SIGKILLed at ``kill-at`` of that time, then the same command
with ``--resume`` (timed). Prints the times, the ratio and the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clips import transcode  # noqa: E402


def _command(clip: Path, folder: Path) -> list[str]:
    out = [
        "--save", folder / "o.rrd", "--export", folder / "o.parquet",
        "--angles", folder / "a.parquet", "--angles", folder / "a.mot",
        "--trc", folder / "o.trc", "--render", folder / "o.mp4",
    ]  # fmt: skip
    return [sys.executable, "-m", "fastpose", "run", str(clip), *map(str, out),
            "--num-poses", "2", "--no-progress", "-q"]  # fmt: skip


def _timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - started


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
        whole = _timed(_command(clip, work / "whole"))
        load.append(os.getloadavg()[0])
        proc = subprocess.Popen(_command(clip, work / "cut"), cwd=ROOT)
        time.sleep(args.kill_at * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        from fastpose.resume import journal_folder, read_checkpoint

        checkpoint = read_checkpoint(journal_folder(work / "cut" / "o.rrd"))
        resumed = _timed([*_command(clip, work / "cut"), "--resume"])
        load.append(os.getloadavg()[0])
    at = checkpoint.next_frame if checkpoint else 0
    print(
        f"{args.frames} frames: whole run {whole:.1f} s; killed at {args.kill_at:.0%} of it "
        f"(checkpoint at frame {at}); --resume {resumed:.1f} s = {resumed / whole:.2f}x; "
        f"load average (1 min) {', '.join(f'{x:.1f}' for x in load)} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()

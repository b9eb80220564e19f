"""``fastpose run --resume``'s time against a whole run's, killed at ~60% (issue 27: <= 0.6x).

    python benchmarks/resume_ratio.py [FRAMES] [--kill-at 0.6] [--pairs 2]

sports2d_demo (two people) at 640x360, looped to FRAMES frames (default 3,000), every output
(``--save --export --angles .parquet --angles .mot --trc --render``, ``--num-poses 2``). A pair is
one whole run and the same command SIGKILLed at its last checkpoint before ``kill-at`` of the
frames (killed there, a run continues from that checkpoint, as one killed at ``kill-at`` would:
checkpoints come every 100 frames), then continued with ``--resume``; the pairs alternate which
comes first (A/B interleaved, so a machine whose load changes weighs on both alike). Prints each
pair's wall and CPU times (user + sys of the process tree), their ratios and the load average,
and the resumed run's line on writing the journaled frames again (its wall and CPU seconds).
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


def _run(
    cmd: list[str], kill_at: tuple[Path, int] | None = None, log: Path | None = None
) -> tuple[float, float]:
    """Run ``cmd``: (wall seconds, CPU seconds of it and its children). With ``kill_at``
    (a journal folder, a frame), SIGKILL it at its last checkpoint there before that frame;
    with ``log``, its stderr goes there."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(open(log, "w")) if log is not None else None
        proc = psutil.Popen(cmd, cwd=ROOT, stderr=err)
        _wait(proc, kill_at)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if kill_at is None and proc.returncode != 0:
        raise SystemExit(f"{cmd}: exit {proc.returncode}")
    return time.perf_counter() - started, cpu


def _wait(proc: psutil.Popen, kill_at: tuple[Path, int] | None) -> None:
    from fastpose.resume import CHECKPOINT_FRAMES, read_checkpoint

    while proc.poll() is None:
        if kill_at is not None:
            with contextlib.suppress(Exception):  # a checkpoint being replaced
                checkpoint = read_checkpoint(kill_at[0])
                last = kill_at[1] - CHECKPOINT_FRAMES  # the checkpoint a kill at kill_at[1] keeps
                if checkpoint is not None and checkpoint.next_frame > last:
                    proc.send_signal(signal.SIGKILL)
        time.sleep(0.1)


def _whole(clip: Path, folder: Path) -> tuple[float, float]:
    folder.mkdir()
    return _run(_command(clip, folder))


def _cut_and_resumed(clip: Path, folder: Path, at: int) -> tuple[float, float, int, str]:
    """The run killed at frame ``at``, then ``--resume``: its wall and CPU seconds, the
    frame it resumed at, and its log's line on the frames written again from the journal."""
    from fastpose.resume import journal_folder, read_checkpoint

    folder.mkdir()
    journal = journal_folder(folder / "o.rrd")
    _run(_command(clip, folder), kill_at=(journal, at))
    checkpoint = read_checkpoint(journal)
    log = folder / "resume.log"
    loud = [a for a in _command(clip, folder) if a != "-q"]  # its log: the replay's line
    wall, cpu = _run([*loud, "-v", "--resume"], log=log)
    replay = [line for line in log.read_text().splitlines() if "written again" in line]
    return wall, cpu, checkpoint.next_frame if checkpoint else 0, "".join(replay[-1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("frames", type=int, nargs="?", default=3000)
    parser.add_argument("--kill-at", type=float, default=0.6)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    at = int(args.kill_at * args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = ROOT / "tests" / "data" / "sports2d_demo.mp4"
        clip = transcode(src, work / "clip.mp4", (640, 360), args.frames)
        for k in range(args.pairs):
            load = os.getloadavg()[0]
            if k % 2 == 0:
                whole, whole_cpu = _whole(clip, work / f"whole{k}")
                resumed, resumed_cpu, start, replay = _cut_and_resumed(clip, work / f"cut{k}", at)
            else:
                resumed, resumed_cpu, start, replay = _cut_and_resumed(clip, work / f"cut{k}", at)
                whole, whole_cpu = _whole(clip, work / f"whole{k}")
            print(
                f"pair {k + 1} ({args.frames} frames, {'whole' if k % 2 == 0 else 'cut'} "
                f"first): whole {whole:.1f} s ({whole_cpu:.1f} s CPU); killed at its checkpoint "
                f"before frame {at}, resumed at {start}: --resume {resumed:.1f} s "
                f"({resumed_cpu:.1f} s CPU): "
                f"{resumed / whole:.2f}x the time, {resumed_cpu / whole_cpu:.2f}x the CPU; load "
                f"average (1 min) {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
                flush=True,
            )
            print(f"  {replay.removeprefix('fastpose: ')}", flush=True)


if __name__ == "__main__":
    main()

"""``python -m benchmarks.cli_probe ARGS``: ``fastpose ARGS``, noting its first logged frame.

The sink's ``log_frames`` (the last call per batch in ``fastpose run``) is wrapped to note the
``time.time()`` of its first call and the process's CPU seconds then; those, with the CPU seconds
at the end, are printed as a JSON line on stdout after the CLI returns. CPU from the first frame to
the end is the steady state, without start-up.
"""

from __future__ import annotations

import json
import resource
import time

import fastpose.record
from fastpose.cli import main
from fastpose.poses import PoseBatch
from fastpose.rerun_sink import RerunSink


def probe(argv: list[str] | None = None) -> int:
    """Run the CLI with a sink that notes its first logged frame; print that time as JSON."""
    stamps: list[float] = []
    cpu: list[float] = []

    class StampedSink(RerunSink):
        def log_frames(self, poses: PoseBatch, jpegs: list[bytes] | None = None) -> None:
            super().log_frames(poses, jpegs)
            if not stamps and len(poses):
                stamps.append(time.time())
                cpu.append(_cpu_s())

    fastpose.record.RerunSink = StampedSink  # type: ignore[misc]
    code = main(argv)
    report = {
        "first_frame_at": stamps[0] if stamps else None,
        "cpu_at_first_frame_s": cpu[0] if cpu else None,
        "cpu_s": _cpu_s(),
    }
    print(json.dumps(report))
    return code


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    raise SystemExit(probe())

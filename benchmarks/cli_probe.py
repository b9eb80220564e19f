"""``python -m benchmarks.cli_probe ARGS``: ``fastpose ARGS``, noting its first logged frame.

``fastpose.record._write`` (a batch to every output, in ``fastpose run`` and ``batch``) is wrapped
to note the ``time.time()`` of its first batch, once written, and the process's CPU seconds then;
those, with the CPU seconds at the end, are printed as a JSON line on stdout after the CLI returns.
CPU from the first frame to the end is the steady state, without start-up. Nothing is imported
here that ``fastpose run`` would not import at that point, so start-up is measured as it is.
"""

from __future__ import annotations

import json
import resource
import time

import fastpose.record
from fastpose.cli import main


def probe(argv: list[str] | None = None) -> int:
    """Run the CLI noting its first written batch; print that time (and CPU seconds) as JSON."""
    stamps: list[float] = []
    cpu: list[float] = []
    write = fastpose.record._write

    def stamped(item, *args, **kwargs):
        write(item, *args, **kwargs)
        if not stamps and len(item.poses):
            stamps.append(time.time())
            cpu.append(_cpu_s())

    fastpose.record._write = stamped
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

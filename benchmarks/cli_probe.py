"""``python -m benchmarks.cli_probe ARGS``: ``fastpose ARGS``, noting its first logged frame.

The sink's ``log_frames`` (the last call per batch in ``fastpose run``) is wrapped to note the
``time.time()`` of its first call; that is printed as a JSON line on stdout after the CLI returns.
"""

from __future__ import annotations

import json
import time

import fastpose.record
from fastpose.cli import main
from fastpose.poses import PoseBatch
from fastpose.rerun_sink import RerunSink


def probe(argv: list[str] | None = None) -> int:
    """Run the CLI with a sink that notes its first logged frame; print that time as JSON."""
    stamps: list[float] = []

    class StampedSink(RerunSink):
        def log_frames(self, poses: PoseBatch, jpegs: list[bytes] | None = None) -> None:
            super().log_frames(poses, jpegs)
            if not stamps and len(poses):
                stamps.append(time.time())

    fastpose.record.RerunSink = StampedSink  # type: ignore[misc]
    code = main(argv)
    print(json.dumps({"first_frame_at": stamps[0] if stamps else None}))
    return code


if __name__ == "__main__":
    raise SystemExit(probe())

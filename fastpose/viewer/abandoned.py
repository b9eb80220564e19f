"""Recording streams given up on (:class:`Abandoned`), kept until the process ends. A module of
its own, light (the standard library only), so that the CLI can hold one from its start."""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import rerun as rr

#: How long Rerun's at-exit shutdown may take once a stream was given up on.
SHUTDOWN_TIMEOUT_S = 10.0


class Abandoned:
    """Streams given up on: their native flush blocks for ever, holding Rerun's locks, so
    Python's finalization (which collects other streams) would wait on them; they are kept here
    until the process ends. Rerun's at-exit shutdown flushes every recording of the process,
    these too, for ever: the first one given up on swaps it for one bounded in time, so the
    process's other recordings (an API user's own) still get their flush and the exit goes on.
    True when not empty: then end the process with ``os._exit`` (after flushing stdio)."""

    def __init__(self) -> None:
        self.streams: list[rr.RecordingStream] = []

    def add(self, rec: rr.RecordingStream) -> None:
        import rerun as rr  # loaded already: the stream is Rerun's

        if not self.streams:
            atexit.unregister(rr.rerun_shutdown)
            atexit.register(_shutdown_within, SHUTDOWN_TIMEOUT_S, self)
        self.streams.append(rec)

    def __bool__(self) -> bool:
        return bool(self.streams)


def _shutdown_within(timeout: float, _kept: Abandoned) -> None:
    """Rerun's at-exit shutdown, given ``timeout`` seconds (``_kept``: held until then)."""
    import rerun as rr

    done = threading.Thread(target=rr.rerun_shutdown, name="fastpose-rerun-shutdown", daemon=True)
    done.start()
    done.join(timeout)

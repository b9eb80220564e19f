"""The local batch: videos in threads of this process, every core busy.

MediaPipe infers without the GIL, so threads run landmarkers side by side without a second
process's imports, memory and pickling. Videos start largest first (file size stands in for
length), one landmarker each, as many at once as there are cores; a video that starts when fewer
videos are waiting than cores are free takes the free cores too, for its frame ranges (as
``fastpose run --workers`` splits them). The caller's thread only schedules and waits, so a
signal reaches it at once; jobs stop between two batches of frames when asked to.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from fastpose.batching.job import Job, Stopped, track_job
from fastpose.batching.summary import SummaryRow
from fastpose.options import TrackOptions
from fastpose.viewer.abandoned import Abandoned

logger = logging.getLogger(__name__)

#: Seconds between checks for a signal while waiting on the jobs.
POLL_S = 0.2


def workers_for(free: int, waiting: int) -> int:
    """Landmarkers for the next video: one, or every free core when no other video waits for it."""
    return max(1, free - waiting)


def track_locally(
    jobs: Sequence[Job],
    options: TrackOptions,
    *,
    cores: int,
    on_row: Callable[[SummaryRow], None],
    on_frames: Callable[[int], None] | None = None,
    on_open: Callable[[str, int | None], None] | None = None,
    abandoned: Abandoned | None = None,
) -> None:
    """Run ``jobs`` on ``cores`` landmarkers at once; ``on_row`` gets each finished video's row.

    Any exception here (a signal's included) stops the jobs between two batches, waits for them
    (their rows still reach ``on_row``: ``interrupted``), and propagates."""
    queue = deque(sorted(jobs, key=Job.size, reverse=True))
    stop = threading.Event()
    running: dict[Future[SummaryRow], int] = {}  # job -> the landmarkers it runs
    pool = ThreadPoolExecutor(max_workers=max(1, cores), thread_name_prefix="fastpose-batch")
    try:
        while queue or running:
            free = cores - sum(running.values())
            while queue and free > 0:
                job = queue.popleft()
                n = workers_for(free, len(queue))
                logger.debug("%s: starting on %d landmarker(s)", job.video, n)
                job_options = _for_job(options, n, cores)
                future = pool.submit(
                    track_job,
                    job,
                    job_options,
                    stop=stop,
                    on_frames=on_frames,
                    on_open=on_open,
                    abandoned=abandoned,
                )
                running[future] = n
                free -= n
            done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                on_row(future.result())  # then forgotten: a signal between the two repeats a row
                del running[future]
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for future in running:  # the jobs stopped mid-video (or never started)
            if not future.cancelled():
                with contextlib.suppress(Stopped):  # stopped before it started
                    on_row(future.result())


def _for_job(options: TrackOptions, workers: int, cores: int) -> TrackOptions:
    """``options`` for a video on ``workers`` landmarkers. Several videos at once: one decoding
    thread each, since the other videos keep the cores busy."""
    decode = options.decode
    if workers < cores and decode.threads == 0:
        decode = replace(decode, threads=1)
    return replace(options, workers=workers, decode=decode)

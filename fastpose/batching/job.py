"""One video of a batch: tracked into staged outputs, moved to their final names once complete.

Both the local threads and the Ray tasks run :func:`run_job`. The outputs are written in
``DIR/.incomplete/`` and renamed into ``DIR`` only when the whole video reached them, so a video
whose outputs exist under their final names is complete, whatever stopped an earlier run. What a
failed or interrupted video wrote stays in ``DIR/.incomplete/`` (replaced when it is redone).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fastpose.batching.summary import SummaryRow
from fastpose.errors import FastposeError
from fastpose.record import Written, open_tracker, record
from fastpose.rerun_sink import RerunTarget
from fastpose.tracker import TrackOptions, TrackStats

logger = logging.getLogger(__name__)

STAGING_DIR = ".incomplete"


@dataclass(frozen=True)
class Job:
    """A video and its two outputs under their final names."""

    video: Path
    rrd: Path
    landmarks: Path

    def staged(self, final: Path) -> Path:
        return final.parent / STAGING_DIR / final.name

    def complete(self) -> bool:
        """Both outputs exist under their final names (they appear there only when complete)."""
        return self.rrd.is_file() and self.landmarks.is_file()

    def size(self) -> int:
        """The video's bytes (0 if unreadable): a cheap stand-in for its length, for ordering."""
        try:
            return self.video.stat().st_size
        except OSError:
            return 0


class Stopped(Exception):
    """The batch was asked to stop; raised in a job's thread between two batches of frames."""


class _Checkpoint:
    """Stands in for the signal guard in a job's thread: reports each batch's frames, then stops
    the job if the batch was asked to stop (signals reach only the main thread)."""

    def __init__(
        self, stop: threading.Event | None, on_frames: Callable[[int], None] | None, w: Written
    ) -> None:
        self.stop, self.on_frames, self.written = stop, on_frames, w

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        before = self.written.frames
        yield
        if self.on_frames is not None:
            self.on_frames(self.written.frames - before)
        if self.stop is not None and self.stop.is_set():
            raise Stopped


def run_job(
    job: Job,
    options: TrackOptions,
    *,
    stop: threading.Event | None = None,
    on_frames: Callable[[int], None] | None = None,
    on_open: Callable[[str, int | None], None] | None = None,
) -> SummaryRow:
    """Track ``job.video`` with ``options`` (``options.workers`` landmarkers); a row, never an
    exception, for what became of it (but :class:`Stopped` if ``stop`` is set before it starts).

    ``on_frames`` gets each batch's frame count once written, ``on_open`` the video's frame count
    (if known) once opened; both are called from the job's thread."""
    if stop is not None and stop.is_set():
        raise Stopped
    started = time.perf_counter()
    written = Written()
    staged_rrd, staged_table = job.staged(job.rrd), job.staged(job.landmarks)
    stats: TrackStats | None = None
    row = _Row(job, started, written)
    try:
        staged_rrd.parent.mkdir(exist_ok=True)
        for stale in (staged_rrd, staged_table):  # an earlier attempt's
            stale.unlink(missing_ok=True)
        with open_tracker(str(job.video), options) as tracker:
            stats = tracker.stats
            if on_open is not None:
                on_open(str(job.video), tracker.info.num_frames)
            record(
                tracker,
                RerunTarget(save=staged_rrd),
                staged_table,
                num_persons=options.landmarker.num_poses,
                guard=_Checkpoint(stop, on_frames, written),  # type: ignore[arg-type]
                written=written,
                progress=False,
            )
    except Stopped:
        return row("interrupted", stats, f"stopped after {written.frames} frames{row.kept}")
    except FastposeError as exc:
        message = _one_line(exc).removeprefix(f"{job.video}: ")  # the row names the video
        return row("failed", stats, message + (row.kept if written.frames else ""))
    except Exception as exc:  # one bad video must not end the batch
        logger.debug("%s: failed", job.video, exc_info=True)
        return row("failed", stats, f"{type(exc).__name__}: {_one_line(exc)}{row.kept}")
    if stats.ended_early:
        return row("failed", stats, f"truncated: the file ended early{row.kept}")
    if written.frames == 0:
        return row("failed", stats, "no frames were read")
    os.replace(staged_table, job.landmarks)  # the table first: the .rrd is the last to appear
    os.replace(staged_rrd, job.rrd)
    warnings = (
        f"{stats.decode_errors} frames skipped (decode errors)" if stats.decode_errors else ""
    )
    return row("done", stats, warnings)


class _Row:
    def __init__(self, job: Job, started: float, written: Written) -> None:
        self.job, self.started, self.written = job, started, written
        where = job.staged(job.rrd).parent
        self.kept = f"; what it wrote is in {where}"

    def __call__(self, status: str, stats: TrackStats | None, message: str) -> SummaryRow:
        done = status == "done"
        return SummaryRow(
            video=str(self.job.video),
            status=status,  # type: ignore[arg-type]
            frames=self.written.frames if stats is not None else None,
            frames_with_person=_with_person(stats, self.written.frames),
            seconds=time.perf_counter() - self.started,
            message=message,
            rrd=str(self.job.rrd) if done else "",
            landmarks=str(self.job.landmarks) if done else "",
        )


def _with_person(stats: TrackStats | None, written: int) -> int | None:
    """Frames with a person among those written (the tracker counts one batch ahead at most)."""
    if stats is None:
        return None
    return min(stats.frames_with_person, written)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

"""One video of a batch: claimed, tracked into staged outputs, moved to their final names once
complete.

Both the local threads and the Ray tasks run :func:`track_job`. A job first claims its video (an
exclusive lock: see fastpose.batching.claims), so two batches on one folder never write the same
outputs; a video claimed elsewhere is skipped and said so. The outputs are written in
``DIR/.incomplete/`` and renamed into ``DIR`` only when the whole video reached them, so a video
whose outputs exist under their final names is complete. What a failed or interrupted video
wrote stays in ``DIR/.incomplete/`` until the video is redone; a completed video leaves nothing
there. A video cut short continues from its journal (``DIR/.incomplete/NAME.rrd.resume/``, see
fastpose.resume) when the next batch made with the same settings reaches it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastpose.batching.claims import VideoClaim
from fastpose.batching.summary import BUSY, DONE_ELSEWHERE, SummaryRow
from fastpose.errors import FastposeError, ResumeError, one_line
from fastpose.options import TrackOptions
from fastpose.pipeline import Recorded, record, run_settings
from fastpose.resume import Checkpoint, Journal, read_checkpoint
from fastpose.signals import StopCheckpoint, Stopped
from fastpose.spec import Outputs, RunSpec, build_sinks
from fastpose.target import RerunTarget
from fastpose.tracker import Tracker
from fastpose.transaction import Transaction, partial_path
from fastpose.viewer.abandoned import Abandoned

logger = logging.getLogger(__name__)

STAGING_DIR = ".incomplete"

__all__ = ["STAGING_DIR", "Job", "Stopped", "clear_leftovers", "track_job"]


@dataclass(frozen=True)
class Job:
    """A video and its outputs under their final names (``rrd`` and ``landmarks`` always;
    ``others`` as asked: ``NAME.angles.parquet``, ``NAME.trc``...), the frames' mode in the
    recording and the person's height for speeds in m/s."""

    video: Path
    rrd: Path
    landmarks: Path
    others: tuple[Path, ...] = ()
    video_mode: str = field(default="auto", compare=False)
    height: float | None = field(default=None, compare=False)  # metres, for speeds in m/s
    overwrite: bool = field(default=False, compare=False)  # redo it even if complete

    @property
    def name(self) -> str:
        return self.rrd.stem

    @property
    def staging(self) -> Path:
        return self.rrd.parent / STAGING_DIR

    @property
    def journal(self) -> Path:
        """Where its run journals what it wrote, to continue it if cut short."""
        return self.staging / f"{self.rrd.name}.resume"

    @property
    def outputs(self) -> tuple[Path, ...]:
        """Every output, the recording last: it is the last to appear under its final name."""
        return (self.landmarks, *self.others, self.rrd)

    def complete(self) -> bool:
        """Every output exists under its final name (they appear there only when complete; a
        TRC of several people is one file per track, ``NAME_<id>.trc``)."""
        return all(_exists(p) for p in self.outputs)

    def size(self) -> int:
        """The video's bytes (0 if unreadable): a cheap stand-in for its length, for ordering."""
        try:
            return self.video.stat().st_size
        except OSError:
            return 0

    def staged_names(self) -> list[str]:
        """Names its staged outputs have, or had under earlier versions (``NAME.partial.rrd``,
        ``NAME.partial-1.rrd``): what a dead run may have left in the staging folder."""
        names = []
        for path in self.outputs:
            names.append(path.name)
            partial = partial_path(path)
            names += [partial.name, *(f"{partial.stem}-{n}{path.suffix}" for n in range(1, 10))]
        return names

    def spec(self, options: TrackOptions) -> RunSpec:
        """Its outputs, mapped by their names (``.angles.parquet``, ``.trc``...) into the run
        specification every way of running fastpose builds its sinks from."""
        by_kind: dict[str, list[Path]] = {"angles": [], "trc": [], "render": [], "ik": []}
        for path in self.others:
            by_kind[_kind(path)].append(path)
        trc, render = (next(iter(by_kind[kind]), None) for kind in ("trc", "render"))
        outputs = Outputs(
            recording=RerunTarget(save=self.rrd),
            video_mode=self.video_mode,  # type: ignore[arg-type]
            landmarks=self.landmarks,
            angles=tuple(by_kind["angles"]),
            trc=trc,
            render=render,
            height=self.height,
            overwrite=self.overwrite,
            ik=bool(by_kind["ik"]) and trc is not None,
        )
        return RunSpec(options, outputs)


class Truncated(FastposeError, ValueError):
    """The video ended before its index said: a batch keeps its outputs aside."""


def _whole(tracker: Tracker) -> None:
    if tracker.stats.ended_early:
        raise Truncated("truncated: the file ended early")


def _kind(path: Path) -> str:
    """Which output a batch's file is, by its name."""
    if path.suffix == ".mp4":
        return "render"
    if path.suffix == ".trc":
        return "trc"
    if path.name.endswith("_ik.mot"):
        return "ik"
    if ".angles" in path.suffixes:
        return "angles"
    raise ValueError(f"no output writes {path.name}")


def _exists(path: Path) -> bool:
    if path.suffix == ".trc":
        return path.is_file() or any(path.parent.glob(f"{path.stem}_*.trc"))
    if path.name.endswith("_ik.mot"):  # OpenSim's IK: NAME_ik.mot, or NAME_<id>_ik.mot
        name = path.name.removesuffix("_ik.mot")
        return path.is_file() or any(path.parent.glob(f"{name}_*_ik.mot"))
    return path.is_file()


def track_job(
    job: Job,
    options: TrackOptions,
    *,
    stop: threading.Event | None = None,
    on_frames: Callable[[int], None] | None = None,
    on_open: Callable[[str, int | None], None] | None = None,
    abandoned: Abandoned | None = None,
) -> SummaryRow:
    """Track ``job.video`` with ``options`` (``options.workers`` landmarkers); a row, never an
    exception, for what became of it (but :class:`Stopped` if ``stop`` is set before it starts).

    ``on_frames`` gets each batch's frame count once written, ``on_open`` the video's frame count
    (if known) once opened; both are called from the job's thread. A recording stream given up
    on (a full disk) goes to ``abandoned`` (fastpose.viewer.stream)."""
    if stop is not None and stop.is_set():
        raise Stopped
    started = time.perf_counter()
    result = Recorded()
    row = _Row(job, started, result)
    try:
        job.staging.mkdir(exist_ok=True)
        claim = VideoClaim(job.staging, job.name)
        if not claim.acquire():
            return row("skipped", BUSY)
        with claim:
            if not job.overwrite and job.complete():  # another batch did it since we looked
                return row("skipped", DONE_ELSEWHERE)
            claim.clear_stale(job.staged_names())
            spec = job.spec(options)
            files = tuple(map(str, job.outputs))
            resumed = None if job.overwrite else _checkpoint(job)
            tracker = _tracker(job, options, resumed) if resumed else None
            if resumed is not None and not _may_continue(job, resumed, tracker, spec, files):
                if tracker is not None:
                    tracker.close()
                resumed, tracker = None, None
            if tracker is None:
                tracker = Tracker(job.video, options)
            journal = Journal(job.journal, files, resumed=resumed)
            with tracker:
                staging = Transaction(
                    lambda final: job.staging / final.name, numbered=False, last=job.rrd
                )
                if on_open is not None:
                    on_open(str(job.video), tracker.info.num_frames)
                record(
                    tracker,
                    build_sinks(spec, abandoned=abandoned),
                    staging=staging,
                    guard=StopCheckpoint(stop),
                    on_batch=on_frames,
                    result=result,
                    height=spec.outputs.height,
                    accept=_whole,
                    journal=journal,
                )
    except Stopped:
        return row("interrupted", f"stopped after {result.frames} frames{row.kept}")
    except FastposeError as exc:
        message = one_line(exc).removeprefix(f"{job.video}: ")  # the row names the video
        return row("failed", message + (row.kept if result.frames else ""))
    except OSError as exc:  # a write that failed (a full disk...): one line, the row says it
        return row("failed", f"{one_line(exc)}{row.kept if result.frames else ''}")
    except Exception as exc:  # one bad video must not end the batch
        logger.debug("%s: failed", job.video, exc_info=True)
        return row("failed", f"{type(exc).__name__}: {one_line(exc)}{row.kept}")
    stats = result.stats
    if result.frames == 0:
        return row("failed", "no frames were read")
    warnings = (
        f"{stats.decode_errors} frames skipped (decode errors)"
        if stats is not None and stats.decode_errors
        else ""
    )
    return row("done", warnings)


def _checkpoint(job: Job) -> Checkpoint | None:
    """The checkpoint of the video's run cut short, if any (its partial files removed: the
    video is redone whole from the journal, or from zero; the claim is held)."""
    try:
        checkpoint = read_checkpoint(job.journal)
    except ResumeError as exc:
        logger.info("%s: starting again (%s)", job.video, one_line(exc).removeprefix("--resume: "))
        return None
    for working in checkpoint.working if checkpoint is not None else ():
        with contextlib.suppress(FileNotFoundError):
            Path(working).unlink()
    return checkpoint


def _tracker(job: Job, options: TrackOptions, resumed: Checkpoint) -> Tracker | None:
    """The video's tracker started from ``resumed`` (None if its state is unreadable)."""
    try:
        return Tracker(job.video, options, start_frame=resumed.next_frame, state=resumed.state)
    except ResumeError:
        return None


def _may_continue(
    job: Job, resumed: Checkpoint, tracker: Tracker | None, spec: RunSpec, files: tuple[str, ...]
) -> bool:
    """Whether ``tracker`` (started from ``resumed``) continues the run cut short: the settings
    its outputs would record (:func:`~fastpose.pipeline.run_settings`, as the journal did) and
    its outputs are the checkpoint's."""
    try:
        if tracker is None:
            raise ResumeError("--resume: the checkpoint's state is unreadable")
        settings = run_settings(tracker, spec.outputs.height)
        resumed.check(settings=settings, outputs=files, video=str(job.video))
    except ResumeError as exc:
        logger.info("%s: starting again (%s)", job.video, one_line(exc).removeprefix("--resume: "))
        return False
    logger.info("%s: continuing at frame %d", job.video, resumed.next_frame)
    return True


def clear_leftovers(job: Job) -> list[Path]:
    """Remove what dead runs left of ``job`` in the staging folder (its staged outputs, its lock
    file: a run killed after its video completed leaves the lock), unless a live batch holds the
    video; returns what was removed."""
    claim = VideoClaim(job.staging, job.name)
    if not claim.acquire():
        return []
    with claim:
        if job.journal.is_dir():  # another batch completed the video this one's journal began
            shutil.rmtree(job.journal, ignore_errors=True)
        return claim.clear_stale(job.staged_names())


class _Row:
    def __init__(self, job: Job, started: float, result: Recorded) -> None:
        self.job, self.started, self.result = job, started, result
        self.kept = f"; what it wrote is in {job.staging}"

    def __call__(self, status: str, message: str) -> SummaryRow:
        done = status == "done"
        stats = self.result.stats
        written = self.result.frames
        return SummaryRow(
            video=str(self.job.video),
            status=status,  # type: ignore[arg-type]
            frames=written if stats is not None else None,
            # the tracker counts one batch ahead at most: only frames written count
            frames_with_person=min(stats.frames_with_person, written) if stats else None,
            seconds=time.perf_counter() - self.started,
            message=message,
            rrd=str(self.job.rrd) if done else "",
            landmarks=str(self.job.landmarks) if done else "",
            # what the outputs recorded (a video is done only once recorded): what really ran
            settings=self.result.settings if done else {},
        )

""":func:`batch`: many videos into one folder, locally or on Ray, with ``summary.csv``."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from fastpose.batching.inputs import expand_inputs, output_names
from fastpose.batching.job import STAGING_DIR, Job, clear_leftovers
from fastpose.batching.local import track_locally
from fastpose.batching.ray import track_on_ray
from fastpose.batching.summary import SUMMARY_NAME, SummaryRow, read_summary, write_summary
from fastpose.cores import default_workers
from fastpose.errors import DependencyError, InputNotFoundError, OutputError, one_line
from fastpose.ik import opensim_missing
from fastpose.landmarker import Landmarker
from fastpose.model_names import MODEL_NAMES
from fastpose.native_log import quiet
from fastpose.options import TrackOptions, differing
from fastpose.sinks.metadata import read_settings
from fastpose.spec import Outputs, RunSpec
from fastpose.viewer.abandoned import Abandoned

logger = logging.getLogger(__name__)

ExportFormat = Literal["parquet", "csv"]


def batch(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    options: TrackOptions | None = None,
    *,
    workers: int | None = None,
    recursive: bool = False,
    export_format: ExportFormat = "parquet",
    overwrite: bool = False,
    ray: bool | str = False,
    video_mode: str = "auto",
    angles: bool = False,
    trc: bool = False,
    ik: bool = False,
    render: bool = False,
    height: float | None = None,
    progress: bool = False,
    abandoned: Abandoned | None = None,
    **keywords: Any,
) -> list[SummaryRow]:
    """Track every video ``inputs`` name into ``out``: ``<name>.rrd``, ``<name>.parquet`` (or
    ``.csv``), with ``angles`` ``<name>.angles.parquet`` (joint angles and speeds; ``height``
    in metres adds m/s), with ``trc`` ``<name>.trc`` (OpenSim markers; ``ik`` adds OpenSim's
    scaling and inverse kinematics: ``<name>_ik.mot``..., fastpose.ik), with ``render``
    ``<name>.mp4`` (the video with the skeletons drawn), and ``summary.csv``;
    returns the summary's rows, one per video, in input order.

    ``inputs``: video files, folders (``recursive`` descends), glob patterns or ``@FILE`` lists.
    How to track: ``options``, or keywords as :meth:`TrackOptions.create`'s (``model``,
    ``num_poses``...), with ``fastpose run``'s defaults; the batch gives each video its share of
    ``workers`` (default: the cores here), whatever ``options.workers`` says. A video whose
    outputs exist is skipped unless ``overwrite``; if they were made with other settings,
    :class:`~fastpose.errors.OutputError` names them (``overwrite`` redoes those videos). ``ray``:
    True starts a local Ray runtime, an address joins a cluster (the model is resolved again on
    nodes that don't see the driver's file). A failed video gets a ``failed`` row, never an
    exception; an exception (Ctrl-C, a signal) stops the videos running, writes the summary of
    what ran, and propagates. A recording stream given up on (a full disk) goes to
    ``abandoned`` (fastpose.viewer.stream: the CLI ends the process at once then)."""
    if options is not None and keywords:
        raise TypeError(f"batch: pass options or keywords, got both ({', '.join(keywords)})")
    if ik and (missing := opensim_missing()):
        raise DependencyError(missing)
    trc = trc or ik
    empty: list[str] = []
    videos = expand_inputs(inputs, recursive=recursive, empty=empty)
    if not videos:
        given = " ".join(map(os.fspath, inputs)) or "no input"
        raise InputNotFoundError(f"no videos in {given}" + ("" if recursive else " (--recursive?)"))
    for text in empty:
        logger.warning("%s: no videos there", text)
    out = _output_folder(Path(out))
    names = output_names(
        videos, reserved=[Path(SUMMARY_NAME).stem] if export_format == "csv" else []
    )

    def others(name: str) -> tuple[Path, ...]:
        wanted = [
            (angles, f"{name}.angles.{export_format}"),
            (trc, f"{name}.trc"),
            (ik, f"{name}_ik.mot"),
            (render, f"{name}.mp4"),
        ]
        return tuple(out / file for asked, file in wanted if asked)

    jobs = [
        Job(
            v,
            out / f"{names[v]}.rrd",
            out / f"{names[v]}.{export_format}",
            others(names[v]),
            video_mode=video_mode,
            height=height,
            overwrite=overwrite,
        )
        for v in videos
    ]
    if options is None:
        options = TrackOptions.create(**keywords)
    cores = workers or default_workers()
    rows: dict[str, SummaryRow] = {}
    todo = []
    previous = read_summary(out / SUMMARY_NAME)
    wanted = RunSpec(options, Outputs(height=height)).settings()
    changed: list[tuple[Job, list[str]]] = []
    for job in jobs:
        if not job.complete() or overwrite:
            todo.append(job)
            continue
        before = previous.get(str(job.video))
        recorded = dict(before.settings) if before is not None and before.settings else {}
        if not recorded and export_format == "parquet":
            recorded = read_settings(job.landmarks)
        if differences := differing(recorded, wanted):
            changed.append((job, differences))
        rows[str(job.video)] = _skipped(job, before)
    if changed:
        job, differences = changed[0]
        raise OutputError(
            f"{out}: {len(changed)} video(s) there were tracked with other settings "
            f"({job.video.name}: {', '.join(differences)}); pass --overwrite to redo them, "
            "or choose another --out"
        )
    if rows:
        logger.info(
            "%d of %d videos already have their outputs in %s: skipped (--overwrite redoes them)",
            len(rows),
            len(jobs),
            out,
        )
    ordered: list[SummaryRow] = []
    running = False
    try:
        if todo:
            _preflight(options)
            running = True
            with _Progress(todo, enabled=progress, per_frame=ray is False) as bar:

                def on_row(row: SummaryRow) -> None:
                    rows[row.video] = row
                    bar.finished(row)

                if ray is False:
                    track_locally(
                        todo, options, cores=cores, on_row=on_row, on_frames=bar.frames,
                        on_open=bar.opened, abandoned=abandoned,
                    )  # fmt: skip
                else:
                    address = None if ray is True else str(ray)
                    # A named model is resolved again on nodes that don't see the driver's file.
                    named = options.model in MODEL_NAMES
                    model = options.model if named else str(options.landmarker.model_path)
                    track_on_ray(
                        todo, options, address=address, cores=cores, model=model, on_row=on_row
                    )
    finally:
        for job in todo if running else ():  # stopped (a signal): a row for each video left
            rows.setdefault(str(job.video), _unfinished(job, out / STAGING_DIR))
        ordered = [rows[str(j.video)] for j in jobs if str(j.video) in rows]
        _write_summary(out / SUMMARY_NAME, ordered, previous)
        _clear_leftovers(jobs, out / STAGING_DIR)
        with contextlib.suppress(OSError):  # kept only while it holds something
            (out / STAGING_DIR).rmdir()
    return ordered


def _write_summary(path: Path, rows: list[SummaryRow], seen: dict[str, SummaryRow]) -> None:
    """The summary (merged; ``seen`` is what it held when the batch began), or, where it can't
    be written (a full disk), its rows in the log."""
    try:
        write_summary(path, rows, seen)
    except OSError as exc:
        logger.error(
            "%s: cannot write the summary (%s); it would list:\n%s",
            path,
            one_line(exc),
            "\n".join(f"  {r.video}: {r.status} {r.message}".rstrip() for r in rows),
        )


def _clear_leftovers(jobs: list[Job], staging: Path) -> None:
    """What killed runs left in the staging folder for videos now complete (a run killed after
    its video completed leaves its lock file; one killed in a video leaves staged outputs that
    another batch then completed): a completed video leaves nothing there."""
    try:
        present = {p.name for p in staging.iterdir()}
    except OSError:
        return
    for job in jobs:
        left = {f"{job.name}.lock", job.journal.name, *job.staged_names()}
        if present & left and job.complete():
            with contextlib.suppress(OSError):
                clear_leftovers(job)


def _output_folder(out: Path) -> Path:
    """``out``, created if needed; one line if it can't be written."""
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: not a folder (--out expects a folder for the outputs)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        # A probe of this process's own: two batches starting on one folder probe it at once.
        with tempfile.NamedTemporaryFile(dir=out, prefix=f".{SUMMARY_NAME}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there ({one_line(exc)})") from None
    return out


def _skipped(job: Job, before: SummaryRow | None) -> SummaryRow:
    """A skipped video's row, with the counts of the run that made its outputs, if recorded."""
    known = before is not None and before.status in ("done", "skipped")
    return SummaryRow(
        video=str(job.video),
        status="skipped",
        frames=before.frames if known else None,
        frames_with_person=before.frames_with_person if known else None,
        message="outputs exist",
        rrd=str(job.rrd),
        landmarks=str(job.landmarks),
        settings=before.settings if known else {},
    )


def _unfinished(job: Job, staging: Path) -> SummaryRow:
    """The row of a video the batch was stopped before: not started, or (on Ray, whose cancelled
    tasks return nothing) stopped while it ran."""
    return SummaryRow(
        video=str(job.video),
        status="interrupted",
        message=f"stopped before it finished; what it wrote, if anything, is in {staging}",
    )


def _preflight(options: TrackOptions) -> None:
    """Load MediaPipe and the model once (~0.1 s), so a model it rejects fails the batch now, in
    one line, rather than every video; its native log kept off the terminal as a tracker's."""
    with contextlib.ExitStack() as stack:
        if not options.verbose:
            stack.enter_context(quiet())
        stack.enter_context(Landmarker(replace(options.landmarker, gpu=False)))


class _Progress:
    """One bar for the batch (frames, with videos done as its postfix) on a terminal, and one log
    line per finished video. The total is the opened videos' frames, plus the others' estimated
    from their sizes at the opened ones' frames per byte."""

    def __init__(self, jobs: list[Job], *, enabled: bool, per_frame: bool) -> None:
        self.per_frame = per_frame  # frames reported batch by batch (else with each row)
        self.sizes = {str(j.video): j.size() for j in jobs}
        self.count = len(jobs)
        self.done = 0
        self.known_frames = 0
        self.known_bytes = 0
        self.opened_videos: set[str] = set()
        self.lock = threading.Lock()
        self.started = time.perf_counter()
        self.bar = tqdm(
            total=None,
            unit="frame",
            desc=f"0/{self.count} videos",
            disable=not enabled or not sys.stderr.isatty(),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self._redirect = contextlib.ExitStack()

    def __enter__(self) -> _Progress:
        if not self.bar.disable:
            self._redirect.enter_context(logging_redirect_tqdm([logging.getLogger("fastpose")]))
        return self

    def __exit__(self, *exc: object) -> None:
        self._redirect.close()
        self.bar.close()

    def opened(self, video: str, frames: int | None) -> None:
        with self.lock:
            if frames and video not in self.opened_videos:
                self.opened_videos.add(video)
                self.known_frames += frames
                self.known_bytes += self.sizes.get(video, 0)
                self._retotal()

    def _retotal(self) -> None:
        if not self.known_bytes:
            return
        unknown = sum(s for v, s in self.sizes.items() if v not in self.opened_videos)
        self.bar.total = self.known_frames + round(unknown * self.known_frames / self.known_bytes)
        self.bar.refresh()

    def frames(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)

    def finished(self, row: SummaryRow) -> None:
        with self.lock:
            self.done += 1
            self.bar.set_description(f"{self.done}/{self.count} videos", refresh=False)
            if not self.per_frame and row.frames:  # Ray: the frames arrive with the row
                self.bar.update(row.frames)
        if not self.per_frame:
            self.opened(row.video, row.frames)
        name = Path(row.video).name
        if row.status == "done":
            note = f"; {row.message}" if row.message else ""
            logger.info(
                "%s: done, %d frames (%s with a person) in %.1f s -> %s%s",
                name,
                row.frames or 0,
                row.frames_with_person,
                row.seconds,
                row.rrd,
                note,
            )
        else:
            logger.warning("%s: %s: %s", name, row.status, row.message)

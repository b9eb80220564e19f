"""Tracking one video into its outputs: the Rerun recording, the landmark table, a progress bar.

``fastpose run`` and ``fastpose batch`` both record through :func:`record`. Each batch reaches every
output or none (a signal is held while it is written), and the outputs are closed however the run
ends: moved to their final names if it finished, kept as ``NAME.partial.SUFFIX`` if not, dropped
if no frame was written (see fastpose.outputs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from fastpose.errors import InvalidVideoError, ViewerError
from fastpose.export import LandmarkExporter
from fastpose.parallel import Inferred
from fastpose.signals import SignalGuard
from fastpose.tracker import Tracker, TrackOptions
from fastpose.viewer import RerunTarget

if TYPE_CHECKING:
    from fastpose.rerun_sink import RerunSink

logger = logging.getLogger(__name__)


@dataclass
class Written:
    """Frames that reached every output so far; the files that hold them once closed."""

    frames: int = 0
    kept: list[Path] = field(default_factory=list)


def _asset_problem(uri: str) -> str | None:
    """Why the Rerun viewer cannot play ``uri`` as a video asset (e.g. a truncated MP4), or None.

    Run in a thread while the tracker starts: it loads Rerun (~0.4 s) off the first frame's path.
    """
    import rerun as rr

    if not os.path.isfile(uri):
        return "not a file"
    try:
        rr.AssetVideo(path=uri).read_frame_timestamps_nanos()
    except (RuntimeError, ValueError, OSError) as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


def open_tracker(video: str, options: TrackOptions) -> Tracker:
    """The tracker; it records JPEG frames instead of the MP4 asset if the viewer can't read it.

    Rerun's check of the asset (and Rerun's import, ~0.5 s) runs in a thread beside the tracker's
    start, which is mostly native work.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="fastpose-asset-check") as pool:
        check = pool.submit(_asset_problem, video)
        tracker = Tracker(video, options)
        try:
            problem = check.result() if tracker.video_mode == "asset" else None
        except BaseException:
            tracker.close()
            raise
    if tracker.video_mode == "asset" and tracker.info.rotation:
        tracker.close()
        raise InvalidVideoError(
            f"{video}: --video-mode asset: the video is rotated {tracker.info.rotation} degrees "
            "by its metadata, which Rerun's video player ignores (it would play sideways under "
            "upright landmarks); use --video-mode jpeg or auto"
        )
    if problem is None:
        return tracker
    tracker.close()
    if options.video_mode == "asset":
        raise InvalidVideoError(
            f"{video}: --video-mode asset: Rerun cannot read this MP4 ({problem})"
        )
    logger.warning(
        "%s: Rerun cannot read this MP4 (%s); recording the frames as JPEG", video, problem
    )
    return Tracker(video, replace(options, video_mode="jpeg"))


def record(
    tracker: Tracker,
    target: RerunTarget,
    export: Path | None,
    *,
    num_persons: int,
    guard: SignalGuard,
    written: Written,
    progress: bool = True,
) -> None:
    """Log every batch to the sink, the export and the progress bar; close them however it ends.

    ``written.frames`` counts the frames that reached every output, for the caller's messages."""
    from fastpose.rerun_sink import RerunSink  # Rerun: loaded by now (see open_tracker)

    info = tracker.info
    display = (
        (info.width, info.height) if tracker.video_mode == "asset" else tracker.source.decode_size
    )
    with contextlib.ExitStack() as stack:
        sink = RerunSink(
            target,
            info,
            video_mode=tracker.video_mode,
            num_persons=num_persons,
            display_size=display,
            recording_name=Path(tracker.uri).name,
        )
        stack.push(_closer(sink.close, written))
        exporter = None
        if export:
            exporter = LandmarkExporter(export, info.width, info.height)
            stack.push(_closer(exporter.close, written))
        bar = stack.enter_context(
            tqdm(
                total=info.num_frames,
                unit="frame",
                disable=not progress or not sys.stderr.isatty(),
                file=sys.stderr,
                dynamic_ncols=True,
            )
        )
        for item in tracker:
            with guard.deferred():  # a batch reaches every output or none
                _write(item, sink, exporter)
                written.frames += len(item.poses)
            bar.update(len(item.poses))


def _closer(close: Callable[..., Path | None], written: Written) -> Callable[..., bool]:
    """An exit callback closing an output as complete only if no exception is unwinding."""

    def exit_(exc_type: type[BaseException] | None, *_: object) -> bool:
        try:
            kept = close(complete=exc_type is None, frames=written.frames)
        except ViewerError as exc:
            if exc_type is None:
                raise
            logger.warning("%s", exc)  # the error being raised says more
            return False
        if kept is not None:
            written.kept.append(kept)
        return False

    return exit_


def _write(item: Inferred, sink: RerunSink, exporter: LandmarkExporter | None) -> None:
    sink.log_poses(item.poses)
    sink.log_masks(item.poses)
    sink.log_frames(item.poses, item.jpegs)
    if exporter is not None:
        exporter.write(item.poses)

"""One video into its outputs: a tracker feeding every sink, in one recording transaction.

``fastpose run``, ``fastpose batch`` and Python users all record through :func:`record` (or
:func:`track`, which also builds the tracker and the sinks from a :class:`~fastpose.spec.RunSpec`
or its keywords). Each batch reaches every
sink or none (a signal is held while it is written); the sinks are closed however the run ends,
and their files reach their final names only if it finished (see fastpose.transaction).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fastpose.errors import OutputError, ViewerError, blame, one_line
from fastpose.measures import Measurer
from fastpose.memory import AllocatorTrim
from fastpose.replay import replayed
from fastpose.resume.journal import Journal, journaled
from fastpose.signals import Guard
from fastpose.sinks.base import Sink, SinkContext, Staging, Tracked
from fastpose.spec import RunSpec, build_sinks, height_setting
from fastpose.tracker import Tracker, TrackStats
from fastpose.transaction import Transaction

logger = logging.getLogger(__name__)


class _Unguarded:
    """Stands in for the CLI's signal guard where there is none (the Python API)."""

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        yield


@dataclass
class Recorded:
    """What a recording wrote: frames that reached every sink, the files holding them (final
    names if complete, working names if not), whether it completed, the tracker's counts."""

    frames: int = 0
    kept: list[Path] = field(default_factory=list)
    complete: bool = False
    stats: TrackStats | None = None
    sinks: list[Sink] = field(default_factory=list)
    #: What every output recorded of how it was made (fastpose.options, ``Tracker.settings``).
    settings: dict[str, str] = field(default_factory=dict)


def record(
    tracker: Tracker,
    sinks: Sequence[Sink],
    *,
    staging: Transaction | None = None,
    guard: Guard | None = None,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
    result: Recorded | None = None,
    height: float | None = None,
    accept: Callable[[Tracker], None] | None = None,
    journal: Journal | None = None,
) -> Recorded:
    """Run ``tracker`` into ``sinks``; close them however it ends and finish ``staging``.

    ``guard.deferred()`` (the CLI's :class:`~fastpose.signals.SignalGuard`, or a batch's stop
    checkpoint) wraps each batch's writing; ``on_batch`` gets each batch's frame count once
    written. ``height``: the person's height in metres, for speeds in m/s (fastpose.measures).
    ``result`` (made here if not given) is filled as it goes, so a caller that catches an
    exception still knows what was kept. ``accept(tracker)``, called after the last batch, may
    raise to keep the outputs under their working names (a batch refuses a truncated file).
    ``journal`` (fastpose.resume) keeps what was written, so that a run cut short can continue:
    if it continues one (``journal.resumed``), the journaled batches are written first and
    ``tracker`` starts where they end."""
    staging = staging or Transaction()
    guard = guard or _Unguarded()
    result = result if result is not None else Recorded()
    result.stats, result.sinks = tracker.stats, list(sinks)
    names = [s.name for s in sinks]
    if len(set(names)) != len(names):
        raise ValueError(f"sinks: expected distinct names, got {names}")
    settings = run_settings(tracker, height)
    result.settings = settings
    context = SinkContext(
        info=tracker.info,
        frame_size=tracker.frame_size,
        num_poses=tracker.options.landmarker.num_poses,
        settings=settings,
        layout=tracker.source.layout,
    )
    measurer = _measurer(sinks, context, height)
    with contextlib.ExitStack() as stack:
        if journal is not None:
            stack.push(_journal_closer(journal, staging))
        stack.push(_finisher(staging, result))
        for sink in sinks:
            stack.push(_closer(sink))
            with _blaming(f"the output {sink.describe()}"):
                sink.open(context, staging)
        hooks = {s.name: h for s in sinks if (h := s.frame_hook()) is not None}
        bar = stack.enter_context(_progress(tracker, progress))
        masks = any(s.wants_masks for s in sinks)
        trim = AllocatorTrim()  # freed memory given back as the video goes on
        live = tracker.batches(hooks, masks=masks)
        items: Iterator[tuple[Any, bool]] = ((item, False) for item in live)
        if journal is not None:
            items = _journaled(journal, tracker, hooks, settings, staging, live)
        for item, replay in _blamed(items, "the tracker"):
            with _blaming("the measures"):
                measures = measurer(item.poses) if measurer else None
            batch = Tracked(item.poses, item.extras, measures)
            with guard.deferred():  # a batch reaches every output or none
                for sink in sinks:
                    _write(sink, batch)
                result.frames += len(batch)
                if journal is not None and not replay:
                    journal.append(batch.poses, tracker.state)
            if on_batch is not None:
                on_batch(len(batch))
            bar.update(len(batch))
            trim()
        if accept is not None:
            accept(tracker)
    return result


def run_settings(tracker: Tracker, height: float | None) -> dict[str, str]:
    """What every output of ``tracker``'s run records of how it was made."""
    return {**tracker.settings(), "height_m": height_setting(height)}


def _journaled(
    journal: Journal,
    tracker: Tracker,
    hooks: dict[str, Any],
    settings: dict[str, str],
    staging: Transaction,
    live: Iterator[Any],
) -> Iterator[tuple[Any, bool]]:
    """(batch, replayed): the batches ``journal`` continues (replayed: not journaled again),
    then ``live``'s."""
    resumed, video = journal.resumed, tracker.uri
    replay: Iterator[Any] = iter(())
    if resumed is not None:  # checked against the run by the caller (Checkpoint.check)
        layout = tracker.source.layout
        replay = replayed(
            journaled(journal.folder, resumed),
            hooks,
            lambda: tracker.options.decode.source(video, stop=resumed.next_frame, layout=layout),
        )
    journal.start(
        settings=settings,
        video=video,
        num_frames=tracker.info.num_frames,
        working=tuple(str(w) for _, w in staging.files),
    )
    started, cpu = time.perf_counter(), time.process_time()
    for item in replay:
        yield item, True
    if resumed is not None:  # CPU: every thread's (the rendering thread keeps pace, ~1 batch)
        logger.info(
            "%d frames written again from %s in %.1f s (%.1f s CPU)",
            resumed.frames,
            journal.folder,
            time.perf_counter() - started,
            time.process_time() - cpu,
        )
    for item in live:
        yield item, False


def _journal_closer(journal: Journal, staging: Transaction) -> Callable[..., bool]:
    """An exit callback, run last: a complete run's journal goes, a cut-short one's stays,
    naming the files the run kept under working names."""

    def exit_(exc_type: type[BaseException] | None, *_: object) -> bool:
        working = tuple(str(w) for _, w in staging.files)
        journal.close(complete=exc_type is None, working=working)
        return False

    return exit_


def _write(sink: Sink, batch: Tracked) -> None:
    try:
        with _blaming(f"the output {sink.describe()}"):
            sink.write(batch)
    except OSError as exc:
        if isinstance(exc, OutputError | ViewerError):
            raise
        raise OutputError(f"{sink.describe()}: {one_line(exc)}") from exc


@contextlib.contextmanager
def _blaming(where: str) -> Iterator[None]:
    """An unexpected exception (a bug) raised inside is noted as coming from ``where``
    (fastpose.errors.blame), for the CLI's one line."""
    try:
        yield
    except Exception as exc:
        blame(exc, where)
        raise


def _blamed(items: Iterator[Any], where: str) -> Iterator[Any]:
    """``items``, an unexpected exception of theirs noted as coming from ``where``."""
    while True:
        with _blaming(where):
            item = next(items, _END)
        if item is _END:
            return
        yield item


_END = object()


def _closer(sink: Sink) -> Callable[..., bool]:
    """An exit callback closing ``sink``, complete only if no exception is unwinding. A sink
    that fails to close while another error unwinds (a full disk fails every output) is logged,
    not raised over it; a viewer's failure is a warning, a file's is told by the first error."""

    def exit_(exc_type: type[BaseException] | None, *_: object) -> bool:
        try:
            with _blaming(f"the output {sink.describe()}"):
                sink.close(complete=exc_type is None)
        except Exception as exc:
            if exc_type is None:
                if isinstance(exc, OSError) and not isinstance(exc, OutputError | ViewerError):
                    raise OutputError(f"{sink.describe()}: {one_line(exc)}") from exc
                raise
            if isinstance(exc, ViewerError):
                logger.warning("%s", exc)
            else:
                logger.debug("%s: closing it failed too: %s", sink.describe(), exc)
        return False

    return exit_


def _finisher(staging: Transaction, result: Recorded) -> Callable[..., bool]:
    """An exit callback, run after every sink closed: the files move into place only if no
    exception is unwinding."""

    def exit_(exc_type: type[BaseException] | None, *_: object) -> bool:
        result.complete = exc_type is None
        staging.finish(complete=result.complete, frames=result.frames)
        result.kept = staging.kept
        return False

    return exit_


def _measurer(
    sinks: Sequence[Sink], context: SinkContext, height: float | None
) -> Callable[..., Any] | None:
    """Angles and speeds, computed once for every sink that wants them (fastpose.measures)."""
    if not any(s.wants_measures for s in sinks):
        return None

    return Measurer(context.info.width, context.info.height, height_m=height)


def _progress(tracker: Tracker, enabled: bool) -> Any:

    return tqdm(
        total=tracker.info.num_frames,
        unit="frame",
        disable=not enabled or not sys.stderr.isatty(),
        file=sys.stderr,
        dynamic_ncols=True,
    )


def track(
    video: str | int | os.PathLike,
    sinks: Sequence[Sink] = (),
    *,
    spec: RunSpec | None = None,
    progress: bool = False,
    **keywords: Any,
) -> Recorded:
    """Track ``video`` into the outputs ``spec`` asks for (or :meth:`RunSpec.create`'s keywords,
    named like ``fastpose run``'s options: ``export=``, ``angles=``, ``save=``, ``height=``...,
    ``num_poses=``...), and into ``sinks`` of your own, with ``fastpose run``'s defaults, e.g.
    ``track("clip.mp4", export="clip.parquet", angles=["a.csv", "a.mot"], num_poses=2)``."""
    if spec is not None and keywords:
        raise TypeError(f"track: pass spec or keywords, got both ({', '.join(keywords)})")
    spec = spec if spec is not None else RunSpec.create(**keywords)
    with Tracker(video, spec.options) as tracker:
        return record(
            tracker, [*build_sinks(spec), *sinks], progress=progress, height=spec.outputs.height
        )


__all__ = ["Recorded", "RunSpec", "Staging", "record", "track"]

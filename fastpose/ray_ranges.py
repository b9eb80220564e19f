"""Inference over frame ranges as Ray tasks: one video across a cluster (``fastpose run --ray``).

The same ranges as on threads (fastpose.parallel: :func:`~fastpose.parallel.plan_units`, planned
for the cluster's CPUs), the same warm-ups and identity hand-over: a task (:func:`run_range`)
decodes its range from the video's path or URL, which every node must read, runs its own
landmarker and the sinks' frame hooks (JPEG frames for the viewer), and returns what the driver
needs of its frames: poses (landmarks, world landmarks, visibility and presence, appearance),
masks bit-packed (:class:`~fastpose.parallel.Packed`), the hooks' results. No frame comes back;
the driver writes every output (sinks that need pixels, the rendered video, decode the file
themselves).

:class:`RayRanges` yields the ranges' batches in frame order. At most ``window`` ranges (the
cluster's CPUs + 1, the one consumed included) are submitted and not yet consumed: finished ones
wait in Ray's object store on the node that ran them, and the driver fetches one range at a
time, so its memory is one range's (at most MAX_UNIT_FRAMES frames) whatever the video's
length. A range whose warm-up found fewer people than its predecessor is run again from further
back, as on threads. A failed task (after Ray's retries) ends the iteration with one line naming
the range. Masks go back only if a sink wants them (the recording).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fastpose.closing import Closing
from fastpose.core import NO_HOOKS, DecodeOptions, FrameHook, Inferred
from fastpose.errors import RemoteTaskError, one_line
from fastpose.landmarker import Landmarker, LandmarkerOptions
from fastpose.models import resolve_model
from fastpose.parallel import (
    Handover,
    Packed,
    RangeDone,
    WorkUnit,
    check_range,
    grown,
    unit_batches,
)
from fastpose.ray_runtime import RayRuntime, signals_raised
from fastpose.video import VideoLayout
from fastpose.video.probe import same_file

logger = logging.getLogger(__name__)

#: Seconds between checks for a signal while the driver waits for a range.
POLL_S = 0.25
#: Ray runs a task again this many times when its worker or node dies (not when it raises).
MAX_RETRIES = 2


@dataclass(frozen=True)
class RangeTask:
    """What a Ray task needs to infer one range: the range, how to decode and infer, the model's
    name (resolved again on a node that doesn't see the driver's file), the driver's probe of the
    file (used where the node's file is the same), the sinks' frame hooks."""

    unit: WorkUnit
    decode: DecodeOptions
    landmarker: LandmarkerOptions
    model: str
    layout: VideoLayout | None = None
    hooks: Mapping[str, FrameHook] = field(default_factory=dict)
    masks: bool = True  # False: used here (appearance) but not sent back


@dataclass(frozen=True)
class RangeResult:
    """A range's batches (masks bit-packed), its decoding counts, and what it cost on its node:
    seconds, the worker's CPU seconds, and the bytes of arrays and hook results sent back."""

    items: tuple[Packed | Inferred, ...]
    done: RangeDone
    seconds: float
    cpu_s: float
    payload: int
    start_s: float = 0.0  # making the landmarker


def run_range(task: RangeTask) -> RangeResult:
    """A Ray task's body: decode and infer ``task.unit`` from ``unit.start - unit.warmup``."""
    started, cpu = time.perf_counter(), time.process_time()
    unit, options = task.unit, task.landmarker
    if not Path(options.model_path).is_file():
        options = replace(options, model_path=resolve_model(task.model).path)
    layout = task.layout
    if layout is not None and same_file(layout, Path(unit.uri)) is not None:
        layout = None  # another copy of the file: probe it here
    source = task.decode.source(
        unit.uri, start=unit.start - unit.warmup, stop=unit.stop, layout=layout
    )
    made = time.perf_counter()
    with source, Landmarker(options) as landmarker:
        made = time.perf_counter() - made
        batches = unit_batches(source, landmarker, task.hooks, unit.start)
        items = tuple(Packed.pack(item if task.masks else _no_masks(item)) for item in batches)
        frames = sum(len(_item(i).poses) for i in items)
        done = RangeDone(unit, frames, source.decode_errors, source.ended_early)
    payload = sum(_payload(i) for i in items)
    return RangeResult(
        items, done, time.perf_counter() - started, time.process_time() - cpu, payload, made
    )


def _no_masks(item: Inferred) -> Inferred:
    return replace(item, poses=replace(item.poses, masks=None))


def _item(message: Packed | Inferred) -> Inferred:
    return message.item if isinstance(message, Packed) else message


def _payload(message: Packed | Inferred) -> int:
    """Bytes of the arrays and hook results a batch sends back."""
    item = _item(message)
    poses = item.poses
    arrays = [poses.frame_idx, poses.time_s, poses.pts_s, poses.landmarks, poses.world]
    arrays += [a for a in (poses.appearance, poses.masks) if a is not None]
    if item.overlap is not None:
        arrays += [item.overlap.landmarks, item.overlap.world]
    if isinstance(message, Packed):
        arrays += list(message.planes)
    size = sum(a.nbytes for a in arrays)
    for extra in item.extras.values():
        if isinstance(extra, list | tuple):
            size += sum(len(x) for x in extra if isinstance(x, bytes | bytearray))
    return size


@dataclass
class RayStats:
    """What the ranges cost on their nodes, summed: tasks run (reruns included), their seconds,
    their workers' CPU seconds, the seconds making landmarkers, the frames read (warm-ups
    included) and handed on, and the bytes sent back."""

    tasks: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    start_s: float = 0.0
    read: int = 0
    frames: int = 0
    payload: int = 0

    def add(self, result: RangeResult) -> None:
        unit = result.done.unit
        self.tasks += 1
        self.seconds += result.seconds
        self.cpu_s += result.cpu_s
        self.start_s += result.start_s
        self.read += result.done.frames + (unit.warmup if unit is not None else 0)
        self.frames += result.done.frames
        self.payload += result.payload


class RayRanges(Closing):
    """Runs ``units`` as Ray tasks on ``runtime`` and yields their batches in frame order.

    Each task decodes with ``decode``, infers with ``landmarker`` (``model``: its name, resolved
    again where the path is not visible), reuses ``layout`` (the driver's probe) where the file
    is the same, runs ``hooks`` and sends masks back only if ``masks``. At most ``window`` ranges
    are submitted and not consumed (default: the cluster's CPUs + 1). An error in a
    task is raised from the iterator as a :class:`~fastpose.errors.RemoteTaskError`;
    :meth:`close` cancels the tasks left."""

    def __init__(
        self,
        runtime: RayRuntime,
        units: list[WorkUnit],
        decode: DecodeOptions,
        landmarker: LandmarkerOptions,
        *,
        model: str,
        layout: VideoLayout | None = None,
        hooks: Mapping[str, FrameHook] = NO_HOOKS,
        masks: bool = True,
        window: int | None = None,
    ) -> None:
        self._ray = runtime.ray
        self._remote = self._ray.remote(run_range).options(num_cpus=1, max_retries=MAX_RETRIES)
        self._units = units
        self._task = RangeTask(units[0], decode, landmarker, model, layout, dict(hooks), masks)
        self._window = window or runtime.cpus + 1
        self._refs: dict[int, Any] = {}  # range index -> its task's result, not yet consumed
        self._next = 0
        self.done: list[RangeDone] = []
        self.reruns = 0
        self.stats = RayStats()
        self.handover = Handover()

    def _submit(self, unit: WorkUnit) -> Any:
        return self._remote.remote(replace(self._task, unit=unit))

    def __iter__(self) -> Iterator[Inferred]:
        for k, unit in enumerate(self._units):
            while self._next < len(self._units) and self._next < k + self._window:
                self._refs[self._next] = self._submit(self._units[self._next])
                self._next += 1
            result = self._get(k, unit)
            while (first := _first_overlap(result)) is not None and self.handover.fewer_found(
                first
            ):
                again = grown(result.done.unit or unit)
                if again is None:
                    break
                self.reruns += 1
                self._refs[k] = self._submit(again)
                result = self._get(k, again)
            del self._refs[k]
            items = list(result.items)
            result = replace(result, items=())
            while items:  # unpacked one batch at a time
                message = items.pop(0)
                item = message.unpack() if isinstance(message, Packed) else message
                self.handover.remember(item.poses, (result.done.unit or unit).first_read)
                yield item
            self.done.append(result.done)
            check_range(result.done)

    def _get(self, k: int, unit: WorkUnit) -> RangeResult:
        """Range ``k``'s result, waited for in short steps (a signal reaches the caller)."""
        ref = self._refs[k]
        while True:
            with signals_raised():
                ready, _ = self._ray.wait([ref], timeout=POLL_S)
            if ready:
                break
        try:
            result: RangeResult = self._ray.get(ref)
        except Exception as exc:  # RayTaskError, WorkerCrashedError, NodeDiedError...
            logger.debug(
                "frames %d-%d: the Ray task failed", unit.start, unit.stop - 1, exc_info=True
            )
            raise RemoteTaskError(
                f"frames {unit.start}-{unit.stop - 1} on Ray: {_why(exc)}"
            ) from None
        self.stats.add(result)
        frames = max(result.done.frames, 1)
        logger.debug(
            "frames %d-%d on Ray: %.1f s, %.1f CPU s, %.1f kB a frame sent back",
            unit.start,
            unit.stop - 1,
            result.seconds,
            result.cpu_s,
            result.payload / frames / 1e3,
        )
        return result

    def close(self) -> None:
        """Cancel the tasks not consumed (their workers are stopped: ranges write nothing)."""
        refs, self._refs = list(self._refs.values()), {}
        for ref in refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:  # finished already, or the runtime is gone
                logger.debug("cancelling a range's task: %s", one_line(exc))


def _first_overlap(result: RangeResult) -> Any:
    """The warm-up's poses that come with a restarted range's first batch, or None."""
    return _item(result.items[0]).overlap if result.items else None


def _why(exc: BaseException) -> str:
    """A failed task's reason in a few words: the exception the task raised (a missing video,
    a model MediaPipe rejects), or what Ray says of a worker or node that died."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {one_line(cause, first_line=True)}"
    return f"{type(exc).__name__}: {one_line(exc, first_line=True)}"

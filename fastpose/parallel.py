"""Inference over frame ranges, on threads: every core busy from the first frame.

A range (:class:`WorkUnit`) is a contiguous run of frames that one landmarker decodes and infers on
its own. MediaPipe's tracker is path-dependent, so a range that starts mid-video is read ``warmup``
frames early and those frames are only used to match identities (:attr:`Inferred.overlap`).

:class:`RangeThreads` runs ranges on threads of this process: MediaPipe 1.x infers through ctypes
without the GIL, PyAV and OpenCV decode and scale without it, so N threads keep N cores busy without
a second process's imports, memory or pickling. The range being consumed (the head) hands its
batches on through a short queue (a slow consumer slows inference, it does not fill memory); later
ranges wait their turn in a buffer of at most ``workers + 1`` ranges, masks bit-packed, each range
ahead holding at most :data:`AHEAD_BYTES` (so a long video holds no more than a short one).

A restarted landmarker may not find at first everyone a landmarker that ran from the start was
following. When its warm-up finds fewer people than the previous range found on the same frames,
the range is run again from further back (:data:`WARMUP_GROWTH`), so the number of landmarkers
changes the speed, not who is found.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace

import numpy as np
from numpy.typing import NDArray

from fastpose.closing import Closing
from fastpose.core import NO_HOOKS, FrameHook, Inferred
from fastpose.errors import blame
from fastpose.landmarker import Landmarker
from fastpose.poses import PoseBatch
from fastpose.video import FrameBatch, VideoSource

logger = logging.getLogger(__name__)

#: Frames a restarted landmarker runs before its output is kept.
WARMUP_FRAMES = 20
#: A restarted range that finds fewer people than its predecessor runs again with this many
#: times the warm-up, up to MAX_WARMUP_FRAMES.
WARMUP_GROWTH = 4
MAX_WARMUP_FRAMES = 320
#: Frames at the end of a warm-up compared with the previous range's.
COMPARED_FRAMES = 5
#: Ranges shorter than this are not split off: the warm-up and a landmarker's start would cost
#: more than the second core saves.
MIN_UNIT_FRAMES = 60
#: Longer ranges are split further, so the buffer stays bounded whatever the video's length.
MAX_UNIT_FRAMES = 600
#: The first range hands on its first frames this many at a time, so the first frame reaches the
#: outputs after a few frames' inference rather than a whole batch's.
FIRST_FRAMES = 4
#: Batches the range being consumed may hold ahead of its consumer.
HEAD_BATCHES = 4
#: Bytes a range ahead of the one being consumed may hold (its batches, masks packed, with the
#: hooks' results) before its landmarker waits: ~130 frames at 640x360 with one person's masks and
#: the video stream's samples (32 KB a frame). Unbounded, a long video whose consumer is slower
#: than inference kept its ranges ahead whole (measured: 37 MB held at its 830th frame, ~19 MB a
#: 600-frame range; 0.4 GB with a hook keeping the frames), which a short video's few never are.
AHEAD_BYTES = 4 * 2**20


@dataclass(frozen=True)
class WorkUnit:
    """Frames ``[start, stop)`` of ``uri``, read from ``start - warmup``."""

    uri: str
    start: int
    stop: int
    warmup: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.start - self.warmup <= self.start < self.stop:
            raise ValueError(f"WorkUnit: expected 0 <= start - warmup <= start < stop, got {self}")

    @property
    def first_read(self) -> int:
        """The frame its landmarker starts at (its warm-up's first)."""
        return self.start - self.warmup


def plan_units(
    uri: str,
    num_frames: int,
    workers: int,
    key_frames: NDArray[np.int64] | None = None,
    *,
    min_frames: int = MIN_UNIT_FRAMES,
    max_frames: int = MAX_UNIT_FRAMES,
) -> list[WorkUnit]:
    """Ranges over ``[0, num_frames)`` that keep ``workers`` busy to the end; a short video is one.
    Ranges hold ``min_frames`` to ``max_frames`` frames (plus a warm-up) where the video allows.

    Ranges come in rounds of ``workers`` that infer equal numbers of frames (warm-up included), so
    the threads finish together. With the video's ``key_frames``, a boundary moves (by at most an
    eighth of a range) so that its warm-up starts on a key frame and no frame is decoded in vain.
    """
    if workers <= 1 or num_frames < 2 * min_frames:
        return [WorkUnit(uri, 0, num_frames)]
    rounds = math.ceil(num_frames / (workers * max_frames))
    count = min(workers * rounds, num_frames // min_frames)
    work = (num_frames + WARMUP_FRAMES * (count - 1)) / count  # frames inferred per range
    ideal = [round(k * work - (k - 1) * WARMUP_FRAMES) for k in range(1, count)]
    bounds = [0, *(_snap(b, key_frames, work / 8) for b in ideal), num_frames]
    return [WorkUnit(uri, a, b, min(WARMUP_FRAMES, a)) for a, b in itertools.pairwise(bounds)]


def _snap(ideal: int, key_frames: NDArray[np.int64] | None, tolerance: float) -> int:
    """``ideal``, or the boundary within ``tolerance`` of it whose warm-up starts on a key frame."""
    if key_frames is None or len(key_frames) == 0:
        return ideal
    bounds = key_frames + WARMUP_FRAMES
    best = int(bounds[np.argmin(np.abs(bounds - ideal))])
    return best if abs(best - ideal) <= tolerance else ideal


def unit_batches(
    source: VideoSource,
    landmarker: Landmarker,
    hooks: Mapping[str, FrameHook] = NO_HOOKS,
    keep_from: int = 0,
    stop: Callable[[], bool] | None = None,
) -> Iterator[Inferred]:
    """Poses of every batch ``source`` decodes from ``keep_from`` on, with each hook's result on
    those frames; the frames before ``keep_from`` (a restarted range's warm-up) come as the first
    batch's ``overlap``. ``stop()`` true ends it early."""
    from fastpose.appearance import describe  # Numba loads here, off the start-up path

    warmup: list[PoseBatch] = []
    for frames in _first_split(source, keep_from == 0):
        if stop is not None and stop():
            return
        poses = landmarker.detect(frames)
        poses = replace(poses, appearance=describe(frames.images, poses))
        first = int(np.searchsorted(frames.frame_idx, keep_from))
        if first > 0:
            warmup.append(replace(poses.take(slice(0, first)), masks=None))
        if first < len(poses):
            overlap = PoseBatch.concat(warmup) if warmup else None
            warmup = []
            kept, kept_frames = poses.take(slice(first, None)), frames.take(slice(first, None))
            extras = {name: hook(kept_frames, kept) for name, hook in hooks.items()}
            yield Inferred(kept, extras, overlap)


def _first_split(source: VideoSource, split: bool) -> Iterator[FrameBatch]:
    """``source``'s batches, the first cut after FIRST_FRAMES frames when ``split``."""
    for frames in source:
        if split and len(frames) > FIRST_FRAMES:
            yield frames.take(slice(0, FIRST_FRAMES))
            frames = frames.take(slice(FIRST_FRAMES, None))
        split = False
        yield frames


@dataclass(frozen=True)
class Packed:
    """A buffered batch: masks bit-packed until its range is consumed, one bit plane per bit of
    the class ids (one plane, 8x smaller, for one person; two for up to three)."""

    item: Inferred  # without masks
    planes: tuple[NDArray[np.uint8], ...]  # each (T, h, ceil(w / 8))
    width: int

    @property
    def nbytes(self) -> int:
        return nbytes(self.item) + sum(p.nbytes for p in self.planes)

    @classmethod
    def pack(cls, item: Inferred) -> Packed | Inferred:
        masks = item.poses.masks
        if masks is None:
            return item
        count = max(1, int(masks.max(initial=0)).bit_length())
        planes = tuple(np.packbits((masks >> b) & 1, axis=-1) for b in range(count))
        return cls(replace(item, poses=replace(item.poses, masks=None)), planes, masks.shape[-1])

    def unpack(self) -> Inferred:
        masks = np.unpackbits(self.planes[0], axis=-1, count=self.width)
        for b, plane in enumerate(self.planes[1:], start=1):
            masks |= np.unpackbits(plane, axis=-1, count=self.width) << b
        return replace(self.item, poses=replace(self.item.poses, masks=masks))


class Handover:
    """The people count of the last frames the consumer took, to tell whether the next range's
    warm-up found fewer on the same frames (the range then runs again from further back), and
    the frame the landmarker that inferred them started at (``origin``; None: not known)."""

    def __init__(self) -> None:
        self._tail: collections.deque[tuple[int, int]] = collections.deque(maxlen=COMPARED_FRAMES)
        self.origin: int | None = None

    def saved(self) -> list[tuple[int, int]]:
        """The (frame, people count) pairs remembered: a resumed run's starting tail."""
        return list(self._tail)

    def restore(self, tail: list[tuple[int, int]], origin: int | None = None) -> None:
        """Remember ``tail`` (:meth:`saved` of an earlier run) as the frames taken last, inferred
        by a landmarker started at frame ``origin``."""
        self._tail.extend(tail)
        self.origin = origin

    def remember(self, poses: PoseBatch, origin: int | None = None) -> None:
        """Remember ``poses``' people counts, inferred by a landmarker started at ``origin``."""
        counts = poses.detected.sum(axis=1)
        for frame, n in zip(poses.frame_idx, counts, strict=True):
            self._tail.append((int(frame), int(n)))
        self.origin = origin

    def fewer_found(self, overlap: PoseBatch) -> bool:
        """The restarted landmarker's warm-up found fewer people, on the last frames before its
        range, than the previous range handed on for the same frames."""
        before = dict(self._tail)
        found = overlap.detected.sum(axis=1)
        pairs = [
            (before[int(f)], int(n))
            for f, n in zip(overlap.frame_idx, found, strict=True)
            if int(f) in before
        ]
        return bool(pairs) and sum(n for _, n in pairs) < sum(b for b, _ in pairs)


def grown(unit: WorkUnit) -> WorkUnit | None:
    """``unit`` read from further back (:data:`WARMUP_GROWTH`), for a warm-up that found fewer
    people; None if its warm-up can't grow (it starts at the first frame, or at the longest)."""
    warmup = min(unit.start, unit.warmup * WARMUP_GROWTH, MAX_WARMUP_FRAMES)
    if warmup <= unit.warmup:
        return None
    logger.debug(
        "frames %d-%d: the restarted landmarker found fewer people than the previous one; "
        "running them again from frame %d",
        unit.start,
        unit.stop - 1,
        unit.start - warmup,
    )
    return replace(unit, warmup=warmup)


@dataclass(frozen=True)
class RangeDone:
    """The end of a range: its decoding counts."""

    unit: WorkUnit | None
    frames: int  # frames handed on (warm-up excluded)
    decode_errors: int
    ended_early: bool


def nbytes(message: object) -> int:
    """Bytes of the arrays and byte strings ``message`` holds (a batch, its poses, its hooks'
    results: arrays, bytes, dataclasses, mappings and sequences of them)."""
    if isinstance(message, np.ndarray):
        return message.nbytes
    if isinstance(message, bytes | bytearray):
        return len(message)
    if isinstance(message, Packed):
        return message.nbytes
    if is_dataclass(message) and not isinstance(message, type):
        return sum(nbytes(getattr(message, f.name)) for f in fields(message))
    if isinstance(message, Mapping):
        return sum(nbytes(v) for v in message.values())
    if isinstance(message, list | tuple):
        return sum(nbytes(v) for v in message)
    return 0


class _Channel:
    """A range's messages on their way to the consumer. While the range is the one consumed, a
    producer waits once ``HEAD_BATCHES`` are held; before, once ``ahead_bytes`` are (the
    landmarkers ahead keep working, within a bound). ``bytes``: what the messages held hold;
    ``waiting``: a producer waits for room."""

    def __init__(self, ahead_bytes: int = AHEAD_BYTES) -> None:
        self._items: collections.deque[tuple[object, int]] = collections.deque()
        self._ready = threading.Condition()
        self.ahead_bytes = ahead_bytes
        self.bytes = 0
        self.waiting = False

    def put(self, item: object, *, head: Callable[[], bool], stop: Callable[[], bool]) -> None:
        """Hold ``item``, first waiting while the channel is full: ``head()`` true, the range is
        the one consumed (HEAD_BATCHES at most), else it is ahead (``ahead_bytes``); ``stop()``
        true: no wait."""
        size = nbytes(item)
        with self._ready:
            while not stop() and self._full(head()):
                self.waiting = True
                self._ready.wait(0.1)
            self.waiting = False
            self._items.append((item, size))
            self.bytes += size
            self._ready.notify_all()

    def put_last(self, item: object) -> None:
        """Hold ``item`` (a range's end or its error) without waiting."""
        self.put(item, head=lambda: False, stop=lambda: True)

    def _full(self, head: bool) -> bool:
        if not self._items:
            return False
        return len(self._items) >= HEAD_BATCHES if head else self.bytes >= self.ahead_bytes

    def get(self, timeout: float) -> object | None:
        """The next message, or None after ``timeout`` seconds without one."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            if not self._items:
                return None
            item, size = self._items.popleft()
            self.bytes -= size
            self._ready.notify_all()
            return item

    def wake(self) -> None:
        with self._ready:
            self._ready.notify_all()


@dataclass
class Range:
    """A range for :class:`RangeThreads`, with the channel its batches wait in."""

    index: int
    unit: WorkUnit | None  # None: the whole of a source opened by the caller
    source: VideoSource | None = None  # opened by the caller (the single range of a live input)
    landmarker: Landmarker | None = None  # created by the caller (errors surface before outputs)

    def __post_init__(self) -> None:
        self.channel = _Channel()
        self.cancelled = threading.Event()  # replaced by a run from further back


class RangeThreads(Closing):
    """Runs ranges on ``workers`` threads and yields their batches in frame order.

    A thread starts a range only while it is at most ``workers`` ranges ahead of the one being
    consumed, so at most ``workers + 1`` ranges are held. ``open_source(unit)`` and
    ``make_landmarker()`` build a range's own decoder and landmarker, in its thread; the first range
    may come with the caller's. ``hooks`` run in the range's thread on every batch kept. A range
    ahead of the one consumed holds at most ``ahead_bytes`` of batches before its thread waits. An
    error in a range is raised from the iterator; :meth:`close` stops every thread after its
    current batch.
    """

    def __init__(
        self,
        ranges: list[Range],
        workers: int,
        open_source: Callable[[WorkUnit], VideoSource],
        make_landmarker: Callable[[], Landmarker],
        hooks: Mapping[str, FrameHook] = NO_HOOKS,
        ahead_bytes: int = AHEAD_BYTES,
    ) -> None:
        if ahead_bytes < 1:
            raise ValueError(f"RangeThreads.ahead_bytes: expected >= 1, got {ahead_bytes}")
        self._ahead_bytes = ahead_bytes
        for r in ranges:
            r.channel.ahead_bytes = ahead_bytes
        self._ranges = ranges
        self._open_source = open_source
        self._make_landmarker = make_landmarker
        self._hooks = dict(hooks)
        self._stop = threading.Event()
        self._turn = threading.Condition()
        self._workers = min(workers, len(ranges))
        self._head = 0  # the range being consumed
        self._next = 0  # the next range a thread takes
        self.done: list[RangeDone] = []
        self.reruns = 0  # ranges run again from further back
        self.handover = Handover()
        self._threads = [
            threading.Thread(target=self._work, args=(None,), name=f"fastpose-range-{k}")
            for k in range(self._workers)
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @classmethod
    def single(
        cls,
        source: VideoSource,
        landmarker: Landmarker,
        hooks: Mapping[str, FrameHook] = NO_HOOKS,
    ) -> RangeThreads:
        """One range over ``source`` (a camera, a stream, an image, a short clip), on one thread."""
        ranges = [Range(0, None, source, landmarker)]
        return cls(ranges, 1, _no_source, _no_landmarker, hooks)

    def _take(self) -> Range | None:
        with self._turn:
            while self._next > self._head + self._workers and not self._stop.is_set():
                self._turn.wait(0.1)
            if self._stop.is_set() or self._next >= len(self._ranges):
                return None
            self._next += 1
            return self._ranges[self._next - 1]

    def _work(self, only: Range | None) -> None:
        while (r := only or self._take()) is not None:
            try:
                self._run(r)
            except BaseException as exc:  # handed to the consumer, which raises it
                blame(exc, f"a landmarker's thread ({_frames(r.unit)})")
                r.channel.put_last(exc)
                return
            if only is not None:
                return

    def _run(self, r: Range) -> None:
        opened = r.source is None
        source = self._open_source(r.unit) if opened else r.source

        def stop() -> bool:
            return self._stop.is_set() or r.cancelled.is_set()

        def head() -> bool:
            return r.index == self._head

        try:
            landmarker = r.landmarker or self._make_landmarker()
            r.landmarker = None
            with landmarker:
                keep_from = r.unit.start if r.unit is not None else 0
                frames = 0
                for item in unit_batches(source, landmarker, self._hooks, keep_from, stop):
                    frames += len(item.poses)
                    message = item if head() else Packed.pack(item)
                    r.channel.put(message, head=head, stop=stop)
            r.channel.put_last(RangeDone(r.unit, frames, source.decode_errors, source.ended_early))
        finally:
            if opened:
                source.close()

    def __iter__(self) -> Iterator[Inferred]:
        for k, r in enumerate(self._ranges):
            with self._turn:
                self._head = r.index
                self._turn.notify_all()
            r.channel.wake()
            first = True
            while True:
                message = self._get(r)
                if isinstance(message, RangeDone):
                    self.done.append(message)
                    check_range(message)
                    break
                if isinstance(message, BaseException):
                    raise message
                item = message.unpack() if isinstance(message, Packed) else message
                if first and item.overlap is not None and self.handover.fewer_found(item.overlap):
                    again = self._rerun(r)
                    if again is not None:  # its messages replace the first run's
                        r = self._ranges[k] = again
                        continue
                first = False
                self.handover.remember(item.poses, r.unit.first_read if r.unit else 0)
                yield item

    def _rerun(self, r: Range) -> Range | None:
        """Cancel ``r`` and run its frames again from further back, on a thread of its own;
        None if its warm-up can't grow (it starts at the first frame or at the longest)."""
        assert r.unit is not None  # only restarted ranges have an overlap
        unit = grown(r.unit)
        if unit is None:
            return None
        r.cancelled.set()
        r.channel.wake()
        again = Range(r.index, unit)
        again.channel.ahead_bytes = self._ahead_bytes
        self.reruns += 1
        thread = threading.Thread(
            target=self._work, args=(again,), name=f"fastpose-rerun-{r.index}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return again

    def _get(self, r: Range) -> object:
        while True:  # a timeout, so signals reach the main thread promptly
            message = r.channel.get(timeout=0.25)
            if message is not None:
                return message
            if self._stop.is_set():
                raise RuntimeError("the range threads were closed")

    def close(self) -> None:
        """Stop every thread after the batch it is on, and wait for them; safe to call twice."""
        self._stop.set()
        with self._turn:
            self._turn.notify_all()
        for r in self._ranges:
            r.channel.wake()
        for thread in self._threads:
            thread.join()
        for r in self._ranges:  # landmarkers handed in but never run
            if r.landmarker is not None:
                r.landmarker.close()
                r.landmarker = None


def check_range(done: RangeDone) -> None:
    """Every frame once: a range must hand on exactly its frames (less those that failed)."""
    unit = done.unit
    if unit is None or done.ended_early:
        return
    expected = unit.stop - unit.start - done.decode_errors
    if done.frames != expected:
        logger.warning(
            "frames %d-%d: decoded %d frames, expected %d",
            unit.start,
            unit.stop - 1,
            done.frames,
            expected,
        )


def _frames(unit: WorkUnit | None) -> str:
    return "the whole video" if unit is None else f"frames {unit.start}-{unit.stop - 1}"


def _no_source(unit: WorkUnit) -> VideoSource:
    raise AssertionError(f"a single range opens no source ({unit})")


def _no_landmarker() -> Landmarker:
    raise AssertionError("a single range makes no landmarker")

"""The tracking pipeline as an iterator: video source -> landmarker(s) -> identities -> left/right
labels corrected (laterality.py: a track segment's first second held back) -> landmark glitches
replaced (outliers.py: a delay of 3 frames) -> smoothing, in frame order. It knows nothing of
outputs: sinks (fastpose.sinks) take what it yields.

:class:`Tracker` is the Python API everything is built on::

    with Tracker("clip.mp4") as tracker:  # the CLI's defaults; or num_poses=2, workers=1...
        for batch in tracker:
            ...  # batch.poses: smoothed PoseBatch of consecutive frames, with track ids
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fastpose.closing import Closing
from fastpose.cores import default_workers
from fastpose.errors import GpuUnavailableError, InvalidVideoError, ResumeError, one_line
from fastpose.landmarker import Landmarker, LandmarkerOptions, probe_gpu
from fastpose.laterality import DESCRIPTION as LEFT_RIGHT
from fastpose.laterality import Laterality
from fastpose.native_log import quiet
from fastpose.options import SmoothingOptions, TrackOptions
from fastpose.outliers import DESCRIPTION as OUTLIERS
from fastpose.outliers import Outliers
from fastpose.parallel import (
    MAX_WARMUP_FRAMES,
    WARMUP_FRAMES,
    FrameHook,
    Inferred,
    Range,
    RangeThreads,
    WorkUnit,
    plan_units,
)
from fastpose.poses import PoseBatch
from fastpose.ray_ranges import RayRanges, RayStats
from fastpose.ray_runtime import RayRuntime
from fastpose.replay import replayed
from fastpose.smoothing import PerTrack, make_smoother

logger = logging.getLogger(__name__)

__all__ = ["SmoothingOptions", "TrackOptions", "TrackStats", "Tracker"]


@dataclass
class TrackStats:
    """Counts for the run's summary, updated as batches are yielded."""

    frames: int = 0
    frames_with_person: int = 0
    decode_errors: int = 0
    ended_early: bool = False
    delegate: str = "cpu"
    workers: int = 1
    reruns: int = 0  # restarted ranges run again from further back
    started: float = field(default_factory=time.perf_counter)
    first_frame_s: float | None = None
    ray: RayStats | None = None  # what the ranges cost on Ray, when they ran there
    swaps: dict[str, int] = field(default_factory=dict)  # left/right labels traded back, by chain
    replaced: int = 0  # landmarks the outlier filter replaced

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started


class _PoseSmoother:
    """Smooths each person's landmark coordinates over the ordered stream, with filters of its
    own started when its track starts (no filter mixes two people); visibility and presence
    pass through."""

    def __init__(self, opts: SmoothingOptions) -> None:
        params = {} if opts.method == "none" else {"min_cutoff": opts.min_cutoff, "beta": opts.beta}
        world = (
            {}
            if opts.method == "none"
            else {"min_cutoff": opts.world_min_cutoff, "beta": opts.world_beta}
        )
        # partials, not lambdas: a checkpoint pickles the smoothers (fastpose.resume)
        self.image = PerTrack(functools.partial(make_smoother, opts.method, **params))
        self.world = PerTrack(functools.partial(make_smoother, opts.method, **world))

    def __call__(self, poses: PoseBatch) -> PoseBatch:
        if len(poses) == 0:
            return poses
        t, ids, (n, p) = poses.time_s, poses.ids, poses.landmarks.shape[:2]
        landmarks = poses.landmarks.copy()
        xyz = landmarks[..., :3]
        landmarks[..., :3] = self.image(t, ids, xyz.reshape(n, p, -1)).reshape(xyz.shape)
        world = self.world(t, ids, poses.world.reshape(n, p, -1)).reshape(poses.world.shape)
        return replace(poses, landmarks=landmarks, world=world)


@dataclass
class _Saved:
    """What :meth:`Tracker.state` pickles: the stages (identities, the left/right correction and
    the outlier filter whole, with the batches they hold back, smoothers), the people counts of
    the last frames taken, the batches out of the filter not yet handed on (``ready``), the poses
    (masks dropped) of every item whose output is held or ready (``held``): a resumed run decodes
    their frames again for the frame hooks and infers from the frame after them; and the frame
    the landmarker that inferred the last of them started at (``origin``; None: not known, as
    in a state saved before it was kept)."""

    stages: tuple[Any, ...]
    tail: list[tuple[int, int]]
    ready: list[PoseBatch]
    held: list[PoseBatch]
    origin: int | None = None

    def infer_from(self, start_frame: int) -> int:
        """The first frame the stages have not taken in (``start_frame``: the first not
        handed on)."""
        last = [int(b.frame_idx[-1]) for b in self.held if len(b)]
        return max(last) + 1 if last else start_frame

    def warmup(self, infer_from: int) -> int:
        """Frames a resumed landmarker reads before ``infer_from``: back to the frame the earlier
        landmarker started at, when that is at most MAX_WARMUP_FRAMES back. MediaPipe's tracker
        is path-dependent but deterministic: on the same path it finds the same people on every
        frame, where a shorter warm-up, though it found everyone on its last 70 frames, lost a
        person from the 4th frame after it (tests/test_resume.py). Further back: a range's
        warm-up (run again from further back if it finds fewer people: fastpose.parallel)."""
        back = infer_from - self.origin if self.origin is not None else 0
        return back if 0 < back <= MAX_WARMUP_FRAMES else min(WARMUP_FRAMES, infer_from)


def _loaded(state: bytes) -> _Saved:
    """``state`` (:meth:`Tracker.state`) unpickled, or :class:`ResumeError` in one line."""
    try:
        saved = pickle.loads(state)
    except Exception as exc:
        raise ResumeError(f"--resume: the saved state is unreadable ({one_line(exc)})") from exc
    if not isinstance(saved, _Saved):
        raise ResumeError(f"--resume: expected a tracker's state, got {type(saved).__name__}")
    return saved


class Tracker(Closing):
    """Tracks poses through a video; iterate for smoothed :class:`Inferred` batches in frame order.

    ``Tracker("clip.mp4")`` runs with ``fastpose run``'s defaults; keywords are its options
    (``num_poses=2``, ``workers=1``, ``model="lite"``, ``inference_size=0``... see
    :meth:`TrackOptions.create`), or pass a whole ``options``. With ``workers > 1`` and a video
    long enough to split, frame ranges run on that many threads, each decoding its own frames with
    its own landmarker; with ``ray=True`` (a local runtime) or ``ray="HOST:PORT"`` (a cluster)
    the ranges run as Ray tasks instead (fastpose.ray_ranges: the driver, here, gets their poses
    back in order). The video is opened and the first landmarker made here, so a bad input or
    a model MediaPipe rejects fails before any output is opened. MediaPipe's native log stays off
    the terminal unless ``verbose``.

    ``start_frame`` and ``state`` (:meth:`state` after frame ``start_frame - 1`` of an earlier
    run was handed on) continue that run: the frames the stages held back come first (from
    the state: the same poses), then tracking starts after them with a warm-up, as a frame range
    does, every stage going on from the saved state (fastpose.resume).
    """

    def __init__(
        self,
        video: str | int | os.PathLike,
        options: TrackOptions | None = None,
        *,
        start_frame: int = 0,
        state: bytes | None = None,
        **keywords: Any,
    ) -> None:
        if options is not None and keywords:
            raise TypeError(f"Tracker: pass options or keywords, got both ({', '.join(keywords)})")
        self.options = options if options is not None else TrackOptions.create(**keywords)
        self.uri = os.fspath(video) if not isinstance(video, int) else str(video)
        if start_frame < 0 or (start_frame > 0) != (state is not None):
            raise ValueError(
                f"Tracker: expected start_frame 0, or > 0 with a state, got {start_frame}"
            )
        self.start_frame = start_frame
        self._layout: Any = None  # the video's index, for frames decoded again
        self._saved: _Saved | None = None if state is None else _loaded(state)
        #: The first frame to infer: after those a resumed run's stages held back.
        self.infer_from = self._saved.infer_from(start_frame) if self._saved else 0
        self._stages: tuple[Any, ...] | None = None  # (identities, laterality, outliers, smoother)
        self._held: deque[Inferred] = deque()  # items whose poses left/right or outliers hold
        self._ready: deque[PoseBatch] = deque()  # out of the filter, not yet handed on
        self._exit = contextlib.ExitStack()
        self._threads: RangeThreads | RayRanges | None = None
        self._first: Landmarker | None = None
        self._ray: RayRuntime | None = None  # the ranges run as Ray tasks (options.ray)
        try:
            if not self.options.verbose:
                self._exit.enter_context(quiet())
            self.source = self._exit.enter_context(
                self.options.decode.source(video, max_frames=self.options.max_frames)
            )
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        options = self.options
        self.info = self.source.info
        self.frame_size: tuple[int, int] = self.source.decode_size
        self.stats = TrackStats()
        self._landmarker_options = self._choose_delegate(options.landmarker)
        self.stats.delegate = "gpu" if self._landmarker_options.gpu else "cpu"
        self._first = Landmarker(self._landmarker_options)
        n = self.info.num_frames
        left = bool(n) and (not self.start_frame or self.infer_from < n)  # frames to infer
        if options.ray and left and not self.info.is_image:
            self._plan_on_ray(n)
            return
        if options.ray and not self.start_frame:
            logger.warning("%s: a live input or an image is not split; tracking it here", self.uri)
        splittable = bool(n) and not self.info.is_image and options.workers > 1
        self._units = (
            plan_units(
                self.uri,
                n,
                options.workers,
                self.source.key_frames,
                min_frames=options.min_range_frames,
                max_frames=options.max_range_frames,
            )
            if splittable
            else []
        )
        if self.start_frame:
            self._units = self._resumed_units(n) if not n or self.infer_from < n else []
        self.stats.workers = min(options.workers, max(len(self._units), 1))
        if splittable and self.stats.workers < options.workers:
            logger.debug(
                "%s: %d frame(s), too few to split (under %d): running %d landmarker(s), not %d",
                self.uri,
                n or 0,
                2 * options.min_range_frames,
                self.stats.workers,
                options.workers,
            )

    def _plan_on_ray(self, num_frames: int) -> None:
        """Ranges for every CPU of the Ray cluster (``options.ray``), read by the tasks from the
        video's absolute path (or its URL)."""
        options = self.options
        self._ray = self._exit.enter_context(
            RayRuntime(options.ray, options.workers, gpu=self._landmarker_options.gpu)
        )
        uri = os.path.abspath(self.uri) if os.path.isfile(self.uri) else self.uri
        self._units = (
            self._resumed_units(num_frames, uri, self._ray.cpus)
            if self.start_frame
            else plan_units(
                uri,
                num_frames,
                self._ray.cpus,
                self.source.key_frames,
                min_frames=options.min_range_frames,
                max_frames=options.max_range_frames,
            )
        )
        self.stats.workers = min(self._ray.cpus, len(self._units))
        logger.debug(
            "%s: %d range(s) as Ray tasks on %s (%d CPUs)",
            self.uri,
            len(self._units),
            self._ray.address,
            self._ray.cpus,
        )

    def _resumed_units(
        self, n: int | None, uri: str | None = None, workers: int | None = None
    ) -> list[WorkUnit]:
        """The ranges of frames ``[infer_from, n)`` for ``workers`` landmarkers (the options'),
        each read from a warm-up before it, from ``uri`` (the video's)."""
        c, options = self.infer_from, self.options
        if not n or self.info.is_image or c >= n:
            raise InvalidVideoError(
                f"{self.uri}: cannot start at frame {c} ({n or 'no'} frames: a video file, "
                "not an image, camera or stream, continues)"
            )
        keys = self.source.key_frames
        units = plan_units(
            uri or self.uri,
            n - c,
            workers or options.workers,
            None if keys is None else keys[keys >= c] - c,
            min_frames=options.min_range_frames,
            max_frames=options.max_range_frames,
        )
        assert self._saved is not None  # only a resumed run has a start_frame
        warmups = [self._saved.warmup(c), *(min(WARMUP_FRAMES, u.start + c) for u in units[1:])]
        return [
            WorkUnit(u.uri, u.start + c, u.stop + c, w) for u, w in zip(units, warmups, strict=True)
        ]

    def state(self) -> bytes:
        """The state after the last batch yielded, pickled: every stage (identities, left/right
        toggles, the outlier filter with the batches it holds back, smoothers), the people counts
        of the last frames taken (a restarted range's warm-up is checked against them) and the
        batches held back. A tracker started with it (``state=``, ``start_frame``: the frame
        after that batch) hands on the same batches next, then tracks on."""
        if self._stages is None:
            raise RuntimeError("Tracker.state: expected a tracker that has started tracking")
        handover = self._threads.handover if self._threads is not None else None
        tail, origin = (handover.saved(), handover.origin) if handover else ([], None)
        held = [replace(item.poses, masks=None, appearance=None) for item in self._held]
        saved = _Saved(self._stages, tail, list(self._ready), held, origin)
        return pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL)

    def settings(self) -> dict[str, str]:
        """The options' settings, with what runs in their place: the landmarkers used (a video
        too short to split runs one, whatever ``workers`` asked), the delegate (the CPU where
        the GPU could not be had), the Ray tasks, and the left/right correction and outlier filter
        applied."""
        ray = {"ray": self._ray.address, "ray_tasks": str(len(self._units))} if self._ray else {}
        cleaning = self.options.cleaning
        return {
            **self.options.settings(),
            "workers": str(self.stats.workers),
            "delegate": self.stats.delegate,
            **ray,
            "left_right": LEFT_RIGHT if cleaning else "none",
            "outliers": OUTLIERS if cleaning else "none",
        }

    def _threads_for(
        self, hooks: Mapping[str, FrameHook], masks: bool = True
    ) -> RangeThreads | RayRanges:
        first, self._first = self._first, None
        if first is None:
            raise RuntimeError("Tracker: a tracker runs once; make another to track again")
        decode = self.options.decode
        if self._ray is not None:  # no landmarker here: each task makes its own
            first.close()
            layout = self.source.layout
            self.source.close()
            return RayRanges(
                self._ray,
                self._units,
                replace(decode, threads=1),  # a task a CPU
                self._landmarker_options,
                model=self.options.model,
                layout=layout,
                hooks=hooks,
                masks=masks,
            )
        if len(self._units) <= 1 and not self.start_frame:
            return RangeThreads.single(self.source, first, hooks)
        layout = self.source.layout  # each range decodes its own frames, reading no index again
        self.source.close()
        if self.stats.workers >= default_workers():  # no spare core for a decoder's own threads
            decode = replace(decode, threads=1)
        ranges = [Range(k, unit) for k, unit in enumerate(self._units)]
        if ranges:
            ranges[0].landmarker = first
        else:  # a resumed run whose held batches end the video: nothing to infer
            first.close()
        return RangeThreads(
            ranges,
            self.stats.workers,
            open_source=lambda unit: decode.source(
                unit.uri, start=unit.start - unit.warmup, stop=unit.stop, layout=layout
            ),
            make_landmarker=lambda: Landmarker(self._landmarker_options),
            hooks=hooks,
        )

    def _choose_delegate(self, opts: LandmarkerOptions) -> LandmarkerOptions:
        if not opts.gpu or probe_gpu(opts):
            return opts
        if self.options.require_gpu:
            raise GpuUnavailableError(
                "--require-gpu: the GPU delegate cannot be created on this machine"
            )
        logger.warning("GPU delegate unavailable here; running on the CPU")
        return replace(opts, gpu=False)

    def batches(
        self, hooks: Mapping[str, FrameHook] | None = None, *, masks: bool = True
    ) -> Iterator[Inferred]:
        """Smoothed batches with track ids, in frame order; ``hooks`` run in the landmarkers'
        threads on each batch's frames, their results in ``Inferred.extras`` by name. Without
        ``masks``, ranges run on Ray don't send their masks back (the batches may have none)."""
        # ~0.4 s (SciPy, Numba; -X importtime): loaded when tracking starts, overlapping the
        # landmarkers' start, not when a Tracker is imported
        from fastpose.identities import Identities

        hooks = hooks or {}
        self._layout = self.source.layout
        self._threads = self._threads_for(hooks, masks)
        aspect = self.info.width / max(self.info.height, 1)
        held, ready = self._held, self._ready
        if self._saved is not None:  # every stage goes on; the held batches come out first
            identities, laterality, outliers, smooth = self._saved.stages
            # the warm-up is checked against the tail
            self._threads.handover.restore(self._saved.tail, self._saved.origin)
            ready.extend(self._saved.ready)
            held.extend(self._held_again(self._saved.held, hooks))
        else:
            identities = Identities(aspect=aspect)
            laterality = Laterality(aspect, fps=self.info.fps)
            outliers = Outliers(aspect)
            smooth = _PoseSmoother(self.options.smoothing)
        self.stats.swaps = laterality.fired
        self._stages = (identities, laterality, outliers, smooth)
        for item in self._ranges(self._threads) if self._units or not self.start_frame else ():
            if item.overlap is not None:  # a restarted landmarker: match its tracks to ours
                identities.restart(item.overlap)
            held.append(item)
            tracks = identities(item.poses)
            if not self.options.cleaning:
                ready.append(tracks)
            for corrected in laterality(tracks) if self.options.cleaning else ():
                ready.extend(outliers.push(corrected))
            while ready:
                yield self._smoothed(held.popleft(), ready.popleft(), smooth, outliers)
        for corrected in laterality.finish() if self.options.cleaning else ():
            ready.extend(outliers.push(corrected))
        ready.extend(outliers.finish())
        while ready:
            yield self._smoothed(held.popleft(), ready.popleft(), smooth, outliers)

    def _held_again(self, held: list[PoseBatch], hooks: Mapping[str, FrameHook]) -> list[Inferred]:
        """The items of a resumed run's ``held`` batches, each hook run again on their frames."""
        frames = [b.frame_idx for b in held if len(b)]
        if not frames:
            return [Inferred(poses) for poses in held]
        start, stop = int(frames[0][0]), int(frames[-1][-1]) + 1
        decode, layout, uri = self.options.decode, self._layout, self.uri
        frames = functools.partial(decode.source, uri, start=start, stop=stop, layout=layout)
        return list(replayed(held, hooks, frames))

    def _smoothed(
        self, item: Inferred, poses: PoseBatch, smooth: _PoseSmoother, outliers: Outliers
    ) -> Inferred:
        poses = smooth(poses)
        self._count(poses)
        self.stats.replaced = outliers.replaced
        return replace(item, poses=poses, overlap=None)

    def __iter__(self) -> Iterator[Inferred]:
        return self.batches()

    def _count(self, poses: PoseBatch) -> None:
        if self.stats.first_frame_s is None and len(poses):
            self.stats.first_frame_s = self.stats.elapsed_s
        self.stats.frames += len(poses)
        self.stats.frames_with_person += int(poses.detected.any(axis=1).sum())

    def _ranges(self, threads: RangeThreads | RayRanges) -> Iterator[Inferred]:
        yield from threads
        self.stats.decode_errors = sum(d.decode_errors for d in threads.done)
        self.stats.ended_early = any(d.ended_early for d in threads.done)
        self.stats.reruns = threads.reruns
        if isinstance(threads, RayRanges):
            self.stats.ray = threads.stats

    def close(self) -> None:
        """Stop the landmarker threads (after their current batch) and close the video."""
        if self._threads is not None:
            self._threads.close()
            self._threads = None
        if self._first is not None:
            self._first.close()
            self._first = None
        self._exit.close()

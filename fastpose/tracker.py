"""The tracking pipeline as an iterator: video source -> landmarker(s) -> smoothing, in frame order.

:class:`Tracker` is the Python API the CLI is built on::

    with Tracker("clip.mp4", TrackOptions(LandmarkerOptions(model.path))) as tracker:
        for batch in tracker:
            ...  # batch.poses: smoothed PoseBatch of consecutive frames
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Literal

from fastpose.cores import default_workers
from fastpose.errors import GpuUnavailableError
from fastpose.landmarker import Landmarker, LandmarkerOptions, probe_gpu
from fastpose.parallel import (
    MIN_UNIT_FRAMES,
    DecodeOptions,
    Inferred,
    Range,
    RangeRunner,
    plan_units,
)
from fastpose.poses import PoseBatch
from fastpose.smoothing import PerTrack, make_smoother
from fastpose.video import VideoInfo

logger = logging.getLogger(__name__)

VideoMode = Literal["asset", "jpeg", "none"]
#: Codecs the Rerun viewer decodes from an MP4 asset.
ASSET_CODECS = frozenset({"h264", "hevc", "h265", "av1", "vp9"})
#: Larger files go to the viewer as JPEG frames: Rerun holds a whole asset in memory (twice over,
#: measured: a 156 MB file raised the process's RSS by 317 MB), so memory would grow with length.
ASSET_MAX_BYTES = 64 * 2**20


def choose_video_mode(info: VideoInfo, requested: VideoMode | Literal["auto"]) -> VideoMode:
    """How the viewer gets frames: ``asset`` for an upright MP4 in a codec it plays, up to
    ``ASSET_MAX_BYTES``; else ``jpeg``."""
    if requested != "auto":
        return requested
    playable = (
        not info.is_image
        and info.codec in ASSET_CODECS
        and info.container is not None
        and "mp4" in info.container
        and info.rotation == 0
        and info.backend in ("pyav", "decord")  # frame indices exact by presentation time
        and os.path.getsize(info.uri) <= ASSET_MAX_BYTES
    )
    return "asset" if playable else "jpeg"


@dataclass(frozen=True)
class SmoothingOptions:
    """One Euro parameters for normalized image and world coordinates (see smoothing.py)."""

    method: str = "one-euro"  # or "none"
    min_cutoff: float = 1.0
    beta: float = 10.0
    world_min_cutoff: float = 1.0
    world_beta: float = 10.0


@dataclass(frozen=True)
class TrackOptions:
    landmarker: LandmarkerOptions
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    max_frames: int | None = None
    workers: int = 1
    require_gpu: bool = False
    video_mode: VideoMode | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers: expected >= 1, got {self.workers}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames: expected >= 1, got {self.max_frames}")


@dataclass
class TrackStats:
    """Counts for the run's summary, updated as batches are yielded."""

    frames: int = 0
    frames_with_person: int = 0
    decode_errors: int = 0
    ended_early: bool = False
    delegate: str = "cpu"
    workers: int = 1
    started: float = field(default_factory=time.perf_counter)
    first_frame_s: float | None = None

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
        self.image = PerTrack(lambda: make_smoother(opts.method, **params))
        self.world = PerTrack(lambda: make_smoother(opts.method, **world))

    def __call__(self, poses: PoseBatch) -> PoseBatch:
        if len(poses) == 0:
            return poses
        t, ids, (n, p) = poses.time_s, poses.ids, poses.landmarks.shape[:2]
        landmarks = poses.landmarks.copy()
        xyz = landmarks[..., :3]
        landmarks[..., :3] = self.image(t, ids, xyz.reshape(n, p, -1)).reshape(xyz.shape)
        world = self.world(t, ids, poses.world.reshape(n, p, -1)).reshape(poses.world.shape)
        return replace(poses, landmarks=landmarks, world=world)


class Tracker:
    """Tracks poses through a video; iterate for smoothed :class:`Inferred` batches in frame order.

    With ``workers > 1`` and a video long enough to split, frame ranges run on that many threads,
    each decoding its own frames with its own landmarker; otherwise one thread decodes and infers
    while the caller's thread smooths and writes. The first landmarker is made here, so a model or
    library MediaPipe rejects fails before the caller opens any output.
    """

    def __init__(self, uri: str | int | os.PathLike, options: TrackOptions) -> None:
        self.options = options
        self.uri = str(uri)
        self.source = options.decode.source(uri, max_frames=options.max_frames)
        self._runner: RangeRunner | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        options = self.options
        self.info = self.source.info
        self.video_mode = choose_video_mode(self.info, options.video_mode)
        self.decode = replace(options.decode, jpeg=self.video_mode == "jpeg")
        self.stats = TrackStats()
        self._landmarker_options = self._choose_delegate(options.landmarker)
        self.stats.delegate = "gpu" if self._landmarker_options.gpu else "cpu"
        first = Landmarker(self._landmarker_options)
        n = self.info.num_frames
        splittable = bool(n) and not self.info.is_image and options.workers > 1
        units = (
            plan_units(self.uri, n, options.workers, self.source.key_frames) if splittable else []
        )
        self.units = units or None
        self.stats.workers = min(options.workers, max(len(units), 1))
        if splittable and self.stats.workers < options.workers:
            logger.info(
                "%s: %d frame(s), too few to split (under %d): running %d landmarker(s), not %d",
                self.uri,
                n or 0,
                2 * MIN_UNIT_FRAMES,
                self.stats.workers,
                options.workers,
            )
        if len(units) <= 1:
            self._runner = RangeRunner.single(self.source, first, self.decode)
            return
        layout = self.source.layout  # each range decodes its own frames, reading no index again
        self.source.close()
        decode = replace(self.decode, threads=1) if self._busy else self.decode
        ranges = [Range(k, unit) for k, unit in enumerate(units)]
        ranges[0].landmarker = first
        self._runner = RangeRunner(
            ranges,
            self.stats.workers,
            decode,
            open_source=lambda unit: decode.source(
                unit.uri, start=unit.start - unit.warmup, stop=unit.stop, layout=layout
            ),
            make_landmarker=lambda: Landmarker(self._landmarker_options),
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

    def __iter__(self) -> Iterator[Inferred]:
        from fastpose.identities import Identities  # SciPy loads when tracking starts

        identities = Identities(aspect=self.info.width / max(self.info.height, 1))
        smooth = _PoseSmoother(self.options.smoothing)
        for item in self._ranges():
            if item.overlap is not None:  # a restarted landmarker: match its tracks to ours
                identities.restart(item.overlap)
            poses = smooth(identities(item.poses))
            self._count(poses)
            yield replace(item, poses=poses, overlap=None)

    def _count(self, poses: PoseBatch) -> None:
        if self.stats.first_frame_s is None and len(poses):
            self.stats.first_frame_s = self.stats.elapsed_s
        self.stats.frames += len(poses)
        self.stats.frames_with_person += int(poses.detected.any(axis=1).sum())

    def _ranges(self) -> Iterator[Inferred]:
        runner = self._runner
        yield from runner
        self.stats.decode_errors = sum(d.decode_errors for d in runner.done)
        self.stats.ended_early = any(d.ended_early for d in runner.done)

    @property
    def _busy(self) -> bool:
        """As many landmarkers as cores: no spare core for a decoder's own threads."""
        return self.stats.workers >= default_workers()

    def close(self) -> None:
        """Stop the landmarker threads (after their current batch) and close the video."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        self.source.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Inference over frame ranges: the unit of work that keeps every core busy.

A unit is a contiguous range of frames that one landmarker decodes and infers on its own.
MediaPipe's tracker is path-dependent, so a range that starts mid-video is read ``warmup`` frames
early and those frames are dropped. Units go through the standard ``concurrent.futures``
interface, so a process pool here (or a distributed engine elsewhere) can run them; only small
arrays come back.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from fastpose.kernels import warm_up
from fastpose.landmarker import Landmarker, LandmarkerOptions, import_mediapipe
from fastpose.poses import PoseBatch
from fastpose.video import FrameBatch, VideoSource

#: Frames a restarted landmarker runs before its output is kept.
WARMUP_FRAMES = 20
#: Ranges shorter than this are not split off: the warm-up would cost too much.
MIN_UNIT_FRAMES = 150
#: Longer ranges are split further, so memory stays bounded whatever the video's length.
MAX_UNIT_FRAMES = 600
JPEG_QUALITY = 75


@dataclass(frozen=True)
class DecodeOptions:
    """How frames are read; the same for the sequential and the parallel paths."""

    fps: float | None = None
    inference_size: int = 0
    batch_size: int = 16
    jpeg: bool = False  # also return every frame JPEG-encoded, for the viewer
    threads: int = 0  # decoding threads (0: FFmpeg's choice; 1 in each of several workers)

    def source(self, uri: str, **kwargs: object) -> VideoSource:
        return VideoSource(
            uri,
            fps=self.fps,
            inference_size=self.inference_size,
            batch_size=self.batch_size,
            threads=self.threads,
            **kwargs,
        )


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


@dataclass(frozen=True)
class Inferred:
    """Poses of consecutive frames, with the frames as JPEG when the viewer needs them.

    ``overlap`` comes with the first batch of a range restarted mid-video: the poses its warm-up
    found on the frames just before it, which the previous range also inferred, so identities can
    be matched across the boundary on the same frames.
    """

    poses: PoseBatch
    jpegs: list[bytes] | None = None
    overlap: PoseBatch | None = None


@dataclass(frozen=True)
class UnitResult:
    """What a unit sends back to the parent: poses with masks bit-packed (8x smaller), and
    decoding counts."""

    inferred: Inferred  # poses without masks
    packed_masks: NDArray[np.uint8] | None  # (T, h, ceil(w / 8))
    mask_width: int
    decode_errors: int
    ended_early: bool

    def batches(self, size: int) -> Iterator[Inferred]:
        """The unit's frames in batches of ``size``, each batch's masks unpacked only when asked
        for, so the parent never holds a whole unit of masks."""
        poses, jpegs = self.inferred.poses, self.inferred.jpegs
        for first in range(0, len(poses), size):
            sl = slice(first, first + size)
            masks = None
            if self.packed_masks is not None:
                masks = np.unpackbits(self.packed_masks[sl], axis=-1, count=self.mask_width)
            yield Inferred(
                replace(poses.take(sl), masks=masks), None if jpegs is None else jpegs[sl]
            )


def plan_units(
    uri: str, num_frames: int, workers: int, key_frames: NDArray[np.int64] | None = None
) -> list[WorkUnit]:
    """Ranges over ``[0, num_frames)`` that keep ``workers`` busy to the end; a short video is one.

    Units come in rounds of ``workers`` equal ranges, so no worker is left alone with the last
    one. A longer video starts with a short unit, so its first frames reach the viewer early, and
    ends with one as much shorter, so the worker that ran the first finishes with the others.
    With the video's ``key_frames``, a boundary moves (by at most an eighth of a range) so that
    its warm-up starts on a key frame and the worker decodes no frame it doesn't infer on.
    """
    if workers <= 1 or num_frames < 2 * MIN_UNIT_FRAMES:
        return [WorkUnit(uri, 0, num_frames)]
    rounds = math.ceil(num_frames / (workers * MAX_UNIT_FRAMES))
    count = min(workers * rounds, num_frames // MIN_UNIT_FRAMES)
    work = (num_frames + WARMUP_FRAMES * (count - 1)) / count  # frames inferred per unit
    ideal = [round(k * work - (k - 1) * WARMUP_FRAMES) for k in range(1, count)]
    first = []
    if rounds > 1:  # one unit more: [short, equal..., equal - short]
        work = (num_frames + WARMUP_FRAMES * count) / count
        first = [MIN_UNIT_FRAMES]
        ideal = [round(MIN_UNIT_FRAMES + k * (work - WARMUP_FRAMES)) for k in range(count)]
    bounds = [0, *first, *(_snap(b, key_frames, work / 8) for b in ideal[len(first) :])]
    bounds.append(num_frames)
    return [WorkUnit(uri, a, b, min(WARMUP_FRAMES, a)) for a, b in itertools.pairwise(bounds)]


def _snap(ideal: int, key_frames: NDArray[np.int64] | None, tolerance: float) -> int:
    """``ideal``, or the boundary within ``tolerance`` of it whose warm-up starts on a key frame."""
    if key_frames is None or len(key_frames) == 0:
        return ideal
    bounds = key_frames + WARMUP_FRAMES
    best = int(bounds[np.argmin(np.abs(bounds - ideal))])
    return best if abs(best - ideal) <= tolerance else ideal


def encode_jpegs(images: NDArray[np.uint8]) -> list[bytes]:
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    return [
        cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), params)[1].tobytes()
        for im in images
    ]


def infer(
    source: VideoSource, landmarker: Landmarker, decode: DecodeOptions, keep_from: int = 0
) -> Iterator[Inferred]:
    """Poses of every batch ``source`` decodes, without the frames before ``keep_from``."""
    for frames in source:
        poses = landmarker.detect(frames)
        first = int(np.searchsorted(frames.frame_idx, keep_from))
        if first < len(poses):
            yield Inferred(
                poses.take(slice(first, None)), _jpegs(frames, first) if decode.jpeg else None
            )


def _jpegs(frames: FrameBatch, first: int) -> list[bytes]:
    return encode_jpegs(frames.images[first:])


def prepare_worker(single_threaded: bool = False) -> None:
    """Worker initializer: Ctrl-C goes to the parent, which stops the workers itself; MediaPipe
    and the kernels load now, while the parent sets up its outputs, not on the first unit.

    ``single_threaded`` (as many workers as cores): OpenCV, MediaPipe's included, runs on the
    calling thread; its thread pool would spin waiting for threads the other workers preempt.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if single_threaded:
        os.environ["OPENCV_FOR_THREADS_NUM"] = "1"  # read when MediaPipe's OpenCV starts its pool
        cv2.setNumThreads(1)
    import_mediapipe()
    warm_up()


def run_unit(unit: WorkUnit, landmarker: LandmarkerOptions, decode: DecodeOptions) -> UnitResult:
    """Decode and infer one unit in this process; masks are packed batch by batch."""
    poses: list[PoseBatch] = []
    packed: list[NDArray[np.uint8]] = []
    jpegs: list[bytes] = []
    width = 0
    with (
        decode.source(unit.uri, start=unit.start - unit.warmup, stop=unit.stop) as source,
        Landmarker(landmarker) as lm,
    ):
        for part in infer(source, lm, decode, keep_from=unit.start):
            if part.poses.masks is not None:
                packed.append(np.packbits(part.poses.masks, axis=-1))
                width = part.poses.masks.shape[-1]
            poses.append(replace(part.poses, masks=None))
            jpegs.extend(part.jpegs or ())
        errors, early = source.decode_errors, source.ended_early
    merged = PoseBatch.concat(poses) if poses else PoseBatch.empty(landmarker.num_poses)
    return UnitResult(
        Inferred(merged, jpegs if decode.jpeg else None),
        np.concatenate(packed) if packed else None,
        width,
        errors,
        early,
    )

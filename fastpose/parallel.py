"""Inference over frame ranges: the unit of work that keeps every core busy.

A unit is a contiguous range of frames that one landmarker decodes and infers on its own. MediaPipe's
tracker is path-dependent, so a range that starts mid-video is read ``warmup`` frames early and those
frames are dropped. Units go through the standard ``concurrent.futures`` interface, so a process pool
here (or a distributed engine elsewhere) can run them; only small arrays come back.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from fastpose.landmarker import Landmarker, LandmarkerOptions
from fastpose.poses import PoseBatch
from fastpose.video import FrameBatch, VideoSource

#: Frames a restarted landmarker runs before its output is kept.
WARMUP_FRAMES = 30
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

    def source(self, uri: str, **kwargs: object) -> VideoSource:
        return VideoSource(
            uri, fps=self.fps, inference_size=self.inference_size, batch_size=self.batch_size, **kwargs
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
    """Poses of consecutive frames, with the frames as JPEG when the viewer needs them."""

    poses: PoseBatch
    jpegs: list[bytes] | None = None


@dataclass(frozen=True)
class UnitResult:
    """What a unit sends back to the parent: poses with masks bit-packed, and decoding counts."""

    inferred: Inferred
    packed_masks: NDArray[np.uint8] | None
    mask_width: int
    decode_errors: int
    ended_early: bool

    def unpack(self) -> Inferred:
        if self.packed_masks is None:
            return self.inferred
        masks = np.unpackbits(self.packed_masks, axis=-1, count=self.mask_width)
        return replace(self.inferred, poses=replace(self.inferred.poses, masks=masks))


def plan_units(
    uri: str, num_frames: int, workers: int, key_frames: NDArray[np.int64] | None = None
) -> list[WorkUnit]:
    """Ranges over frames ``[0, num_frames)`` that keep ``workers`` busy; a short video is one range.

    With the video's ``key_frames``, each warm-up starts at a key frame, so a worker decodes no frame
    it doesn't infer on (seeking lands on the key frame before the first frame asked for).
    """
    if workers <= 1 or num_frames < 2 * MIN_UNIT_FRAMES:
        return [WorkUnit(uri, 0, num_frames)]
    length = min(MAX_UNIT_FRAMES, max(MIN_UNIT_FRAMES, math.ceil(num_frames / workers)))
    bounds = [0]
    for ideal in range(length, num_frames, length):
        bound = _snap(ideal, key_frames)
        if bound - bounds[-1] >= MIN_UNIT_FRAMES // 2 and num_frames - bound >= MIN_UNIT_FRAMES // 2:
            bounds.append(bound)
    bounds.append(num_frames)
    return [WorkUnit(uri, a, b, min(WARMUP_FRAMES, a)) for a, b in zip(bounds, bounds[1:], strict=False)]


def _snap(ideal: int, key_frames: NDArray[np.int64] | None) -> int:
    """The range boundary near ``ideal`` whose warm-up starts on the closest key frame."""
    if key_frames is None or len(key_frames) == 0:
        return ideal
    key = int(key_frames[np.argmin(np.abs(key_frames - (ideal - WARMUP_FRAMES)))])
    return key + WARMUP_FRAMES if key > 0 else ideal


def encode_jpegs(images: NDArray[np.uint8]) -> list[bytes]:
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    return [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), params)[1].tobytes() for im in images]


def infer(
    source: VideoSource, landmarker: Landmarker, decode: DecodeOptions, keep_from: int = 0
) -> Iterator[Inferred]:
    """Poses of every batch ``source`` decodes, dropping frames before ``keep_from`` (the warm-up)."""
    for frames in source:
        poses = landmarker.detect(frames)
        first = int(np.searchsorted(frames.frame_idx, keep_from))
        if first < len(poses):
            yield Inferred(poses.take(slice(first, None)), _jpegs(frames, first) if decode.jpeg else None)


def _jpegs(frames: FrameBatch, first: int) -> list[bytes]:
    return encode_jpegs(frames.images[first:])


def ignore_sigint() -> None:
    """Worker initializer: Ctrl-C goes to the parent, which stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_unit(unit: WorkUnit, landmarker: LandmarkerOptions, decode: DecodeOptions) -> UnitResult:
    """Decode and infer one unit in this process."""
    with (
        decode.source(unit.uri, start=unit.start - unit.warmup, stop=unit.stop) as source,
        Landmarker(landmarker) as lm,
    ):
        parts = list(infer(source, lm, decode, keep_from=unit.start))
        errors, early = source.decode_errors, source.ended_early
    if not parts:  # nothing decoded: a truncated file ends before this range
        return UnitResult(Inferred(PoseBatch.empty(landmarker.num_poses)), None, 0, errors, early)
    poses = PoseBatch.concat([p.poses for p in parts])
    jpegs = [j for p in parts for j in p.jpegs] if decode.jpeg else None
    packed, width = None, 0
    if poses.masks is not None:
        packed, width = np.packbits(poses.masks, axis=-1), poses.masks.shape[-1]
        poses = replace(poses, masks=None)
    return UnitResult(Inferred(poses, jpegs), packed, width, errors, early)

"""The types every stage shares, below the threads that use them: how frames are read
(:class:`DecodeOptions`), per-frame work run in the landmarkers' threads (:data:`FrameHook`), and
the poses of a batch with what the hooks made of its frames (:class:`Inferred`). The frames
themselves are fastpose.video's :class:`~fastpose.video.FrameBatch`, the poses fastpose.poses's
:class:`~fastpose.poses.PoseBatch`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fastpose.poses import PoseBatch
from fastpose.video import FrameBatch, VideoSource

#: Runs in a landmarker's thread on one batch: the decoded frames (upright RGB at the inference
#: size) and their raw poses (normalized coordinates; no track ids yet, not smoothed). Must be
#: thread-safe and keep no state between calls; its result reaches ``Inferred.extras``.
FrameHook = Callable[[FrameBatch, PoseBatch], Any]
NO_HOOKS: Mapping[str, FrameHook] = MappingProxyType({})


@dataclass(frozen=True)
class DecodeOptions:
    """How frames are read; the same for the sequential and the parallel paths."""

    fps: float | None = None
    inference_size: int = 0  # long side of the decoded frames; 0: the native size
    batch_size: int = 16
    threads: int = 0  # decoding threads (0: FFmpeg's choice; 1 in each of several workers)

    def __post_init__(self) -> None:
        if self.inference_size < 0:
            raise ValueError(f"inference_size: expected >= 0, got {self.inference_size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {self.batch_size}")

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
class Inferred:
    """Poses of consecutive frames, with what the frame hooks made of those frames.

    ``extras`` maps each hook's name to its result for these frames (e.g. the JPEG frames of the
    viewer). ``overlap`` comes with the first batch of a range restarted mid-video: the poses its
    warm-up found on the frames just before it, which the previous range also inferred, so
    identities can be matched across the boundary on the same frames.
    """

    poses: PoseBatch
    extras: Mapping[str, Any] = field(default_factory=dict)
    overlap: PoseBatch | None = None

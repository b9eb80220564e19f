"""What a source is and what it yields: :class:`VideoInfo` and :class:`FrameBatch`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class VideoInfo:
    """What a source is: sizes of the upright original; ``rotation`` is counter-clockwise."""

    uri: str  # path, camera index or URL as given
    width: int  # upright (after rotation) original width in pixels
    height: int  # upright original height
    fps: float  # nominal frames/s: the override if given, else the container's; 0 for an image
    num_frames: int | None  # frames this source will yield; None for live streams
    codec: str | None  # "h264", "hevc", "vp9", "av1", "mjpeg"...; None if unknown
    container: str | None  # PyAV's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    rotation: int  # degrees turned (as np.rot90, counter-clockwise) to show frames upright
    is_image: bool
    backend: str  # "decord" | "pyav" | "opencv" | "image"


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive decoded frames: upright RGB images with their indices and times."""

    frame_idx: NDArray[np.int64]  # (T,) index in the source
    time_s: NDArray[np.float64]  # (T,) timeline seconds, strictly increasing across the video
    pts_s: NDArray[np.float64]  # (T,) container presentation time; == time_s for images/streams
    images: NDArray[np.uint8]  # (T, h, w, 3) RGB, upright, C-contiguous, at decode size

    def __post_init__(self) -> None:
        check_vector("frame_idx", self.frame_idx, np.int64)
        n = len(self.frame_idx)
        for name in ("time_s", "pts_s"):
            check_vector(name, getattr(self, name), np.float64, n)
        im = self.images
        if not (
            isinstance(im, np.ndarray)
            and im.dtype == np.uint8
            and im.ndim == 4
            and im.shape[3] == 3
        ):
            got = f"{im.dtype} {im.shape}" if isinstance(im, np.ndarray) else type(im).__name__
            raise ValueError(f"FrameBatch.images: expected uint8 (T, h, w, 3), got {got}")
        if len(im) != n:
            raise ValueError(f"FrameBatch.images: expected {n} images, got {len(im)}")
        if not im.flags.c_contiguous:
            raise ValueError("FrameBatch.images: expected a C-contiguous array, got a strided view")

    def __len__(self) -> int:
        return len(self.frame_idx)

    def take(self, sl: slice) -> FrameBatch:
        """The frames in ``sl`` (views; a run of whole frames stays C-contiguous)."""
        return FrameBatch(self.frame_idx[sl], self.time_s[sl], self.pts_s[sl], self.images[sl])


def check_vector(name: str, a: object, dtype: type, n: int | None = None) -> None:
    if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == 1):
        got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"FrameBatch.{name}: expected {np.dtype(dtype)} (T,), got {got}")
    if n is not None and len(a) != n:
        raise ValueError(f"FrameBatch.{name}: expected {n} values (as frame_idx), got {len(a)}")

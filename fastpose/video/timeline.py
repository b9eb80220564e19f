"""Frame times and geometry: repaired timelines, reduced sizes, quarter turns to upright."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Frame rate assumed when neither the user nor the container gives one.
FALLBACK_FPS = 30.0


def repair_times(times: NDArray[np.floating], fps: float) -> tuple[NDArray[np.float64], int]:
    """Strictly increasing times: a repeated or backward time becomes the previous + 1/fps.

    The first time is kept unless it is negative (then the whole timeline shifts to start at 0).
    Returns the times and how many were repaired.
    """
    out = np.array(times, dtype=np.float64)
    if out.size == 0:
        return out, 0
    if not np.isfinite(out[0]):
        out[0] = 0.0
    elif out[0] < 0:
        out -= out[0]
    if bool(np.all(np.diff(out) > 0)):
        return out, 0
    step, repaired = 1.0 / fps, 0
    for i in range(1, len(out)):
        if not out[i] > out[i - 1]:
            out[i] = out[i - 1] + step
            repaired += 1
    return out, repaired


def scaled_size(width: int, height: int, inference_size: int) -> tuple[int, int]:
    """``(w, h)`` with the long side shrunk to ``inference_size`` (aspect kept); never enlarged."""
    long_side = max(width, height)
    if inference_size <= 0 or long_side <= inference_size:
        return width, height
    scale = inference_size / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def turns(rotation: int) -> int:
    return (rotation // 90) % 4


def upright(images: NDArray[np.uint8], rotation: int) -> NDArray[np.uint8]:
    """Frames turned by ``rotation`` degrees counter-clockwise, C-contiguous."""
    k = turns(rotation)
    return np.ascontiguousarray(np.rot90(images, k, axes=(1, 2)) if k else images)


def swap_size(size: tuple[int, int], rotation: int) -> tuple[int, int]:
    """The coded ``(w, h)`` of an upright size, or back: swapped for a quarter turn."""
    return (size[1], size[0]) if turns(rotation) % 2 else size

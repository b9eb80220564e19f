"""The measures' points from MediaPipe's landmarks: each a landmark or the mean of two (mid-hips,
mid-shoulders, mid-ears), NaN where a landmark it needs is missing or not visible enough."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fastpose.measures.definitions import landmark_groups


def visible(landmarks: NDArray[np.float32], min_visibility: float) -> NDArray[np.bool_]:
    """(..., 33) which landmarks count: detected (finite x, y), visibility >= ``min_visibility``."""
    finite = np.isfinite(landmarks[..., :2]).all(axis=-1)
    return finite & (landmarks[..., 3] >= min_visibility)  # NaN (no person) compares False


def gather(
    coords: NDArray[np.float64], ok: NDArray[np.bool_], names: tuple[str, ...]
) -> NDArray[np.float64]:
    """(N, len(names), D) the points ``names`` from ``coords`` (N, 33, D), NaN where one of a
    point's landmarks is not ``ok`` (N, 33)."""
    groups = landmark_groups()
    first = [groups[n][0] for n in names]
    last = [groups[n][-1] for n in names]  # the same landmark for single-landmark points
    c = np.where(ok[..., None], coords, np.nan)
    return (c[:, first] + c[:, last]) * 0.5

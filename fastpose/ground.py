"""A person's ground frame: OpenSim's axes (Y up along gravity, X the image's right, Z towards
the camera) with the ground at Y = 0, estimated from the footage.

The markers come in the camera's frame (x right, y down, z away: MediaPipe's world landmarks
placed where the image shows the person, fastpose.placement). A camera looking down tilts the
camera's "up" away from gravity; the footage tells the true one:

- **the standing trunk**: the median direction of mid-hips -> mid-shoulders over the frames where
  both legs are straight (knees bent less than ``STRAIGHT_KNEE`` degrees), or over every frame if
  fewer than a tenth are; people stand and walk with the trunk within a few degrees of vertical;
- **the feet's contact points**: each frame's lowest foot marker near the ground. When they spread
  along a line across the view (within ``ACROSS_DEGREES`` of the image's x: a walk from side to
  side) that line is horizontal, so "up" is made perpendicular to it, which corrects the camera's
  roll. A line in depth is not used: depth is the placement's weakest estimate (relative size),
  and a jumping person's changes with the pose.

Then X is the camera's x made horizontal, Z = X x Y, the ground is where the lowest foot marker is
in the median frame (Y = 0 there), and the origin is under the mid-hips of the first frame.

The placement's height jitters with its depth (relative size: a pose the fit reads as smaller
looks farther and lower), by tens of centimetres on a walk. :func:`contact_offsets` takes it out:
each frame's lowest foot marker, low quantile over a window of ``CONTACT_WINDOW_S``, is the ground
under that frame, so the feet touch Y = 0 throughout while a jump shorter than half the window
keeps its flight.

The estimate reads a bounded sample of the track's frames (:func:`sample_rows`: every frame up to
``SAMPLE_ROWS``, else every 2nd, 4th...), drawn from the rows kept on disk when the track's file
is written: memory stays the same for an hour's video.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import percentile_filter, uniform_filter1d

#: Knees bent less than this (degrees) on both legs: a standing frame for the trunk's direction.
STRAIGHT_KNEE = 45.0
#: Contact points spreading at least this far (metres, standard deviation along their line), and
#: three times farther than across it, fix "up" perpendicular to the line.
MIN_SPREAD_M = 0.25
#: The most a line of contacts may turn from the image's x (degrees) and still fix "up".
ACROSS_DEGREES = 30.0
#: The window (seconds) of :func:`contact_offsets`, and the quantile of the lowest foot in it.
CONTACT_WINDOW_S = 1.0
CONTACT_QUANTILE = 30.0
#: A frame's lowest foot marker this close (metres) to the ground's low quantile is a contact.
CONTACT_BAND_M = 0.05


@dataclass(frozen=True)
class Skeleton:
    """Which columns of a marker row (markers x 3) the ground frame reads."""

    hips: tuple[int, int]  # left, right
    shoulders: tuple[int, int]
    knees: tuple[int, int]
    ankles: tuple[int, int]
    feet: tuple[int, ...]  # the markers that touch the ground: heels, toes (ankles)


@dataclass(frozen=True)
class GroundFrame:
    """``rotation`` (3, 3): camera -> ground axes (rows X, Y, Z); ``origin`` (3,): the ground
    frame's origin in camera coordinates."""

    rotation: NDArray[np.float64]
    origin: NDArray[np.float64]

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, np.float64)
        if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-6):
            raise ValueError(f"GroundFrame.rotation: expected a 3x3 rotation, got {r.tolist()}")
        if np.linalg.det(r) < 0:
            raise ValueError("GroundFrame.rotation: expected a right-handed rotation, got a mirror")
        origin = np.asarray(self.origin, np.float64)
        if origin.shape != (3,) or not np.isfinite(origin).all():
            raise ValueError(f"GroundFrame.origin: expected 3 finite numbers, got {origin}")
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "origin", origin)

    @property
    def up(self) -> NDArray[np.float64]:
        """Gravity's up in the camera's frame."""
        return self.rotation[1]

    def apply(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """(..., 3) camera coordinates -> ground coordinates (NaN stays NaN)."""
        return (np.asarray(points, np.float64) - self.origin) @ self.rotation.T


#: The camera's own axes, OpenSim-style (Y = the camera's up), when the footage tells nothing.
CAMERA_UP = np.array([0.0, -1.0, 0.0])


#: Rows of a track the estimate reads at most (75 floats each: 1.2 MB).
SAMPLE_ROWS = 2048


def sample_stride(rows: int, capacity: int = SAMPLE_ROWS) -> int:
    """The step of an evenly spread sample of at most ``capacity`` of ``rows`` rows: the
    smallest power of two that keeps that many or fewer (1: every row)."""
    if capacity < 1:
        raise ValueError(f"sample_stride: expected capacity >= 1, got {capacity}")
    stride = 1
    while -(-rows // stride) > capacity:
        stride *= 2
    return stride


def sample_rows(
    chunks: Iterable[NDArray[np.floating]], rows: int, capacity: int = SAMPLE_ROWS
) -> NDArray[np.float64]:
    """Every :func:`sample_stride`-th row of the ``rows`` rows that ``chunks`` ((n, C) arrays,
    in order) hold, from the first on: read from a track's file at its end, so memory stays the
    same for an hour's video and a minute's, whatever the number of tracks."""
    stride, kept, at = sample_stride(rows, capacity), [], 0
    for chunk in chunks:
        kept.append(np.asarray(chunk[(-at) % stride :: stride], np.float64))
        at += len(chunk)
    if at != rows:
        raise ValueError(f"sample_rows: expected {rows} rows, got {at}")
    return np.concatenate(kept) if kept else np.empty((0, 0))


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _knee_bend(hip, knee, ankle) -> NDArray[np.float64]:
    """Degrees: 0 for a straight leg."""
    a, b = _unit(hip - knee), _unit(ankle - knee)
    return 180.0 - np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


def trunk_up(markers: NDArray[np.float64], skeleton: Skeleton) -> NDArray[np.float64] | None:
    """The median direction of mid-hips -> mid-shoulders, camera coordinates, over the standing
    frames of ``markers`` (n, M, 3) (see the module's doc); None if no frame has a trunk."""
    m = markers
    trunk = m[:, list(skeleton.shoulders)].mean(1) - m[:, list(skeleton.hips)].mean(1)
    with np.errstate(invalid="ignore"):
        bends = [
            _knee_bend(m[:, h], m[:, k], m[:, a])
            for h, k, a in zip(skeleton.hips, skeleton.knees, skeleton.ankles, strict=True)
        ]
        standing = (np.maximum(*bends) < STRAIGHT_KNEE) & np.isfinite(trunk).all(1)
    have = np.isfinite(trunk).all(1)
    if not have.any():
        return None
    use = standing if standing.sum() >= max(1, 0.1 * have.sum()) else have
    return _unit(np.median(_unit(trunk[use]), axis=0))


def _lowest_feet(markers: NDArray[np.float64], skeleton: Skeleton, up) -> NDArray[np.float64]:
    """(n, 3): each frame's lowest foot marker along ``up`` (NaN rows where no foot)."""
    feet = markers[:, list(skeleton.feet)]
    heights = feet @ up
    heights = np.where(np.isfinite(heights), heights, np.inf)
    lowest = np.argmin(heights, axis=1)
    out = feet[np.arange(len(feet)), lowest]
    out[~np.isfinite(heights.min(axis=1))] = np.nan
    return out


def contact_line(points: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """The direction along which the contact ``points`` (n, 3) spread, if they spread along a
    line across the view (see MIN_SPREAD_M, ACROSS_DEGREES); None if they stay put, spread in
    every direction or in depth."""
    points = points[np.isfinite(points).all(1)]
    if len(points) < 10:
        return None
    centred = points - points.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    spread = s / np.sqrt(len(points))
    if spread[0] < MIN_SPREAD_M or spread[0] < 3 * spread[1]:
        return None
    if abs(vt[0][0]) < np.cos(np.radians(ACROSS_DEGREES)):
        return None  # in depth
    return vt[0]


def estimate_ground(markers: NDArray[np.floating], skeleton: Skeleton) -> GroundFrame:
    """The ground frame of one person's ``markers`` (n, M, 3), camera coordinates, NaN where
    unseen (the module's doc says how)."""
    m = np.asarray(markers, np.float64)
    up = trunk_up(m, skeleton)
    if up is None:
        up = CAMERA_UP.copy()
    lowest = _lowest_feet(m, skeleton, up)
    heights = lowest @ up
    finite = np.isfinite(heights)
    if finite.any():
        floor = np.quantile(heights[finite], 0.2)
        with np.errstate(invalid="ignore"):
            contacts = lowest[finite & (heights <= floor + CONTACT_BAND_M)]
        line = contact_line(contacts)
        if line is not None:
            up = _unit(up - (up @ line) * line)
    x = np.array([1.0, 0.0, 0.0])
    x = _unit(x - (x @ up) * up)
    rotation = np.stack([x, up, np.cross(x, up)])
    # the ground: the median frame's lowest foot marker; the origin: under the first mid-hips
    heights = _lowest_feet(m, skeleton, up) @ up
    ground = np.nanmedian(heights) if np.isfinite(heights).any() else 0.0
    hips = m[:, list(skeleton.hips)].mean(1)
    first = hips[np.isfinite(hips).all(1)]
    start = first[0] if len(first) else np.zeros(3)
    origin = start + (ground - start @ up) * up
    return GroundFrame(rotation, origin)


def lowest_foot(ground: NDArray[np.float64], skeleton: Skeleton) -> NDArray[np.float64]:
    """(n,) each frame's lowest foot marker's height (Y) in ground coordinates (n, M, 3); NaN
    where no foot marker is seen."""
    heights = ground[:, list(skeleton.feet), 1]
    have = np.isfinite(heights).any(axis=1)
    out = np.full(len(ground), np.nan)
    out[have] = np.nanmin(heights[have], axis=1)
    return out


def contact_offsets(lowest: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """(n,) the ground's height under each frame: the lowest foot's ``CONTACT_QUANTILE``
    percentile over ``window`` frames around it, smoothed over as many (frames with no foot take
    their neighbours'); subtract it from the frame's Y."""
    lowest = np.asarray(lowest, np.float64)
    have = np.isfinite(lowest)
    if not have.any():
        return np.zeros(len(lowest))
    rows = np.arange(len(lowest))
    filled = np.interp(rows, rows[have], lowest[have])
    window = max(1, int(window))
    low = percentile_filter(filled, CONTACT_QUANTILE, size=window, mode="nearest")
    return uniform_filter1d(low, size=window, mode="nearest")

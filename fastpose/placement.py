"""Where each person stands, roughly: a translation for their 3D skeleton, from the image.

MediaPipe's world landmarks are metres around each person's own hips, so several people drawn
in one 3D view all stand at the origin. :func:`place_tracks` puts each back where the image shows
them, under a weak-perspective camera (each person far from the camera relative to their depth):

- a person's pixels are, to first order, their world landmarks' x and y scaled by ``s`` pixels
  per metre and shifted; ``s`` and the shift are fitted by least squares over the landmarks
  (a pose-independent size: crouching changes the landmarks, not the fit);
- depth is ``Z = f / s`` for an assumed focal length ``f`` (a horizontal field of view of
  ``FOV_DEGREES``, typical of phones and action cameras), and ``X, Y`` the hips' pixel offset from
  the image centre over ``s``; the axes are the camera's (x right, y down, z away), as MediaPipe's
  world landmarks' are.

Approximate by design: the field of view is assumed, not known; depth is relative size, so a
child looks farther than an adult beside them; lens distortion is ignored. Left/right order and
the gaps between people come out about right, their depth only roughly. Per-frame values jitter
with the landmarks: :class:`TrackPlacer` smooths them per track (the poses' slots change places,
so smoothing follows track ids) across batches.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from fastpose.smoothing import OneEuroSmoother, PerTrack

#: The horizontal field of view assumed for the focal length.
FOV_DEGREES = 60.0
#: Landmarks fitted: the body's (shoulders to ankles), steadier than the face and fingers.
BODY = np.arange(11, 29)


def focal_length(width: int, fov_degrees: float = FOV_DEGREES) -> float:
    """Pixels: the focal length of a ``width``-pixel image spanning ``fov_degrees``."""
    return width / (2.0 * math.tan(math.radians(fov_degrees) / 2.0))


def place_tracks(
    pixels: NDArray[np.floating],
    world: NDArray[np.floating],
    detected: NDArray[np.bool_],
    width: int,
    height: int,
    fov_degrees: float = FOV_DEGREES,
) -> NDArray[np.float32]:
    """(T, P, 3) metres: where each pose's hips are in the camera's frame (x right, y down, z
    away), from its landmarks in original ``pixels`` (T, P, 33, 2) and ``world`` metres
    (T, P, 33, 3); NaN where not ``detected`` (T, P). Add it to the pose's world landmarks to
    stand them where the image shows the person. Per frame, no smoothing (see TrackPlacer)."""
    px = np.asarray(pixels, np.float64)[..., BODY, :]
    w = np.asarray(world, np.float64)[..., BODY, :2]
    pc = px - px.mean(axis=-2, keepdims=True)
    wc = w - w.mean(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (pc * wc).sum(axis=(-1, -2)) / (wc**2).sum(axis=(-1, -2))  # (T, P) pixels per metre
        hips = px.mean(axis=-2) - s[..., None] * w.mean(axis=-2)  # pixel position of the origin
        f = focal_length(width, fov_degrees)
        out = np.stack(
            [
                (hips[..., 0] - width / 2.0) / s,
                (hips[..., 1] - height / 2.0) / s,
                f / s,
            ],
            axis=-1,
        )
    bad = ~np.asarray(detected, bool) | ~(s > 0) | ~np.isfinite(out).all(axis=-1)
    out[bad] = np.nan
    return out.astype(np.float32)


class TrackPlacer:
    """:func:`place_tracks` smoothed per track across batches (One Euro, slow: a person's place
    changes slower than their limbs), so the skeletons glide rather than jitter."""

    def __init__(self, width: int, height: int, min_cutoff: float = 0.2, beta: float = 0.1):
        self.width, self.height = width, height
        self.smooth = PerTrack(lambda: OneEuroSmoother(min_cutoff=min_cutoff, beta=beta))

    def __call__(
        self,
        time_s: NDArray[np.float64],
        track_ids: NDArray[np.int32],
        pixels: NDArray[np.floating],
        world: NDArray[np.floating],
    ) -> NDArray[np.float32]:
        """(T, P, 3) smoothed translations of a batch's slots (``track_ids`` (T, P), -1 empty)."""
        raw = place_tracks(pixels, world, track_ids >= 0, self.width, self.height)
        return self.smooth(np.asarray(time_s, np.float64), track_ids, raw)

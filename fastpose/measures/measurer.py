"""The measures of tracked poses, batch by batch: :class:`Measurer`."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fastpose.measures import angles2d, angles3d, foreshortening, settling
from fastpose.measures.batch import MeasureBatch
from fastpose.measures.definitions import (
    ANGLES_2D,
    ANGLES_3D,
    DEG,
    M_S,
    PX_S,
    SPEEDS,
    landmark_groups,
)
from fastpose.measures.points import gather, visible
from fastpose.measures.sides import LEFT, TrackSides, foot_evidence
from fastpose.measures.speeds import TrackScale, TrackSpeeds, body_heights
from fastpose.poses import PoseBatch

_SPEED_NAMES = tuple(SPEEDS)
_SPEED_POINTS = tuple(SPEEDS.values())


def _depends() -> NDArray[np.bool_]:
    """(M, 33) the landmarks each angle and speed is measured on (speeds in px/s and m/s)."""
    groups = landmark_groups()
    points = [a.points for a in ANGLES_2D]
    points += [tuple(p for seg in (a.u, a.v) if seg for p in seg) for a in ANGLES_3D]
    points += [(p,) for p in _SPEED_POINTS] * 2
    out = np.zeros((len(points), 33), dtype=bool)
    for m, names in enumerate(points):
        out[m, [i for name in names for i in groups[name]]] = True
    return out


_DEPENDS = _depends()


class Measurer:
    """Joint and segment angles (2D, on pixels of the ``width`` x ``height`` original frame),
    flexions (3D, on world landmarks) and speeds (px/s; and m/s given the person's height
    ``height_m``) of each tracked person, batch by batch in frame order.

    Landmarks with visibility under ``min_visibility`` count as missing: the measures needing
    them are NaN. The 2D angles are measured from the side each track is seen from, decided over
    time with hysteresis (sides.py; ``MeasureBatch.side``); a value measured on a landmark the
    outlier filter replaced is flagged (``MeasureBatch.replaced``). A 2D angle with a segment
    seen under ``foreshortened`` times its track's usual image length (pointing at the camera:
    foreshortening.py) is NaN and flagged (``MeasureBatch.foreshortened``); 0 measures every one.
    So is a 3D flexion on a world bone under ``foreshortened_3d`` or over its inverse times its
    usual length (MediaPipe's depth guess breaking the limb). In a track's first
    ``settling_frames`` frames of an appearance, a frame whose body moved over ``settling_motion``
    times the person's size relative to the head (MediaPipe settling on the person: settling.py)
    has every angle NaN and flagged (``MeasureBatch.settling``); 0 frames turns it off.
    The speeds' and these states are kept per track (see speeds.py), so consecutive batches
    give what one batch of all their frames would. ``kernel`` picks the angle kernels
    (``angles2d.KERNELS``, ``angles3d.KERNELS``).
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        height_m: float | None = None,
        min_visibility: float = 0.5,
        kernel: str = "numpy",
        speed_window_s: float = 0.25,
        foreshortened: float = foreshortening.THRESHOLD,
        foreshortened_3d: float = foreshortening.THRESHOLD,
        settling_frames: int = settling.FRAMES,
        settling_motion: float = settling.MOTION,
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"width, height: expected positive sizes, got {width}x{height}")
        if not 0.0 <= min_visibility <= 1.0:
            raise ValueError(f"min_visibility: expected 0..1, got {min_visibility}")
        if kernel not in angles2d.KERNELS:
            raise ValueError(f"kernel: expected one of {sorted(angles2d.KERNELS)}, got {kernel!r}")
        self.size = np.array([width, height], dtype=np.float64)
        self.min_visibility = min_visibility
        self.angles2d, self.angles3d = angles2d.KERNELS[kernel], angles3d.KERNELS[kernel]
        self.speeds = TrackSpeeds(speed_window_s)
        self.sides = TrackSides()
        self.foreshortening = foreshortening.TrackForeshortening(foreshortened)
        self.foreshortening_3d = foreshortening.TrackForeshortening(
            foreshortened_3d, segments=foreshortening.ANGLES_3D_SEGMENTS, both_ways=True
        )
        self.settling = settling.TrackSettling(settling_frames, settling_motion)
        self.scale = None if height_m is None else TrackScale(height_m)
        speeds_m = _SPEED_NAMES if self.scale is not None else ()
        self.names: tuple[str, ...] = angles2d.NAMES + angles3d.NAMES + _SPEED_NAMES + speeds_m
        self.units: tuple[str, ...] = (
            (DEG,) * (len(angles2d.NAMES) + len(angles3d.NAMES))
            + (PX_S,) * len(_SPEED_NAMES)
            + (M_S,) * len(speeds_m)
        )

    def __call__(self, poses: PoseBatch) -> MeasureBatch:
        t, p = poses.landmarks.shape[:2]
        ids = poses.ids
        lm = poses.landmarks.reshape(t * p, *poses.landmarks.shape[2:])
        ok = visible(lm, self.min_visibility)
        xy = lm[..., :2].astype(np.float64) * self.size
        world = poses.world.reshape(t * p, *poses.world.shape[2:]).astype(np.float64)
        evidence = foot_evidence(angles2d.side_points(xy, ok)).reshape(t, p)
        side = self.sides(ids, evidence)
        angles = self.angles2d(xy, ok, side.reshape(-1) == LEFT).reshape(t, p, -1)
        short = _blank(self.foreshortening, angles, ids, xy, ok)
        angles3d = self.angles3d(world, ok).reshape(t, p, -1)
        short3d = _blank(self.foreshortening_3d, angles3d, ids, world, ok)
        settles = self.settling(poses.frame_idx, ids, xy.reshape(t, p, 33, 2), ok.reshape(t, p, 33))
        angles[settles], angles3d[settles] = np.nan, np.nan
        parts = [angles.reshape(t * p, -1), angles3d.reshape(t * p, -1)]
        pts = gather(xy, ok, _SPEED_POINTS).reshape(t, p, len(_SPEED_POINTS), 2)
        px_s = self.speeds(poses.time_s, ids, pts).reshape(t * p, -1)
        parts.append(px_s)
        if self.scale is not None:
            px_per_m = self.scale(ids, body_heights(xy, ok).reshape(t, p)).reshape(t * p, 1)
            parts.append(px_s / px_per_m)
        values = np.concatenate(parts, axis=1).reshape(t, p, len(self.names))
        values[ids < 0] = np.nan
        replaced = None
        if poses.replaced is not None:
            depends = _DEPENDS[: len(self.names)].astype(np.int32)
            replaced = (poses.replaced.astype(np.int32) @ depends.T) > 0
        flagged = np.zeros(values.shape, dtype=bool)
        n2, n3 = short.shape[2], short3d.shape[2]
        flagged[..., :n2], flagged[..., n2 : n2 + n3] = short, short3d
        flagged &= (ids >= 0)[..., None]
        unsettled = np.zeros(values.shape, dtype=bool)
        unsettled[..., : n2 + n3] = settles[..., None]
        return MeasureBatch(
            poses.frame_idx,
            poses.time_s,
            ids.astype(np.int32),
            self.names,
            self.units,
            values,
            side,
            replaced,
            flagged,
            unsettled,
        )


def _blank(
    rule: foreshortening.TrackForeshortening,
    angles: NDArray[np.float64],
    ids: NDArray[np.int32],
    coords: NDArray[np.float64],
    ok: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """(T, P, M) which ``angles`` (T, P, M) ``rule`` finds foreshortened on ``coords`` (T * P, 33,
    D), set to NaN in place (none where its threshold is 0)."""
    if rule.threshold == 0:
        return np.zeros(angles.shape, dtype=bool)
    segments = rule.segments
    lengths = segments.lengths(gather(coords, ok, segments.points))
    short = rule(ids, lengths.reshape(*ids.shape, -1))
    angles[short] = np.nan
    return short

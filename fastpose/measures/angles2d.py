"""Pose2Sim's 2D joint and segment angles (see definitions.py), in the image plane.

A kernel takes pixel coordinates ``xy`` (N, 33, 2) of the original frame (y down) and which
landmarks count ``ok`` (N, 33), and returns (N, len(ANGLES_2D)) degrees, NaN where a point is
missing. Before measuring, x is negated where ``flip`` (N,) says: the side each person is seen
from, decided over time (measures/sides.py; what the Measurer passes). Without ``flip``, x is
negated for a person seen from the left frame by frame (Sports2D's ``auto`` visible side): the
toes' lead over the heels, summed over both feet, is negative. Where a foot is missing the other
one decides, and where both are, x stays as it is (Sports2D then flips, as ``NaN >= 0`` is false:
an accident, not a rule).

:data:`KERNELS`: ``numpy`` (vectorized over persons and angles) and ``python`` (the plain
reference: Pose2Sim's three cases, one person at a time, with ``math.atan2``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from fastpose.measures.definitions import ANGLES_2D, SIDE_POINTS, landmark_groups
from fastpose.measures.points import gather

NAMES: tuple[str, ...] = tuple(a.name for a in ANGLES_2D)
#: Every point an angle or the visible side needs, in a fixed order.
_POINTS: tuple[str, ...] = tuple(
    dict.fromkeys([p for a in ANGLES_2D for p in a.points] + list(SIDE_POINTS))
)
_AT = {p: k for k, p in enumerate(_POINTS)}

Kernel = Callable[..., NDArray[np.float64]]


def _as_pairs() -> tuple[NDArray[np.intp], ...]:
    """Every angle as the angle from v = p[d] - p[c] to u = p[b] - p[a] (clockwise on screen),
    with ``horizontal`` marking a segment angle (v the x axis)."""
    a, b, c, d, horizontal = [], [], [], [], []
    for ang in ANGLES_2D:
        p = [_AT[name] for name in ang.points]
        if len(p) == 2:  # u = p0 - p1 against the x axis
            quad, flat = (p[1], p[0], 0, 0), True
        elif len(p) == 3:  # u = p0 - p1, v = p2 - p1
            quad, flat = (p[1], p[0], p[1], p[2]), False
        else:  # u = p1 - p0, v = p3 - p2
            quad, flat = tuple(p), False
        for lst, i in zip((a, b, c, d), quad, strict=True):
            lst.append(i)
        horizontal.append(flat)
    return tuple(np.array(x) for x in (a, b, c, d, horizontal))


_A, _B, _C, _D, _HORIZONTAL = _as_pairs()
_OFFSET = np.array([a.offset for a in ANGLES_2D], dtype=np.float64)
_SIGN = np.array([a.sign for a in ANGLES_2D], dtype=np.float64)
_PERIOD = np.array([a.period for a in ANGLES_2D], dtype=np.float64)
_SIDE = [_AT[p] for p in SIDE_POINTS]


def seen_from_left(x: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(N,) Sports2D's ``auto`` visible side from the side points' x (N, 4: LBigToe, LHeel,
    RBigToe, RHeel): True (flip x) where the feet point left."""
    lead = np.stack([x[:, 0] - x[:, 1], x[:, 2] - x[:, 3]], axis=1)
    return np.nansum(lead, axis=1) < 0


def side_points(xy: NDArray[np.float64], ok: NDArray[np.bool_]) -> NDArray[np.float64]:
    """(N, 4, 2) the points the visible side looks at (:data:`SIDE_POINTS`), NaN where unseen."""
    return gather(xy, ok, SIDE_POINTS)


def angles_numpy(
    xy: NDArray[np.float64], ok: NDArray[np.bool_], flip: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    pts = gather(xy, ok, _POINTS)  # (N, K, 2)
    if flip is None:
        flip = seen_from_left(pts[:, _SIDE, 0])
    pts[..., 0] = np.where(flip[:, None], -pts[..., 0], pts[..., 0])
    u = pts[:, _B] - pts[:, _A]  # (N, M, 2)
    v = pts[:, _D] - pts[:, _C]
    v[:, _HORIZONTAL] = (1.0, 0.0)
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    dot = u[..., 0] * v[..., 0] + u[..., 1] * v[..., 1]
    ang = (np.degrees(-np.arctan2(cross, dot)) + _OFFSET) * _SIGN
    return np.mod(ang + _PERIOD / 2, _PERIOD) - _PERIOD / 2


def _point(xy: NDArray[np.float64], ok: NDArray[np.bool_], name: str) -> tuple[float, float]:

    idx = landmark_groups()[name]
    if not all(ok[i] for i in idx):
        return (math.nan, math.nan)
    return (
        sum(float(xy[i, 0]) for i in idx) / len(idx),
        sum(float(xy[i, 1]) for i in idx) / len(idx),
    )


def _angle(points: list[tuple[float, float]]) -> float:
    """Pose2Sim's ``points_to_angles`` for 2D points, one person."""
    if len(points) == 2:
        (x0, y0), (x1, y1) = points
        return math.degrees(math.atan2(y0 - y1, x0 - x1))
    if len(points) == 3:
        (x0, y0), (x1, y1), (x2, y2) = points
        u, v = (x0 - x1, y0 - y1), (x2 - x1, y2 - y1)
    else:
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
        u, v = (x1 - x0, y1 - y0), (x3 - x2, y3 - y2)
    cross = u[0] * v[1] - u[1] * v[0]
    dot = u[0] * v[0] + u[1] * v[1]
    return math.degrees(-math.atan2(cross, dot))


def angles_python(
    xy: NDArray[np.float64], ok: NDArray[np.bool_], flip: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    out = np.full((len(xy), len(ANGLES_2D)), np.nan)
    for n in range(len(xy)):
        pts = {name: _point(xy[n], ok[n], name) for name in _POINTS}
        lead = [
            pts[toe][0] - pts[heel][0]
            for toe, heel in (("LBigToe", "LHeel"), ("RBigToe", "RHeel"))
            if not math.isnan(pts[toe][0] - pts[heel][0])
        ]
        if (sum(lead) < 0) if flip is None else bool(flip[n]):
            pts = {name: (-x, y) for name, (x, y) in pts.items()}
        for m, ang in enumerate(ANGLES_2D):
            coords = [pts[p] for p in ang.points]
            if any(math.isnan(c) for xy_ in coords for c in xy_):
                continue
            value = (_angle(coords) + ang.offset) * ang.sign
            half = ang.period / 2
            out[n, m] = (value + half) % ang.period - half
    return out


KERNELS: dict[str, Kernel] = {"numpy": angles_numpy, "python": angles_python}

"""Flexions on MediaPipe's world landmarks (see definitions.py): the unsigned angle between two
segments in metres, so 0 is a straight limb whatever the camera's angle to it.

A kernel takes world coordinates ``xyz`` (N, 33, 3) (MediaPipe's: y down, origin at the hips) and
which landmarks count ``ok`` (N, 33), and returns (N, len(ANGLES_3D)) degrees. "Up", for the
trunk's lean, is MediaPipe's -y: the camera's up, so a tilted camera tilts it.

:data:`KERNELS`: ``numpy`` (vectorized) and ``python`` (plain reference, ``math`` per person).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from fastpose.measures.definitions import ANGLES_3D, landmark_groups
from fastpose.measures.points import gather

NAMES: tuple[str, ...] = tuple(a.name for a in ANGLES_3D)
_POINTS: tuple[str, ...] = tuple(
    dict.fromkeys(p for a in ANGLES_3D for seg in (a.u, a.v) if seg is not None for p in seg)
)
_AT = {p: k for k, p in enumerate(_POINTS)}
_U0 = np.array([_AT[a.u[0]] for a in ANGLES_3D])
_U1 = np.array([_AT[a.u[1]] for a in ANGLES_3D])
_V0 = np.array([_AT[a.v[0]] if a.v else 0 for a in ANGLES_3D])
_V1 = np.array([_AT[a.v[1]] if a.v else 0 for a in ANGLES_3D])
_VERTICAL = np.array([a.v is None for a in ANGLES_3D])
_OFFSET = np.array([a.offset for a in ANGLES_3D], dtype=np.float64)
_SIGN = np.array([a.sign for a in ANGLES_3D], dtype=np.float64)
#: MediaPipe's world y points down.
UP = (0.0, -1.0, 0.0)

Kernel = Callable[[NDArray[np.float64], NDArray[np.bool_]], NDArray[np.float64]]


def angles_numpy(xyz: NDArray[np.float64], ok: NDArray[np.bool_]) -> NDArray[np.float64]:
    pts = gather(xyz, ok, _POINTS)  # (N, K, 3)
    u = pts[:, _U1] - pts[:, _U0]
    v = pts[:, _V1] - pts[:, _V0]
    v[:, _VERTICAL] = UP
    cross = np.linalg.norm(np.cross(u, v), axis=-1)
    dot = np.einsum("nmd,nmd->nm", u, v)
    ang = _OFFSET + _SIGN * np.degrees(np.arctan2(cross, dot))
    degenerate = (np.abs(u).sum(axis=-1) == 0) | (np.abs(v).sum(axis=-1) == 0)
    return np.where(degenerate, np.nan, ang)


def angles_python(xyz: NDArray[np.float64], ok: NDArray[np.bool_]) -> NDArray[np.float64]:
    groups = landmark_groups()

    def point(n: int, name: str) -> list[float] | None:
        idx = groups[name]
        if not all(ok[n, i] for i in idx):
            return None
        return [sum(float(xyz[n, i, d]) for i in idx) / len(idx) for d in range(3)]

    def segment(n: int, seg: tuple[str, str] | None) -> list[float] | None:
        if seg is None:
            return list(UP)
        a, b = point(n, seg[0]), point(n, seg[1])
        return None if a is None or b is None else [b[d] - a[d] for d in range(3)]

    out = np.full((len(xyz), len(ANGLES_3D)), np.nan)
    for n in range(len(xyz)):
        for m, ang in enumerate(ANGLES_3D):
            u, v = segment(n, ang.u), segment(n, ang.v)
            if u is None or v is None:
                continue
            nu, nv = math.hypot(*u), math.hypot(*v)
            if nu == 0 or nv == 0:
                continue
            cos = sum(u[d] * v[d] for d in range(3)) / (nu * nv)
            out[n, m] = ang.offset + ang.sign * math.degrees(math.acos(max(-1.0, min(1.0, cos))))
    return out


KERNELS: dict[str, Kernel] = {"numpy": angles_numpy, "python": angles_python}

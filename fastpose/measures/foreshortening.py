"""Angles a view can't define: a segment pointing at the camera.

A signed 2D angle is the angle between segments as the image shows them. Where one of its
segments points at (or away from) the camera, the image shows it much shorter than it is, and its
direction is a few pixels' noise: the angle flips from frame to frame (an elbow -66 -> 44) though
nothing moved. Such a value is not measurable from this view: it is written as missing (NaN) and
flagged ``foreshortened``, never replaced by a made-up one.

A segment is foreshortened where its length is under ``threshold`` times its track's usual
length: the median of its lengths over the track's last ``window`` frames, this one included
(causal, so a batch split never changes a value; a segment not seen counts as missing there). A
track not seen for ``forget`` frames is forgotten. :data:`ANGLES_2D_SEGMENTS` lists the segments
of every 2D angle (definitions.ANGLES_2D: a segment angle has one, a joint angle two).

The same test on MediaPipe's world landmarks (:data:`ANGLES_3D_SEGMENTS`, ``both_ways``) finds
where its depth guess breaks a limb: a world bone (metres: its length never changes) under
``threshold`` or over 1 / ``threshold`` times its usual length (a walker's thigh 0.38 -> 0.16 m for
4 frames as the leg passes behind the other); the 3D flexions on it are NaN and flagged too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fastpose.measures.definitions import ANGLES_2D, ANGLES_3D

#: The default share of a segment's usual image length under which it is foreshortened.
THRESHOLD = 0.5
#: Frames of a track's history whose median is a segment's usual length.
WINDOW = 300


@dataclass(frozen=True, eq=False)
class Segments:
    """The segments (point pairs) some angles are measured on: ``points`` the points they join,
    ``ends`` (S, 2) each segment's ends as indices into them, ``uses`` (M, S) which segments each
    of the M angles is measured on."""

    points: tuple[str, ...]
    ends: NDArray[np.intp]
    uses: NDArray[np.bool_]

    @classmethod
    def of(cls, per_angle: list[list[tuple[str, str]]]) -> Segments:
        pairs: dict[frozenset, tuple[str, str]] = {}
        keyed = [[pairs.setdefault(frozenset(s), s) for s in segs] for segs in per_angle]
        segments = list(pairs.values())
        points = tuple(dict.fromkeys(p for s in segments for p in s))
        ends = np.array([[points.index(a), points.index(b)] for a, b in segments])
        uses = np.zeros((len(per_angle), len(segments)), dtype=bool)
        for m, segs in enumerate(keyed):
            uses[m, [segments.index(s) for s in segs]] = True
        return cls(points, ends, uses)

    def lengths(self, points: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N, S) each segment's length from ``points`` (N, len(points), D), NaN where an end is
        missing."""
        return np.linalg.norm(points[:, self.ends[:, 0]] - points[:, self.ends[:, 1]], axis=-1)


def _segments_2d(points: tuple[str, ...]) -> list[tuple[str, str]]:
    if len(points) == 2:
        return [(points[0], points[1])]
    if len(points) == 3:
        return [(points[0], points[1]), (points[2], points[1])]
    return [(points[0], points[1]), (points[2], points[3])]


ANGLES_2D_SEGMENTS = Segments.of([_segments_2d(a.points) for a in ANGLES_2D])
ANGLES_3D_SEGMENTS = Segments.of([[s for s in (a.u, a.v) if s] for a in ANGLES_3D])


class TrackForeshortening:
    """Which angles' segments are foreshortened, per track over time (see the module)."""

    def __init__(
        self,
        threshold: float = THRESHOLD,
        window: int = WINDOW,
        forget: int = 300,
        *,
        segments: Segments = ANGLES_2D_SEGMENTS,
        both_ways: bool = False,
    ) -> None:
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold: expected 0 <= threshold < 1, got {threshold}")
        if window < 1:
            raise ValueError(f"window: expected >= 1 frame, got {window}")
        self.threshold, self.window, self.forget = threshold, window, forget
        self.segments, self.both_ways = segments, both_ways
        # track -> [its last window - 1 frames' lengths (window - 1, S), frames since seen]
        self.history: dict[int, list] = {}

    def __call__(self, ids: NDArray[np.int32], lengths: NDArray[np.float64]) -> NDArray[np.bool_]:
        """(T, P, M) which angles have a foreshortened segment (``segments.uses``), for the
        slots' tracks ``ids`` (T, P) given their segments' ``lengths`` (T, P, S); False in empty
        slots and where a segment is missing."""
        t, p, s = lengths.shape
        short = np.zeros((t, p, s), dtype=bool)
        for state in self.history.values():
            state[1] += t
        for track in np.unique(ids[ids >= 0]).tolist():
            rows, slots = np.nonzero(ids == track)
            state = self.history.get(track)
            if state is None:
                state = [np.full((self.window - 1, s), np.nan), 0]
                self.history[track] = state
            joined = np.concatenate([state[0], lengths[rows, slots]])  # (W - 1 + n, S)
            windows = np.lib.stride_tricks.sliding_window_view(joined, self.window, axis=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a segment never seen yet
                usual = np.nanmedian(windows, axis=-1)  # (n, S)
            now = lengths[rows, slots]
            with np.errstate(invalid="ignore"):
                off = now < self.threshold * usual
                if self.both_ways:
                    off |= now * self.threshold > usual
                short[rows, slots] = off
            state[0] = joined[len(joined) - (self.window - 1) :]
            state[1] = t - 1 - int(rows.max())
        for track in [k for k, v in self.history.items() if v[1] > self.forget]:
            del self.history[track]
        return (short.astype(np.int32) @ self.segments.uses.T.astype(np.int32)) > 0

"""2D angles a view can't define: a segment pointing at the camera.

A signed 2D angle is the angle between segments as the image shows them. Where one of its
segments points at (or away from) the camera, the image shows it much shorter than it is, and its
direction is a few pixels' noise: the angle flips from frame to frame (an elbow -66 -> 44) though
nothing moved. Such a value is not measurable from this view: it is written as missing (NaN) and
flagged ``foreshortened``, never replaced by a made-up one. 3D angles (world landmarks) are not
concerned.

A segment is foreshortened where its image length is under ``threshold`` times its track's usual
length: the median of its lengths over the track's last ``window`` frames, this one included
(causal, so a batch split never changes a value; a segment not seen counts as missing there). A
track not seen for ``forget`` frames is forgotten. :data:`SEGMENTS` lists the segments of every
2D angle (definitions.ANGLES_2D: a segment angle has one, a joint angle two).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from fastpose.measures.definitions import ANGLES_2D

#: The default share of a segment's usual image length under which it is foreshortened.
THRESHOLD = 0.5
#: Frames of a track's history whose median is a segment's usual length.
WINDOW = 300


def _segments() -> tuple[tuple[tuple[str, str], ...], NDArray[np.bool_]]:
    """The segments (point pairs) of the 2D angles, and (len(ANGLES_2D), S) which each uses."""
    pairs: dict[frozenset, tuple[str, str]] = {}
    per_angle = []
    for ang in ANGLES_2D:
        p = ang.points
        if len(p) == 2:
            segs = [(p[0], p[1])]
        elif len(p) == 3:
            segs = [(p[0], p[1]), (p[2], p[1])]
        else:
            segs = [(p[0], p[1]), (p[2], p[3])]
        per_angle.append([pairs.setdefault(frozenset(s), s) for s in segs])
    segments = tuple(pairs.values())
    uses = np.zeros((len(ANGLES_2D), len(segments)), dtype=bool)
    for m, segs in enumerate(per_angle):
        uses[m, [segments.index(s) for s in segs]] = True
    return segments, uses


SEGMENTS, USES = _segments()
#: The points the segments join, in a fixed order, and each segment's ends as indices into them.
POINTS: tuple[str, ...] = tuple(dict.fromkeys(p for s in SEGMENTS for p in s))
_ENDS = np.array([[POINTS.index(a), POINTS.index(b)] for a, b in SEGMENTS])


def segment_lengths(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, S) the image length of each segment from ``points`` (N, len(POINTS), 2), NaN where an
    end is missing."""
    return np.linalg.norm(points[:, _ENDS[:, 0]] - points[:, _ENDS[:, 1]], axis=-1)


class TrackForeshortening:
    """Which 2D angles' segments are foreshortened, per track over time (see the module)."""

    def __init__(
        self, threshold: float = THRESHOLD, window: int = WINDOW, forget: int = 300
    ) -> None:
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold: expected 0 <= threshold < 1, got {threshold}")
        if window < 1:
            raise ValueError(f"window: expected >= 1 frame, got {window}")
        self.threshold, self.window, self.forget = threshold, window, forget
        # track -> [its last window - 1 frames' lengths (window - 1, S), frames since seen]
        self.history: dict[int, list] = {}

    def __call__(self, ids: NDArray[np.int32], lengths: NDArray[np.float64]) -> NDArray[np.bool_]:
        """(T, P, len(ANGLES_2D)) which 2D angles have a foreshortened segment, for the slots'
        tracks ``ids`` (T, P) given their segments' ``lengths`` (T, P, S); False in empty slots
        and where a segment is missing."""
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
                short[rows, slots] = now < self.threshold * usual
            state[0] = joined[len(joined) - (self.window - 1) :]
            state[1] = t - 1 - int(rows.max())
        for track in [k for k, v in self.history.items() if v[1] > self.forget]:
            del self.history[track]
        return (short.astype(np.int32) @ USES.T.astype(np.int32)) > 0

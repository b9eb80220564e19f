"""A track's first frames while MediaPipe settles on a new person: not measurements.

When a person appears (or reappears after a loss), MediaPipe's first guesses of the pose can move
by 7-30% of the person's size from one frame to the next while the head stays where it is: the
limbs are being placed, not moving (a walker's knee 31 -> 56 -> -7 degrees in 2/30 s). In a
track's first ``frames`` frames of an appearance, a frame whose body moved more than ``motion``
times the person's size from the previous frame, the head's own motion taken away, is
*settling*: its angles are NaN and flagged ``settling``; the landmarks stay as MediaPipe gave them.

The motion of a frame is the median, over the body's landmarks (shoulders down) seen in both
frames, of how far each moved in the image relative to the head (the mean of the face's
landmarks; without a face seen in both frames, its plain motion), over the person's size (the
diagonal of the previous frame's body landmarks). A walker's body moves with its head, so a walk
is not settling; a squat bends with the head going down too. Causal: a frame is judged against
the frame before, so a batch split never changes a flag; a track's very first frame has none
before it and is never settling. The state is one frame per track; a track not seen for
``forget`` frames is forgotten.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

#: The default number of a track's first frames (of an appearance) that can be settling.
FRAMES = 4
#: The default share of the person's size a settling frame's body moves relative to the head.
MOTION = 0.05

_FACE = np.arange(0, 11)
_BODY = np.arange(11, 33)


def body_motion(
    before: NDArray[np.float64],
    after: NDArray[np.float64],
    ok_before: NDArray[np.bool_],
    ok_after: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """(N,) how far the body moved from ``before`` to ``after`` (N, 33, 2; pixels; ``ok_*`` (N,
    33) which landmarks count) relative to the head, over the person's size (see the module);
    NaN where no body landmark is seen in both frames."""
    both = ok_before & ok_after
    face = both[:, _FACE]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a frame with no body landmark seen
        n_face = face.sum(1, keepdims=True)
        moved = after[:, _FACE] - before[:, _FACE]
        head = np.where(face[..., None], moved, 0.0).sum(1) / np.maximum(n_face, 1)  # (N, 2)
        head[n_face[:, 0] == 0] = 0.0
        rel = after[:, _BODY] - before[:, _BODY] - head[:, None]
        dist = np.where(both[:, _BODY], np.linalg.norm(rel, axis=-1), np.nan)
        body = np.where(ok_before[:, _BODY, None], before[:, _BODY], np.nan)
        span = np.nanmax(body, axis=1) - np.nanmin(body, axis=1)
        size = np.hypot(span[:, 0], span[:, 1])
        out = np.full(len(before), np.nan)
        seen = both[:, _BODY].any(1) & (size > 0)
        out[seen] = np.nanmedian(dist[seen], axis=1) / size[seen]
    return out


class TrackSettling:
    """Which frames of each track are settling (see the module), carried across batches."""

    def __init__(self, frames: int = FRAMES, motion: float = MOTION, forget: int = 300) -> None:
        if frames < 0:
            raise ValueError(f"frames: expected >= 0, got {frames}")
        if not motion > 0:
            raise ValueError(f"motion: expected > 0 (a share of the person's size), got {motion}")
        self.frames, self.motion, self.forget = frames, motion, forget
        # track -> (last frame index seen, frames of its appearance so far, its xy, its ok)
        self.last: dict[int, tuple[int, int, NDArray[np.float64], NDArray[np.bool_]]] = {}

    def __call__(
        self,
        frame_idx: NDArray[np.int64],
        ids: NDArray[np.int32],
        xy: NDArray[np.float64],
        ok: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """(T, P) which slots are settling, given the frames' indices (T,), the slots' tracks
        ``ids`` (T, P) and their landmarks ``xy`` (T, P, 33, 2) in pixels, ``ok`` (T, P, 33)."""
        out = np.zeros(ids.shape, dtype=bool)
        if self.frames == 0:
            return out
        for track in np.unique(ids[ids >= 0]).tolist():
            rows, slots = np.nonzero(ids == track)
            frames = frame_idx[rows]
            prev = self.last.get(track)
            if prev is None:
                prev = (-2, 0, np.full((33, 2), np.nan), np.zeros(33, dtype=bool))
            before_f = np.concatenate([[prev[0]], frames[:-1]])
            before = np.concatenate([prev[2][None], xy[rows[:-1], slots[:-1]]])
            ok_before = np.concatenate([prev[3][None], ok[rows[:-1], slots[:-1]]])
            follows = frames - before_f == 1
            # each frame's place in its appearance: 0 at a start, else one more than before
            place = np.zeros(len(rows), dtype=np.int64)
            count = prev[1]
            for k in range(len(rows)):
                count = count + 1 if follows[k] else 0
                place[k] = count
            moved = body_motion(before, xy[rows, slots], ok_before, ok[rows, slots])
            with np.errstate(invalid="ignore"):
                out[rows, slots] = (place >= 1) & (place < self.frames) & (moved > self.motion)
            last = len(rows) - 1
            self.last[track] = (
                int(frames[last]),
                int(place[last]),
                xy[rows[last], slots[last]].copy(),
                ok[rows[last], slots[last]].copy(),
            )
        newest = int(frame_idx[-1]) if len(frame_idx) else 0
        for track in [k for k, v in self.last.items() if newest - v[0] > self.forget]:
            del self.last[track]
        return out

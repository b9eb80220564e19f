"""The side each person is seen from, per track over time, with hysteresis.

Sports2D's ``auto`` visible side decides anew every frame from the feet: seen from the left
(x negated before measuring) where the toes' lead over the heels, summed over both feet, is
negative. Where the feet point nearly straight at the camera, or a foot's points flicker, that
sum changes sign from frame to frame and every 2D angle flips with it (a knee 125 -> -35).

Here the evidence of a frame is that lead divided by the feet's lengths (heel to toe), in
[-1, 1]: +1 both feet pointing right, -1 left. A track's first frame with evidence takes
Sports2D's side; after that the side changes only when the evidence points the other way by more
than ``margin`` for ``confirm`` consecutive frames (a person turning round), never on one frame's
flicker. Frames without evidence keep the side.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: The side values: seen from the right (x as it is), from the left (x negated).
RIGHT, LEFT = 1, -1
SIDE_NAMES = {RIGHT: "right", LEFT: "left"}


def foot_evidence(feet: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N,) the feet's direction from the side points ``feet`` (N, 4, 2: LBigToe, LHeel,
    RBigToe, RHeel, pixels): the toes' lead over the heels in x, summed over the feet seen,
    divided by their lengths; NaN where no foot is seen."""
    lead = feet[:, [0, 2], 0] - feet[:, [1, 3], 0]  # (N, 2)
    length = np.linalg.norm(feet[:, [0, 2]] - feet[:, [1, 3]], axis=-1)
    seen = np.isfinite(lead) & (length > 0)
    total = np.where(seen, length, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen.any(axis=1), np.where(seen, lead, 0.0).sum(axis=1) / total, np.nan)


class TrackSides:
    """The side each track is seen from, frame by frame, with hysteresis (see the module)."""

    def __init__(self, margin: float = 0.5, confirm: int = 2, forget: int = 300) -> None:
        if not 0 <= margin < 1:
            raise ValueError(f"margin: expected 0 <= margin < 1, got {margin}")
        if confirm < 1:
            raise ValueError(f"confirm: expected >= 1 frames, got {confirm}")
        self.margin, self.confirm, self.forget = margin, confirm, forget
        self.state: dict[int, list[int]] = {}  # track -> [side, streak, frames since seen]
        self.changes = 0

    def __call__(self, ids: NDArray[np.int32], evidence: NDArray[np.float64]) -> NDArray[np.int8]:
        """(T, P) the side of each slot's track (``ids`` (T, P); 0 for empty slots), given each
        slot's :func:`foot_evidence` (T, P), frame by frame."""
        out = np.zeros(ids.shape, dtype=np.int8)
        for f in range(ids.shape[0]):
            for state in self.state.values():
                state[2] += 1
            for k in np.flatnonzero(ids[f] >= 0):
                out[f, k] = self._step(int(ids[f, k]), float(evidence[f, k]))
        for track in [t for t, s in self.state.items() if s[2] > self.forget]:
            del self.state[track]
        return out

    def _step(self, track: int, e: float) -> int:
        state = self.state.get(track)
        if state is None:
            side = LEFT if e < 0 else RIGHT  # Sports2D's rule; NaN (no feet): as it is
            self.state[track] = state = [side, 0, 0]
            if e != e:
                state[0] = 0  # undecided: the first evidence decides
            return side
        state[2] = 0
        if e != e:
            return state[0] or RIGHT
        if state[0] == 0:
            state[0] = LEFT if e < 0 else RIGHT
            return state[0]
        if e * state[0] < -self.margin:
            state[1] += 1
            if state[1] >= self.confirm:
                state[0], state[1] = -state[0], 0
                self.changes += 1
        else:
            state[1] = 0
        return state[0]

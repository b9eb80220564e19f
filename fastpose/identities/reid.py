"""Re-identification: a person back after a loss gets their id again when nothing else explains
them.

A track not seen for longer than the association's short gap stays a candidate for up to
``reid_s`` seconds. A pose that no live track took (and that repeats no other pose of its frame)
is compared with those candidates; it takes a candidate's id when all three agree:

- **appearance**: the Hellinger distance (see fastpose.appearance) of its colour histogram to the
  track's running average (each new descriptor weighs ``appearance_smoothing``, so the average
  follows slow changes of light) is at most ``reid_appearance``; a track seen in fewer than
  ``reid_min_frames`` frames, or a pose with no descriptor, never matches;
- **body proportions**: each limb's share of the skeleton's length, from the world landmarks
  (metres, so no perspective), differs from the track's median by at most a factor
  ``exp(reid_proportions)`` for every limb;
- **plausible motion**: its centroid is within ``reid_reach + reid_speed * gap`` of the track's
  sizes from where the track was last seen.

Of several candidates passing, the one of least appearance distance wins.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from fastpose.appearance import distance

#: Limbs whose lengths make the proportions (pairs of landmarks; left and right averaged).
LIMBS = (
    ((11, 12),),  # shoulders
    ((23, 24),),  # hips
    ((11, 13), (12, 14)),  # upper arms
    ((13, 15), (14, 16)),  # forearms
    ((23, 25), (24, 26)),  # thighs
    ((25, 27), (26, 28)),  # shins
)


def proportions(world: NDArray[np.floating]) -> NDArray[np.float64]:
    """(..., 33, 3) world landmarks -> (..., 7) each limb's and the trunk's share of their sum."""
    w = np.asarray(world, np.float64)

    def length(a: int, b: int) -> NDArray[np.float64]:
        return np.linalg.norm(w[..., a, :] - w[..., b, :], axis=-1)

    parts = [np.mean([length(a, b) for a, b in limb], axis=0) for limb in LIMBS]
    shoulders = (w[..., 11, :] + w[..., 12, :]) / 2
    hips = (w[..., 23, :] + w[..., 24, :]) / 2
    parts.append(np.linalg.norm(shoulders - hips, axis=-1))
    lengths = np.stack(parts, axis=-1)
    return lengths / np.maximum(lengths.sum(axis=-1, keepdims=True), 1e-9)


def proportion_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """The largest ``|log(a / b)|`` over the limbs of proportions ``a`` and ``b`` (broadcast)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.log(np.maximum(a, 1e-9) / np.maximum(b, 1e-9))).max(axis=-1)


@dataclass
class Profile:
    """What a track looked like: its running appearance and recent proportions."""

    smoothing: float
    appearance: NDArray[np.float64] | None = None  # (K,), NaN parts unseen
    frames: int = 0  # frames with a descriptor
    shares: deque[NDArray[np.float64]] = field(default_factory=lambda: deque(maxlen=30))

    def update(self, appearance: NDArray | None, world: NDArray[np.floating]) -> None:
        shares = proportions(world)
        if np.isfinite(shares).all():
            self.shares.append(shares)
        if appearance is None or np.isnan(appearance).all():
            return
        a = np.asarray(appearance, np.float64)
        if self.appearance is None:
            self.appearance = a.copy()
        else:
            mine = self.appearance
            blended = mine + self.smoothing * (a - mine)
            self.appearance = np.where(np.isnan(mine), a, np.where(np.isnan(a), mine, blended))
        self.frames += 1

    @property
    def proportions(self) -> NDArray[np.float64] | None:
        return np.median(np.stack(self.shares), axis=0) if self.shares else None


@dataclass(frozen=True)
class Candidate:
    """A track a returning pose may be: where and how big it was when last seen, and its looks."""

    last_t: float
    center: NDArray[np.float64]  # (2,)
    size: float
    profile: Profile


def reid_costs(
    candidates: list[Candidate],
    t: float,
    center: NDArray[np.float64],
    appearance: NDArray | None,
    world: NDArray[np.floating],
    *,
    max_appearance: float,
    max_proportions: float,
    speed: float,
    reach: float,
    min_frames: int,
) -> NDArray[np.float64]:
    """(len(candidates),) the appearance distance of one pose (centroid ``center``, descriptor
    ``appearance``, world landmarks ``world``) to each candidate, ``inf`` where a gate refuses."""
    costs = np.full(len(candidates), np.inf)
    if appearance is None or np.isnan(appearance).all():
        return costs
    shares = proportions(world)
    for i, c in enumerate(candidates):
        p = c.profile
        if p.appearance is None or p.frames < min_frames:
            continue
        gap = max(t - c.last_t, 0.0)
        if np.linalg.norm(center - c.center) > (reach + speed * gap) * c.size:
            continue
        mine = p.proportions
        seen = mine is not None and np.isfinite(shares).all()
        if seen and proportion_distance(mine, shares) > max_proportions:
            continue
        d = float(distance(p.appearance, appearance))
        if d <= max_appearance:
            costs[i] = d
    return costs

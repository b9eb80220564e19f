"""Speeds of points along each track: smoothed derivatives, batch by batch, and the pixels-per-metre
scale that turns them into m/s from the person's height.

Derivative: a causal local-linear fit (a one-sided Savitzky-Golay differentiator of order 1). At
each frame, the velocity is the least-squares slope of the point's positions over the track's
last ``window_s`` seconds (at least ``min_samples`` samples, at most ``max_samples``, none older
than ``max_span_s``), on the frames' own timestamps. Why this and not a difference of consecutive
points: the difference of two noisy points doubles their noise and divides it by one frame's
time; a slope over n samples has ~sqrt(6/n^3) of that noise (n = 8 at 30 fps: 16x less). Why
causal: it needs no frame after the current one, so each batch is measured as it arrives and the
state is a few samples per track; a batch split never changes a value. The price is a lag of
about half the window (0.12 s with the default 0.25 s). A sample whose point is missing gives NaN.

Scale (``--height``, as Sports2D asks the person's height): the person's height in pixels per
frame as Pose2Sim's ``compute_height`` measures it for BlazePose (heel-ankle + shank + thigh +
hip-shoulder, both sides averaged, + 1.5 x mid-shoulders-nose), then the mean of the middle half
of the track's last ``history`` such heights (Pose2Sim trims the 50% most extreme over the whole
trial; this keeps memory flat and follows a person walking towards or away from the camera).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

from fastpose.measures.points import gather


class TrackSpeeds:
    """Speeds (units of the positions per second) of K points per track, carried across batches."""

    def __init__(
        self,
        window_s: float = 0.25,
        *,
        min_samples: int = 3,
        max_samples: int = 16,
        max_span_s: float = 1.0,
        forget_s: float = 5.0,
    ) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s: expected > 0, got {window_s}")
        if not 2 <= min_samples <= max_samples:
            raise ValueError(
                f"min_samples, max_samples: expected 2 <= min <= max, got {min_samples}, "
                f"{max_samples}"
            )
        self.window_s, self.min_samples, self.max_samples = window_s, min_samples, max_samples
        self.max_span_s, self.forget_s = max_span_s, forget_s
        # track -> (times (H,), positions (H, K, D)) of its last max_samples - 1 samples
        self.history: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}

    def __call__(
        self, t: NDArray[np.float64], ids: NDArray[np.int32], pos: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """(T, P, K) speeds of ``pos`` (T, P, K, D) for the slots' tracks ``ids`` (T, P) at
        times ``t`` (T,); NaN for empty slots and missing points."""
        out = np.full(pos.shape[:3], np.nan)
        for track in np.unique(ids[ids >= 0]).tolist():
            rows, slots = np.nonzero(ids == track)
            out[rows, slots] = self._track(track, t[rows], pos[rows, slots])
        if len(t):
            now = float(t[-1])
            for track in [k for k, (h, _) in self.history.items() if now - h[-1] > self.forget_s]:
                del self.history[track]
        return out

    def _track(
        self, track: int, t_new: NDArray[np.float64], x_new: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        old = self.history.get(track)
        tt = t_new if old is None else np.concatenate([old[0], t_new])
        xx = x_new if old is None else np.concatenate([old[1], x_new])
        h = len(tt) - len(t_new)
        self.history[track] = (tt[-(self.max_samples - 1) :], xx[-(self.max_samples - 1) :])
        j = np.arange(h, len(tt))
        lag = j[:, None] - np.arange(len(tt))[None, :]  # (n, L): samples back from each sample
        dt = tt[None, :] - tt[j][:, None]  # <= 0 inside the window
        w = (
            (lag >= 0)
            & (lag < self.max_samples)
            & ((dt >= -self.window_s) | (lag < self.min_samples))
            & (dt >= -self.max_span_s)
        )
        valid = ~np.isnan(xx).any(axis=-1)  # (L, K)
        wk = (w[:, :, None] & valid[None]).astype(np.float64)  # (n, L, K)
        x0 = np.where(valid[..., None], xx, 0.0)
        s0 = wk.sum(axis=1)
        s1 = np.einsum("nlk,nl->nk", wk, dt)
        s2 = np.einsum("nlk,nl->nk", wk, dt * dt)
        sx = np.einsum("nlk,lkd->nkd", wk, x0)
        sxt = np.einsum("nlk,nl,lkd->nkd", wk, dt, x0)
        den = s0 * s2 - s1 * s1
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (s0[..., None] * sxt - s1[..., None] * sx) / den[..., None]
        speed = np.sqrt((slope * slope).sum(axis=-1))
        good = valid[h:] & (s0 >= self.min_samples) & (den > 0)
        return np.where(good, speed, np.nan)


#: Pose2Sim's height for BlazePose: pairs averaged over both sides, then the head.
_SIDES = (("RHeel", "RAnkle"), ("RAnkle", "RKnee"), ("RKnee", "RHip"), ("RHip", "RShoulder"))
_HEIGHT_POINTS = tuple(
    dict.fromkeys(
        [p for pair in _SIDES for p in pair]
        + ["L" + p[1:] for pair in _SIDES for p in pair]
        + ["Neck", "Nose"]
    )
)
_HP = {p: k for k, p in enumerate(_HEIGHT_POINTS)}
_R0 = [_HP[a] for a, _ in _SIDES]
_R1 = [_HP[b] for _, b in _SIDES]
_L0 = [_HP["L" + a[1:]] for a, _ in _SIDES]
_L1 = [_HP["L" + b[1:]] for _, b in _SIDES]
#: Mid-shoulders to nose, times this, is the head and neck (Pose2Sim's factor without a head top).
HEAD_FACTOR = 1.5


def body_heights(xy: NDArray[np.float64], ok: NDArray[np.bool_]) -> NDArray[np.float64]:
    """(N,) a person's height in pixels from one frame's points ``xy`` (N, 33, 2), as Pose2Sim's
    ``compute_height`` adds it up; NaN unless every point it needs is seen."""
    p = gather(xy, ok, _HEIGHT_POINTS)
    right = np.linalg.norm(p[:, _R1] - p[:, _R0], axis=-1)
    left = np.linalg.norm(p[:, _L1] - p[:, _L0], axis=-1)
    head = np.linalg.norm(p[:, _HP["Nose"]] - p[:, _HP["Neck"]], axis=-1) * HEAD_FACTOR
    return ((right + left) / 2).sum(axis=1) + head


class TrackScale:
    """Pixels per metre per track, from its body heights in pixels and the person's height."""

    def __init__(self, height_m: float, history: int = 128) -> None:
        if not height_m > 0:
            raise ValueError(f"height_m: expected > 0 metres, got {height_m}")
        self.height_m, self.history = float(height_m), history
        self.heights: dict[int, deque[float]] = {}

    def __call__(
        self, ids: NDArray[np.int32], heights_px: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """(T, P) pixels per metre for the slots' tracks ``ids`` (T, P), given each slot's body
        height ``heights_px`` (T, P) in this frame (NaN: not measurable), frame by frame."""
        out = np.full(ids.shape, np.nan)
        for (f, k), track in np.ndenumerate(ids):
            if track < 0:
                continue
            seen = self.heights.setdefault(int(track), deque(maxlen=self.history))
            if np.isfinite(heights_px[f, k]):
                seen.append(float(heights_px[f, k]))
            if seen:
                s = np.sort(np.fromiter(seen, np.float64, len(seen)))
                q = len(s) // 4
                out[f, k] = s[q : len(s) - q].mean() / self.height_m
        return out

"""Landmark glitches replaced and flagged: a Hampel filter per track, streamed with a short delay.

For each landmark of each track, in a window of ``2 * half_window + 1`` frames centred on frame t
(Pose2Sim's Hampel filter takes 7), the median point m and the median distance of the window's
points from it (the MAD) are taken; the point at t is an outlier where its distance from m is
more than ``n_sigma`` times 1.4826 MAD (the MAD's scale to a standard deviation) and more than a
floor (``min_image`` of the person's size, the diagonal of the box around their landmarks, for
image coordinates; ``min_world`` metres for world ones), so the jitter of a still landmark is
never taken for a glitch. An outlier is replaced by m and flagged (``PoseBatch.replaced``): the
tables say which values were replaced, none is invented silently. Image (x, y, z; x and z scaled
by the frame's aspect ratio) and world coordinates are tested apart; a landmark is flagged where
either was replaced. Real motion is kept: along a monotone path the median of a centred window is
the point itself, so however fast a limb moves it is never replaced; a one- to three-frame spike
is.

Streaming: a batch comes out once ``half_window`` frames after it have arrived (or the stream
ended), in the batches it came in; the state is those frames and the ``half_window`` before.

:data:`FILTERS`: ``numpy`` (vectorized over frames and landmarks) and ``python`` (the plain
reference, one landmark and frame at a time).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from fastpose.poses import PoseBatch

#: Pose2Sim's Hampel window (7 frames); sigmas and floors (see the module's doc).
HALF_WINDOW, N_SIGMA, MIN_IMAGE, MIN_WORLD = 3, 3.0, 0.05, 0.1
#: A frame is tested where this many of its window's frames hold the track.
MIN_SAMPLES = 5
#: The filter as the outputs' settings name it.
DESCRIPTION = f"hampel ({2 * HALF_WINDOW + 1} frames, {N_SIGMA:g} sigma)"
_MAD_SCALE = 1.4826

#: (F + 2h, D) values of one point, NaN where missing -> (F,) outlier flags and (F, D) medians.
Filter = Callable[[NDArray[np.float64], NDArray[np.float64], int, float], tuple[NDArray, NDArray]]


def hampel_numpy(
    x: NDArray[np.float64], floor: NDArray[np.float64], half: int, n_sigma: float
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Outliers of the middle frames of ``x`` (F + 2 half, L, D): (F, L) flags and (F, L, D)
    window medians; ``floor`` (F,) the least distance that counts, per frame."""
    windows = np.lib.stride_tricks.sliding_window_view(x, 2 * half + 1, axis=0)  # (F, L, D, W)
    centre = x[half : len(x) - half]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: no test
        med = np.nanmedian(windows, axis=-1)  # (F, L, D)
        dist = np.sqrt(((windows - med[..., None]) ** 2).sum(axis=2))  # (F, L, W)
        mad = np.nanmedian(dist, axis=-1)
    dev = np.sqrt(((centre - med) ** 2).sum(axis=-1))
    count = np.isfinite(windows[:, :, 0]).sum(axis=-1)
    out = (count >= MIN_SAMPLES) & (dev > n_sigma * _MAD_SCALE * mad) & (dev > floor[:, None])
    return out, med


def hampel_python(
    x: NDArray[np.float64], floor: NDArray[np.float64], half: int, n_sigma: float
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    frames, points, dims = len(x) - 2 * half, x.shape[1], x.shape[2]
    out = np.zeros((frames, points), dtype=bool)
    med = np.full((frames, points, dims), np.nan)
    for f in range(frames):
        for p in range(points):
            window = [
                [float(v) for v in x[f + j, p]]
                for j in range(2 * half + 1)
                if not math.isnan(x[f + j, p, 0])
            ]
            if not window:
                continue
            m = [_median([w[d] for w in window]) for d in range(dims)]
            med[f, p] = m
            mad = _median([math.dist(w, m) for w in window])
            centre = [float(v) for v in x[f + half, p]]
            if math.isnan(centre[0]) or len(window) < MIN_SAMPLES:
                continue
            dev = math.dist(centre, m)
            out[f, p] = dev > n_sigma * _MAD_SCALE * mad and dev > floor[f]
    return out, med


def _median(values: list[float]) -> float:
    s, n = sorted(values), len(values)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


FILTERS: dict[str, Filter] = {"numpy": hampel_numpy, "python": hampel_python}


@dataclass
class Outliers:
    """The Hampel filter over the ordered stream of tracked batches (see the module's doc):
    :meth:`push` a batch, get the batches now final; :meth:`finish` at the stream's end.
    ``aspect``: the frame's width / height. ``replaced`` counts the landmarks replaced."""

    aspect: float = 1.0
    filter: str = "numpy"
    half_window: int = HALF_WINDOW
    n_sigma: float = N_SIGMA
    min_image: float = MIN_IMAGE
    min_world: float = MIN_WORLD
    replaced: int = 0
    _context: PoseBatch | None = None  # the last half_window frames already out
    _pending: deque[PoseBatch] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if not self.aspect > 0:
            raise ValueError(f"aspect: expected width / height > 0, got {self.aspect}")
        if self.filter not in FILTERS:
            raise ValueError(f"filter: expected one of {sorted(FILTERS)}, got {self.filter!r}")
        if self.half_window < 1:
            raise ValueError(f"half_window: expected >= 1 frame, got {self.half_window}")
        self._filter = FILTERS[self.filter]

    def push(self, poses: PoseBatch) -> list[PoseBatch]:
        """The batches made final by ``poses`` (earlier ones first; maybe none)."""
        self._pending.append(poses)
        return self._ready(end=False)

    def finish(self) -> list[PoseBatch]:
        """Every batch still held."""
        return self._ready(end=True)

    def _ready(self, *, end: bool) -> list[PoseBatch]:
        out = []
        while self._pending:
            after = sum(len(b) for b in list(self._pending)[1:])
            if not end and after < self.half_window:
                break
            parts = [self._context] if self._context is not None else []
            held = PoseBatch.concat([*parts, *map(_points, self._pending)])
            start = len(self._context) if self._context is not None else 0
            batch = self._pending.popleft()
            stop = start + len(batch)
            out.append(self._filtered(batch, held, start, stop))
            # a copy: what is held stays the points of the last half_window frames
            self._context = _points(held.take(slice(max(0, stop - self.half_window), stop)), True)
        return out

    def _filtered(self, batch: PoseBatch, held: PoseBatch, start: int, stop: int) -> PoseBatch:
        """``batch`` filtered: it is ``held``'s frames ``start:stop``, amid those around it."""
        h = self.half_window
        target = held.take(slice(start, stop))
        ids = held.ids
        lm, world = target.landmarks.copy(), target.world.copy()
        flags = np.zeros(lm.shape[:3], dtype=bool)
        scale = np.array([self.aspect, 1.0, self.aspect])
        for track in np.unique(ids[start:stop][ids[start:stop] >= 0]).tolist():
            f, k = np.nonzero(ids == track)
            image = np.full((len(held) + 2 * h, 33, 3), np.nan)
            wxyz = np.full((len(held) + 2 * h, 33, 3), np.nan)
            image[f + h] = held.landmarks[f, k, :, :3] * scale
            wxyz[f + h] = held.world[f, k]
            rows = np.arange(start, stop)
            size = _sizes(image[rows + h])
            win = slice(start, stop + 2 * h)
            out_i, med_i = self._filter(image[win], self.min_image * size, h, self.n_sigma)
            floor = np.full(len(rows), self.min_world)
            out_w, med_w = self._filter(wxyz[win], floor, h, self.n_sigma)
            here = f[(f >= start) & (f < stop)]
            slots = k[(f >= start) & (f < stop)]
            r = here - start
            oi, ow = out_i[r], out_w[r]
            lm[r, slots, :, :3] = np.where(oi[..., None], med_i[r] / scale, lm[r, slots, :, :3])
            world[r, slots] = np.where(ow[..., None], med_w[r], world[r, slots])
            flags[r, slots] = oi | ow
        self.replaced += int(flags.sum())
        return replace(batch, landmarks=lm, world=world, replaced=flags)


def _sizes(image: NDArray[np.float64]) -> NDArray[np.float64]:
    """(F,) the diagonal of the box around each frame's landmarks (F, 33, >= 2); NaN if none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        span = np.nanmax(image[..., :2], axis=1) - np.nanmin(image[..., :2], axis=1)
    return np.hypot(span[:, 0], span[:, 1])


def _points(poses: PoseBatch, copy: bool = False) -> PoseBatch:
    """``poses`` without what the filter doesn't read (masks, appearance), its arrays copied
    if ``copy``."""

    def own(a: NDArray) -> NDArray:
        return a.copy() if copy else a

    return PoseBatch(
        own(poses.frame_idx),
        own(poses.time_s),
        own(poses.pts_s),
        own(poses.landmarks),
        own(poses.world),
        track_ids=None if poses.track_ids is None else own(poses.track_ids),
    )

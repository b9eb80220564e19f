"""Swappable smoothing filters for landmark streams behind one tiny interface (as norfair's).

A smoother takes consecutive batches of a fixed number N of features — times ``t`` (T,) in seconds
and values ``x`` (T, N) — and returns the smoothed (T, N), carrying its state across calls. NaN
marks a missing feature (a person not detected): it comes out NaN and the feature starts afresh.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class Smoother(Protocol):
    """Smooths (T, N) batches of a stream; ``reset`` forgets the stream (and N)."""

    def __call__(self, t: NDArray[np.float64], x: NDArray[np.float32]) -> NDArray[np.float32]: ...

    def reset(self) -> None: ...


class _Batches:
    """Checks batches of one stream: ``t`` (T,) finite, ``x`` (T, N), N fixed by the first batch."""

    def __init__(self) -> None:
        self.n: int | None = None

    def check(
        self, t: NDArray[np.float64], x: NDArray[np.float32]
    ) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        t, x = np.asarray(t, dtype=np.float64), np.asarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"x: expected a 2-D (T, N) array, got shape {x.shape}")
        if t.shape != x.shape[:1]:
            raise ValueError(f"t: expected shape ({len(x)},) to match x {x.shape}, got {t.shape}")
        if self.n is not None and x.shape[1] != self.n:
            raise ValueError(
                f"x: expected {self.n} features as in earlier batches, got {x.shape[1]}"
            )
        if not np.isfinite(t).all():
            raise ValueError(f"t: expected finite times, got {t[~np.isfinite(t)][0]}")
        if len(x):
            self.n = x.shape[1]
        return t, x


class OneEuroSmoother:
    """The One Euro filter (Casiez et al. 2012): low-pass, smooth when still, quick when moving.

    The cutoff frequency is ``min_cutoff + beta * |speed|`` Hz, speed being the derivative
    low-passed at ``d_cutoff`` Hz, in units of ``x`` per second. The defaults suit MediaPipe's
    normalized image coordinates (the frame spans 1; limbs move ~1 unit/s at most). At rest, 1 Hz
    cuts the frame-to-frame jitter (~0.003) about 3x at 30 fps; with ``beta=10`` the cutoff rises
    to ~11 Hz at 1 unit/s, so fast motion lags a third of a frame (0.3 unit/s: under one frame).
    Time gaps need no special care: the smoothing factor grows with the time step, so a sample
    after a long gap is taken nearly as is.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 10.0, d_cutoff: float = 1.0) -> None:
        _check_param("min_cutoff", min_cutoff, positive=True)
        _check_param("beta", beta, positive=False)
        _check_param("d_cutoff", d_cutoff, positive=True)
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self._batches = _Batches()
        self._state: NDArray[np.float64] | None = None

    def __call__(self, t: NDArray[np.float64], x: NDArray[np.float32]) -> NDArray[np.float32]:
        from fastpose import kernels  # Numba: loaded on the first batch, not at import

        t, x = self._batches.check(t, x)
        if len(x) == 0:
            return np.empty(x.shape, dtype=np.float32)
        if self._state is None:
            self._state = kernels.one_euro_state(x.shape[1])
        return kernels.one_euro(t, x, self._state, self.min_cutoff, self.beta, self.d_cutoff)

    def reset(self) -> None:
        self._batches = _Batches()
        self._state = None

    def __repr__(self) -> str:
        return (
            f"OneEuroSmoother(min_cutoff={self.min_cutoff}, beta={self.beta}, "
            f"d_cutoff={self.d_cutoff})"
        )


class NoSmoother:
    """The identity: a float32 copy of each batch (validated as the other smoothers do)."""

    def __init__(self) -> None:
        self._batches = _Batches()

    def __call__(self, t: NDArray[np.float64], x: NDArray[np.float32]) -> NDArray[np.float32]:
        _, x = self._batches.check(t, x)
        return x.copy()

    def reset(self) -> None:
        self._batches = _Batches()

    def __repr__(self) -> str:
        return "NoSmoother()"


class PerTrack:
    """One smoother per person: values of person slots (T, P, N) and the slots' track ids (T, P)
    in, each track's values filtered by a smoother of its own, made by ``factory`` when the track
    first appears; so no filter ever mixes two people, and each starts fresh with its track.

    Slots with id -1 come out as they went in. A track unseen for ``forget_s`` seconds is
    forgotten (track ids are never reused, so it can't come back).
    """

    def __init__(self, factory: Callable[[], Smoother], forget_s: float = 5.0) -> None:
        self.factory, self.forget_s = factory, forget_s
        self.smoothers: dict[int, Smoother] = {}
        self.last_seen: dict[int, float] = {}

    def __call__(
        self, t: NDArray[np.float64], ids: NDArray[np.int32], x: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        if ids.shape != x.shape[:2] or t.shape != x.shape[:1]:
            raise ValueError(
                f"ids, t: expected shapes {x.shape[:2]} and {x.shape[:1]} to match x {x.shape}, "
                f"got {ids.shape} and {t.shape}"
            )
        out = np.array(x, dtype=np.float32)
        if len(t) == 0:
            return out
        for track in np.unique(ids[ids >= 0]).tolist():
            rows, slots = np.nonzero(ids == track)
            if track not in self.smoothers:
                self.smoothers[track] = self.factory()
            out[rows, slots] = self.smoothers[track](t[rows], x[rows, slots])
            self.last_seen[track] = float(t[rows[-1]])
        now = float(t[-1])
        for track in [k for k, seen in self.last_seen.items() if now - seen > self.forget_s]:
            del self.smoothers[track], self.last_seen[track]
        return out


#: The smoothers by the names the CLI and :func:`make_smoother` take.
SMOOTHERS: dict[str, type] = {"one-euro": OneEuroSmoother, "none": NoSmoother}


def make_smoother(name: str, **params: float) -> Smoother:
    """A new smoother of ``SMOOTHERS[name]`` built with ``params``."""
    if name not in SMOOTHERS:
        raise ValueError(f"smoother: expected one of {sorted(SMOOTHERS)}, got {name!r}")
    return SMOOTHERS[name](**params)


def _check_param(name: str, value: float, *, positive: bool) -> None:
    bound = "> 0" if positive else ">= 0"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")

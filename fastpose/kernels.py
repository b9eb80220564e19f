"""Numba kernels: the One Euro filter over a batch of frames, and masks to class ids.

Each kernel is cached on disk (``cache=True``) and called through a wrapper that converts its
inputs to one fixed signature (C-contiguous, writeable, float32 data, float64 times), so a fresh
process loads machine code from the cache instead of compiling, and never compiles a second variant.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Rows of a One Euro state array (see :func:`one_euro_state`).
STATE_X, STATE_DX, STATE_T = 0, 1, 2


def one_euro_state(n: int) -> NDArray[np.float64]:
    """A fresh (3, n) One Euro state: filtered value, its derivative, last time (NaN: none yet)."""
    state = np.zeros((3, n), dtype=np.float64)
    state[STATE_T] = np.nan
    return state


def _contiguous(a: ArrayLike, dtype: type) -> NDArray:
    """``a`` as a C-contiguous writeable ``dtype`` array (readonly would compile a variant)."""
    arr = np.ascontiguousarray(a, dtype=dtype)
    return arr if arr.flags.writeable else arr.copy()


def one_euro(
    t: ArrayLike,
    x: ArrayLike,
    state: NDArray[np.float64],
    min_cutoff: float,
    beta: float,
    d_cutoff: float,
) -> NDArray[np.float32]:
    """One Euro filter (Casiez et al. 2012) of ``x`` (T, N) sampled at times ``t`` (T,) in seconds.

    ``state`` (float64, (3, N), from :func:`one_euro_state`) is updated in place, so consecutive
    batches filter exactly (bit for bit) as one call over their concatenation would. Per feature:
    a NaN sample gives NaN and drops the state (no smoothing across the gap); the first sample after
    that passes through; a sample whose time is not after the feature's last one (repeated or
    backward, or NaN) gives the last filtered value and leaves the state alone.
    """
    x32 = _contiguous(x, np.float32)
    if x32.ndim != 2:
        raise ValueError(f"x: expected a 2-D (T, N) array, got shape {x32.shape}")
    t64 = _contiguous(t, np.float64)
    if t64.shape != x32.shape[:1]:
        raise ValueError(f"t: expected shape ({x32.shape[0]},), got {t64.shape}")
    n = x32.shape[1]
    if state.dtype != np.float64 or state.shape != (3, n) or not state.flags.c_contiguous:
        raise ValueError(
            f"state: expected C-contiguous float64 of shape (3, {n}), "
            f"got {state.dtype} {state.shape}"
        )
    return _one_euro(t64, x32, state, float(min_cutoff), float(beta), float(d_cutoff))


@numba.njit(cache=True, nogil=True)
def _alpha(cutoff: float, dt: float) -> float:
    # 1 / (1 + tau / dt) rather than r / (r + 1): stays 1 (not NaN) when the cutoff is infinite.
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@numba.njit(cache=True, nogil=True)
def _one_euro(
    t: NDArray[np.float64],
    x: NDArray[np.float32],
    state: NDArray[np.float64],
    min_cutoff: float,
    beta: float,
    d_cutoff: float,
) -> NDArray[np.float32]:
    n_t, n = x.shape
    out = np.empty((n_t, n), dtype=np.float32)
    xs, dxs, ts = state[STATE_X], state[STATE_DX], state[STATE_T]
    for i in range(n_t):
        ti = t[i]
        for j in range(n):
            v = np.float64(x[i, j])
            if math.isnan(v):
                out[i, j] = np.float32(np.nan)
                ts[j] = np.nan
                continue
            if math.isnan(ts[j]):
                if not math.isnan(ti):
                    xs[j], dxs[j], ts[j] = v, 0.0, ti
                out[i, j] = np.float32(v)
                continue
            dt = ti - ts[j]
            if not dt > 0.0:
                out[i, j] = np.float32(xs[j])
                continue
            dx = (v - xs[j]) / dt
            dxh = dxs[j] + _alpha(d_cutoff, dt) * (dx - dxs[j])
            cutoff = min_cutoff + beta * abs(dxh)
            xh = xs[j] + _alpha(cutoff, dt) * (v - xs[j])
            xs[j], dxs[j], ts[j] = xh, dxh, ti
            out[i, j] = np.float32(xh)
    return out


def mask_to_ids(masks: ArrayLike, threshold: float = 0.5) -> NDArray[np.uint8]:
    """Class ids of probability masks (H, W) or (T, H, W): 1 where ``mask > threshold``, else 0.

    NaN gives 0. A serial loop: on 2 cores with inference running beside it, ``parallel=True``
    was ~9x slower (median 8 ms vs 0.9 ms for (32, 360, 640)); idle, it was only 2x faster.
    """
    m = _contiguous(masks, np.float32)
    if m.ndim not in (2, 3):
        raise ValueError(f"masks: expected (H, W) or (T, H, W), got shape {m.shape}")
    out = np.empty(m.shape, dtype=np.uint8)
    _threshold(m.reshape(-1), np.float32(threshold), out.reshape(-1))
    return out


def person_ids(masks: ArrayLike, threshold: float = 0.5) -> NDArray[np.uint8]:
    """Class ids of several persons' masks: (P, H, W) -> (H, W) or (T, P, H, W) -> (T, H, W).

    0 is background; ``k + 1`` where person slot ``k`` is the most probable of those whose mask
    exceeds ``threshold`` (the first of equal ones; NaN is never above). With one person, 0 or 1.
    """
    m = _contiguous(masks, np.float32)
    if m.ndim not in (3, 4):
        raise ValueError(f"masks: expected (P, H, W) or (T, P, H, W), got shape {m.shape}")
    if m.shape[-3] > 254:
        raise ValueError(f"masks: expected at most 254 persons, got {m.shape[-3]}")
    p, h, w = m.shape[-3:]
    t = m.shape[0] if m.ndim == 4 else 1
    out = np.empty((t, h, w), dtype=np.uint8)
    _person_ids(m.reshape(t, p, h * w), np.float32(threshold), out.reshape(t, h * w))
    return out.reshape((*m.shape[:-3], h, w))


@numba.njit(cache=True, nogil=True)
def _threshold(m: NDArray[np.float32], threshold: np.float32, out: NDArray[np.uint8]) -> None:
    for i in range(m.size):
        out[i] = 1 if m[i] > threshold else 0


@numba.njit(cache=True, nogil=True)
def _person_ids(m: NDArray[np.float32], threshold: np.float32, out: NDArray[np.uint8]) -> None:
    n_t, n_p, n = m.shape
    for i in range(n_t):
        for k in range(n):
            best, best_p = threshold, 0
            for p in range(n_p):
                v = m[i, p, k]
                if v > best:
                    best, best_p = v, p + 1
            out[i, k] = best_p


def warm_up() -> None:
    """Load every kernel from the disk cache (or compile it) now rather than on first use.

    A fresh process pays ~0.15 s for Numba's first cached load (~0.3 s if SciPy is installed, which
    Numba imports then) and a few ms per kernel; a caller can do it while something else loads.
    """
    one_euro(np.zeros(1), np.zeros((1, 1), np.float32), one_euro_state(1), 1.0, 0.0, 1.0)
    mask_to_ids(np.zeros((1, 1), np.float32))
    person_ids(np.zeros((1, 1, 1), np.float32))

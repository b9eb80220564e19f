"""What each person looks like: a colour histogram per pose, for re-identification.

:func:`describe` gives every pose slot of every frame a descriptor of ``K`` floats: two colour
histograms, of the person's pixels above the hips (shirt, arms, head) and below them (trousers,
legs), each normalized to sum 1. A person's pixels are those of its segmentation mask (class
``slot + 1`` of :attr:`~fastpose.poses.PoseBatch.masks`); with masks off, the torso (shoulders to
hips) and thigh (hips to knees) quadrilaterals of its landmarks. A pixel counts in one of
``HUE_BINS * SAT_BINS`` hue x saturation bins, or, when it is too grey or dark for its hue to mean
anything (saturation under ``MIN_SATURATION`` or value under ``MIN_VALUE``), in one of
``GREY_BINS`` brightness bins; hue bins are centred on red, green, blue... so red is one bin.
Every ``STEP``-th row and column is sampled (the histogram hardly changes; 4x less work).

A part with fewer than ``MIN_PIXELS`` samples is NaN (too little seen to say), an empty slot is
NaN throughout. :func:`distance` compares descriptors (Hellinger distance, 0 same to 1 disjoint,
averaged over the parts both show).

The kernel (:data:`DESCRIBERS` ``"numba"``) makes one pass over the sampled pixels for all slots;
``"numpy"`` is the plain reference, bin for bin the same. Both keep no state (they run in the
landmarker threads).
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numpy.typing import NDArray

from fastpose.poses import PoseBatch

HUE_BINS = 12
SAT_BINS = 3
GREY_BINS = 4
MIN_SATURATION = 0.25
MIN_VALUE = 0.15
BINS = HUE_BINS * SAT_BINS + GREY_BINS  # of one part
PARTS = 2  # above the hips, below them
K = PARTS * BINS  # descriptor length
STEP = 2
MIN_PIXELS = 20

# Landmarks of the fallback regions (no masks): torso and thighs, each a quadrilateral in order.
TORSO = (11, 12, 24, 23)  # shoulders, hips
THIGHS = (23, 24, 26, 25)  # hips, knees
HIPS = (23, 24)

Describer = Callable[[NDArray[np.uint8], PoseBatch], NDArray[np.float32]]


def _check(images: NDArray[np.uint8], poses: PoseBatch) -> None:
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else images
        raise ValueError(f"images: expected uint8 (T, h, w, 3), got {got}")
    if images.shape[0] != len(poses) or images.shape[3] != 3:
        raise ValueError(f"images: expected ({len(poses)}, h, w, 3), got {images.shape}")
    if poses.masks is not None and poses.masks.shape != images.shape[:3]:
        raise ValueError(
            f"masks: expected the images' shape {images.shape[:3]}, got {poses.masks.shape}"
        )


def _regions(poses: PoseBatch, h: int, w: int) -> tuple[NDArray[np.float64], NDArray]:
    """Per slot: the hips' row (T, P) in pixels (NaN: empty slot), and the fallback quadrilaterals
    (T, P, 2, 4, 2) in pixels (x, y)."""
    px = poses.landmarks[..., :2].astype(np.float64) * np.array([w, h], np.float64)
    hip_y = px[:, :, HIPS, 1].mean(axis=2)
    quads = np.stack([px[:, :, TORSO], px[:, :, THIGHS]], axis=2)
    return hip_y, quads


def _normalize(counts: NDArray[np.float64]) -> NDArray[np.float32]:
    """(T, P, PARTS, BINS) counts -> (T, P, K) histograms summing to 1 per part; NaN when a part
    has under MIN_PIXELS samples."""
    total = counts.sum(axis=-1, keepdims=True)
    hist = np.where(total >= MIN_PIXELS, counts / np.maximum(total, 1), np.nan)
    return hist.reshape(*counts.shape[:2], K).astype(np.float32)


# --- the plain-NumPy reference ---------------------------------------------------------------


def _bins_numpy(rgb: NDArray[np.uint8]) -> NDArray[np.intp]:
    """(N, 3) RGB -> (N,) bin of each pixel (see the module's docstring)."""
    c = rgb.astype(np.float64) / 255.0
    r, g, b = c[:, 0], c[:, 1], c[:, 2]
    v = c.max(axis=1)
    chroma = v - c.min(axis=1)
    s = np.where(v > 0, chroma / np.where(v > 0, v, 1.0), 0.0)
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(
        v == r, (g - b) / safe, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    )
    hue = np.where(hue < 0, hue + 6.0, hue)
    hue_bin = (hue * (HUE_BINS / 6.0) + 0.5).astype(np.intp) % HUE_BINS
    sat_bin = np.minimum(
        ((s - MIN_SATURATION) / (1.0 - MIN_SATURATION) * SAT_BINS).astype(np.intp), SAT_BINS - 1
    )
    grey_bin = HUE_BINS * SAT_BINS + np.minimum((v * GREY_BINS).astype(np.intp), GREY_BINS - 1)
    grey = (s < MIN_SATURATION) | (v < MIN_VALUE)
    return np.where(grey, grey_bin, hue_bin * SAT_BINS + sat_bin)


def _inside_numpy(x: NDArray, y: NDArray, quad: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether points (x, y) lie inside the polygon ``quad`` (n, 2): the even-odd rule."""
    inside = np.zeros(x.shape, bool)
    n = len(quad)
    for a in range(n):
        (x0, y0), (x1, y1) = quad[a], quad[(a + 1) % n]
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def describe_numpy(images: NDArray[np.uint8], poses: PoseBatch) -> NDArray[np.float32]:
    """The reference :func:`describe`: per frame and slot, boolean masks and ``np.bincount``."""
    _check(images, poses)
    t, h, w = images.shape[:3]
    p = poses.max_persons
    hip_y, quads = _regions(poses, h, w)
    ys, xs = np.mgrid[0:h:STEP, 0:w:STEP]
    ys, xs = ys.ravel().astype(np.float64), xs.ravel().astype(np.float64)
    counts = np.zeros((t, p, PARTS, BINS))
    detected = poses.detected
    for i in range(t):
        if not detected[i].any():
            continue
        bins = _bins_numpy(images[i, ::STEP, ::STEP].reshape(-1, 3))
        labels = None if poses.masks is None else poses.masks[i, ::STEP, ::STEP].ravel()
        for k in np.flatnonzero(detected[i]):
            if labels is not None:
                mine = labels == k + 1
                parts = [mine & (ys < hip_y[i, k]), mine & (ys >= hip_y[i, k])]
            else:
                parts = [_inside_numpy(xs, ys, quads[i, k, j]) for j in range(PARTS)]
            for j, sel in enumerate(parts):
                counts[i, k, j] = np.bincount(bins[sel], minlength=BINS)
    out = _normalize(counts)
    out[~detected] = np.nan
    return out


# --- the Numba kernel --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _bin(r8: np.uint8, g8: np.uint8, b8: np.uint8) -> int:
    r, g, b = r8 / 255.0, g8 / 255.0, b8 / 255.0
    v = max(r, g, b)
    chroma = v - min(r, g, b)
    s = chroma / v if v > 0 else 0.0
    if s < MIN_SATURATION or v < MIN_VALUE:
        return HUE_BINS * SAT_BINS + min(int(v * GREY_BINS), GREY_BINS - 1)
    if v == r:
        hue = (g - b) / chroma
    elif v == g:
        hue = (b - r) / chroma + 2.0
    else:
        hue = (r - g) / chroma + 4.0
    if hue < 0:
        hue += 6.0
    hue_bin = int(hue * (HUE_BINS / 6.0) + 0.5) % HUE_BINS
    sat_bin = min(int((s - MIN_SATURATION) / (1.0 - MIN_SATURATION) * SAT_BINS), SAT_BINS - 1)
    return hue_bin * SAT_BINS + sat_bin


@numba.njit(cache=True, nogil=True)
def _inside(x: float, y: float, quad: NDArray[np.float64]) -> bool:
    inside = False
    n = quad.shape[0]
    for a in range(n):
        x0, y0 = quad[a, 0], quad[a, 1]
        x1, y1 = quad[(a + 1) % n, 0], quad[(a + 1) % n, 1]
        if y0 == y1:
            continue
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


@numba.njit(cache=True, nogil=True)
def _count_masked(
    images: NDArray[np.uint8],
    masks: NDArray[np.uint8],
    hip_y: NDArray[np.float64],
    counts: NDArray[np.float64],
) -> None:
    t, h, w = masks.shape
    p = counts.shape[1]
    for i in range(t):
        for y in range(0, h, STEP):
            for x in range(0, w, STEP):
                k = int(masks[i, y, x]) - 1
                if k < 0 or k >= p or np.isnan(hip_y[i, k]):
                    continue
                part = 0 if y < hip_y[i, k] else 1
                counts[
                    i, k, part, _bin(images[i, y, x, 0], images[i, y, x, 1], images[i, y, x, 2])
                ] += 1


@numba.njit(cache=True, nogil=True)
def _count_quads(images: NDArray[np.uint8], quads: NDArray[np.float64], counts: NDArray) -> None:
    t, h, w = images.shape[:3]
    p = counts.shape[1]
    for i in range(t):
        for k in range(p):
            for j in range(PARTS):
                quad = quads[i, k, j]
                if np.isnan(quad).any():
                    continue
                # the sampled rows and columns within the quadrilateral's box
                y0 = max(0, int(np.ceil(quad[:, 1].min() / STEP)) * STEP)
                y1 = min(h - 1, int(quad[:, 1].max()))
                x0 = max(0, int(np.ceil(quad[:, 0].min() / STEP)) * STEP)
                x1 = min(w - 1, int(quad[:, 0].max()))
                for y in range(y0, y1 + 1, STEP):
                    for x in range(x0, x1 + 1, STEP):
                        if _inside(float(x), float(y), quad):
                            px = images[i, y, x]
                            counts[i, k, j, _bin(px[0], px[1], px[2])] += 1


def describe_numba(images: NDArray[np.uint8], poses: PoseBatch) -> NDArray[np.float32]:
    """:func:`describe` as one Numba pass over the sampled pixels (no GIL held)."""
    _check(images, poses)
    t, h, w = images.shape[:3]
    hip_y, quads = _regions(poses, h, w)
    counts = np.zeros((t, poses.max_persons, PARTS, BINS))
    images = np.ascontiguousarray(images)
    if poses.masks is not None:
        _count_masked(images, np.ascontiguousarray(poses.masks), hip_y, counts)
    else:
        _count_quads(images, np.ascontiguousarray(quads), counts)
    out = _normalize(counts)
    out[~poses.detected] = np.nan
    return out


#: The implementations by name: the kernel, and the plain-NumPy reference.
DESCRIBERS: dict[str, Describer] = {"numba": describe_numba, "numpy": describe_numpy}


def describe(images: NDArray[np.uint8], poses: PoseBatch) -> NDArray[np.float32]:
    """(T, P, K) float32 appearance of each pose slot of ``poses`` in ``images`` (uint8 RGB
    (T, h, w, 3), the frames the poses were inferred on, at the masks' size); NaN for empty slots
    and parts too little seen. Thread-safe, no state."""
    return describe_numba(images, poses)


def distance(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float64]:
    """Hellinger distance of descriptors ``a`` (..., K) and ``b`` (..., K), broadcast: per part
    ``sqrt(1 - sum(sqrt(p * q)))``, averaged over the parts both show; NaN if none."""
    a = np.asarray(a, np.float64).reshape(*np.shape(a)[:-1], PARTS, BINS)
    b = np.asarray(b, np.float64).reshape(*np.shape(b)[:-1], PARTS, BINS)
    overlap = np.sqrt(a * b).sum(axis=-1)  # NaN where either part is unseen
    d = np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0))
    with np.errstate(invalid="ignore"):
        seen = ~np.isnan(d)
        return np.where(seen.any(axis=-1), np.where(seen, d, 0).sum(-1) / seen.sum(-1), np.nan)

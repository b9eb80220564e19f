"""Appearance descriptors (fastpose.appearance): every implementation against an independent
reference written from the module's definition, and the kernel bin for bin against the NumPy
implementation, on real frames and MediaPipe's real poses and masks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import data_file

from fastpose import appearance
from fastpose.appearance import DESCRIBERS, K, describe, distance
from fastpose.identities import IdentityOptions

NAMES = sorted(DESCRIBERS)


@pytest.fixture(scope="module")
def inferred(model_path):
    """``inferred(name)``: the first 24 frames of a clip at 960 px and their raw poses (2 slots,
    masks on), once per clip."""
    from fastpose.core import DecodeOptions
    from fastpose.landmarker import Landmarker, LandmarkerOptions

    cache = {}

    def infer(name: str):
        if name not in cache:
            source = DecodeOptions(inference_size=960, batch_size=24).source(
                str(data_file(name)), max_frames=24
            )
            options = LandmarkerOptions(model_path, num_poses=2)
            with source, Landmarker(options) as landmarker:
                frames = next(iter(source))
                cache[name] = (frames.images, landmarker.detect(frames))
        return cache[name]

    return infer


@pytest.mark.parametrize("name", [n for n in NAMES if n != "numpy"])
@pytest.mark.parametrize("masks", [True, False])
def test_every_kernel_matches_the_numpy_implementation(inferred, name, masks):
    """Bin for bin the NumPy implementation's histograms (itself checked against an independent
    reference below), with masks and with the torso fallback."""
    images, poses = inferred("sports2d_demo.mp4")
    if not masks:
        poses = replace(poses, masks=None)
    got = DESCRIBERS[name](images, poses)
    assert got.dtype == np.float32 and got.shape == (len(poses), 2, K)
    np.testing.assert_array_equal(got, appearance.describe_numpy(images, poses))


def reference_histograms(images: np.ndarray, poses) -> np.ndarray:
    """(T, P, 80) the descriptors as fastpose.appearance's docstring defines them, computed here
    another way (OpenCV's HSV in float, Matplotlib's point-in-polygon): every 2nd row and column
    of a person's pixels (its mask's class, else its torso and thigh quadrilaterals), above and
    below the hips' row, each part a histogram of 12 hues (centred on red) x 3 saturations, or 4
    greys for a pixel under 0.25 saturation or 0.15 value; NaN for a part under 20 samples."""
    import cv2
    from matplotlib.path import Path as Polygon

    t, h, w = images.shape[:3]
    slots = poses.max_persons
    out = np.full((t, slots, 2, 40), np.nan)
    ys, xs = np.mgrid[0:h:2, 0:w:2]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    for i in range(t):
        hsv = cv2.cvtColor(images[i, ::2, ::2].astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]  # degrees, 0..1, 0..1
        hue_bin = np.floor(hue / 30.0 + 0.5).astype(int) % 12
        sat_bin = np.minimum(((sat - 0.25) / 0.75 * 3).astype(int), 2)
        grey = (sat < 0.25) | (val < 0.15)
        bins = np.where(grey, 36 + np.minimum((val * 4).astype(int), 3), hue_bin * 3 + sat_bin)
        for k in np.flatnonzero(poses.detected[i]):
            px = poses.landmarks[i, k, :, :2].astype(np.float64) * [w, h]
            hip_row = (px[23, 1] + px[24, 1]) / 2
            if poses.masks is not None:
                mine = poses.masks[i, ::2, ::2] == k + 1
                parts = [mine & (ys < hip_row), mine & (ys >= hip_row)]
            else:
                parts = [
                    Polygon(px[list(corners)]).contains_points(points).reshape(ys.shape)
                    for corners in ((11, 12, 24, 23), (23, 24, 26, 25))
                ]
            for j, sel in enumerate(parts):
                counts = np.bincount(bins[sel], minlength=40)
                if counts.sum() >= 20:
                    out[i, k, j] = counts / counts.sum()
    return out.reshape(t, slots, 80)


_REFERENCE: dict[bool, np.ndarray] = {}  # masks -> the reference of sports2d_demo's frames


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("masks", [True, False])
def test_every_describer_matches_an_independent_reference(inferred, name, masks):
    """Each implementation against :func:`reference_histograms`: the same parts seen, every bin
    in a part's histogram,
    but for a few samples exactly on a bin's or a polygon's edge (which may fall either way)."""
    images, poses = inferred("sports2d_demo.mp4")
    if not masks:
        poses = replace(poses, masks=None)
    got = DESCRIBERS[name](images, poses).astype(np.float64)
    if masks not in _REFERENCE:
        _REFERENCE[masks] = reference_histograms(images, poses)
    ref = _REFERENCE[masks]
    seen = np.isfinite(ref).any(axis=-1)
    assert seen.sum() > 10
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    diff = np.abs(np.nan_to_num(got - ref)).reshape(*got.shape[:2], 2, 40)
    moved = diff.sum(axis=-1) / 2  # per part: the share of its samples in another bin
    assert moved.max() <= 0.05 and moved[seen].mean() <= 0.005, (moved.max(), moved.mean())


@pytest.mark.parametrize("name", NAMES)
def test_descriptors_are_histograms_and_nan_where_no_pose(inferred, name):
    images, poses = inferred("sports2d_demo.mp4")
    got = DESCRIBERS[name](images, poses).reshape(len(poses), 2, appearance.PARTS, -1)
    assert np.isnan(got[~poses.detected]).all()
    seen = got[poses.detected]
    sums = seen.sum(axis=-1)
    assert np.isfinite(sums).mean() > 0.9  # most poses show both parts
    np.testing.assert_allclose(sums[np.isfinite(sums)], 1.0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_the_same_person_is_nearer_than_someone_else(inferred, name):
    """Frames of one person are nearer each other than to another person's (a man in
    pose2sim_single_cam01, a woman in pose_squats), on either side of re-identification's gate."""
    man = DESCRIBERS[name](*inferred("pose2sim_single_cam01.mp4"))[:, 0]
    woman = DESCRIBERS[name](*inferred("pose_squats.mp4"))[:, 0]
    same = max(np.nanmax(distance(man[:1], man)), np.nanmax(distance(woman[:1], woman)))
    other = np.nanmin(distance(man[:, None], woman[None]))
    gate = IdentityOptions().reid_appearance
    assert same < 0.4 < gate < other, (same, other)


def test_hue_bins_put_red_in_one_bin():
    """Pure red, hue 0, and a red just either side of it share a bin; grey goes to the grey bins."""
    rgb = np.array([[255, 0, 0], [255, 0, 20], [255, 20, 0], [128, 128, 128]], np.uint8)
    bins = appearance._bins_numpy(rgb)
    assert bins[0] == bins[1] == bins[2] < appearance.HUE_BINS * appearance.SAT_BINS <= bins[3]
    for px, b in zip(rgb, bins, strict=True):
        assert appearance._bin(*px) == b


def test_distance_is_zero_for_the_same_and_one_for_disjoint():
    a = np.zeros(K, np.float32)
    a[[0, appearance.BINS]] = 1.0
    b = np.roll(a, 1)
    assert distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert distance(a, b) == pytest.approx(1.0)
    half = a.copy()
    half[appearance.BINS :] = np.nan  # one part unseen: the other decides
    assert distance(half, b) == pytest.approx(1.0)
    assert np.isnan(distance(np.full(K, np.nan), a))


def test_bad_input_is_refused(inferred):
    images, poses = inferred("pose_squats.mp4")
    with pytest.raises(ValueError, match="images: expected"):
        describe(images[:-1], poses)
    with pytest.raises(ValueError, match="masks: expected"):
        describe(images[:, ::2], poses)
    with pytest.raises(ValueError, match="appearance: expected float32"):
        replace(poses, appearance=np.zeros((len(poses), 2, K)))
    with pytest.raises(ValueError, match="appearance: expected shape"):
        replace(poses, appearance=np.zeros((len(poses), 3, K), np.float32))

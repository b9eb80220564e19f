"""Appearance descriptors (fastpose.appearance): every implementation against the NumPy
reference, on real frames and MediaPipe's real poses and masks."""

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


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("masks", [True, False])
def test_every_describer_matches_the_reference(inferred, name, masks):
    """Bin for bin the reference's histograms, with masks and with the torso fallback."""
    images, poses = inferred("sports2d_demo.mp4")
    if not masks:
        poses = replace(poses, masks=None)
    got = DESCRIBERS[name](images, poses)
    assert got.dtype == np.float32 and got.shape == (len(poses), 2, K)
    np.testing.assert_array_equal(got, appearance.describe_numpy(images, poses))


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

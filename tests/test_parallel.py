"""Parallel inference: how a video is cut into units, and that the cut doesn't change the result
beyond the tracker's own restart variance (MediaPipe's tracking depends on the frames before)."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow.parquet as pq
import pytest
from clips import loop_video
from conftest import data_file, reference_squats, run_cli

from fastpose.core import DecodeOptions
from fastpose.landmarker import Landmarker, LandmarkerOptions
from fastpose.parallel import (
    MAX_UNIT_FRAMES,
    MIN_UNIT_FRAMES,
    WARMUP_FRAMES,
    WorkUnit,
    plan_units,
    unit_batches,
)
from fastpose.poses import PoseBatch
from fastpose.skeleton import NUM_LANDMARKS

# --- planning ------------------------------------------------------------------------------------


def _check_cover(units: list[WorkUnit], num_frames: int) -> None:
    assert units[0].start == 0 and units[0].warmup == 0
    assert units[-1].stop == num_frames
    for a, b in itertools.pairwise(units):
        assert a.stop == b.start
        assert b.warmup == WARMUP_FRAMES


@pytest.mark.parametrize("num_frames", [1, 10, 2 * MIN_UNIT_FRAMES - 1])
@pytest.mark.parametrize("workers", [1, 2, 8])
def test_short_video_is_one_unit(num_frames: int, workers: int) -> None:
    assert plan_units("v.mp4", num_frames, workers) == [WorkUnit("v.mp4", 0, num_frames)]


def _finish_times(units: list[WorkUnit], workers: int) -> list[int]:
    """When each worker finishes, in frames inferred, taking units in order as a pool does."""
    free = [0] * workers
    for unit in units:
        k = free.index(min(free))
        free[k] += unit.stop - unit.start + unit.warmup
    return free


@pytest.mark.parametrize("workers", [2, 3, 4, 8])
@pytest.mark.parametrize("num_frames", [2 * MIN_UNIT_FRAMES, 601, 1201, 3000, 20_000, 123_457])
def test_units_cover_the_video_and_workers_finish_together(num_frames: int, workers: int) -> None:
    units = plan_units("v.mp4", num_frames, workers)
    _check_cover(units, num_frames)
    lengths = np.array([u.stop - u.start + u.warmup for u in units])  # frames each one infers
    assert lengths.max() <= MAX_UNIT_FRAMES + WARMUP_FRAMES
    assert lengths.min() >= MIN_UNIT_FRAMES
    if len(units) >= workers:
        finish = _finish_times(units, workers)
        assert max(finish) - min(finish) <= 4 + max(finish) / 1000, finish  # rounding


@pytest.mark.parametrize("workers", [2, 4])
def test_a_clip_is_split_from_its_first_frame(workers: int) -> None:
    """All landmarkers start at once: a clip worth splitting is cut in ``workers`` ranges from the
    first frame on (no short leading range: the head range streams as it goes)."""
    units = plan_units("v.mp4", 2 * MIN_UNIT_FRAMES * workers, workers)
    assert len(units) == workers
    lengths = [u.stop - u.start + u.warmup for u in units]
    assert max(lengths) - min(lengths) <= 1


def test_boundaries_move_to_key_frames_within_tolerance() -> None:
    keys = np.arange(0, 3000, 100)
    units = plan_units("v.mp4", 3000, 2, keys)
    _check_cover(units, 3000)
    for unit in units[1:]:
        assert unit.start - unit.warmup in set(keys.tolist()), unit
    sparse = np.array([0, 777, 2222])  # too far from where the boundaries belong: not used
    assert plan_units("v.mp4", 3000, 2, sparse) == plan_units("v.mp4", 3000, 2)


def test_work_unit_validation() -> None:
    with pytest.raises(ValueError, match="expected 0 <= start - warmup <= start < stop"):
        WorkUnit("v.mp4", 10, 10)
    with pytest.raises(ValueError, match="expected 0 <= start - warmup"):
        WorkUnit("v.mp4", 5, 20, warmup=6)


# --- restarted ranges against MediaPipe's reference ---------------------------------------------


def test_split_squats_still_match_the_reference(model_path) -> None:
    """pose_squats.mp4 cut in two units (the second restarted with its warm-up), as workers run
    them: every landmark still within 31 px of MediaPipe's reference, and the frames in order."""
    ref = reference_squats()
    uri = str(data_file("pose_squats.mp4"))
    options = LandmarkerOptions(model_path, segment=False)
    decode = DecodeOptions(fps=30, inference_size=640)
    units = [WorkUnit(uri, 0, 33), WorkUnit(uri, 33, len(ref), warmup=WARMUP_FRAMES)]
    parts = []
    for u in units:
        with (
            decode.source(u.uri, start=u.start - u.warmup, stop=u.stop) as src,
            Landmarker(options) as lm,
        ):
            parts += [item.poses for item in unit_batches(src, lm, keep_from=u.start)]
    poses = PoseBatch.concat(parts)
    np.testing.assert_array_equal(poses.frame_idx, np.arange(len(ref)))
    got = poses.pixels(720, 1280)[:, 0]
    err = np.linalg.norm(got - ref[..., :2], axis=-1)
    assert err.max() < 31, f"worst error {err.max():.1f} px"


# --- --workers 1 against --workers 2 ------------------------------------------------------------


def _table_pixels(path, num_frames: int) -> np.ndarray:
    """(frames, 33, 2) x_px, y_px of person 0; NaN where no person."""
    cols = pq.read_table(path, columns=["frame_idx", "person", "x_px", "y_px"]).to_pydict()
    out = np.full((num_frames, NUM_LANDMARKS, 2), np.nan)
    frame, person = np.asarray(cols["frame_idx"]), np.asarray(cols["person"])
    keep = person == 0
    xy = np.stack([np.asarray(cols["x_px"]), np.asarray(cols["y_px"])], axis=1)[keep]
    out[frame[keep], np.tile(np.arange(NUM_LANDMARKS), keep.sum() // NUM_LANDMARKS)] = xy
    return out


def test_workers_agree_within_restart_variance(tmp_path) -> None:
    """A 600-frame 1080x1920 clip: 1 worker against 2 (two units, the second restarted). Over all
    frames the median landmark difference is <= 3 px and the 95th percentile <= 10 px, and no
    frame has a person in one run and not in the other (issue 4's bounds)."""
    clip = loop_video(data_file("pose2sim_single_cam01.mp4"), tmp_path / "clip.mp4", 600)
    runs = {}
    for workers in (1, 2):
        table = tmp_path / f"w{workers}.parquet"
        result = run_cli(
            "run", clip, "--save", tmp_path / f"w{workers}.rrd", "--export", table,
            "--workers", str(workers),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"on {workers} worker(s)" in result.stderr
        runs[workers] = _table_pixels(table, 600)
    one, two = runs[1], runs[2]
    assert np.array_equal(np.isnan(one[:, 0, 0]), np.isnan(two[:, 0, 0]))
    diff = np.linalg.norm(one - two, axis=-1)
    diff = diff[~np.isnan(diff)]
    assert diff.size > 0.9 * 600 * NUM_LANDMARKS
    median, p95 = np.median(diff), np.percentile(diff, 95)
    assert median <= 3 and p95 <= 10, f"median {median:.2f} px, 95th percentile {p95:.2f} px"


# --- the buffer of ranges waiting their turn ----------------------------------------------------


@pytest.mark.parametrize("persons", [1, 2, 3, 5])
def test_buffered_masks_keep_every_class(persons: int) -> None:
    """A range that waits its turn holds its masks bit-packed, one plane per bit of the class
    ids: unpacked, each pixel has its person's class again (not only person vs background)."""
    from fastpose.core import Inferred
    from fastpose.parallel import _Packed

    rng = np.random.default_rng(persons)
    t = 5
    masks = rng.integers(0, persons + 1, (t, 9, 21), dtype=np.uint8)
    nan = np.full((t, persons, NUM_LANDMARKS, 5), np.nan, np.float32)
    poses = PoseBatch(
        np.arange(t, dtype=np.int64), np.arange(t) / 30, np.arange(t) / 30, nan, nan[..., :3], masks
    )
    packed = _Packed.pack(Inferred(poses))
    assert isinstance(packed, _Packed) and packed.item.poses.masks is None
    assert sum(p.nbytes for p in packed.planes) <= masks.nbytes // 2
    np.testing.assert_array_equal(packed.unpack().poses.masks, masks)

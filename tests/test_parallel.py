"""Parallel inference: how a video is cut into units, and that the cut doesn't change the result
beyond the tracker's own restart variance (MediaPipe's tracking depends on the frames before)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import data_file, reference_squats, tracked

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


#: pose2sim_single_cam01 (100 frames at 60 fps) in 4 ranges on 2 landmarkers: ranges of 20 to 25
#: frames, each after the first restarted with its warm-up.
SPLIT = {"min_range_frames": 20, "max_range_frames": 25}


def test_workers_agree_within_restart_variance() -> None:
    """pose2sim_single_cam01 on 1 landmarker against 2 running 4 ranges (3 restarted): a person in
    the same frames; over all frames the median landmark difference <= 3 px and the 95th
    percentile <= 10 px (issue 4's bounds); and frame by frame, near the range boundaries too,
    the median landmark difference <= 3 px, and <= 2 px over any 10 frames in a row. (The warm-up
    cut from 20 frames to 1 gives up to 5 px a frame, 3.8 px over the 10 frames after a start.)"""
    clip = data_file("pose2sim_single_cam01.mp4")
    one = tracked(clip, workers=1, segment=False)
    two = tracked(clip, workers=2, segment=False, **SPLIT)
    assert one.stats.workers == 1 and two.stats.workers == 2, (one.stats, two.stats)
    a, b = one.poses, two.poses
    np.testing.assert_array_equal(a.frame_idx, np.arange(100))
    np.testing.assert_array_equal(b.frame_idx, a.frame_idx)
    np.testing.assert_array_equal(b.detected, a.detected)
    assert a.detected[:, 0].all(), "the clip shows its man in every frame"
    w, h = one.info.width, one.info.height
    diff = np.linalg.norm(a.pixels(w, h)[:, 0] - b.pixels(w, h)[:, 0], axis=-1)  # (100, 33)
    median, p95 = np.median(diff), np.percentile(diff, 95)
    assert median <= 3 and p95 <= 10, f"median {median:.2f} px, 95th percentile {p95:.2f} px"
    per_frame = np.median(diff, axis=1)
    worst = int(np.argmax(per_frame))
    assert per_frame[worst] <= 3, f"frame {worst}: median difference {per_frame[worst]:.2f} px"
    windows = np.array([np.median(per_frame[t : t + 10]) for t in range(len(per_frame) - 9)])
    start = int(np.argmax(windows))
    assert windows[start] <= 2, f"frames {start}-{start + 9}: median {windows[start]:.2f} px"


# --- the buffer of ranges waiting their turn ----------------------------------------------------


@pytest.mark.parametrize("persons", [1, 2, 3, 5])
def test_buffered_masks_keep_every_class(persons: int) -> None:
    """A range that waits its turn holds its masks bit-packed, one plane per bit of the class
    ids: unpacked, each pixel has its person's class again (not only person vs background)."""
    from fastpose.core import Inferred
    from fastpose.parallel import Packed

    rng = np.random.default_rng(persons)
    t = 5
    masks = rng.integers(0, persons + 1, (t, 9, 21), dtype=np.uint8)
    nan = np.full((t, persons, NUM_LANDMARKS, 5), np.nan, np.float32)
    poses = PoseBatch(
        np.arange(t, dtype=np.int64), np.arange(t) / 30, np.arange(t) / 30, nan, nan[..., :3], masks
    )
    packed = Packed.pack(Inferred(poses))
    assert isinstance(packed, Packed) and packed.item.poses.masks is None
    assert sum(p.nbytes for p in packed.planes) <= masks.nbytes // 2
    np.testing.assert_array_equal(packed.unpack().poses.masks, masks)


def test_a_range_ahead_holds_at_most_its_bytes(model_path) -> None:
    """While the consumer holds on to its first batch, the range ahead (pose2sim_single_cam01's
    last 70 frames, with masks) infers until it holds ``ahead_bytes`` (here ~3 batches), then
    waits: it holds less than the bound plus one batch, and not its whole range (what it held
    before the bound: a long video kept its ranges ahead whole). Consumed, every frame comes,
    in order."""
    import time

    from fastpose.parallel import Range, RangeDone, RangeThreads

    uri = str(data_file("pose2sim_single_cam01.mp4"))
    options = LandmarkerOptions(model_path, segment=True)
    decode = DecodeOptions(fps=60, inference_size=256)
    units = [WorkUnit(uri, 0, 30), WorkUnit(uri, 30, 100, warmup=WARMUP_FRAMES)]
    bound = 3 * 16 * 256 * 144 // 8  # three 16-frame batches of one person's packed masks
    threads = RangeThreads(
        [Range(k, u) for k, u in enumerate(units)],
        2,
        open_source=lambda u: decode.source(u.uri, start=u.start - u.warmup, stop=u.stop),
        make_landmarker=lambda: Landmarker(options),
        ahead_bytes=bound,
    )
    with threads:
        batches = iter(threads)
        frames = [next(batches).poses.frame_idx]
        ahead = threads._ranges[1].channel
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # until the range ahead waits for room, or is done
            with ahead._ready:
                items = list(ahead._items)
            if ahead.waiting or any(isinstance(m, RangeDone) for m, _ in items):
                break
            time.sleep(0.2)
        assert not any(isinstance(m, RangeDone) for m, _ in items), "the whole range was held"
        last = items[-1][1]
        assert bound <= ahead.bytes < bound + last, (ahead.bytes, bound, last, len(items))
        frames += [item.poses.frame_idx for item in batches]
    np.testing.assert_array_equal(np.concatenate(frames), np.arange(100))

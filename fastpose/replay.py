"""Batches of poses already tracked, handed on again with what the sinks' frame hooks make of
their frames (decoded again only if a sink has a hook, e.g. the recording's JPEG frames), without
inference: an interrupted run's journaled batches (fastpose.resume), and the batches a resumed
tracker's outlier filter held back (fastpose.tracker)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np

from fastpose.core import FrameHook, Inferred
from fastpose.poses import PoseBatch
from fastpose.video import FrameBatch, VideoSource


def replayed(
    batches: Iterable[PoseBatch],
    hooks: Mapping[str, FrameHook],
    open_frames: Callable[[], VideoSource],
) -> Iterator[Inferred]:
    """``batches`` as :class:`Inferred`, each hook run on its frames (``open_frames()``: the
    video's frames from the first, at the size the hooks see when tracking)."""
    if not hooks:
        yield from (Inferred(poses) for poses in batches)
        return
    with open_frames() as source:
        held: list[FrameBatch] = []
        decoded = iter(source)
        for poses in batches:
            if len(poses) == 0:  # no frame: nothing for the hooks
                yield Inferred(poses)
                continue
            last = int(poses.frame_idx[-1])
            while not held or int(held[-1].frame_idx[-1]) < last:
                more = next(decoded, None)
                if more is None:
                    break
                held.append(more)
            frames = _select(held, poses.frame_idx)
            held = [f for f in held if int(f.frame_idx[-1]) > last]
            extras = {name: hook(frames, poses) for name, hook in hooks.items()}
            yield Inferred(poses, extras)


def _select(held: list[FrameBatch], wanted: np.ndarray) -> FrameBatch:
    """The frames ``wanted`` (indices) among ``held``."""
    idx = np.concatenate([f.frame_idx for f in held]) if held else np.empty(0, np.int64)
    where = np.searchsorted(idx, wanted)
    if len(idx) == 0 or where.max() >= len(idx) or not np.array_equal(idx[where], wanted):
        raise ValueError(
            f"replay: expected frames {int(wanted[0])}-{int(wanted[-1])} to decode again, "
            "got fewer (the video changed?)"
        )
    times = np.concatenate([f.time_s for f in held])[where]
    pts = np.concatenate([f.pts_s for f in held])[where]
    images = np.ascontiguousarray(np.concatenate([f.images for f in held])[where])
    return FrameBatch(np.asarray(wanted, np.int64), times, pts, images)

"""decord as a fallback decoder (it reads ahead without bound, so PyAV comes first)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fastpose.video.readers import Batches
from fastpose.video.timeline import upright

#: decord's decoding threads: its automatic count (0) fails on VP9 ("Error sending packet"). Two
#: threads decode reduced sizes ~35% faster than one, but with 1080p output glibc keeps the
#: buffers freed by the second thread (RSS grew by 4 GB over 6,400 frames): large frames use one.
DECORD_THREADS = 2
DECORD_THREADS_LARGE = 1
LARGE_FRAME_PIXELS = 1280 * 720


class DecordReader:
    """Batched, seekable decode with decord; it scales to ``size`` and applies the rotation."""

    def __init__(self, path: Path, size: tuple[int, int], scale: bool, rotation: int) -> None:
        import decord

        w, h = size if scale else (-1, -1)
        large = size[0] * size[1] > LARGE_FRAME_PIXELS
        threads = DECORD_THREADS_LARGE if large else DECORD_THREADS
        self._error = decord.DECORDError
        self._vr = decord.VideoReader(str(path), width=w, height=h, num_threads=threads)
        self._size = size
        self._rotation = rotation
        self.errors = 0
        self.last_error: str | None = None
        self.reached = 0

    def __len__(self) -> int:
        return len(self._vr)

    def check(self) -> None:
        """Decode the first frame: decord opens some inputs it cannot decode (widths 16-72)."""
        if not len(self._vr):
            raise ValueError("no frames")
        self._get([0])

    def timestamps(self) -> NDArray[np.float64]:
        """decord's start time of every frame (float32 seconds inside decord: a fallback only)."""
        n = len(self._vr)
        return self._vr.get_frame_timestamp(range(n))[:, 0].astype(np.float64) if n else np.empty(0)

    def batches(self, start: int, stop: int | None, size: int) -> Batches:
        stop = len(self._vr) if stop is None else min(stop, len(self._vr))
        for first in range(start, stop, size):
            idx = np.arange(first, min(first + size, stop), dtype=np.int64)
            idx, images = self._read(idx)
            self.reached = min(first + size, stop)
            if len(idx):
                yield idx, self._upright(images), None

    def _read(self, idx: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        try:
            return idx, self._get(idx.tolist())
        except self._error:
            pass
        kept, images = [], []
        for i in idx.tolist():  # isolate the bad frames
            try:
                images.append(self._get([i])[0])
                kept.append(i)
            except self._error as err:
                self.errors += 1
                self.last_error = f"frame {i}: {decord_message(err)}"
        if not images:
            return np.empty(0, np.int64), np.empty((0, 1, 1, 3), np.uint8)
        return np.array(kept, dtype=np.int64), np.stack(images)

    def _get(self, indices: list[int]) -> NDArray[np.uint8]:
        batch = self._vr.get_batch(indices)
        images = batch.asnumpy()
        del batch  # decord's own buffer: let it go before the next batch
        return images

    def _upright(self, images: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """decord 0.6 applies the display matrix itself; turn the frames only if it did not."""
        w, h = self._size
        if w != h and images.shape[1:3] == (w, h):  # still in the coded orientation
            return upright(images, self._rotation)
        return images

    def close(self) -> None:
        self._vr = None


def decord_message(err: BaseException) -> str:
    """decord's multi-line native error as one line, without its log prefixes."""
    text = " ".join(str(err).split("Stack trace")[0].split())
    return re.sub(r"\[[\d:]+\] \S+:\d+: ", "", text)[:200] or type(err).__name__

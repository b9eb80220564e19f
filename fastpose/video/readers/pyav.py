"""Sequential decode with PyAV, the first decoder for files.

Frames are indexed by their presentation time in the layout's table of presented frames, so
frames an edit list hides never get an index. A range that starts mid-file seeks to the key frame
before its start and checks where the seek landed: without an index (MPEG-TS), FFmpeg's seek may
land past that key frame and the decoder then starts 30-80 frames late; the reader seeks further
back and retries, and as a last resort decodes from the file's start. A raw stream (no times) is
read from its start and its frames counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter
from numpy.typing import NDArray

from fastpose.errors import one_line
from fastpose.video.probe import VideoLayout
from fastpose.video.readers import Batches
from fastpose.video.timeline import swap_size, upright

logger = logging.getLogger(__name__)

#: How far before the start's key frame each seek aims, in seconds; then the file's start.
SEEK_BACKOFF_S = (0.0, 0.25, 1.0, 4.0, 16.0)
#: FFmpeg's decoder options that trade picture quality for speed (see :func:`decoder_options`).
#: Measured 2026-11-29 on the 2-core VM, pose2sim_single_cam01 looped to 600 1080x1920 H.264
#: frames, one decoding thread, CPU per frame: decode alone 3.4-3.5 -> 2.6 ms; decode + scale to
#: 360x640 RGB 5.2 -> 4.6 ms (median of 3). MediaPipe's squat references at 640: max error
#: 22.5 -> 21.6 px, median 4.36 -> 4.37 (limit 31). But the rotated-clip agreement test
#: (tests/test_robustness.py, 90 degrees) moved from max 8.9 to 21.5 px (limit 15, one landmark;
#: medians 2.08 -> 2.10): so it is not the default.
FAST_DECODER_OPTIONS = {"skip_loop_filter": "all"}


def decoder_options(fast: bool) -> dict[str, str]:
    """FFmpeg decoder options: ``fast`` skips H.264/HEVC deblocking, for frames downscaled for
    inference, where it hardly shows."""
    return dict(FAST_DECODER_OPTIONS) if fast else {}


class PyAVReader:
    """Sequential decode with PyAV over the layout's presented frames."""

    def __init__(
        self,
        path: Path,
        layout: VideoLayout,
        size: tuple[int, int],
        scale: bool,
        threads: int,
        options: dict[str, str] | None = None,
    ) -> None:
        self._path = path
        self._threads = threads
        self._options = options or {}
        self._ticks = layout.ticks
        self._key_frames = layout.key_frames
        self._rotation = layout.rotation
        self._coded = swap_size(size, layout.rotation) if scale else None
        self._reformatter = VideoReformatter()  # one per reader: it caches the scaler
        self._demuxed = False
        self.errors = 0
        self.last_error: str | None = None
        self.reached = 0
        self._open()

    def _open(self) -> None:
        self._container = av.open(str(self._path))
        self._stream = self._container.streams.video[0]
        if self._threads == 1:  # one of several workers: no frame threads, ~50 MB less a process
            self._stream.thread_type = "NONE"
        else:
            self._stream.thread_type = "AUTO"
            self._stream.codec_context.thread_count = self._threads
        if self._options:
            self._stream.codec_context.options = dict(self._options)
        self._demuxed = False

    def _reopen(self) -> None:
        self._container.close()
        self._open()

    def batches(self, start: int, stop: int | None, size: int) -> Batches:
        idx: list[int] = []
        images: list[NDArray[np.uint8]] = []
        for i, image in self._frames(start):
            if stop is not None and i >= stop:
                break
            idx.append(i)
            images.append(image)
            self.reached = i + 1
            if len(idx) == size:
                yield np.array(idx, np.int64), upright(np.stack(images), self._rotation), None
                idx, images = [], []
        if idx:
            yield np.array(idx, np.int64), upright(np.stack(images), self._rotation), None

    def _frames(self, start: int) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        if len(self._ticks) and start >= len(self._ticks):
            return  # past the last frame
        if not len(self._ticks):  # a raw stream: no times to seek by; count from the start
            if self._demuxed:
                self._reopen()
            yield from self._decoded(start)
            return
        if start == 0 and not self._demuxed:
            yield from self._decoded(start)
            return
        keys = self._key_frames[self._key_frames <= start]
        key = int(keys[-1]) if len(keys) else start
        base = float(self._stream.time_base)
        for back in SEEK_BACKOFF_S:
            target = int(self._ticks[key]) - round(back / base)
            self._container.seek(target, backward=True, any_frame=False, stream=self._stream)
            frames = self._decoded(None, late_after=int(self._ticks[start]))
            first = next(frames, None)
            if first is not None and first[0] <= start:  # landed on time
                if first[0] == start:
                    yield first
                yield from (f for f in frames if f[0] >= start)
                return
            frames.close()
            landed = "past its key frame" if first is None else f"at frame {first[0]}"
            logger.debug("%s: a seek to frame %d landed %s", self._path, start, landed)
        self._reopen()  # the file's start is always on time
        yield from self._decoded(start)

    def _decoded(
        self, start: int | None, late_after: int | None = None
    ) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        """(index, RGB) of every frame decoded from here; before ``start`` (if given) only
        counted. Without ``start``, the first frame is returned whatever its index.

        ``late_after`` (ticks): stop before the first frame if the first key frame demuxed is
        presented after it: the decoder would start there, so a seek landed too late.
        """
        stream = self._stream
        waiting = late_after is not None
        self._demuxed = True
        last: int | None = None  # None: the next frame's index comes from its time
        counted = not len(self._ticks)
        if counted:
            last = -1
        for packet in self._container.demux(stream):
            if waiting and packet.is_keyframe:
                if packet.pts is not None and packet.pts > late_after:
                    return
                waiting = False
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as err:
                self.errors += 1
                self.last_error = one_line(err)
                if not counted:
                    last = None  # frames may be lost: find the place again by time
                continue
            for frame in frames:
                last = self._index(frame.pts, last)
                if last < 0:
                    last = None
                    continue  # a frame before the first presented one
                if start is None or last >= start:
                    yield last, self._array(frame)

    def _index(self, pts: int | None, last: int | None) -> int:
        """The index of the frame after ``last``; where the count is lost (at the start, after a
        seek or a decoding error), the index of the frame presented at ``pts`` (ticks), the first
        of equal ones; -1 for a frame before the first presented one.

        Frames come out in display order, and times that repeat or go backwards make a lookup
        ambiguous: it is done only where the count is lost.
        """
        if last is not None:
            return last + 1
        ticks = self._ticks
        if pts is None or not len(ticks):
            return 0
        return -1 if pts < ticks[0] else int(np.searchsorted(ticks, pts))

    def _array(self, frame: av.VideoFrame) -> NDArray[np.uint8]:
        w, h = self._coded if self._coded is not None else (None, None)
        rgb = self._reformatter.reformat(
            frame, width=w, height=h, format="rgb24", interpolation=Interpolation.AREA
        )
        return rgb.to_ndarray()

    def close(self) -> None:
        self._container.close()

"""The source's frames at their own size, upright, as 4:2:0 planes ready to draw on and encode.

The landmarkers decode frames scaled down for inference; a rendered video needs them at the
source's size, so it decodes the file once more, in order, from its first frame. Frames stay in
the decoder's YUV (no RGB conversion, see fastpose.render.draw) and are indexed as
fastpose.video's PyAV reader indexes them, so frame ``i`` here is frame ``i`` of the poses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange
from numpy.typing import NDArray

from fastpose.closing import Closing
from fastpose.errors import one_line
from fastpose.video.probe import VideoLayout
from fastpose.video.timeline import FALLBACK_FPS, turns

logger = logging.getLogger(__name__)

#: What the rendered video is encoded from: every player plays 4:2:0 8-bit.
PIXEL_FORMAT = "yuv420p"
#: OpenCV's quarter turns, counter-clockwise as np.rot90 (fastpose.video.timeline.upright).
_ROTATE = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def planes(frame: av.VideoFrame) -> tuple[NDArray[np.uint8], ...]:
    """Writable views of a planar 8-bit frame's planes, without their row padding."""
    views = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        views.append(rows[: plane.height, : plane.width])
    return tuple(views)


@dataclass(frozen=True)
class Timing:
    """How output frames are timed: ``pts`` ticks of ``time_base`` from the first frame."""

    time_base: Fraction
    rate: Fraction  # nominal frames/s


class NativeFrames(Closing):
    """Decodes ``path`` in order: (index, upright yuv420p frame with ``pts`` from 0).

    Frames are counted as FFmpeg presents them (an edit list's hidden frames are dropped by the
    decoder), as fastpose.video counts them. Given the source's ``layout`` (the tracker's), a
    frame after a decoding error gets its index from its time, as the tracker's reader does;
    without it, the count goes on. ``rotation`` (counter-clockwise, as VideoInfo's) turns frames
    upright. :attr:`size` is the upright (width, height), made even if it is odd (4:2:0 H.264
    needs even sizes; the last column or row is dropped). ``stop`` ends before that index.
    Frames keep the source's times; a raw stream's (timeless in the layout: FFmpeg's times for it
    are made up) are ``index / fps``, ``fps`` being the run's rate (VideoInfo.fps).
    """

    def __init__(
        self,
        path: Path,
        rotation: int,
        stop: int | None = None,
        layout: VideoLayout | None = None,
        fps: float | None = None,
        threads: int = 1,
    ) -> None:
        self._ticks = layout.ticks if layout is not None else np.empty(0, np.int64)
        self._timeless = layout is not None and layout.timeless
        self._stop = stop
        self._turns = turns(rotation)
        self.errors = 0
        self._container = av.open(str(path))
        try:
            stream = self._container.streams.video[0]
        except IndexError:
            self._container.close()
            raise ValueError(f"{path}: no video stream") from None
        stream.thread_type = "NONE" if threads == 1 else "AUTO"
        if threads > 1:
            stream.codec_context.thread_count = threads
        self._stream = stream
        w, h = stream.codec_context.width, stream.codec_context.height
        if self._turns % 2:
            w, h = h, w
        self.size = (w - w % 2, h - h % 2)
        if fps:
            rate = Fraction(fps).limit_denominator(1001 * 1000)
        else:
            rate = Fraction(stream.average_rate or stream.guessed_rate or FALLBACK_FPS)
        if self._timeless or not stream.time_base:
            self.timing = Timing(1 / rate, rate)
        else:
            self.timing = Timing(stream.time_base, rate)

    @property
    def codec_context(self) -> av.VideoCodecContext:
        """The decoder's context (colour tags)."""
        return self._stream.codec_context

    def __iter__(self) -> Iterator[tuple[int, int, av.VideoFrame]]:
        """(index, pts in :attr:`timing` from the first frame, decoded frame): the frame is the
        decoder's (it may still reference it): copy it out with :meth:`upright_into`."""
        last = None if len(self._ticks) else -1  # None: find the index by time
        first_pts: int | None = None
        previous = -1
        stream = self._stream
        for packet in self._container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as err:
                self.errors += 1
                logger.debug("a frame failed to decode for the rendered video: %s", one_line(err))
                if len(self._ticks):
                    last = None
                continue
            for frame in frames:
                index = self._index(frame.pts, last)
                if index < 0:  # before the first presented frame
                    continue
                last = index
                if self._stop is not None and index >= self._stop:
                    return
                if first_pts is None and frame.pts is not None:
                    first_pts = int(self._ticks[0]) if len(self._ticks) else frame.pts
                previous = max(self._pts(frame.pts, first_pts, index), previous + 1)
                yield index, previous, frame

    def _index(self, pts: int | None, last: int | None) -> int:
        if last is not None:
            return last + 1
        if pts is None:
            return 0
        ticks = self._ticks
        return -1 if pts < ticks[0] else int(np.searchsorted(ticks, pts))

    def _pts(self, pts: int | None, first: int | None, index: int) -> int:
        """Ticks from the first frame: the source's time, or (a raw stream) index / rate."""
        if pts is not None and first is not None and not self._timeless:
            return pts - first
        return round(index / self.timing.rate / self.timing.time_base)

    def upright_into(self, frame: av.VideoFrame, out: av.VideoFrame) -> None:
        """Copies a decoded ``frame`` into ``out`` (yuv420p, :attr:`size`): converted to 4:2:0
        8-bit limited range where it is not, turned upright, cropped to an even size.

        ``out`` comes from a pool that is reused (fastpose.render.encoder): a fresh frame per
        picture would cost its page faults, ~3 ms at 1080p (``make_writable``, measured)."""
        if frame.format.name != PIXEL_FORMAT:
            frame = frame.reformat(format=PIXEL_FORMAT, dst_color_range=ColorRange.MPEG)
        rotate = _ROTATE.get(self._turns)
        for s, d in zip(planes(frame), planes(out), strict=True):
            if rotate is None:
                np.copyto(d, s[: d.shape[0], : d.shape[1]])
            elif (s.shape[1], s.shape[0]) == d.shape or (
                rotate == cv2.ROTATE_180 and s.shape == d.shape
            ):
                cv2.rotate(s, rotate, dst=d)  # in place, no temporary
            else:  # odd: turn, then crop
                d[:] = cv2.rotate(s, rotate)[: d.shape[0], : d.shape[1]]

    def close(self) -> None:
        self._container.close()

"""Sequential decode with PyAV, the first decoder for files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter
from numpy.typing import NDArray

from fastpose.video.probe import Probe, one_line
from fastpose.video.readers import Batches
from fastpose.video.timeline import swap_size, upright


class PyAVReader:
    """Sequential decode with PyAV; frames are indexed by their presentation time."""

    def __init__(
        self, path: Path, probe: Probe, size: tuple[int, int], scale: bool, threads: int
    ) -> None:
        self._container = av.open(str(path))
        self._stream = self._container.streams.video[0]
        if threads == 1:  # one of several workers: no frame threads, ~50 MB less a process
            self._stream.thread_type = "NONE"
        else:
            self._stream.thread_type = "AUTO"
            self._stream.codec_context.thread_count = threads
        self._pts = probe.pts
        self._rotation = probe.rotation
        self._coded = swap_size(size, probe.rotation) if scale else None
        self._reformatter = VideoReformatter()  # one per reader: it caches the scaler
        self._demuxed = False
        self.errors = 0
        self.last_error: str | None = None
        self.reached = 0

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
        stream = self._stream
        if (start > 0 or self._demuxed) and start < len(self._pts):  # a second pass starts over too
            target = round(self._pts[start] / float(stream.time_base))
            self._container.seek(target, backward=True, any_frame=False, stream=stream)
        self._demuxed = True
        last: int | None = None  # None: the next frame's index comes from its time
        for packet in self._container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as err:
                self.errors += 1
                self.last_error = one_line(err)
                last = None  # frames may be lost: find the place again by time
                continue
            for frame in frames:
                last = self._index(frame) if last is None else last + 1
                if last >= start:
                    yield last, self._array(frame)

    def _index(self, frame: av.VideoFrame) -> int:
        """The index of the frame whose presentation time this is (the first of equal ones).

        Only where the count is lost (at the start, after a seek or a decoding error): frames
        come out in display order, and times that repeat or go backwards make a lookup ambiguous.
        """
        if frame.pts is None or not len(self._pts):
            return 0
        return int(np.searchsorted(self._pts, frame.pts * float(self._stream.time_base) - 1e-9))

    def _array(self, frame: av.VideoFrame) -> NDArray[np.uint8]:
        w, h = self._coded if self._coded is not None else (None, None)
        rgb = self._reformatter.reformat(
            frame, width=w, height=h, format="rgb24", interpolation=Interpolation.AREA
        )
        return rgb.to_ndarray()

    def close(self) -> None:
        self._container.close()

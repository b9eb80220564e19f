"""An H.264 MP4 writer in a thread of its own, fed from a bounded pool of frames.

PyAV's wheels ship libx264, so no system FFmpeg is needed. The MP4 is fragmented
(``frag_keyframe+empty_moov``, fragments at most :data:`FRAGMENT_S` long): a file cut short
by a kill, a crash or a full disk still plays up to its last whole fragment, and a file closed
early (``close``) plays to its last frame. Measured 2026-12-06 on the 2-core VM (200 frames of
pose2sim_single_cam01 at 1080x1920): fragmenting costs no measurable time (8.4 vs 9.0 ms of CPU a
frame, noise) and no size (13.9 kB a frame both). Its cost is elsewhere: the header holds no
frame count (readers count the frames; the duration is there).

Presets, same clip and day, CPU per frame (one encoder thread) and size: ``ultrafast`` 8.6 ms,
13.9 kB; ``superfast`` 12.8 ms, 8.1 kB; ``veryfast`` 22 ms, 4.4 kB. A rendered video is for
looking at, its budget is a fraction of the tracking's CPU (~30 ms a frame at 1080p): so
``ultrafast``, at CRF 23 (the quality x264 aims at stays the preset's), in files ~1.7x
``superfast``'s (6.7 Mbit/s here). x264's own
threads cost CPU for nothing where the cores are already busy (one thread 8.6 ms a frame, its
default 11.4 ms): one thread per 4 cores, at least one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import av

from fastpose.closing import Closing
from fastpose.cores import default_workers
from fastpose.errors import OutputError, one_line

logger = logging.getLogger(__name__)

PRESET = "ultrafast"
CRF = 23
#: Longest stretch (seconds) a killed run may lose from the end of its file.
FRAGMENT_S = 1.0
#: Frames the encoder's pool holds (filled, queued or being encoded): 8 of 1080p are 25 MB.
POOL_FRAMES = 8
_END = object()


class EncodeError(OutputError):
    """The rendered video cannot be encoded or written."""


def codec_threads() -> int:
    """Threads for each of the rendered video's decoder and encoder: one per 4 cores. Where the
    cores are busy with landmarkers, a codec's own threads only add CPU (see above); on many
    cores the tracker runs fast enough that one thread each would hold it back."""
    return max(1, default_workers() // 4)


class H264Writer(Closing):
    """Encodes yuv420p frames (``pts`` in ``time_base``) to an MP4 at ``path``, in a thread.

    Frames come from the writer's pool of ``pool`` frames: :meth:`frame` hands out a free one
    (blocking while all are queued: a slow encoder slows its producer instead of filling memory),
    the producer fills it and passes it to :meth:`write`, and the frame returns to the pool once
    encoded (x264 copies what it is given). Both raise :class:`EncodeError` once the thread has
    failed. :meth:`close` encodes what is queued, flushes the encoder and finishes the file.
    ``metadata``: the file's tags (any key: ``use_metadata_tags``).
    """

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        time_base: Fraction,
        rate: Fraction,
        *,
        preset: str = PRESET,
        crf: int = CRF,
        threads: int | None = None,
        colorspace: int | None = None,
        color_range: int | None = None,
        pool: int = POOL_FRAMES,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.frames = 0  # frames encoded
        self._error: BaseException | None = None
        self._queue: queue.Queue[object] = queue.Queue()  # bounded by the pool
        self._free: queue.Queue[av.VideoFrame] = queue.Queue()
        for _ in range(pool):
            blank = av.VideoFrame(size[0], size[1], "yuv420p")
            if colorspace is not None:
                blank.colorspace = colorspace
            if color_range is not None:
                blank.color_range = color_range
            blank.time_base = time_base
            self._free.put(blank)
        fragment_us = str(round(FRAGMENT_S * 1_000_000))
        self._container: av.container.OutputContainer | None = None
        try:
            self._container = av.open(
                str(path),
                "w",
                format="mp4",
                options={
                    "movflags": "frag_keyframe+empty_moov+default_base_moof+use_metadata_tags",
                    "frag_duration": fragment_us,
                },
            )
            self._container.metadata.update(metadata or {})
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
            stream.codec_context.thread_count = threads or codec_threads()
            stream.codec_context.options = {"preset": preset, "crf": str(crf)}
            if colorspace is not None:
                stream.codec_context.colorspace = colorspace
            if color_range is not None:
                stream.codec_context.color_range = color_range
            stream.codec_context.open()
            self._container.start_encoding()  # the file and its header now: errors surface here
        except (av.error.FFmpegError, OSError, ValueError) as err:
            if self._container is not None:
                self._container.close()
            raise EncodeError(f"{path}: cannot write the video ({one_line(err)})") from err
        self._stream = stream
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="render-encode", daemon=True)
        self._thread.start()

    def frame(self) -> av.VideoFrame:
        """A free frame of the pool to fill (its pixels are a previous picture's)."""
        while True:
            self._check()
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                if not self._thread.is_alive():
                    self._check()
                    raise EncodeError(f"{self.path}: the encoder stopped") from None

    def write(self, frame: av.VideoFrame) -> None:
        """Queues ``frame`` (from :meth:`frame`, ``pts`` set) for encoding."""
        self._check()
        self._queue.put(frame)

    def _check(self) -> None:
        if self._error is not None:
            raise EncodeError(f"{self.path}: {one_line(self._error)}") from self._error

    def _run(self) -> None:
        while (frame := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._container.mux(self._stream.encode(frame))
                    self.frames += 1
                except BaseException as err:  # handed to the producer, which raises it
                    self._error = err
            self._free.put(frame)

    def close(self) -> None:
        """Encodes the queued frames, flushes the encoder and writes the file's end. Idempotent.
        Raises :class:`EncodeError` if encoding failed."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_END)
        self._thread.join()
        try:
            if self._error is None:
                self._container.mux(self._stream.encode(None))
        except av.error.FFmpegError as err:
            self._error = err
        finally:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as err:
                self._error = self._error or err
        if self._error is not None:
            raise EncodeError(f"{self.path}: {one_line(self._error)}") from self._error

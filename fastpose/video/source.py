"""The video source: opens a file, image, camera or stream once and yields upright RGB frames.

A :class:`VideoSource` probes its input once with PyAV (its :class:`VideoLayout`: codec, container,
rotation, the presentation time of every presented frame, the key frames), then decodes upright RGB
frames at the requested size in batches, one batch ahead in a background thread. The frame timeline
is computed once for the whole video and starts at 0 with the first presented frame, so a worker
reading frames ``[start, stop)`` sees exactly the times of the whole-video read; given its parent's
layout, such a worker reads nothing before decoding.

PyAV comes before decord because decord (0.6, and decord2 3.4) keeps decoding ahead of a slower
reader without bound: +0.2 MB a frame at 640x360, gigabytes over a long video. PyAV decodes only
what is asked for, and is also faster here (benchmarks/results.md: "b decode" rows).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from fastpose.closing import Closing
from fastpose.errors import InputNotFoundError, InvalidVideoError, one_line
from fastpose.video.info import FrameBatch, VideoInfo
from fastpose.video.prefetch import Prefetch
from fastpose.video.probe import VideoLayout, mp4_hint, probe_file, same_file
from fastpose.video.readers import Reader
from fastpose.video.readers.decord import DecordReader, decord_message
from fastpose.video.readers.pyav import PyAVReader, decoder_options
from fastpose.video.timeline import FALLBACK_FPS, repair_times, scaled_size, swap_size

logger = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
#: File decoders in the order tried (see the module's docstring for why PyAV comes first).
DECODERS = ("pyav", "decord", "opencv")


def _camera_index(uri: str | int | os.PathLike) -> int | None:
    if isinstance(uri, int):
        return uri
    return int(uri) if isinstance(uri, str) and uri.isdigit() else None


def _is_url(uri: str | int | os.PathLike) -> bool:
    if not isinstance(uri, str):
        return False
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


_NOT_REGULAR = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _check_regular_file(path: Path, uri: str) -> None:
    """A regular, non-empty file (symbolic links followed), or one line saying what it is: the
    whole file is read before decoding, so a pipe or a device can't be an input."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidVideoError(f"{uri}: a symbolic link loop, not a video or image") from None
        if path.is_symlink():
            target = os.readlink(path)
            raise InputNotFoundError(f"{uri}: no such file (a symbolic link to {target})") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise InputNotFoundError(f"{uri}: no such file") from None
        raise InvalidVideoError(f"{uri}: cannot read it ({one_line(exc)})") from None
    if stat.S_ISDIR(mode):
        raise InvalidVideoError(f"{uri}: is a directory, not a video or image")
    if not stat.S_ISREG(mode):
        what = _NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")
        raise InvalidVideoError(
            f"{uri}: not a regular file ({what}); save the stream to a file first"
        )
    if path.stat().st_size == 0:
        raise InvalidVideoError(f"{uri}: empty file (0 bytes)")


def _check_args(
    fps: float | None,
    max_frames: int | None,
    inference_size: int,
    batch_size: int,
    start: int,
    stop: int | None,
) -> None:
    checks = [
        (fps is None or fps > 0, "fps > 0", fps),
        (max_frames is None or max_frames >= 0, "max_frames >= 0", max_frames),
        (inference_size >= 0, "inference_size >= 0", inference_size),
        (batch_size >= 1, "batch_size >= 1", batch_size),
        (start >= 0, "start >= 0", start),
        (stop is None or stop >= start, f"stop >= start ({start})", stop),
    ]
    for ok, expected, got in checks:
        if not ok:
            raise ValueError(f"VideoSource: expected {expected}, got {got}")


class _CannotDecode(Exception):
    """A decoder's reason for not taking a file; the next one is tried."""


class VideoSource(Closing):
    """Upright RGB frames of a video file, image, camera or stream, in :class:`FrameBatch` es.

    Opens and validates the input on construction; use it as a context manager or call
    :meth:`close`. ``start``/``stop`` select frames ``[start, stop)``; ``max_frames`` keeps only the
    video's first ``max_frames`` frames. ``inference_size > 0`` decodes at a reduced size whose long
    side is ``inference_size`` (aspect kept). A frame that fails to decode is skipped and counted.
    ``decoder`` picks a file decoder (``pyav``, ``decord``, ``opencv``) instead of the first that
    works; ``threads`` caps PyAV's decoding threads (0: FFmpeg's choice). ``layout`` is the
    :attr:`layout` of a source already opened on the same file (a parent reading the whole video):
    given, the file is not probed again. ``skip_loop_filter`` skips H.264/HEVC deblocking when
    frames are decoded downscaled (where it hardly shows): less decoding work, off by default
    (measured in :mod:`fastpose.video.readers.pyav`).

    Frames are those FFmpeg presents: an edit list's hidden frames are neither counted nor
    yielded, and a raw stream without timestamps has frame ``i`` at ``i / fps``.
    """

    def __init__(
        self,
        uri: str | int | os.PathLike,
        *,
        fps: float | None = None,
        max_frames: int | None = None,
        inference_size: int = 0,
        batch_size: int = 16,
        start: int = 0,
        stop: int | None = None,
        decoder: str = "auto",
        threads: int = 0,
        layout: VideoLayout | None = None,
        skip_loop_filter: bool = False,
    ) -> None:
        _check_args(fps, max_frames, inference_size, batch_size, start, stop)
        if decoder not in ("auto", *DECODERS):
            raise ValueError(
                f"VideoSource: expected decoder in auto, {', '.join(DECODERS)}; got {decoder}"
            )
        self._decoder = decoder
        self._threads = threads
        self._skip_loop_filter = skip_loop_filter
        camera = _camera_index(uri)
        self._name = f"camera {camera}" if camera is not None else str(uri)
        self._fps = fps
        self._inference_size = inference_size
        self._batch_size = batch_size
        self._start = start
        if max_frames is not None:
            stop = max_frames if stop is None else min(stop, max_frames)
        self._stop = stop
        self.frames_read = 0
        self.decode_errors = 0
        self.ended_early = False
        self._image: NDArray[np.uint8] | None = None
        self._reader: Reader | None = None
        self._prefetch: Prefetch | None = None
        self._pts = np.empty(0)
        self.key_frames = np.empty(0, np.int64)  # indices of the key frames, where known
        #: What the file holds, as probed (or handed over); None for live input and images
        #: PyAV does not open.
        self.layout: VideoLayout | None = None
        self._expected = 0  # frames a complete read yields; 0 for live input
        if camera is not None or _is_url(uri):
            if layout is not None:
                raise ValueError(f"VideoSource: expected no layout for live input, got {layout}")
            self._open_live(camera if camera is not None else str(uri), str(uri))
        else:
            self._open_file(Path(uri), str(uri), layout)

    # -- opening --

    def _open_file(self, path: Path, uri: str, layout: VideoLayout | None) -> None:
        _check_regular_file(path, uri)
        handed = layout is not None
        if layout is not None and (why := same_file(layout, path)) is not None:
            raise ValueError(f"VideoSource: expected a layout of {uri}: {why}")
        probe = layout if layout is not None else probe_file(path, uri)
        self.layout = probe
        if probe is None or probe.is_image:
            import cv2  # OpenCV loads only for images, cameras and streams, not the PyAV path

            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # applies the EXIF orientation
            if bgr is not None:
                self._open_image(bgr, uri, probe)
                return
            if probe is not None:
                raise InvalidVideoError(
                    f"{uri}: not a video or image (unreadable {probe.codec} image)"
                )
        if probe is None:
            raise InvalidVideoError(
                f"{uri}: {mp4_hint(path) or 'not a video or image (unknown format)'}"
            )
        self._open_video(path, uri, probe, handed)

    def _open_image(self, bgr: NDArray[np.uint8], uri: str, probe: VideoLayout | None) -> None:
        import cv2  # as above

        h, w = bgr.shape[:2]
        self.decode_size = scaled_size(w, h, self._inference_size)
        if self.decode_size != (w, h):
            bgr = cv2.resize(bgr, self.decode_size, interpolation=cv2.INTER_AREA)
        self._image = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None])
        self.frame_times = self._pts = np.zeros(1)
        self._expected = 1
        codec, container = (probe.codec, probe.container) if probe is not None else (None, None)
        n = self._range_length(1)
        self.info = VideoInfo(uri, w, h, 0.0, n, codec, container, 0, True, "image")

    def _open_video(self, path: Path, uri: str, probe: VideoLayout, handed: bool) -> None:
        upright = swap_size(probe.coded_size, probe.rotation)
        self.decode_size = scaled_size(*upright, self._inference_size)
        self._pts = probe.pts
        self.key_frames = probe.key_frames
        self._expected = probe.expected_frames
        if max(probe.frames, probe.announced) == 0:
            raise InvalidVideoError(f"{uri}: no frames (the video stream is empty)")
        reader, backend, count = self._open_backend(path, uri, probe, self.decode_size != upright)
        self._reader = reader
        if backend != "pyav":  # another decoder's count and times (it may not honour edit lists)
            self._expected = max(self._expected, count)
            if len(self._pts) != count:
                self._pts = reader.timestamps() if isinstance(reader, DecordReader) else np.empty(0)
        self.frame_times = self._timeline(count, probe, warn=not handed)
        self.info = VideoInfo(
            uri=uri,
            width=upright[0],
            height=upright[1],
            fps=float(self._fps or probe.fps or FALLBACK_FPS),
            num_frames=self._range_length(count),
            codec=probe.codec,
            container=probe.container,
            rotation=probe.rotation,
            is_image=False,
            backend=backend,
        )

    def _open_backend(
        self, path: Path, uri: str, probe: VideoLayout, scale: bool
    ) -> tuple[Reader, str, int]:
        """The first decoder (by ``decoder``) that opens ``path``: (reader, backend, frames)."""
        openers = {"pyav": self._open_pyav, "decord": self._open_decord, "opencv": self._open_cv}
        order = DECODERS if self._decoder == "auto" else (self._decoder,)
        failures: list[str] = []
        for name in order:
            try:
                reader, count = openers[name](path, uri, probe, scale)
                return reader, name, count
            except _CannotDecode as err:
                failures.append(f"{name}: {err}")
        raise InvalidVideoError(f"{uri}: cannot be decoded ({'; '.join(failures)})")

    def _open_pyav(
        self, path: Path, uri: str, probe: VideoLayout, scale: bool
    ) -> tuple[Reader, int]:
        if not (len(probe.ticks) or probe.timeless):
            raise _CannotDecode("no frame times")
        if not probe.decodable:
            raise _CannotDecode("no frame decoded")
        skip = scale and self._skip_loop_filter
        try:
            reader = PyAVReader(
                path, probe, self.decode_size, scale, self._threads, decoder_options(skip)
            )
            return reader, probe.frames
        except av.error.FFmpegError as err:
            raise _CannotDecode(one_line(err)) from err

    def _open_decord(
        self, path: Path, uri: str, probe: VideoLayout, scale: bool
    ) -> tuple[Reader, int]:
        try:
            reader = DecordReader(path, self.decode_size, scale, probe.rotation)
            reader.check()
        except Exception as err:  # decord raises DECORDError or RuntimeError with native detail
            raise _CannotDecode(decord_message(err)) from err
        return reader, len(reader)

    def _open_cv(self, path: Path, uri: str, probe: VideoLayout, scale: bool) -> tuple[Reader, int]:
        from fastpose.video.readers.opencv import OpenCVReader  # OpenCV (~45 ms): only here

        try:
            reader = OpenCVReader(str(path), uri)
        except InvalidVideoError as err:
            raise _CannotDecode("cannot open") from err
        if not reader.frame_count:
            reader.close()
            raise _CannotDecode("no frames")
        reader.rotation = probe.rotation
        reader.coded = swap_size(self.decode_size, probe.rotation) if scale else None
        return reader, reader.frame_count

    def _open_live(self, uri: str | int, given: str) -> None:
        from fastpose.video.readers.opencv import OpenCVReader  # OpenCV (~45 ms): only here

        reader = OpenCVReader(uri, self._name)
        upright = swap_size(reader.coded_size, reader.rotation)
        self.decode_size = scaled_size(*upright, self._inference_size)
        if self.decode_size != upright:
            reader.coded = swap_size(self.decode_size, reader.rotation)
        self._reader = reader
        self._step = 1.0 / (self._fps or reader.fps or FALLBACK_FPS)
        self._clock: tuple[float, float] | None = None  # (stream seconds at frame 0, last time)
        self.frame_times = np.empty(0)
        fps = float(self._fps or reader.fps or FALLBACK_FPS)
        self.info = VideoInfo(
            given,
            upright[0],
            upright[1],
            fps,
            None,
            reader.codec,
            None,
            reader.rotation,
            False,
            "opencv",
        )

    def _timeline(self, count: int, probe: VideoLayout, warn: bool) -> NDArray[np.float64]:
        """Seconds of every frame from the first presented one: the user's rate, else the
        container's times (repaired where they repeat), else (a raw stream) the stream's rate."""
        nominal_fps = probe.fps or FALLBACK_FPS
        if self._fps or not len(self._pts):
            fps = self._fps or nominal_fps
            if warn and probe.timeless:
                logger.warning(
                    "%s: no timestamps in the stream (a raw %s stream?); frames timed at %g "
                    "frames/s%s",
                    self._name,
                    probe.codec or "video",
                    fps,
                    "" if self._fps or probe.fps else " (no rate in the stream: give --fps)",
                )
            return np.arange(count, dtype=np.float64) / fps
        times, repaired = repair_times(self._pts - self._pts[0], nominal_fps)
        if warn and repaired:
            logger.warning(
                "%s: %d frame times repeated or went backwards; repaired", self._name, repaired
            )
        return times

    def _range_length(self, count: int) -> int:
        stop = count if self._stop is None else min(self._stop, count)
        return max(0, stop - self._start)

    # -- reading --

    def __iter__(self) -> Iterator[FrameBatch]:
        if self._image is not None:
            if self._start == 0 and self._stop != 0:
                zero = np.zeros(1)
                yield FrameBatch(np.zeros(1, np.int64), zero, zero.copy(), self._image)
                self.frames_read += 1
            return
        reader = self._reader
        if reader is None:
            raise ValueError(f"{self._name}: the source is closed")
        self._prefetch = Prefetch(reader.batches(self._start, self._stop, self._batch_size))
        try:
            for idx, images, seconds in self._prefetch:
                self._count_errors(reader)
                batch = self._batch(idx, images, seconds)
                del images
                yield batch
                self.frames_read += len(idx)
        finally:
            self._prefetch.close()
        self._count_errors(reader)
        if self._expected:
            wanted = self._expected if self._stop is None else min(self._stop, self._expected)
            self.ended_early = reader.reached < wanted

    def _batch(
        self, idx: NDArray[np.int64], images: NDArray[np.uint8], seconds: NDArray[np.float64] | None
    ) -> FrameBatch:
        if not len(self.frame_times):  # live: times as the stream's clock gives them
            times = self._live_times(seconds if seconds is not None else np.full(len(idx), np.nan))
            return FrameBatch(idx, times, times.copy(), images)
        times = self._lookup(self.frame_times, idx)
        pts = self._lookup(self._pts, idx) if len(self._pts) else times.copy()
        return FrameBatch(idx, times, pts, images)

    def _lookup(self, table: NDArray[np.float64], idx: NDArray[np.int64]) -> NDArray[np.float64]:
        """``table[idx]``, continued at the nominal rate past its end (OpenCV may read further)."""
        n = len(table)
        past = idx - (n - 1)
        step = 1.0 / (self.info.fps or FALLBACK_FPS)
        return np.where(past > 0, table[-1] + past * step, table[np.minimum(idx, n - 1)])

    def _live_times(self, seconds: NDArray[np.float64]) -> NDArray[np.float64]:
        """Seconds since the first frame by the stream's clock; a stalled time steps by 1/fps."""
        out = np.empty(len(seconds))
        for j, t in enumerate(seconds.tolist()):
            if self._clock is None:
                self._clock = (t if t > 0 else 0.0, -self._step)
            origin, last = self._clock
            t -= origin
            out[j] = t if t > last else last + self._step
            self._clock = (origin, out[j])
        return out

    def _count_errors(self, reader: Reader) -> None:
        if reader.errors and not self.decode_errors:
            logger.warning(
                "%s: a frame failed to decode and was skipped (%s); further ones are only counted",
                self._name,
                reader.last_error,
            )
        self.decode_errors = reader.errors

    # -- closing --

    def close(self) -> None:
        """Release the decoder and its buffers; safe to call twice."""
        if self._prefetch is not None:
            self._prefetch.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._image = None

"""Video frames in batches: PyAV for files, decord or OpenCV where it fails, OpenCV for live input.

A :class:`VideoSource` probes its input once with PyAV (codec, container, rotation, the presentation
time of every frame, the key frames), then decodes upright RGB frames at the requested size in
batches, one batch ahead in a background thread. The frame timeline is computed once for the whole
video, so a worker reading frames ``[start, stop)`` sees exactly the times of the whole-video read.

PyAV comes before decord because decord (0.6, and decord2 3.4) keeps decoding ahead of a slower
reader without bound: +0.2 MB a frame at 640x360, gigabytes over a long video. PyAV decodes only
what is asked for, and is also faster here (benchmarks/results.md: "b decode" rows).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter
from numpy.typing import NDArray

from fastpose.errors import InputNotFoundError, InvalidVideoError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
#: PyAV's demuxers for single images.
IMAGE_FORMATS = frozenset({"image2", "jpeg_pipe", "png_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe"})
#: FFmpeg demuxers that show any text file as a video of rendered characters.
TEXT_FORMATS = frozenset({"tty"})
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
#: Frame rate assumed when neither the user nor the container gives one.
FALLBACK_FPS = 30.0
#: decord's decoding threads: its automatic count (0) fails on VP9 ("Error sending packet"). Two
#: threads decode reduced sizes ~35% faster than one, but with 1080p output glibc keeps the
#: buffers freed by the second thread (RSS grew by 4 GB over 6,400 frames): large frames use one.
DECORD_THREADS = 2
DECORD_THREADS_LARGE = 1
LARGE_FRAME_PIXELS = 1280 * 720
STREAM_TIMEOUT_MS = 10_000
#: File decoders in the order tried (see the module's docstring for why PyAV comes first).
DECODERS = ("pyav", "decord", "opencv")
#: Packets decoded at most while looking for the first frame's display matrix.
ROTATION_PACKETS = 32
#: FourCC codes OpenCV reports, as PyAV's codec names.
FOURCC_CODECS = {
    "avc1": "h264", "h264": "h264", "x264": "h264", "hev1": "hevc", "hvc1": "hevc", "hevc": "hevc",
    "vp90": "vp9", "vp09": "vp9", "av01": "av1", "mjpg": "mjpeg", "vp80": "vp8", "mp4v": "mpeg4",
}  # fmt: skip


@dataclass(frozen=True)
class VideoInfo:
    """What a source is: sizes of the upright original; ``rotation`` is counter-clockwise."""

    uri: str  # path, camera index or URL as given
    width: int  # upright (after rotation) original width in pixels
    height: int  # upright original height
    fps: float  # nominal frames/s: the override if given, else the container's; 0 for an image
    num_frames: int | None  # frames this source will yield; None for live streams
    codec: str | None  # "h264", "hevc", "vp9", "av1", "mjpeg"...; None if unknown
    container: str | None  # PyAV's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    rotation: int  # degrees turned (as np.rot90, counter-clockwise) to show frames upright
    is_image: bool
    backend: str  # "decord" | "pyav" | "opencv" | "image"


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive decoded frames: upright RGB images with their indices and times."""

    frame_idx: NDArray[np.int64]  # (T,) index in the source
    time_s: NDArray[np.float64]  # (T,) timeline seconds, strictly increasing across the video
    pts_s: NDArray[np.float64]  # (T,) container presentation time; == time_s for images/streams
    images: NDArray[np.uint8]  # (T, h, w, 3) RGB, upright, C-contiguous, at decode size

    def __post_init__(self) -> None:
        _check_vector("frame_idx", self.frame_idx, np.int64)
        n = len(self.frame_idx)
        for name in ("time_s", "pts_s"):
            _check_vector(name, getattr(self, name), np.float64, n)
        im = self.images
        if not (
            isinstance(im, np.ndarray)
            and im.dtype == np.uint8
            and im.ndim == 4
            and im.shape[3] == 3
        ):
            got = f"{im.dtype} {im.shape}" if isinstance(im, np.ndarray) else type(im).__name__
            raise ValueError(f"FrameBatch.images: expected uint8 (T, h, w, 3), got {got}")
        if len(im) != n:
            raise ValueError(f"FrameBatch.images: expected {n} images, got {len(im)}")
        if not im.flags.c_contiguous:
            raise ValueError("FrameBatch.images: expected a C-contiguous array, got a strided view")

    def __len__(self) -> int:
        return len(self.frame_idx)


def _check_vector(name: str, a: object, dtype: type, n: int | None = None) -> None:
    if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == 1):
        got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"FrameBatch.{name}: expected {np.dtype(dtype)} (T,), got {got}")
    if n is not None and len(a) != n:
        raise ValueError(f"FrameBatch.{name}: expected {n} values (as frame_idx), got {len(a)}")


# --- timeline -----------------------------------------------------------------------------------


def repair_times(times: NDArray[np.floating], fps: float) -> tuple[NDArray[np.float64], int]:
    """Strictly increasing times: a repeated or backward time becomes the previous + 1/fps.

    The first time is kept unless it is negative (then the whole timeline shifts to start at 0).
    Returns the times and how many were repaired.
    """
    out = np.array(times, dtype=np.float64)
    if out.size == 0:
        return out, 0
    if not np.isfinite(out[0]):
        out[0] = 0.0
    elif out[0] < 0:
        out -= out[0]
    if bool(np.all(np.diff(out) > 0)):
        return out, 0
    step, repaired = 1.0 / fps, 0
    for i in range(1, len(out)):
        if not out[i] > out[i - 1]:
            out[i] = out[i - 1] + step
            repaired += 1
    return out, repaired


def scaled_size(width: int, height: int, inference_size: int) -> tuple[int, int]:
    """``(w, h)`` with the long side shrunk to ``inference_size`` (aspect kept); never enlarged."""
    long_side = max(width, height)
    if inference_size <= 0 or long_side <= inference_size:
        return width, height
    scale = inference_size / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _turns(rotation: int) -> int:
    return (rotation // 90) % 4


def _upright(images: NDArray[np.uint8], rotation: int) -> NDArray[np.uint8]:
    """Frames turned by ``rotation`` degrees counter-clockwise, C-contiguous."""
    k = _turns(rotation)
    return np.ascontiguousarray(np.rot90(images, k, axes=(1, 2)) if k else images)


def _swap(size: tuple[int, int], rotation: int) -> tuple[int, int]:
    """The coded ``(w, h)`` of an upright size, or back: swapped for a quarter turn."""
    return (size[1], size[0]) if _turns(rotation) % 2 else size


# --- probing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    """What PyAV reads from a file's header and packet index (no full decode)."""

    container: str
    codec: str | None
    coded_size: tuple[int, int]  # (w, h) as stored, before rotation
    rotation: int
    fps: float  # 0 when unknown
    pts: NDArray[np.float64]  # presentation time of every frame, sorted; empty if unknown
    key_frames: NDArray[np.int64]  # indices (into pts) of the key frames; empty if unknown
    decodable: bool  # PyAV decoded the first frame
    announced: int  # frames the container says it has (0 if it does not say)
    is_image: bool


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:200] or type(err).__name__


def _probe(path: Path, name: str) -> _Probe | None:
    """PyAV's view of ``path``; None when PyAV cannot open it. Raises for a file without video."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError):
        return None
    with container:
        fmt = container.format.name
        if fmt in TEXT_FORMATS:
            raise InvalidVideoError(f"{name}: not a video or image (a text file)")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            has = f"only {', '.join(kinds)}" if kinds else "no streams"
            raise InvalidVideoError(f"{name}: not a video (no video stream; {has})")
        stream = container.streams.video[0]
        is_image = fmt in IMAGE_FORMATS or path.suffix.lower() in IMAGE_SUFFIXES
        if is_image:
            pts, keys, rotation, decodable = np.empty(0), np.empty(0, np.int64), 0, True
        else:
            pts, keys, rotation, decodable = _scan_packets(container, stream)
        rate = stream.average_rate or stream.guessed_rate
        return _Probe(
            container=fmt,
            codec=stream.codec_context.codec.canonical_name if stream.codec_context else None,
            coded_size=(stream.width, stream.height),
            rotation=rotation,
            fps=float(rate) if rate else 0.0,
            pts=pts,
            key_frames=keys,
            decodable=decodable,
            announced=max(stream.frames, 0),
            is_image=is_image,
        )


def _scan_packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[NDArray[np.float64], NDArray[np.int64], int, bool]:
    """Sorted presentation times of all packets, the key frames' indices among them, the rotation
    read from the first frame, and whether that frame decoded.

    Demuxing reads the packets without decoding them (about 70 ms for 20,000 1080p frames); only
    the first frame is decoded, because PyAV exposes the display matrix on decoded frames only.
    """
    ticks: list[int] = []
    keys: list[int] = []  # ticks of the key frames
    rotation: int | None = None
    complete = True
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            t = packet.pts if packet.pts is not None else packet.dts
            complete &= t is not None
            ticks.append(t or 0)
            if packet.is_keyframe:
                keys.append(t or 0)
            if rotation is None and len(ticks) <= ROTATION_PACKETS:
                rotation = _first_rotation(stream, packet)
    except av.error.FFmpegError:
        pass  # a truncated file: keep the packets read so far
    if rotation is None and ticks:
        rotation = _first_rotation(stream, None)  # flush the decoder's delay
    decodable = rotation is not None
    if rotation is None:
        tag = stream.metadata.get("rotate", "0")  # the old tag, clockwise
        rotation = -int(tag) if tag.lstrip("-").isdigit() else 0
    base = float(stream.time_base or 0)
    if not (complete and base):
        return np.empty(0), np.empty(0, np.int64), rotation % 360, decodable
    ticks_sorted = np.sort(np.array(ticks, dtype=np.int64))
    key_idx = np.searchsorted(ticks_sorted, np.array(keys, dtype=np.int64)).astype(np.int64)
    return ticks_sorted * base, np.unique(key_idx), rotation % 360, decodable


def _first_rotation(stream: av.video.stream.VideoStream, packet: av.Packet | None) -> int | None:
    try:
        frames = stream.decode(packet)
    except av.error.FFmpegError:
        return None
    return round(frames[0].rotation / 90) * 90 if frames else None


def _mp4_hint(path: Path) -> str | None:
    """Why an MP4 no reader opens is broken, when its top-level boxes say so."""
    boxes, pos, size = set(), 0, path.stat().st_size
    with path.open("rb") as f:
        while pos + 8 <= size and len(boxes) < 64:
            f.seek(pos)
            length, kind = struct.unpack(">I4s", f.read(8))
            if length == 1:
                length = struct.unpack(">Q", f.read(8))[0]
            boxes.add(kind)
            if length < 8:
                break
            pos += length
    if b"ftyp" in boxes and b"mdat" in boxes and b"moov" not in boxes:
        return "truncated MP4 (no moov atom: the index was at the end and is missing)"
    return None


# --- decoders -----------------------------------------------------------------------------------

#: What a backend yields: frame indices, upright RGB frames, and (streams only) clock seconds.
_Batches = Iterator[tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float64] | None]]


class _Reader(Protocol):
    """A backend: batches over ``[start, stop)``, counting the frames it had to skip."""

    errors: int  # frames skipped
    last_error: str | None
    reached: int  # one past the last frame index tried

    def batches(self, start: int, stop: int | None, size: int) -> _Batches: ...

    def close(self) -> None: ...


class _DecordReader:
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

    def batches(self, start: int, stop: int | None, size: int) -> _Batches:
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
                self.last_error = f"frame {i}: {_decord_message(err)}"
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
            return _upright(images, self._rotation)
        return images

    def close(self) -> None:
        self._vr = None


class _Prefetch:
    """Runs a reader's batches one batch ahead in a thread, so decoding overlaps the consumer's work
    (PyAV, decord and OpenCV release the GIL) while memory stays bounded by the queue."""

    def __init__(self, batches: _Batches, depth: int = 1) -> None:
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(batches,), daemon=True)
        self._thread.start()

    def _run(self, batches: _Batches) -> None:
        try:
            for batch in batches:
                if not self._put("batch", batch):
                    return
            self._put("done", None)
        except BaseException as err:  # handed to the consumer, which raises it
            self._put("error", err)
        finally:
            batches.close()

    def _put(self, kind: str, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, item), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> _Batches:
        while True:
            kind, item = self._queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the thread after the batch it is decoding; safe to call twice."""
        self._stop.set()
        self._thread.join()


def _decord_message(err: BaseException) -> str:
    """decord's multi-line native error as one line, without its log prefixes."""
    text = " ".join(str(err).split("Stack trace")[0].split())
    return re.sub(r"\[[\d:]+\] \S+:\d+: ", "", text)[:200] or type(err).__name__


class _PyAVReader:
    """Sequential decode with PyAV; frames are indexed by their presentation time."""

    def __init__(
        self, path: Path, probe: _Probe, size: tuple[int, int], scale: bool, threads: int
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
        self._coded = _swap(size, probe.rotation) if scale else None
        self._reformatter = VideoReformatter()  # one per reader: it caches the scaler
        self._demuxed = False
        self.errors = 0
        self.last_error: str | None = None
        self.reached = 0

    def batches(self, start: int, stop: int | None, size: int) -> _Batches:
        idx: list[int] = []
        images: list[NDArray[np.uint8]] = []
        for i, image in self._frames(start):
            if stop is not None and i >= stop:
                break
            idx.append(i)
            images.append(image)
            self.reached = i + 1
            if len(idx) == size:
                yield np.array(idx, np.int64), _upright(np.stack(images), self._rotation), None
                idx, images = [], []
        if idx:
            yield np.array(idx, np.int64), _upright(np.stack(images), self._rotation), None

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
                self.last_error = _one_line(err)
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


class _OpenCVReader:
    """Sequential decode with OpenCV: cameras, stream URLs, and files the others reject."""

    def __init__(self, uri: str | int, name: str) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        cap = cv2.VideoCapture(uri, cv2.CAP_ANY, params)
        if not cap.isOpened():
            raise InvalidVideoError(f"{name}: cannot be opened")
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # turned here, as with the other backends
        self._cap = cap
        self.rotation = -int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360  # OpenCV's is clockwise
        self.coded_size = (
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        rate = cap.get(cv2.CAP_PROP_FPS)
        self.fps = rate if 0 < rate < 1000 else 0.0
        self.frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1")
        self.codec = FOURCC_CODECS.get(fourcc.strip("\0 ").lower())
        self.coded: tuple[int, int] | None = None  # decode size before rotation; None: as decoded
        self.errors = 0
        self.last_error: str | None = None
        self.reached = 0

    def batches(self, start: int, stop: int | None, size: int) -> _Batches:
        if start > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        self.reached = start
        while True:
            idx, images, seconds = [], [], []
            while len(idx) < size and (stop is None or self.reached < stop):
                ok, bgr = self._cap.read()
                if not ok:
                    break
                idx.append(self.reached)
                images.append(self._rgb(bgr))
                seconds.append(self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1e3)
                self.reached += 1
            if idx:
                upright = _upright(np.stack(images), self.rotation)
                yield np.array(idx, np.int64), upright, np.array(seconds)
            if len(idx) < size:
                return

    def _rgb(self, bgr: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if self.coded is not None and (bgr.shape[1], bgr.shape[0]) != self.coded:
            bgr = cv2.resize(bgr, self.coded, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


# --- the source ---------------------------------------------------------------------------------


def _camera_index(uri: str | int | os.PathLike) -> int | None:
    if isinstance(uri, int):
        return uri
    return int(uri) if isinstance(uri, str) and uri.isdigit() else None


def _is_url(uri: str | int | os.PathLike) -> bool:
    if not isinstance(uri, str):
        return False
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


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


class VideoSource:
    """Upright RGB frames of a video file, image, camera or stream, in :class:`FrameBatch` es.

    Opens and validates the input on construction; use it as a context manager or call
    :meth:`close`. ``start``/``stop`` select frames ``[start, stop)``; ``max_frames`` keeps only the
    video's first ``max_frames`` frames. ``inference_size > 0`` decodes at a reduced size whose long
    side is ``inference_size`` (aspect kept). A frame that fails to decode is skipped and counted.
    ``decoder`` picks a file decoder (``pyav``, ``decord``, ``opencv``) instead of the first that
    works; ``threads`` caps PyAV's decoding threads (0: FFmpeg's choice).
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
    ) -> None:
        _check_args(fps, max_frames, inference_size, batch_size, start, stop)
        if decoder not in ("auto", *DECODERS):
            raise ValueError(
                f"VideoSource: expected decoder in auto, {', '.join(DECODERS)}; got {decoder}"
            )
        self._decoder = decoder
        self._threads = threads
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
        self._reader: _Reader | None = None
        self._prefetch: _Prefetch | None = None
        self._pts = np.empty(0)
        self.key_frames = np.empty(0, np.int64)  # indices of the key frames, where known
        self._announced = 0  # frames the container says it has; 0 for live input
        if camera is not None or _is_url(uri):
            self._open_live(camera if camera is not None else str(uri), str(uri))
        else:
            self._open_file(Path(uri), str(uri))

    # -- opening --

    def _open_file(self, path: Path, uri: str) -> None:
        if not path.exists():
            raise InputNotFoundError(f"{uri}: no such file")
        if path.is_dir():
            raise InvalidVideoError(f"{uri}: is a directory, not a video or image")
        if path.stat().st_size == 0:
            raise InvalidVideoError(f"{uri}: empty file (0 bytes)")
        probe = _probe(path, uri)
        if probe is None or probe.is_image:
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
                f"{uri}: {_mp4_hint(path) or 'not a video or image (unknown format)'}"
            )
        self._open_video(path, uri, probe)

    def _open_image(self, bgr: NDArray[np.uint8], uri: str, probe: _Probe | None) -> None:
        h, w = bgr.shape[:2]
        self.decode_size = scaled_size(w, h, self._inference_size)
        if self.decode_size != (w, h):
            bgr = cv2.resize(bgr, self.decode_size, interpolation=cv2.INTER_AREA)
        self._image = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None])
        self.frame_times = self._pts = np.zeros(1)
        self._announced = 1
        codec, container = (probe.codec, probe.container) if probe is not None else (None, None)
        n = self._range_length(1)
        self.info = VideoInfo(uri, w, h, 0.0, n, codec, container, 0, True, "image")

    def _open_video(self, path: Path, uri: str, probe: _Probe) -> None:
        upright = _swap(probe.coded_size, probe.rotation)
        self.decode_size = scaled_size(*upright, self._inference_size)
        self._pts = probe.pts
        self.key_frames = probe.key_frames
        self._announced = max(probe.announced, len(probe.pts))
        if self._announced == 0:
            raise InvalidVideoError(f"{uri}: no frames (the video stream is empty)")
        reader, backend, count = self._open_backend(path, uri, probe, self.decode_size != upright)
        self._reader = reader
        if len(self._pts) != count and isinstance(reader, _DecordReader):
            self._pts = reader.timestamps()
        self.frame_times = self._timeline(count, probe.fps or FALLBACK_FPS)
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
        self, path: Path, uri: str, probe: _Probe, scale: bool
    ) -> tuple[_Reader, str, int]:
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

    def _open_pyav(self, path: Path, uri: str, probe: _Probe, scale: bool) -> tuple[_Reader, int]:
        if not len(probe.pts):
            raise _CannotDecode("no frame times")
        if not probe.decodable:
            raise _CannotDecode("no frame decoded")
        try:
            reader = _PyAVReader(path, probe, self.decode_size, scale, self._threads)
            return reader, len(probe.pts)
        except av.error.FFmpegError as err:
            raise _CannotDecode(_one_line(err)) from err

    def _open_decord(self, path: Path, uri: str, probe: _Probe, scale: bool) -> tuple[_Reader, int]:
        try:
            reader = _DecordReader(path, self.decode_size, scale, probe.rotation)
            reader.check()
        except Exception as err:  # decord raises DECORDError or RuntimeError with native detail
            raise _CannotDecode(_decord_message(err)) from err
        return reader, len(reader)

    def _open_cv(self, path: Path, uri: str, probe: _Probe, scale: bool) -> tuple[_Reader, int]:
        try:
            reader = _OpenCVReader(str(path), uri)
        except InvalidVideoError as err:
            raise _CannotDecode("cannot open") from err
        if not reader.frame_count:
            reader.close()
            raise _CannotDecode("no frames")
        reader.rotation = probe.rotation
        reader.coded = _swap(self.decode_size, probe.rotation) if scale else None
        return reader, reader.frame_count

    def _open_live(self, uri: str | int, given: str) -> None:
        reader = _OpenCVReader(uri, self._name)
        upright = _swap(reader.coded_size, reader.rotation)
        self.decode_size = scaled_size(*upright, self._inference_size)
        if self.decode_size != upright:
            reader.coded = _swap(self.decode_size, reader.rotation)
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

    def _timeline(self, count: int, nominal_fps: float) -> NDArray[np.float64]:
        if self._fps:
            return np.arange(count, dtype=np.float64) / self._fps
        times, repaired = repair_times(self._pts, nominal_fps)
        if repaired:
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
        self._prefetch = _Prefetch(reader.batches(self._start, self._stop, self._batch_size))
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
        if self._announced:
            wanted = self._announced if self._stop is None else min(self._stop, self._announced)
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

    def _count_errors(self, reader: _Reader) -> None:
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

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

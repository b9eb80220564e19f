"""What a video file holds, read once before decoding: :class:`VideoLayout`.

The layout counts and times the frames FFmpeg *presents*: an MP4 edit list (a cut made with
``ffmpeg -ss T -c copy``) keeps the packets before the cut for the decoder but hides their frames,
and FFmpeg's demuxer flags those packets as discarded; they are neither counted nor timed here. A
raw elementary stream (``.h264``) has no timestamps: its frames are counted, and the source times
them at ``i / fps``. The rotation is the display matrix FFmpeg attaches to the first presented frame
(from the stream's side data or the packets'), else the MP4 track header's, else the old ``rotate``
tag. Demuxing reads packets without decoding them (about 70 ms for 20,000 1080p frames); only the
frames up to the first presented one are decoded.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from numpy.typing import NDArray

from fastpose.errors import InvalidVideoError, one_line

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
#: PyAV's demuxers for single images.
IMAGE_FORMATS = frozenset({"image2", "jpeg_pipe", "png_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe"})
#: FFmpeg's demuxer names as people know the containers.
CONTAINER_NAMES = {"mov,mp4,m4a,3gp,3g2,mj2": "MP4/MOV", "matroska,webm": "Matroska/WebM"}
#: FFmpeg demuxers that show any text file as a video of rendered characters.
TEXT_FORMATS = frozenset({"tty"})
#: Packets decoded at most past the first presented one while waiting for its frame (the
#: decoder's delay: reordering and frame threads).
DECODER_DELAY_PACKETS = 32


@dataclass(frozen=True)
class FileStamp:
    """Which file a layout was read from: a layout is reused only for the same bytes."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        st = path.stat()
        return cls(str(path.resolve()), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class VideoLayout:
    """What PyAV reads from a video file before decoding it: the presented frames' times, the key
    frames, rotation, codec and sizes.

    A source reading a range of the same file takes its parent's layout
    (``VideoSource(uri, start=..., layout=parent.layout)``) instead of reading the file again.
    """

    stamp: FileStamp
    container: str  # PyAV's format name
    codec: str | None
    coded_size: tuple[int, int]  # (w, h) as stored, before rotation
    rotation: int  # degrees, counter-clockwise, to show frames upright: 0, 90, 180 or 270
    fps: float  # the stream's nominal rate; 0 when unknown
    time_base: Fraction | None
    frames: int  # frames FFmpeg presents (hidden ones excluded); counted, not announced
    ticks: NDArray[np.int64]  # (frames,) sorted presentation times in time_base; empty: timeless
    key_frames: NDArray[np.int64]  # indices of the presented frames a decoder can start from
    decodable: bool  # PyAV decoded the first presented frame
    announced: int  # frames the container says it has (0 if it does not say)
    packets: int  # non-empty packets demuxed, hidden ones included
    timeless: bool = False  # no packet has a time (a raw stream): frames timed at i / fps
    is_image: bool = False
    pts: NDArray[np.float64] = field(init=False)  # (frames,) seconds; empty when timeless

    def __post_init__(self) -> None:
        checks = [
            (self.rotation in (0, 90, 180, 270), "rotation in 0, 90, 180, 270", self.rotation),
            (self.frames >= 0, "frames >= 0", self.frames),
            (
                _vector(self.ticks, np.int64) and len(self.ticks) in (0, self.frames),
                f"ticks: int64 (0 or {self.frames},)",
                _describe(self.ticks),
            ),
            (
                _vector(self.key_frames, np.int64)
                and bool(np.all((self.key_frames >= 0) & (self.key_frames < max(self.frames, 1)))),
                f"key_frames: int64 indices < {self.frames}",
                _describe(self.key_frames),
            ),
        ]
        for ok, expected, got in checks:
            if not ok:
                raise ValueError(f"VideoLayout: expected {expected}, got {got}")
        base = float(self.time_base or 0)
        pts = self.ticks * base if base else np.empty(0)
        object.__setattr__(self, "pts", pts)

    @property
    def expected_frames(self) -> int:
        """Frames a complete read yields: the presented ones, plus those the container announces
        beyond the packets it holds (a truncated file, whose reading then ends early)."""
        return self.frames + max(0, self.announced - self.packets)


def _vector(a: object, dtype: type) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == 1


def _describe(a: object) -> str:
    return f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__


def probe_file(path: Path, name: str) -> VideoLayout | None:
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
        is_image = fmt in IMAGE_FORMATS
        if not is_image and path.suffix.lower() in IMAGE_SUFFIXES:
            codec = stream.codec_context.codec.name if stream.codec_context else "unknown codec"
            logger.warning(
                "%s: a video (%s, %s) under an image's name (%s): tracked as a video",
                name,
                CONTAINER_NAMES.get(fmt, fmt),
                codec,
                path.suffix,
            )
        scan = _Scan() if is_image else _scan_packets(container, stream)
        rotation = scan.rotation
        if rotation is None:
            rotation = _header_rotation(path, stream) if not is_image else 0
        empty = np.empty(0, np.int64)
        return VideoLayout(
            stamp=FileStamp.of(path),
            container=fmt,
            codec=stream.codec_context.codec.canonical_name if stream.codec_context else None,
            coded_size=(stream.width, stream.height),
            rotation=rotation % 360,
            fps=_rate(stream, scan.timeless),
            time_base=stream.time_base,
            frames=1 if is_image else scan.frames,
            ticks=scan.ticks if scan.ticks is not None else empty,
            key_frames=scan.key_frames if scan.key_frames is not None else empty,
            decodable=is_image or scan.rotation is not None,
            announced=max(stream.frames, 0),
            packets=scan.packets,
            timeless=scan.timeless,
            is_image=is_image,
        )


def _rate(stream: av.video.stream.VideoStream, timeless: bool) -> float:
    """The stream's nominal frame rate. A raw stream's average rate is the demuxer's default
    (25), so there the codec's (the H.264 SPS timing) comes first."""
    rates = (stream.guessed_rate, stream.average_rate)
    for rate in rates if timeless else rates[::-1]:
        if rate and 0 < float(rate) < 1000:
            return float(rate)
    return 0.0


@dataclass
class _Scan:
    frames: int = 0
    packets: int = 0
    ticks: NDArray[np.int64] | None = None  # None: some or all presented packets have no time
    key_frames: NDArray[np.int64] | None = None
    rotation: int | None = None  # the first presented frame's; None if none decoded
    timeless: bool = False  # no presented packet has a time


def _scan_packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> _Scan:
    """Counts and times the presented packets and decodes up to the first presented frame.

    Packets come in decode order; their presentation times, sorted, are the frames' in display
    order. A truncated file keeps the packets read before the error.
    """
    ticks: list[int] = []
    keys: list[int] = []  # ticks (timed) or presented-packet counts (timeless) of key frames
    timed = untimed = packets = 0
    rotation: int | None = None
    budget: int | None = None  # packets still decoded while waiting for the first frame
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            packets += 1
            t = packet.pts if packet.pts is not None else packet.dts
            if packet.is_keyframe:  # a hidden one counts as frame 0's (searchsorted below)
                keys.append(t if t is not None else timed + untimed)
            if not packet.is_discard:
                if t is None:
                    untimed += 1
                else:
                    timed += 1
                    ticks.append(t)
                if budget is None:
                    budget = DECODER_DELAY_PACKETS
            if rotation is None and (budget is None or budget > 0):
                rotation = _first_rotation(stream, packet)
                budget = None if budget is None else budget - 1
    except av.error.FFmpegError:
        pass  # a truncated file: keep the packets read so far
    if rotation is None and packets:
        rotation = _first_rotation(stream, None)  # flush the decoder's delay
    scan = _Scan(frames=timed + untimed, packets=packets, rotation=rotation)
    if untimed and not timed:
        scan.timeless = True
        scan.key_frames = np.unique(np.minimum(np.array(keys, dtype=np.int64), untimed - 1))
    elif not untimed and float(stream.time_base or 0):
        scan.ticks = np.sort(np.array(ticks, dtype=np.int64))
        idx = np.searchsorted(scan.ticks, np.array(keys, dtype=np.int64))
        scan.key_frames = np.unique(np.minimum(idx, max(len(ticks) - 1, 0))).astype(np.int64)
    return scan


def _first_rotation(stream: av.video.stream.VideoStream, packet: av.Packet | None) -> int | None:
    try:
        frames = stream.decode(packet)
    except av.error.FFmpegError:
        return None
    return round(frames[0].rotation / 90) * 90 if frames else None


def _header_rotation(path: Path, stream: av.video.stream.VideoStream) -> int:
    """Without a decoded frame: the MP4/MOV track header's display matrix, else the old
    ``rotate`` tag (clockwise)."""
    try:
        with path.open("rb") as f:
            rotation = _tkhd_rotation(f, path.stat().st_size)
    except (OSError, struct.error):
        rotation = None
    if rotation is not None:
        return rotation
    tag = stream.metadata.get("rotate", "0")
    return -int(tag) if tag.lstrip("-").isdigit() else 0


def _boxes(f: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """ISO-BMFF boxes in ``[start, end)`` of ``f``: (type, payload start, end)."""
    out, pos = [], start
    while pos + 8 <= end and len(out) < 4096:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            break
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def _tkhd_rotation(f: BinaryIO, size: int) -> int | None:
    """The rotation (counter-clockwise) in the first video track's header matrix, or None."""
    for kind, start, end in _boxes(f, 0, size):
        if kind != b"moov":
            continue
        for trak, t0, t1 in _boxes(f, start, end):
            if trak != b"trak":
                continue
            parts = {k: (a, b) for k, a, b in _boxes(f, t0, t1)}
            if b"tkhd" not in parts or b"mdia" not in parts or not _is_video(f, *parts[b"mdia"]):
                continue
            head = parts[b"tkhd"][0]
            f.seek(head)
            version = f.read(1)[0]
            f.seek(head + (52 if version == 1 else 40))
            a, b = struct.unpack(">2i", f.read(8))
            return round(math.degrees(math.atan2(-b, a)) / 90) * 90 % 360
    return None


def _is_video(f: BinaryIO, start: int, end: int) -> bool:
    for kind, a, _ in _boxes(f, start, end):
        if kind == b"hdlr":
            f.seek(a + 8)  # version, flags, pre_defined
            return f.read(4) == b"vide"
    return False


def mp4_hint(path: Path) -> str | None:
    """Why an MP4 no reader opens is broken, when its top-level boxes say so."""
    with path.open("rb") as f:
        kinds = {kind for kind, _, _ in _boxes(f, 0, path.stat().st_size)[:64]}
    if b"ftyp" in kinds and b"mdat" in kinds and b"moov" not in kinds:
        return "truncated MP4 (no moov atom: the index was at the end and is missing)"
    return None


def same_file(layout: VideoLayout, path: Path) -> str | None:
    """Why ``layout`` does not describe ``path`` (another file, or changed since), or None."""
    try:
        stamp = FileStamp.of(path)
    except OSError as err:
        return one_line(err)
    return None if stamp == layout.stamp else f"{layout.stamp}, got {stamp}"

"""Long test clips made at test time by looping the real ones (never committed)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def loop_video(src: Path, dst: Path, frames: int) -> Path:
    """Remux ``src`` end to end until ``dst`` holds at least ``frames`` frames (no re-encoding)."""
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        packets = [p for p in inp.demux(stream) if p.size and p.pts is not None]
    step = int(np.median(np.diff(sorted(p.pts for p in packets)))) if len(packets) > 1 else 1
    span = max(p.pts for p in packets) - min(p.pts for p in packets) + step
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as out:
        ostream = out.add_stream_from_template(inp.streams.video[0])
        written, offset = 0, 0
        while written < frames:
            for p in packets:
                p.stream = ostream
                p.pts += offset
                p.dts += offset
                out.mux(p)
                p.pts -= offset
                p.dts -= offset
            written += len(packets)
            offset += span
    tmp.replace(dst)
    return dst


def faststart(src: Path, dst: Path) -> Path:
    """Remux ``src``'s video into ``dst`` with its index (moov) in front, as streamed MP4s have
    it: a copy cut short still decodes up to the cut."""
    with (
        av.open(str(src)) as inp,
        av.open(str(dst), "w", format="mp4", options={"movflags": "faststart"}) as out,
    ):
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    return dst


def transcode(src: Path, dst: Path, size: tuple[int, int], frames: int) -> Path:
    """Re-encode ``src`` letterboxed into ``size`` (w, h) as H.264, looped to ``frames`` frames."""
    if dst.exists():
        return dst
    import cv2

    w, h = size
    tmp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as inp:
        rate = inp.streams.video[0].average_rate
        images = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    canvas = np.zeros((h, w, 3), np.uint8)
    sh, sw = images[0].shape[:2]
    scale = min(w / sw, h / sh)
    nw, nh = int(sw * scale) // 2 * 2, int(sh * scale) // 2 * 2
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    with av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(images[i % len(images)], (nw, nh))
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(dst)
    return dst


def _video_packets(src: Path) -> list[av.Packet]:
    with av.open(str(src)) as inp:
        return [p for p in inp.demux(inp.streams.video[0]) if p.size]


def remux_mpegts(src: Path, dst: Path, frames: int) -> Path:
    """``src`` looped to ``frames`` frames (its packets only), remuxed to MPEG-TS: as
    ``ffmpeg -i loop.mp4 -c copy -f mpegts`` makes it (Annex B H.264, no index to seek by)."""
    if dst.exists():
        return dst
    looped = loop_video(src, dst.with_suffix(".loop.mp4"), frames)
    return _remux(looped, dst, "mpegts")


def cut_mp4(src: Path, dst: Path, start_s: float, rotation: int | None = None) -> Path:
    """``src`` from ``start_s`` on without re-encoding, as ``ffmpeg -ss START -i SRC -c copy DST``
    makes it: the packets from the key frame before ``start_s`` are kept (the decoder needs them),
    times are shifted so ``start_s`` is 0, and the MP4 muxer writes an edit list that hides the
    frames before it. ``rotation`` (counter-clockwise) goes in the track's display matrix."""
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as out:
        template = inp.streams.video[0]
        stream = out.add_stream_from_template(template)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        packets = [p for p in inp.demux(template) if p.size]
        cut = round(start_s / template.time_base)
        first_key = max(
            (i for i, p in enumerate(packets) if p.is_keyframe and p.pts <= cut), default=0
        )
        for packet in packets[first_key:]:
            packet.pts -= cut
            packet.dts -= cut
            packet.stream = stream
            out.mux(packet)
    tmp.replace(dst)
    return dst


def raw_h264(src: Path, dst: Path) -> Path:
    """The H.264 elementary stream of an MP4 (``-c copy -bsf:v h264_mp4toannexb -f h264``): Annex B
    byte stream, no container, no timestamps."""
    if dst.exists():
        return dst
    return _remux(src, dst, "h264")


def _remux(src: Path, dst: Path, fmt: str) -> Path:
    """``src``'s video packets, unchanged, into a ``fmt`` file at ``dst`` (then renamed)."""
    tmp = dst.with_suffix(f".partial{dst.suffix}")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format=fmt) as out:
        template = inp.streams.video[0]
        stream = out.add_stream_from_template(template)
        for packet in inp.demux(template):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    tmp.replace(dst)
    return dst


def presented_frames(path: Path) -> list[tuple[int | None, int]]:
    """Every frame FFmpeg presents (what ``ffmpeg -i PATH -f null -`` counts): (pts, rotation)."""
    with av.open(str(path)) as inp:
        return [(f.pts, f.rotation) for f in inp.decode(video=0)]


def turned_mp4(src: Path, dst: Path, rotation: int, long_side: int = 960) -> Path:
    """``src`` re-encoded (H.264) smaller and stored turned clockwise by ``rotation`` degrees, with
    a display matrix that turns it back: a phone's portrait clip, whose sensor records landscape."""
    if dst.exists():
        return dst
    import cv2

    tmp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as out:
        template = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=template.average_rate)
        stream.set_display_rotation(rotation)
        w, h = template.width, template.height
        scale = long_side / max(w, h)
        size = (round(w * scale) // 2 * 2, round(h * scale) // 2 * 2)
        stream.width, stream.height = size[::-1] if rotation % 180 else size
        stream.pix_fmt = "yuv420p"
        for frame in inp.decode(template):
            image = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
            image = np.ascontiguousarray(np.rot90(image, -(rotation // 90)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(dst)
    return dst


def ping_pong(src: Path, dst: Path, frames: int, long_side: int = 1280) -> Path:
    """``src`` played forwards, backwards, forwards... until ``dst`` (H.264, scaled to
    ``long_side``) holds ``frames`` frames: a long clip whose motion never jumps, as plain looping
    would make it (people teleporting at every loop)."""
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as out:
        template = inp.streams.video[0]
        scale = long_side / max(template.width, template.height)
        w, h = (round(s * scale) // 2 * 2 for s in (template.width, template.height))
        decoded = [f.reformat(w, h, "yuv420p") for f in inp.decode(template)]
        stream = out.add_stream("libx264", rate=template.average_rate, options={"crf": "20"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        order = [*range(len(decoded)), *range(len(decoded) - 2, 0, -1)]
        for i in range(frames):
            frame = decoded[order[i % len(order)]]
            frame.pts, frame.time_base = i, 1 / Fraction(template.average_rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(dst)
    return dst


def mirrored(src: Path, dst: Path) -> Path:
    """``src`` mirrored left-right at half its size, H.264 (real footage: every left a right)."""
    import cv2

    if dst.exists():
        return dst
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        stream = inp.streams.video[0]
        o = out.add_stream("libx264", rate=stream.average_rate)
        o.width, o.height, o.pix_fmt = stream.width // 4 * 2, stream.height // 4 * 2, "yuv420p"
        for frame in inp.decode(video=0):
            img = np.ascontiguousarray(frame.to_ndarray(format="rgb24")[:, ::-1])
            img = cv2.resize(img, (o.width, o.height), interpolation=cv2.INTER_AREA)
            for packet in o.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in o.encode():
            out.mux(packet)
    return dst


def long_ping_pong(src: Path, dst: Path, frames: int, long_side: int = 640) -> Path:
    """``src`` played forwards and backwards (:func:`ping_pong`, one cycle re-encoded once at
    ``long_side``), that cycle remuxed end to end until ``dst`` holds at least ``frames`` frames:
    an hour of video made in seconds, whose motion never jumps. Shorter than a cycle: the cycle
    cut at ``frames``."""
    if dst.exists():
        return dst
    with av.open(str(src)) as inp:
        n = inp.streams.video[0].frames or sum(1 for _ in inp.decode(video=0))
    cycle_frames = 2 * n - 2
    if frames <= cycle_frames:
        return ping_pong(src, dst, frames, long_side)
    cycle = ping_pong(src, dst.with_suffix(".cycle.mp4"), cycle_frames, long_side)
    return loop_video(cycle, dst, frames)

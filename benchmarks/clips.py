"""The benchmarks' clips, made at run time from the committed test clips (never committed)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np


def loop_video(src: Path, dst: Path, frames: int) -> Path:
    """Remux ``src`` end to end until ``dst`` holds at least ``frames`` frames (no re-encoding)."""
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as inp:
        packets = [p for p in inp.demux(inp.streams.video[0]) if p.size and p.pts is not None]
    if not packets:
        raise ValueError(f"{src}: expected video packets, got none")
    step = int(np.median(np.diff(sorted(p.pts for p in packets)))) if len(packets) > 1 else 1
    span = max(p.pts for p in packets) - min(p.pts for p in packets) + step
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        written, offset = 0, 0
        while written < frames:
            for p in packets:
                p.stream = stream
                p.pts += offset
                p.dts += offset
                out.mux(p)
                p.pts -= offset
                p.dts -= offset
            written += len(packets)
            offset += span
    tmp.replace(dst)
    return dst


def transcode(src: Path, dst: Path, size: tuple[int, int], frames: int) -> Path:
    """Re-encode ``src`` letterboxed into ``size`` (w, h) as H.264, looped to ``frames`` frames."""
    if dst.exists():
        return dst
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

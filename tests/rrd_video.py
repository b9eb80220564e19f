"""The frames a recording holds, read back: the video stream's samples (``VideoStream``) decoded
with PyAV's AV1 decoder, or the JPEG frames (``EncodedImage``), by ``frame_idx``."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def stream_samples(rrd: Path, entity: str = "video") -> tuple[list[int], list[bytes], list[bool]]:
    """``entity``'s video samples in frame order: frame indices, samples, keyframe flags."""
    from rerun.chunk import RrdReader

    rows: list[tuple[int, bytes, bool]] = []
    for chunk in RrdReader(rrd).stream().to_chunks():
        if chunk.is_static or chunk.entity_path.lstrip("/") != entity:
            continue
        batch = chunk.to_record_batch()
        if "VideoStream:sample" not in batch.schema.names:
            continue
        frames = batch.column("frame_idx").to_pylist()
        samples = batch.column("VideoStream:sample").to_pylist()
        keys = batch.column("VideoStream:is_keyframe").to_pylist()
        for f, s, k in zip(frames, samples, keys, strict=True):
            rows.append((f, bytes(s[0]), bool(k[0])))
    rows.sort(key=lambda r: r[0])
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def decode_stream(rrd: Path, entity: str = "video") -> dict[int, np.ndarray]:
    """``frame_idx -> RGB image`` of every sample of ``entity``'s AV1 stream, decoded in order."""
    import av

    frames, samples, _ = stream_samples(rrd, entity)
    decoder = av.CodecContext.create("libdav1d", "r")
    images: list[np.ndarray] = []
    for sample in samples:
        images += [f.to_ndarray(format="rgb24") for f in decoder.decode(av.Packet(sample))]
    images += [f.to_ndarray(format="rgb24") for f in decoder.decode(None)]
    assert len(images) == len(frames), f"{len(frames)} samples decoded to {len(images)} frames"
    return dict(zip(frames, images, strict=True))


def first_frame(rrd: Path) -> np.ndarray:
    """The RGB image the recording shows at frame 0: its video stream's, or its JPEG."""
    import cv2
    from rerun.chunk import RrdReader

    frames, _, _ = stream_samples(rrd)
    if frames:
        return decode_stream(rrd)[0]
    for chunk in RrdReader(rrd).stream().to_chunks():
        if chunk.is_static or chunk.entity_path.lstrip("/") != "video":
            continue
        batch = chunk.to_record_batch()
        indices = batch.column("frame_idx").to_pylist()
        if 0 in indices and "EncodedImage:blob" in batch.schema.names:
            blob = batch.column("EncodedImage:blob")[indices.index(0)].as_py()[0]
            bgr = cv2.imdecode(np.frombuffer(bytes(blob), np.uint8), cv2.IMREAD_COLOR)
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    raise AssertionError(f"{rrd}: no frame 0 in entity video (stream or JPEG)")

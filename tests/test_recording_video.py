"""The recording's video stream (fastpose.sinks.rerun_video) on real frames: ranges of a video
encoded at once on their own threads, as the landmarkers' threads do, make one stream that
decodes, in frame order, to every frame; each range starts on a keyframe; finished ranges free
their encoders."""

from __future__ import annotations

import threading
from dataclasses import replace

import av
import cv2
import numpy as np
import pytest
from conftest import data_file

from fastpose.sinks.rerun_video import KEYFRAME_INTERVAL, StreamFrames, VideoEncoder
from fastpose.video import FrameBatch

BATCH = 16


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """sports2d_demo's first 100 frames at 640x359 (an odd height, as an inference size can
    be), RGB."""
    with av.open(str(data_file("sports2d_demo.mp4"))) as video:
        images = []
        for frame in video.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            images.append(cv2.resize(image, (640, 359), interpolation=cv2.INTER_AREA))
            if len(images) == 100:
                break
    return np.stack(images)


def _batch(images: np.ndarray, first: int) -> FrameBatch:
    idx = np.arange(first, first + len(images), dtype=np.int64)
    times = idx / 30.0
    return FrameBatch(idx, times, times.copy(), np.ascontiguousarray(images))


def _decode(samples: list[bytes]) -> list[np.ndarray]:
    decoder = av.CodecContext.create("libdav1d", "r")
    out = []
    for sample in samples:
        out += [f.to_ndarray(format="rgb24") for f in decoder.decode(av.Packet(sample))]
    out += [f.to_ndarray(format="rgb24") for f in decoder.decode(None)]
    return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2))


def test_ranges_on_threads_make_one_stream_of_every_frame(frames):
    """Frames 0-29 and 30-99 encoded on two threads at once (the second range started first), in
    batches of 16: a sample a frame;
    keyframes at each range's start and every KEYFRAME_INTERVAL frames of a range; the samples in
    frame order decode to every frame (PSNR > 30 dB, the odd row padded); the first range's
    encoder is freed when it reaches the second's start, the last one on close."""
    hook = StreamFrames()
    results: dict[int, object] = {}
    second_started = threading.Event()

    def run(start: int, stop: int) -> None:
        if start == 0:
            second_started.wait(60)  # as ranges run: the second starts before the first ends
        for first in range(start, stop, BATCH):
            last = min(first + BATCH, stop)
            results[first] = hook(_batch(frames[first:last], first), None)
            second_started.set()

    threads = [threading.Thread(target=run, args=r) for r in ((0, 30), (30, 100))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hook.open_encoders == 1, "the first range's encoder closed at the second's start"
    hook.close()
    assert hook.open_encoders == 0
    ordered = [results[k] for k in sorted(results)]
    frame_idx = np.concatenate([r.frame_idx for r in ordered])
    samples = [s for r in ordered for s in r.samples]
    keys = np.concatenate([r.keyframes for r in ordered])
    assert frame_idx.tolist() == list(range(100))
    assert np.flatnonzero(keys).tolist() == [0, 30, 30 + KEYFRAME_INTERVAL]
    decoded = _decode(samples)
    assert len(decoded) == 100
    for f in (0, 29, 30, 99):
        assert decoded[f].shape == (360, 640, 3)
        assert _psnr(decoded[f][:359], frames[f]) > 30, f


def test_an_encoder_gives_a_sample_per_frame_at_once(frames):
    """Low delay: each frame's sample comes back with its frame (none held for later), the
    first a keyframe; a closed encoder refuses frames."""
    encoder = VideoEncoder(640, 359, first=0)
    for k in range(3):
        samples, keys = encoder.encode(frames[k * 5 : k * 5 + 5])
        assert len(samples) == 5 and all(samples)
        assert keys == [k == 0] + [False] * 4
    encoder.close()
    with pytest.raises(RuntimeError, match="closed"):
        encoder.encode(frames[:1])


def test_auto_gives_a_long_video_the_stream(tmp_path):
    """``auto``: an upright H.264 MP4 up to ASSET_MAX_BYTES plays as itself; past it (an hour's
    file: here a sparse one of that size) the frames go as the video stream, not a JPEG a frame;
    so do rotated videos and images."""
    from fastpose.sinks.rerun_frames import ASSET_MAX_BYTES, choose_video_mode
    from fastpose.video import VideoInfo

    small, large = tmp_path / "small.mp4", tmp_path / "large.mp4"
    small.write_bytes(data_file("pose_squats.mp4").read_bytes())
    with large.open("wb") as f:
        f.truncate(ASSET_MAX_BYTES + 1)
    info = VideoInfo(
        str(small), 720, 1280, 30.0, 100, "h264", "mov,mp4,m4a,3gp,3g2,mj2", 0, False, "pyav"
    )
    assert choose_video_mode(info, "auto") == "asset"
    assert choose_video_mode(replace(info, uri=str(large)), "auto") == "stream"
    assert choose_video_mode(replace(info, rotation=90), "auto") == "stream"
    assert choose_video_mode(replace(info, is_image=True), "auto") == "stream"
    assert choose_video_mode(replace(info, uri=str(large)), "jpeg") == "jpeg"

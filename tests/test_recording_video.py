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
    frame order decode to every frame (PSNR > 30 dB, the odd row padded); close() frees both
    encoders."""
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
    assert hook.created == 2 and hook.open_encoders == 2
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


def test_a_done_range_s_encoder_goes_on_with_the_next_range(frames):
    """Ranges 0-29, 30-59 and 60-89, as threads hand them in (30-44 first, then 0-29, which
    ends where 30 started; then 60-74, 45-59, 75-89): the third range gets the first range's
    encoder (two made for three ranges), restarted on a keyframe that decodes alone; the
    samples in frame order decode to every frame."""
    hook = StreamFrames()
    results = {}
    for first, last in ((30, 45), (0, 15), (15, 30), (60, 75), (45, 60), (75, 90)):
        results[first] = hook(_batch(frames[first:last], first), None)
    assert hook.created == 2
    hook.close()
    assert hook.open_encoders == 0
    ordered = [results[k] for k in sorted(results)]
    samples = [s for r in ordered for s in r.samples]
    keys = np.concatenate([r.keyframes for r in ordered])
    assert np.flatnonzero(keys).tolist() == [0, 30, 60]
    decoded = _decode(samples)
    assert len(decoded) == 90
    assert _psnr(decoded[60][:359], frames[60]) > 30
    alone = _decode(samples[60:])  # from the restart's keyframe on, with no state before it
    assert len(alone) == 30 and _psnr(alone[0][:359], frames[60]) > 30


_TWO_ENCODERS = """
import resource, sys
import numpy as np
from fastpose.memory import limit_malloc_arenas
from fastpose.sinks.rerun_video import VideoEncoder

limit_malloc_arenas()  # as the CLI does
frames = np.load(sys.argv[1])

def rss_kb():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() // 1024

before = rss_kb()
encoders = [VideoEncoder(640, 359, first=0) for _ in range(2)]
for encoder in encoders:
    for k in range(0, len(frames), 16):
        encoder.encode(frames[k : k + 16])
print(rss_kb() - before)
for encoder in encoders:
    encoder.close()
"""


def test_two_encoders_hold_under_32_mb_for_the_same_stream(frames, tmp_path):
    """Two encoders (two ranges on two landmarkers), 100 frames each, in a fresh process: under
    32 MB of RSS together (26 MB measured; 42 MB with the 4-picture mini-GOP of before), for a
    stream as large and as good as that one's on these frames (2.79 KB a frame and 35.73 dB
    PSNR; before, at CRF 35: 2.68 KB and 35.63 dB): at most 10% larger, at most 0.3 dB worse."""
    import subprocess
    import sys

    np.save(tmp_path / "frames.npy", frames)
    proc = subprocess.run(
        [sys.executable, "-c", _TWO_ENCODERS, str(tmp_path / "frames.npy")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    held_mb = int(proc.stdout.split()[-1]) / 1024
    assert held_mb < 32, f"two encoders hold {held_mb:.1f} MB"
    encoder = VideoEncoder(640, 359, first=0)
    samples = [s for k in range(0, 100, 16) for s in encoder.encode(frames[k : k + 16])[0]]
    encoder.close()
    decoded = _decode(samples)
    kb = sum(map(len, samples)) / len(samples) / 1e3
    psnr = np.mean([_psnr(d[:359], f) for d, f in zip(decoded, frames, strict=True)])
    assert kb < 2.68 * 1.1 and psnr > 35.63 - 0.3, f"{kb:.2f} KB a frame, PSNR {psnr:.2f} dB"

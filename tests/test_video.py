"""VideoSource on the real clips, on files remuxed from them (rotated, truncated), on bad inputs."""

from __future__ import annotations

import functools
import http.server
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import data_file, scaled

from fastpose.errors import FastposeError, InputNotFoundError, InvalidVideoError
from fastpose.video import FrameBatch, VideoSource, repair_times, scaled_size

# name: (width, height, frames, fps, codec)
CLIPS = {
    "pose_squats.mp4": (720, 1280, 65, 5.0, "h264"),
    "sports2d_demo.mp4": (1768, 994, 230, 30.0, "vp9"),
    "pose2sim_single_cam01.mp4": (1080, 1920, 100, 60.0, "h264"),
}


def read_all(source: VideoSource) -> FrameBatch:
    """Every batch of ``source`` joined into one."""
    batches = list(source)
    assert batches, "no frames"
    return FrameBatch(
        *(np.concatenate([getattr(b, f) for b in batches]) for f in FrameBatch.__annotations__)
    )


def container_pts(path: Path) -> np.ndarray:
    """Presentation times of every packet, by PyAV, sorted."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        ticks = [p.pts for p in c.demux(stream) if p.size]
        return np.sort(np.array(ticks)) * float(stream.time_base)


def pyav_frames(path: Path) -> np.ndarray:
    """Every frame as PyAV decodes it, as stored (not turned)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def remux(src: Path, dst: Path, rotation: int | None = None, **options: str) -> Path:
    """The video packets of ``src`` copied to ``dst``, optionally with a display rotation (CCW)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options=options) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


def first_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def encode_av1(
    dst: Path, rotation: int | None = None, frames: int = 12, size: tuple[int, int] = (144, 256)
) -> Path:
    """The first frames of pose_squats.mp4 re-encoded to AV1 (which decord 0.6 cannot open)."""
    with av.open(str(data_file("pose_squats.mp4"))) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libsvtav1", rate=5)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, frame in enumerate(inp.decode(video=0)):
            if i == frames:
                break
            small = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            small.pts, small.time_base = i, Fraction(1, 5)
            out.mux(stream.encode(small))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files made from the real clips once per module (never in the repo)."""
    tmp = tmp_path_factory.mktemp("video")
    squats = data_file("pose_squats.mp4")
    files = {f"rot{r}": remux(squats, tmp / f"rot{r}.mp4", rotation=r) for r in (90, 180, 270)}
    files["faststart"] = remux(squats, tmp / "faststart.mp4", movflags="faststart")
    files["half"] = first_half(squats, tmp / "half.mp4")
    files["faststart_half"] = first_half(files["faststart"], tmp / "faststart_half.mp4")
    files["av1"] = encode_av1(tmp / "av1.mp4")
    files["av1_rot90"] = encode_av1(tmp / "av1_rot90.mp4", rotation=90)
    return files


def test_made_rotation_is_in_the_container(made: dict[str, Path]) -> None:
    """The remux carries the display matrix PyAV reads back (the rotation tests rely on it)."""
    for r, expected in ((90, 90), (180, -180), (270, -90)):
        with av.open(str(made[f"rot{r}"])) as c:
            assert next(c.decode(video=0)).rotation == expected


# --- the real clips ---


@pytest.mark.parametrize("name", CLIPS)
def test_clip_info_counts_and_sizes(name: str) -> None:
    frames = CLIPS[name][2]
    with VideoSource(data_file(name), inference_size=256, batch_size=32) as source:
        info = source.info
        assert (info.width, info.height, info.num_frames, info.fps, info.codec) == CLIPS[name]
        assert (info.rotation, info.is_image, info.backend) == (0, False, "pyav")
        assert "mp4" in info.container
        assert len(source.frame_times) == frames
        batch = read_all(source)
        assert source.frames_read == frames
        assert (source.decode_errors, source.ended_early) == (0, False)
    np.testing.assert_array_equal(batch.frame_idx, np.arange(frames))
    assert batch.images.shape == (frames, *source.decode_size[::-1], 3)
    assert batch.images.flags.c_contiguous


def test_native_size_frames() -> None:
    with VideoSource(data_file("pose_squats.mp4"), batch_size=16) as source:
        assert source.decode_size == (720, 1280)
        sizes = [len(b) for b in source]
        shapes = {b.images.shape[1:] for b in source}
    assert sizes == [16, 16, 16, 16, 1]
    assert shapes == {(1280, 720, 3)}


def test_image() -> None:
    path = data_file("mediapipe_pose.jpg")
    with VideoSource(path) as source:
        info = source.info
        assert (info.width, info.height, info.num_frames, info.fps) == (1000, 667, 1, 0.0)
        assert (info.is_image, info.backend, info.rotation) == (True, "image", 0)
        (batch,) = list(source)
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(batch.images[0], rgb)
    assert (batch.frame_idx.tolist(), batch.time_s.tolist(), batch.pts_s.tolist()) == ([0],) * 3
    with VideoSource(path, inference_size=500) as small:
        assert small.decode_size == (500, 334)
        assert next(iter(small)).images.shape == (1, 334, 500, 3)


# --- timeline ---


@pytest.mark.parametrize("name", CLIPS)
def test_times_are_the_containers_and_strictly_increasing(name: str) -> None:
    path = data_file(name)
    with VideoSource(path, inference_size=256, batch_size=32) as source:
        assert source.info.backend == "pyav"
        batch = read_all(source)
        frame_times = source.frame_times
    assert np.all(np.diff(batch.time_s) > 0)
    pts = container_pts(path)
    np.testing.assert_array_equal(batch.pts_s, pts)  # exact (float64 ticks), not decord's float32
    np.testing.assert_array_equal(batch.time_s, pts)  # no repair needed on these
    np.testing.assert_array_equal(frame_times, pts)


def test_fps_override() -> None:
    with VideoSource(data_file("pose_squats.mp4"), fps=10, inference_size=256) as source:
        assert (source.info.fps, source.info.backend) == (10.0, "pyav")
        np.testing.assert_array_equal(source.frame_times, np.arange(65) / 10)
        batch = read_all(source)
    np.testing.assert_array_equal(batch.time_s, np.arange(65) / 10)
    np.testing.assert_allclose(batch.pts_s, np.arange(65) * 0.2)  # still the container's (5 fps)


@pytest.mark.parametrize(
    ("size", "decoder", "backend"),
    [(256, "auto", "pyav"), (128, "auto", "pyav"), (256, "decord", "decord"), (128, "decord", "")],
)
def test_repeated_times_are_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, size: int, decoder: str, backend: str
) -> None:
    """A real remux whose frames 10 and 11 repeat frame 9's time (Matroska allows equal times).

    PyAV indexes frames by time and must not take the repeated times for one frame. At inference
    size 128 the frames are 72 px wide, which decord 0.6 cannot deliver (it fails for widths 16,
    24, 48 and 72): asked for decord alone, the source says so.
    """
    path = tmp_path / "repeat.mkv"
    with av.open(str(data_file("pose_squats.mp4"))) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for i, packet in enumerate(p for p in inp.demux(inp.streams.video[0]) if p.dts is not None):
            if i in (10, 11):
                packet.pts = packet.dts = 9 * 2048  # frame 9's time in the 1/10240 time base
            packet.stream = stream
            out.mux(packet)
    if not backend:
        with pytest.raises(InvalidVideoError, match=r"cannot be decoded \(decord: "):
            VideoSource(path, inference_size=size, decoder=decoder)
        return
    with caplog.at_level(logging.WARNING, logger="fastpose.video"):
        source = VideoSource(path, inference_size=size, decoder=decoder)
    with source:
        assert source.info.backend == backend
        batch = read_all(source)
        times = batch.time_s
        assert source.frame_times[9:13].tolist() == pytest.approx([1.8, 2.0, 2.2, 2.4])
    np.testing.assert_array_equal(batch.frame_idx, np.arange(65))
    assert np.all(np.diff(times) > 0)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: 2 frame times repeated or went backwards; repaired"
    ]


def test_repair_times_rules() -> None:
    times, n = repair_times(np.array([0.5, 0.6, 0.6, 0.55, 0.9]), fps=10)
    assert times.tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9]) and n == 2  # first time kept
    times, n = repair_times(np.array([-0.2, -0.1, 0.0]), fps=10)  # a negative start shifts to 0
    assert times.tolist() == pytest.approx([0.0, 0.1, 0.2]) and n == 0


# --- ranges, caps, sizes ---


def test_max_frames() -> None:
    path = data_file("pose2sim_single_cam01.mp4")
    with VideoSource(path, max_frames=10, batch_size=4, inference_size=256) as source:
        assert source.info.num_frames == 10
        assert [b.frame_idx.tolist() for b in source] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
        assert (source.frames_read, source.ended_early) == (10, False)
    with VideoSource(path, max_frames=10, start=6, stop=50, inference_size=256) as source:
        assert source.info.num_frames == 4  # max_frames counts from the video's start


@pytest.mark.parametrize("decoder", ["pyav", "decord"])
@pytest.mark.parametrize("name", ["sports2d_demo.mp4", "pose2sim_single_cam01.mp4"])
def test_ranges_give_the_full_reads_frames_and_times(name: str, decoder: str) -> None:
    path = data_file(name)
    with VideoSource(path, inference_size=192, batch_size=16, decoder=decoder) as source:
        assert source.info.backend == decoder
        full = read_all(source)
        n = source.info.num_frames
    for start, stop in [(0, 7), (5, 37), (17, 18), (33, 90), (n - 20, n), (n - 3, n + 50)]:
        with VideoSource(
            path, inference_size=192, batch_size=8, start=start, stop=stop, decoder=decoder
        ) as source:
            assert source.info.num_frames == min(stop, n) - start
            part = read_all(source)
            assert not source.ended_early
        np.testing.assert_array_equal(part.frame_idx, np.arange(start, min(stop, n)))
        np.testing.assert_array_equal(part.images, full.images[start:stop])
        np.testing.assert_array_equal(part.time_s, full.time_s[start:stop])
        np.testing.assert_array_equal(part.pts_s, full.pts_s[start:stop])


def test_range_past_the_end_is_empty() -> None:
    with VideoSource(data_file("pose_squats.mp4"), start=80, stop=90) as source:
        assert source.info.num_frames == 0
        assert list(source) == []


@pytest.mark.parametrize("name", CLIPS)
@pytest.mark.parametrize("size", [640, 256])
def test_inference_size_keeps_aspect(name: str, size: int) -> None:
    width, height, *_ = CLIPS[name]
    path = data_file(name)
    with VideoSource(path, inference_size=size, max_frames=3) as source:
        w, h = source.decode_size
        images = read_all(source).images
    assert max(w, h) == size
    assert abs(w / h - width / height) < 1 / min(w, h)
    assert images.shape == (3, h, w, 3)
    with VideoSource(path, max_frames=3) as native:
        reference = read_all(native).images
    shrunk = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in reference])
    assert np.abs(shrunk.astype(int) - images).mean() < 4  # the same picture, scaled


def test_inference_size_never_enlarges() -> None:
    with VideoSource(data_file("pose_squats.mp4"), inference_size=4000, max_frames=1) as source:
        assert source.decode_size == (720, 1280)
    assert scaled_size(1768, 994, 256) == (256, 144)


# --- rotation ---


@pytest.mark.parametrize("rotation", [90, 180, 270])
@pytest.mark.parametrize("size", [0, 320])
def test_rotated_files_come_out_upright(made: dict[str, Path], rotation: int, size: int) -> None:
    with VideoSource(data_file("pose_squats.mp4"), inference_size=size, max_frames=12) as plain:
        reference = read_all(plain).images
    with VideoSource(made[f"rot{rotation}"], inference_size=size, max_frames=12) as source:
        info = source.info
        assert info.rotation == rotation
        quarter = rotation % 180 == 90
        assert (info.width, info.height) == ((1280, 720) if quarter else (720, 1280))
        images = read_all(source).images
    assert images.flags.c_contiguous
    expected = np.rot90(reference, rotation // 90, axes=(1, 2))
    if size == 0:
        np.testing.assert_array_equal(images, expected)
    else:  # scaled before or after the turn: equal up to resampling
        assert images.shape == expected.shape
        assert np.abs(images.astype(int) - expected).mean() < 2


# --- the PyAV backend (where decord fails) ---


def test_av1_decodes_with_pyav(made: dict[str, Path]) -> None:
    path = made["av1"]
    with VideoSource(path, batch_size=5) as source:
        info = source.info
        assert (info.backend, info.codec, info.num_frames) == ("pyav", "av1", 12)
        full = read_all(source)
    np.testing.assert_array_equal(full.images, pyav_frames(path))
    np.testing.assert_array_equal(full.time_s, np.arange(12) * 0.2)
    with VideoSource(path, start=7, stop=11, batch_size=3) as part:
        got = read_all(part)
    np.testing.assert_array_equal(got.frame_idx, np.arange(7, 11))
    np.testing.assert_array_equal(got.images, full.images[7:11])
    native = full.images
    with VideoSource(path, inference_size=128) as small:
        assert (small.info.backend, small.decode_size) == ("pyav", (72, 128))
        images = read_all(small).images
    shrunk = np.stack([cv2.resize(im, (72, 128), interpolation=cv2.INTER_AREA) for im in native])
    assert np.abs(shrunk.astype(int) - images).mean() < 2
    with VideoSource(made["av1_rot90"]) as rotated:
        info = rotated.info
        assert (info.backend, info.rotation, rotated.decode_size) == ("pyav", 90, (256, 144))
        upright = read_all(rotated).images
    np.testing.assert_array_equal(upright, np.rot90(pyav_frames(made["av1_rot90"]), 1, axes=(1, 2)))


# --- truncated files ---


def test_truncated_faststart_mp4_yields_what_decodes(made: dict[str, Path]) -> None:
    with VideoSource(data_file("pose_squats.mp4"), inference_size=256) as whole:
        reference = read_all(whole)
    with VideoSource(made["faststart_half"], inference_size=256) as source:
        batch = read_all(source)
        assert source.ended_early
        assert source.frames_read == len(batch) > 20
        assert source.info.num_frames <= 65
    np.testing.assert_array_equal(batch.images, reference.images[batch.frame_idx])
    np.testing.assert_array_equal(batch.time_s, reference.time_s[batch.frame_idx])
    with VideoSource(made["faststart_half"], inference_size=256, stop=10) as early:
        assert len(read_all(early)) == 10
        assert not early.ended_early  # this range is complete


def test_truncated_mp4_with_index_at_end_is_invalid(made: dict[str, Path]) -> None:
    """The index (moov) of pose_squats.mp4 is at its end: half the file cannot be read by anyone."""
    with pytest.raises(InvalidVideoError, match="no moov atom") as err:
        VideoSource(made["half"])
    assert str(made["half"]) in str(err.value) and "\n" not in str(err.value)


# --- bad inputs ---


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    (tmp / "folder.mp4").mkdir()
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "random.mp4").write_bytes(
        np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes()
    )
    (tmp / "notes.mp4").write_text("not a video\n" * 200)
    (tmp / "photo.jpg").write_text("not a photo either\n")
    with av.open(str(tmp / "audio.m4a"), "w") as out:  # a real audio-only MP4
        stream = out.add_stream("aac", rate=16000, layout="mono")
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(tmp / "no_frames.avi"), "w") as out:  # a video stream without a frame
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()
    return {p.name: p for p in tmp.iterdir()}


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("folder.mp4", "is a directory"),
        ("empty.mp4", "empty file"),
        ("random.mp4", "not a video"),
        ("notes.mp4", "not a video"),
        ("photo.jpg", "not a video or image"),
        ("audio.m4a", "no video stream"),
        ("no_frames.avi", "no frames"),
    ],
)
def test_bad_inputs_raise_invalid_video(tmp_path: Path, name: str, why: str) -> None:
    path = _bad_inputs(tmp_path)[name]
    with pytest.raises(InvalidVideoError) as err:
        VideoSource(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and why in message and "\n" not in message
    assert isinstance(err.value, ValueError) and isinstance(err.value, FastposeError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with pytest.raises(InputNotFoundError, match="no such file") as err:
        VideoSource(path)
    assert str(err.value) == f"{path}: no such file"
    assert isinstance(err.value, FileNotFoundError)


def test_missing_camera() -> None:
    with pytest.raises(InvalidVideoError, match=r"^camera 97: cannot be opened$"):
        VideoSource("97")


def test_bad_arguments() -> None:
    path = data_file("pose_squats.mp4")
    for kwargs in (
        {"fps": 0},
        {"batch_size": 0},
        {"start": -1},
        {"start": 5, "stop": 2},
        {"inference_size": -1},
    ):
        with pytest.raises(ValueError, match="expected"):
            VideoSource(path, **kwargs)


# --- OpenCV (streams) ---


@pytest.fixture
def http_server(made: dict[str, Path]) -> Iterator[str]:
    """The made files over HTTP on the loopback interface."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(made["faststart"].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_http_stream_reads_with_opencv(http_server: str, made: dict[str, Path]) -> None:
    url = f"{http_server}/{made['faststart'].name}"
    with VideoSource(url, max_frames=20, batch_size=8) as source:
        info = source.info
        assert (info.uri, info.backend, info.num_frames, info.codec, info.fps) == (
            url,
            "opencv",
            None,
            "h264",
            5.0,
        )
        assert (info.width, info.height) == (720, 1280)
        assert len(source.frame_times) == 0
        batch = read_all(source)
    with VideoSource(data_file("pose_squats.mp4"), max_frames=20) as local:
        reference = read_all(local)
    np.testing.assert_array_equal(batch.frame_idx, np.arange(20))
    np.testing.assert_array_equal(batch.images, reference.images)  # same FFmpeg decode, BGR->RGB
    np.testing.assert_allclose(batch.time_s, np.arange(20) * 0.2, atol=1e-6)
    np.testing.assert_array_equal(batch.pts_s, batch.time_s)
    with VideoSource(url, max_frames=4, inference_size=256) as small:
        assert small.decode_size == (144, 256)
        assert read_all(small).images.shape == (4, 256, 144, 3)


# --- FrameBatch ---


def test_frame_batch_validation() -> None:
    idx, t = np.arange(2, dtype=np.int64), np.zeros(2)
    images = np.zeros((2, 4, 6, 3), np.uint8)
    FrameBatch(idx, t, t, images)
    bad = [
        ((idx.astype(np.int32), t, t, images), "frame_idx: expected int64"),
        ((idx, t.astype(np.float32), t, images), "time_s: expected float64"),
        ((idx, t, t[:1], images), "pts_s: expected 2 values"),
        ((idx, t, t, images[..., :2]), r"images: expected uint8 \(T, h, w, 3\)"),
        ((idx, t, t, images[:1]), "images: expected 2 images"),
        ((idx, t, t, images[:, :, ::2]), "expected a C-contiguous"),
    ]
    for args, message in bad:
        with pytest.raises(ValueError, match=message):
            FrameBatch(*args)


# --- memory ---


def loop_clip(src: Path, dst: Path, times: int) -> Path:
    """``src`` played ``times`` times in a row, by remuxing its packets (no re-encode)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        template = inp.streams.video[0]
        stream = out.add_stream_from_template(template)
        packets = [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in inp.demux(template) if p.size]
        span = (
            max(p[1] for p in packets) - min(p[2] for p in packets) + packets[1][1] - packets[0][1]
        )
        for r in range(times):
            for data, pts, dts, key in packets:
                packet = av.Packet(data)
                packet.pts, packet.dts, packet.is_keyframe = pts + r * span, dts + r * span, key
                packet.time_base, packet.stream = template.time_base, stream
                out.mux(packet)
    return dst


@pytest.mark.parametrize(
    ("loops", "size", "decoder"),
    [
        pytest.param(20, 640, "auto", marks=pytest.mark.e2e),
        pytest.param(200, 0, "auto", marks=pytest.mark.soak),
        pytest.param(200, 640, "auto", marks=pytest.mark.soak),
    ],
)
def test_memory_stays_flat(tmp_path: Path, loops: int, size: int, decoder: str) -> None:
    """1080x1920 frames read for a long time by a reader slower than the decoder, as inference
    is: RSS does not keep growing once the reader settles.

    Read in a fresh process, as the CLI does (the heap left by other tests blurs the picture).
    Medians, because single samples catch batches in flight. decord grew by ~0.2 MB a frame here
    (why PyAV decodes files first); PyAV wanders by a few MB.
    """
    path = loop_clip(data_file("pose2sim_single_cam01.mp4"), tmp_path / "long.mp4", loops)
    result = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(path), str(size), decoder],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=scaled(600),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    frames, rss = json.loads(result.stdout.splitlines()[-1])
    assert frames == 100 * loops
    quarter = len(rss) // 4
    settled, final = np.median(rss[quarter : 2 * quarter]), np.median(rss[-quarter:])
    assert final - settled < 200, rss


#: Reads a video at ~160 frames/s, printing [frames read, RSS in MB every 16 frames] as JSON.
RSS_PROBE = """
import json, sys, time
import psutil
from fastpose.video import VideoSource

process, rss = psutil.Process(), []
path, size, decoder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with VideoSource(path, inference_size=size, batch_size=16, decoder=decoder) as source:
    for batch in source:
        time.sleep(0.1)
        rss.append(process.memory_info().rss >> 20)
print(json.dumps([source.frames_read, rss]))
"""

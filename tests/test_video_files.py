"""Files as phones, editors and recorders make them (issue 14): an MPEG-TS, MP4s cut with an edit
list (one rotated by its display matrix), a raw H.264 stream. VideoSource and ``fastpose run``
yield exactly the frames FFmpeg presents, upright, timed from 0, whole or in ranges.

The files are made at test time from tests/data (tests/clips.py); the truth is what PyAV decodes
(FFmpeg's decoder drops the frames an edit list hides, as ``ffmpeg -i FILE -f null -`` does).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from clips import cut_mp4, presented_frames, raw_h264, remux_mpegts, turned_mp4
from conftest import data_file, run_cli

from fastpose.video import FrameBatch, VideoLayout, VideoSource
from fastpose.video.probe import _tkhd_rotation

#: Where the MP4s are cut, as ``ffmpeg -ss 0.55 -i pose2sim_single_cam01.mp4 -c copy``: frame 33
#: of the 60 fps clip is the first presented one, 67 of its 100 frames remain.
CUT_S, CUT_FRAME = 0.55, 33
SIZE = 256  # inference size: the same decoding as the references read below
FAST = ("--no-segment", "--no-progress")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("files")
    cam = data_file("pose2sim_single_cam01.mp4")
    turned = turned_mp4(cam, tmp / "turned.mp4", 90)
    return {
        "ts": remux_mpegts(cam, tmp / "loop500.ts", 500),
        "cut": cut_mp4(cam, tmp / "cut.mp4", CUT_S),
        "turned_cut": cut_mp4(turned, tmp / "turned_cut.mp4", CUT_S, rotation=90),
        "raw": raw_h264(data_file("pose_squats.mp4"), tmp / "raw.h264"),
        "ts_short": remux_mpegts(cam, tmp / "loop200.ts", 200),  # the CLI's (tracked twice)
    }


#: name: (frames FFmpeg presents, rotation)
EXPECTED = {"ts": (500, 0), "cut": (67, 0), "turned_cut": (67, 90), "raw": (65, 0)}
#: The files the CLI tracks: the MPEG-TS shorter (200 frames), the others as above.
TRACKED = {"ts_short": 200, "cut": 67, "turned_cut": 67, "raw": 65}


def read_all(source: VideoSource) -> FrameBatch:
    batches = list(source)
    assert batches, "no frames"
    return FrameBatch(
        *(np.concatenate([getattr(b, f) for b in batches]) for f in FrameBatch.__annotations__)
    )


def read_range(path: Path, start: int, stop: int, **kwargs: object) -> FrameBatch:
    with VideoSource(path, inference_size=SIZE, start=start, stop=stop, **kwargs) as source:
        assert source.info.num_frames == stop - start
        part = read_all(source)
        assert (source.decode_errors, source.ended_early) == (0, False)
    return part


@pytest.fixture(scope="module")
def whole(files: dict[str, Path]) -> dict[str, tuple[FrameBatch, VideoLayout]]:
    """Each file read whole, with the layout its source probed."""
    out = {}
    for name, path in files.items():
        with VideoSource(path, inference_size=SIZE, batch_size=32) as source:
            assert source.info.backend == "pyav"
            out[name] = (read_all(source), source.layout)
            assert (source.decode_errors, source.ended_early) == (0, False)
    return out


@pytest.fixture(scope="module")
def originals() -> dict[str, np.ndarray]:
    """The frames of the clips the files were made from, as VideoSource decodes them."""
    out = {}
    for name in ("pose2sim_single_cam01.mp4", "pose_squats.mp4"):
        with VideoSource(data_file(name), inference_size=SIZE) as source:
            out[name] = read_all(source).images
    return out


# --- whole files ---


@pytest.mark.parametrize("name", EXPECTED)
def test_whole_file_yields_the_presented_frames_timed_from_zero(
    files: dict[str, Path], whole: dict, name: str
) -> None:
    path = files[name]
    presented = presented_frames(path)
    frames, rotation = EXPECTED[name]
    assert len(presented) == frames  # the made file is what the test means
    batch, layout = whole[name]
    assert layout.frames == frames and layout.rotation == rotation
    np.testing.assert_array_equal(batch.frame_idx, np.arange(frames))
    assert batch.time_s[0] == 0 and np.all(np.diff(batch.time_s) > 0)
    h, w = batch.images.shape[1:3]
    assert h > w, f"not upright: {w}x{h} (the content is portrait)"
    if name == "raw":  # no timestamps: frame i at i / fps, the stream's rate (5 fps)
        np.testing.assert_allclose(batch.time_s, np.arange(frames) / 5.0)
        return
    with av.open(str(path)) as c:
        base = c.streams.video[0].time_base
    pts = np.array([p for p, _ in presented]) * float(base)
    np.testing.assert_allclose(batch.pts_s, pts, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batch.time_s, pts - pts[0], rtol=0, atol=1e-9)
    assert {r % 360 for _, r in presented} == {rotation}


def test_the_frames_are_the_original_ones(whole: dict, originals: dict) -> None:
    """Same packets, same decoder: the TS loops the camera clip, the cut starts at frame 33, the
    raw stream is pose_squats.mp4; the turned clip is re-encoded, so only close."""
    cam, squats = originals["pose2sim_single_cam01.mp4"], originals["pose_squats.mp4"]
    ts = whole["ts"][0].images
    np.testing.assert_array_equal(ts, cam[np.arange(len(ts)) % len(cam)])
    np.testing.assert_array_equal(whole["cut"][0].images, cam[CUT_FRAME:])
    np.testing.assert_array_equal(whole["raw"][0].images, squats)
    turned = whole["turned_cut"][0].images
    assert turned.shape == cam[CUT_FRAME:].shape
    error = np.abs(turned.astype(int) - cam[CUT_FRAME:]).mean(axis=(1, 2, 3))
    assert error.max() < 6, error  # upright: turned the wrong way, it would be ~50


def test_a_containers_wrong_count_is_corrected_not_a_reason_to_switch(whole: dict) -> None:
    """The cut MP4 announces its 100 packets; 67 frames are presented, and PyAV still decodes."""
    layout = whole["cut"][1]
    assert (layout.announced, layout.packets, layout.frames) == (100, 100, 67)
    assert layout.expected_frames == 67


def test_max_frames_counts_presented_frames(files: dict[str, Path], whole: dict) -> None:
    with VideoSource(files["cut"], inference_size=SIZE, max_frames=20) as source:
        assert source.info.num_frames == 20
        batch = read_all(source)
    full = whole["cut"][0]
    np.testing.assert_array_equal(batch.frame_idx, np.arange(20))
    np.testing.assert_array_equal(batch.time_s, full.time_s[:20])
    np.testing.assert_array_equal(batch.images, full.images[:20])


# --- ranges, as parallel workers read them ---


SPLITS = {
    "ts": [(0, 350, 500), (0, 150, 401, 450, 500), (0, 99, 100, 101, 500)],
    "cut": [(0, 33, 67), (0, 1, 66, 67)],
    "turned_cut": [(0, 40, 67)],
    "raw": [(0, 30, 65), (0, 64, 65)],
}


@pytest.mark.parametrize("name", EXPECTED)
def test_ranges_read_apart_give_the_whole_read(
    files: dict[str, Path], whole: dict, name: str
) -> None:
    full, layout = whole[name]
    for bounds in SPLITS[name]:
        parts = [
            read_range(files[name], a, b, layout=layout, batch_size=8)
            for a, b in itertools.pairwise(bounds)
        ]
        for field in FrameBatch.__annotations__:
            got = np.concatenate([getattr(p, field) for p in parts])
            np.testing.assert_array_equal(got, getattr(full, field), err_msg=f"{bounds} {field}")


def test_a_late_seek_is_retried_further_back(
    files: dict[str, Path], whole: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """MPEG-TS has no index: a seek to frame 350 lands past the key frame at 300 and the decoder
    would start at 400. The range notices, seeks back further, and starts at 350; without the
    parent's layout it probes the file itself and gets the same."""
    full = whole["ts"][0]
    with caplog.at_level(logging.DEBUG, logger="fastpose.video"):
        part = read_range(files["ts"], 350, 420)
    assert any("landed" in r.getMessage() for r in caplog.records), "no late seek to retry"
    np.testing.assert_array_equal(part.frame_idx, np.arange(350, 420))
    np.testing.assert_array_equal(part.images, full.images[350:420])
    np.testing.assert_array_equal(part.time_s, full.time_s[350:420])


# --- the layout ---


def test_a_range_with_the_parents_layout_does_not_probe(
    files: dict[str, Path], whole: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    full, layout = whole["cut"]

    def probe_file(*args: object) -> None:
        raise AssertionError("probed again")

    monkeypatch.setattr("fastpose.video.source.probe_file", probe_file)
    part = read_range(files["cut"], 10, 30, layout=layout)
    np.testing.assert_array_equal(part.images, full.images[10:30])
    with pytest.raises(AssertionError, match="probed again"):
        VideoSource(files["cut"])


def test_layout_is_frozen_validated_and_tied_to_its_file(
    files: dict[str, Path], whole: dict
) -> None:
    layout = whole["cut"][1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.frames = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"VideoLayout: expected rotation in 0, 90, 180, 270"):
        dataclasses.replace(layout, rotation=45)
    with pytest.raises(ValueError, match=r"VideoLayout: expected ticks: int64 \(0 or 67,\)"):
        dataclasses.replace(layout, ticks=layout.ticks[:10])
    with pytest.raises(ValueError, match=r"VideoSource: expected a layout of .*ts"):
        VideoSource(files["ts"], layout=layout)


def test_raw_stream_warns_once_and_takes_the_users_rate(
    files: dict[str, Path], whole: dict, caplog: pytest.LogCaptureFixture
) -> None:
    path, layout = files["raw"], whole["raw"][1]
    assert layout.timeless and layout.fps == 5.0
    with caplog.at_level(logging.WARNING, logger="fastpose.video"):
        with VideoSource(path, fps=10) as source:
            np.testing.assert_allclose(source.frame_times, np.arange(65) / 10)
        read_range(path, 20, 40, layout=layout, fps=10)  # a worker: the parent warned
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: no timestamps in the stream (a raw h264 stream?); frames timed at 10 frames/s"
    ]


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotation_from_the_track_header(tmp_path: Path, rotation: int) -> None:
    """The display matrix of the MP4 track header, read without decoding (for the decoders that
    PyAV's first frame can't tell)."""
    path = cut_mp4(data_file("pose_squats.mp4"), tmp_path / "r.mp4", 0.0, rotation=rotation)
    with path.open("rb") as f:
        assert _tkhd_rotation(f, path.stat().st_size) == rotation
    with VideoSource(path, max_frames=1) as source:
        assert source.info.rotation == rotation


# --- the CLI, with one and two workers ---


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("name", TRACKED)
def test_cli_tracks_every_presented_frame_once(
    files: dict[str, Path], tmp_path: Path, name: str, workers: int
) -> None:
    """Every frame FFmpeg presents tracked once, on one landmarker and on two that really run
    (ranges of 20 frames or more: every file splits, the MPEG-TS seeking without an index)."""
    export = tmp_path / "x.parquet"
    split = ("--min-range-frames", "20")
    result = run_cli("run", files[name], "--workers", workers, *split, "--export", export, *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"on {workers} worker(s)" in result.stderr, result.stderr[-3000:]
    frames = pq.read_table(export, columns=["frame_idx"]).column("frame_idx").to_numpy()
    assert len(frames) % 33 == 0
    assert np.array_equal(np.sort(frames[::33]), np.arange(TRACKED[name])), "a frame twice or none"
    assert "Traceback" not in result.stderr
    if name == "raw":
        assert result.stderr.count("no timestamps in the stream") == 1, result.stderr


def test_cli_max_frames_counts_presented_frames(files: dict[str, Path], tmp_path: Path) -> None:
    export = tmp_path / "x.parquet"
    result = run_cli("run", files["cut"], "--max-frames", 20, "--export", export, *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    frames = pq.read_table(export, columns=["frame_idx"]).column("frame_idx").to_numpy()
    assert set(frames.tolist()) == set(range(20))

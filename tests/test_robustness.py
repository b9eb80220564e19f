"""Issue 3, robustness: `fastpose run` on bad inputs, odd frames, bad models, unwritable outputs,
signals, a missing GPU, out-of-range options and missing system libraries. Refusals run
``fastpose.cli.main`` in this process (``cli_main``); runs that track, signals, environments and
missing libraries run the real CLI in a process.

Every failure must end in one line on stderr naming what is wrong, a non-zero exit, no traceback,
and no output lost or half-written.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest
from clips import faststart, loop_video
from conftest import ROOT, CliResult, data_file, read_rrd, run_cli, scaled
from rrd_video import first_frame

from fastpose.skeleton import NUM_LANDMARKS

FAST = ("--no-segment", "--no-progress")
#: The signal tests' clip (e2e): 3 units of 600 frames with --workers 2, the third still running
#: after one is logged.
LOOP_FRAMES = 1800
PREVIOUS = b"a previous run's output\n"


def _squats() -> Path:
    return data_file("pose_squats.mp4")


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _assert_fails(result: CliResult, *needles: str, code: int = 1, only_line: bool = True) -> str:
    """Exit ``code``, no traceback, a last stderr line holding every needle; returns that line."""
    lines = _lines(result.stderr)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert lines, "nothing on stderr"
    if only_line:
        assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[-1], f"{needle!r} not in {lines[-1]!r}"
    return lines[-1]


def _no_partials(directory: Path) -> None:
    left = sorted(p.name for p in directory.glob("*.partial*"))
    assert not left, f"working files left behind: {left}"


def _export_frames(path: Path) -> set[int]:
    return set(pq.read_table(path).column("frame_idx").to_pylist())


def _pixels(path: Path, num_frames: int) -> np.ndarray:
    """(frames, 33, 2) x_px, y_px of person 0 from an export; NaN where no person."""
    cols = pq.read_table(path).to_pydict()
    frame, person = np.asarray(cols["frame_idx"]), np.asarray(cols["person"])
    keep = person == 0
    out = np.full((num_frames, NUM_LANDMARKS, 2), np.nan)
    xy = np.stack([np.asarray(cols["x_px"]), np.asarray(cols["y_px"])], axis=1)[keep]
    out[frame[keep], np.tile(np.arange(NUM_LANDMARKS), keep.sum() // NUM_LANDMARKS)] = xy
    return out


def _rrd_rows(path: Path, entity: str) -> dict[str, set[int]]:
    """frame_idx values of ``entity``'s temporal rows, by the archetype logged there."""
    from rerun.chunk import RrdReader

    rows: dict[str, set[int]] = {}
    for chunk in RrdReader(path).stream().to_chunks():
        if chunk.is_static or chunk.entity_path.lstrip("/") != entity:
            continue
        batch = chunk.to_record_batch()
        frames = batch.column("frame_idx").to_pylist()
        for name in batch.schema.names:
            if ":" in name:
                archetype = name.split(":")[0]
                present = batch.column(name).is_valid().to_pylist()
                rows.setdefault(archetype, set()).update(
                    f for f, ok in zip(frames, present, strict=True) if ok
                )
    return rows


# --- clips made at test time --------------------------------------------------------------------


def _remux(
    src: Path,
    dst: Path,
    fmt: str,
    edit: Callable[[list[av.Packet]], None] | None = None,
    rotation: int | None = None,
) -> Path:
    """Copy ``src``'s video packets into ``dst`` (no re-encoding), after ``edit`` changes them."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        if rotation is not None:
            stream.set_display_rotation(rotation)
        packets = [p for p in inp.demux(inp.streams.video[0]) if p.size]
        if edit is not None:
            edit(packets)
        for packet in packets:
            packet.stream = stream
            out.mux(packet)
    return dst


def _encode(dst: Path, images: list[np.ndarray], fps: int = 10) -> Path:
    """``images`` (RGB) as an H.264 MP4."""
    h, w = images[0].shape[:2]
    with av.open(str(dst), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for image in images:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return dst


def _squat_frames(n: int) -> list[np.ndarray]:
    with av.open(str(_squats())) as inp:
        return [
            f.to_ndarray(format="rgb24")
            for _, f in zip(range(n), inp.decode(video=0), strict=False)
        ]


def _audio_only(dst: Path) -> Path:
    with av.open(str(dst), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return dst


def _zero_frames(dst: Path) -> Path:
    """An MP4 with an H.264 video track and no frame (fragmented: its header is written first)."""
    options = {"movflags": "frag_keyframe+empty_moov"}
    with av.open(str(dst), "w", format="mp4", options=options) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()
    return dst


def _first_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def long_clip(clips: Path) -> Path:
    """pose_squats looped to LOOP_FRAMES frames (a person in every frame): the signal tests'."""
    return loop_video(_squats(), clips / "squats_loop.mp4", LOOP_FRAMES)


# --- input --------------------------------------------------------------------------------------


def _make_input(kind: str, d: Path) -> Path:
    if kind == "missing":
        return d / "no_such_clip.mp4"
    if kind == "directory":
        (d / "a_directory.mp4").mkdir()
        return d / "a_directory.mp4"
    if kind == "empty":
        (d / "empty.mp4").write_bytes(b"")
        return d / "empty.mp4"
    if kind == "random-bytes":
        rng = np.random.default_rng(0)
        (d / "random.mp4").write_bytes(rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes())
        return d / "random.mp4"
    if kind == "truncated-index-at-end":  # pose_squats.mp4 keeps its moov box at the end
        return _first_half(_squats(), d / "truncated.mp4")
    if kind == "text":
        (d / "notes.txt").write_text("These are notes, not a video.\n" * 20)
        return d / "notes.txt"
    if kind == "audio-only":
        return _audio_only(d / "audio.m4a")
    if kind == "zero-frames":
        return _zero_frames(d / "zero_frames.mp4")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("empty", "empty file (0 bytes)"),
        ("random-bytes", "not a video or image"),
        ("truncated-index-at-end", "truncated MP4"),
        ("text", "not a video or image (a text file)"),
        ("audio-only", "no video stream"),
        ("zero-frames", "no frames"),
    ],
)
def test_bad_input_fails_in_one_line_and_keeps_outputs(cli_main, tmp_path, kind, expected):
    """A bad input: one line naming it, exit 1; existing outputs are kept, even with --overwrite."""
    video = _make_input(kind, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.rrd").write_bytes(PREVIOUS)
    save, export = out / "run.rrd", out / "run.parquet"
    result = cli_main("run", video, "--save", save, "--export", export, "--overwrite", *FAST)
    _assert_fails(result, str(video), expected)
    assert save.read_bytes() == PREVIOUS
    assert not export.exists()
    _no_partials(out)


def test_truncated_mp4_keeps_what_decodes_and_says_so(tmp_path):
    """The first half of an MP4 with its index in front: the frames there are processed, with a
    warning (shown even with -q) saying how many were read and that the file ended early."""
    front = faststart(_squats(), tmp_path / "faststart.mp4")
    video = _first_half(front, tmp_path / "truncated.mp4")
    save, export = tmp_path / "out.rrd", tmp_path / "out.parquet"
    result = run_cli("run", video, "-q", "--save", save, "--export", export, *FAST)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    match = re.search(
        rf"{re.escape(str(video))}: the file ended early; read (\d+) frames", result.stderr
    )
    assert match, result.stderr
    read = int(match.group(1))
    assert 0 < read < 65
    assert read_rrd(save).frames["video"] == set(range(read))
    assert _export_frames(export) == set(range(read))


# --- frames -------------------------------------------------------------------------------------


def test_repeated_and_backward_timestamps_are_repaired(tmp_path):
    """Frame times that repeat or go backwards (an MKV remux) are repaired with a warning."""

    def garble(packets: list[av.Packet]) -> None:
        pts = [p.pts for p in packets]
        step = pts[1] - pts[0]
        pts[10] = pts[11] = pts[9]  # repeated twice
        pts[30], pts[31] = pts[27], pts[28] - step // 2  # backwards
        for i, (packet, t) in enumerate(zip(packets, pts, strict=True)):
            packet.pts, packet.dts = t, i  # dts stays increasing, as the muxer requires

    video = _remux(_squats(), tmp_path / "bad_times.mkv", "matroska", garble)
    save, export = tmp_path / "out.rrd", tmp_path / "out.parquet"
    result = run_cli("run", video, "--save", save, "--export", export, *FAST)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"{re.escape(str(video))}: \d+ frame times .* repaired", result.stderr)
    assert read_rrd(save).frames["video"] == set(range(65))
    table = pq.read_table(export).to_pydict()
    frames, times = np.asarray(table["frame_idx"]), np.asarray(table["time_s"])
    per_frame = times[np.unique(frames, return_index=True)[1]]
    assert len(per_frame) == 65
    assert np.all(np.diff(per_frame) > 0), per_frame


@pytest.fixture(scope="module")
def upright_landmarks(clips: Path) -> np.ndarray:
    """(65, 33, 2) unsmoothed pixels of pose_squats.mp4 as it is (no rotation metadata)."""
    export = clips / "upright.parquet"
    result = run_cli(
        "run", _squats(), "--save", clips / "upright.rrd", "--export", export, "--no-smooth", *FAST
    )
    assert result.returncode == 0, result.stderr
    return _pixels(export, 65)


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_is_applied(tmp_path, upright_landmarks, rotation):
    """pose_squats remuxed with a display rotation: frames are logged turned as the metadata says,
    and the landmarks are those of the unrotated run turned the same way (within a few px)."""
    video = _remux(_squats(), tmp_path / f"rot{rotation}.mp4", "mp4", rotation=rotation)
    save, export = tmp_path / "out.rrd", tmp_path / "out.parquet"
    args = ("--no-smooth", "--inference-size", "640", *FAST)  # stream frames at 360x640
    result = run_cli("run", video, "--save", save, "--export", export, *args)
    assert result.returncode == 0, result.stderr
    assert "1280x720" in result.stderr  # upright size: the 720x1280 frames turned a quarter

    # Frames: np.rot90 turns counter-clockwise, as the display matrix does for +90.
    k = rotation // 90
    first = cv2.resize(_squat_frames(1)[0], (360, 640), interpolation=cv2.INTER_AREA)
    logged = first_frame(save).astype(np.int16)
    assert logged.shape == (360, 640, 3)
    right = np.abs(logged - np.rot90(first, k)).mean()
    wrong = np.abs(logged - np.rot90(first, -k)).mean()
    assert right < 10 < wrong, (right, wrong)

    # Landmarks: (x, y) of the 720x1280 original, turned with the frame.
    x, y = upright_landmarks[..., 0], upright_landmarks[..., 1]
    expected = np.stack([y, 720 - x], -1) if rotation == 90 else np.stack([1280 - y, x], -1)
    err = np.linalg.norm(_pixels(export, 65) - expected, axis=-1)
    assert not np.isnan(err).any(), "a frame without a person"
    assert np.median(err) < 4 and err.max() < 15, (np.median(err), err.max())


def test_frames_without_a_person_log_no_points(tmp_path):
    """Black frames spliced between real ones: no points for them, a Clear where the person goes,
    and the summary counts them."""
    real = [cv2.resize(im, (360, 640), interpolation=cv2.INTER_AREA) for im in _squat_frames(30)]
    black = [np.zeros_like(real[0])] * 15
    video = _encode(tmp_path / "gap.mp4", real[:15] + black + real[15:])
    save, export = tmp_path / "out.rrd", tmp_path / "out.parquet"
    result = run_cli("run", video, "--save", save, "--export", export, *FAST)
    assert result.returncode == 0, result.stderr
    assert "45 frames, 15 without a person" in result.stderr
    with_person = set(range(15)) | set(range(30, 45))
    assert _export_frames(export) == with_person
    for entity in ("video/pose/points", "person/pose/points"):
        rows = _rrd_rows(save, entity)
        points = rows["Points2D" if entity.startswith("video") else "Points3D"]
        assert points == with_person, entity
        assert rows["Clear"] == {15}, entity
    assert read_rrd(save).frames["video"] == set(range(45))


# --- model --------------------------------------------------------------------------------------


def _make_model(kind: str, d: Path, bundle: Path) -> Path:
    if kind == "missing":
        return d / "no_such_model.task"
    if kind == "corrupt":
        rng = np.random.default_rng(1)
        (d / "corrupt.task").write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
        return d / "corrupt.task"
    if kind == "truncated":
        return _first_half(bundle, d / "truncated.task")
    if kind == "tflite":
        with zipfile.ZipFile(bundle) as zf:
            (d / "pose_detector.tflite").write_bytes(zf.read("pose_detector.tflite"))
        return d / "pose_detector.tflite"
    if kind == "rejected":  # passes the zip checks; MediaPipe itself refuses it
        with zipfile.ZipFile(d / "garbage.task", "w", zipfile.ZIP_STORED) as zf:
            for member in ("pose_detector.tflite", "pose_landmarks_detector.tflite"):
                zf.writestr(member, b"\0\0\0\0TFL3" + bytes(100))
        return d / "garbage.task"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "model file not found"),
        ("corrupt", "not a valid .task bundle"),
        ("truncated", "truncated or corrupt zip"),
        ("tflite", "is a bare TFLite model, expected a .task bundle"),
        ("rejected", "MediaPipe rejected the model"),
    ],
)
def test_bad_model_fails_in_one_line(cli_main, tmp_path, model_path, kind, expected):
    model = _make_model(kind, tmp_path, model_path)
    save = tmp_path / "out.rrd"
    args = ("--model", model, "--save", save, "--max-frames", "3", *FAST)
    result = cli_main("run", _squats(), *args)
    _assert_fails(result, str(model), expected)
    assert not save.exists()
    _no_partials(tmp_path)


def test_unwritable_cache_falls_back_to_temp_dir(tmp_path, model_path):
    """FASTPOSE_CACHE under a regular file (unwritable even for root): a warning naming both
    directories, then the per-user temp cache is used."""
    (tmp_path / "a_file").write_bytes(b"")
    temp = tmp_path / "tmp"
    fallback = temp / f"fastpose-cache-{os.getuid()}"
    fallback.mkdir(parents=True)
    shutil.copy(model_path, fallback / model_path.name)
    cache = tmp_path / "a_file" / "cache"
    env = {"FASTPOSE_CACHE": str(cache), "TMPDIR": str(temp)}
    save = tmp_path / "out.rrd"
    result = run_cli("run", _squats(), "--save", save, "--max-frames", "3", *FAST, env=env)
    assert result.returncode == 0, result.stderr
    warning = f"cache directory {cache} is not writable; using {fallback} instead"
    assert warning in result.stderr
    assert "model full (cache)" in result.stderr
    assert len(read_rrd(save).frames["video"]) == 3


#: No network: every HTTP(S) request goes to a closed local port, and pip uses no index.
OFFLINE = {
    **{k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")},
    "no_proxy": "",
    "NO_PROXY": "",
    "PIP_NO_INDEX": "1",
    "PIP_CONFIG_FILE": os.devnull,
}


def test_uncached_model_without_network_fails_in_one_line(tmp_path):
    cache = tmp_path / "empty_cache"
    save = tmp_path / "out.rrd"
    env = {**OFFLINE, "FASTPOSE_CACHE": str(cache)}
    result = run_cli("run", _squats(), "--model", "heavy", "--save", save, *FAST, env=env)
    _assert_fails(result, "model 'heavy' is not cached", str(cache), "use --model full")
    assert not save.exists()


def test_full_model_neither_downloadable_nor_buildable_fails_clearly(tmp_path):
    """`full` is built from PyPI when it can't be downloaded; with neither, one clear error last."""
    env = {**OFFLINE, "FASTPOSE_CACHE": str(tmp_path / "empty_cache")}
    save = tmp_path / "out.rrd"
    result = run_cli("run", _squats(), "--save", save, *FAST, env=env)
    _assert_fails(result, "cannot download the 'full' model nor build it offline", only_line=False)
    assert "building 'full' from the mediapipe" in result.stderr  # it said what it tried
    assert not save.exists()
    assert not list((tmp_path / "empty_cache").glob("*.task"))


# --- output -------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["save", "export"])
@pytest.mark.parametrize("where", ["under-a-file", "missing-dir", "sysfs"])
def test_unwritable_output_fails_before_any_frame(cli_main, tmp_path, which, where):
    (tmp_path / "a_file").write_bytes(b"")
    name = "out.rrd" if which == "save" else "out.parquet"
    bad = {
        "under-a-file": tmp_path / "a_file" / name,
        "missing-dir": tmp_path / "no_dir" / name,
        "sysfs": Path("/sys") / f"fastpose-test-{name}",  # EACCES, even for root
    }[where]
    good = tmp_path / ("out.parquet" if which == "save" else "out.rrd")
    save, export = (bad, good) if which == "save" else (good, bad)
    result = cli_main("run", _squats(), "--save", save, "--export", export, *FAST)
    _assert_fails(result, str(bad), "cannot write there")
    assert not good.exists()
    _no_partials(tmp_path)


def test_export_with_unknown_suffix_fails_before_any_frame(cli_main, tmp_path):
    save, export = tmp_path / "out.rrd", tmp_path / "out.txt"
    result = cli_main("run", _squats(), "--save", save, "--export", export, *FAST)
    _assert_fails(result, str(export), "expected a .parquet or .csv file")
    assert not save.exists()


@pytest.mark.parametrize("which", ["save", "export"])
def test_existing_output_needs_overwrite(cli_main, tmp_path, which):
    existing = tmp_path / ("out.rrd" if which == "save" else "out.parquet")
    other = tmp_path / ("out.parquet" if which == "save" else "out.rrd")
    existing.write_bytes(PREVIOUS)
    args = ("run", _squats(), "--save", tmp_path / "out.rrd", "--export", tmp_path / "out.parquet")
    result = cli_main(*args, "--max-frames", "3", *FAST)
    _assert_fails(result, str(existing), "already exists (pass --overwrite")
    assert existing.read_bytes() == PREVIOUS
    assert not other.exists()

    result = cli_main(*args, "--max-frames", "3", "--overwrite", *FAST)
    assert result.returncode == 0, result.stderr
    assert len(read_rrd(tmp_path / "out.rrd").frames["video"]) == 3
    assert _export_frames(tmp_path / "out.parquet") == {0, 1, 2}


def _popen(*args: str | Path, stderr: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    """``python -m fastpose ARGS`` started in the background, stderr to a file."""
    with stderr.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "fastpose", *map(str, args)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            **kwargs,
        )


def _wait_for(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    what: str,
    log: Path,
    timeout: float = 300,
) -> None:
    """Poll ``ready`` until it holds; fail if ``proc`` ends first or after ``scaled(timeout)`` s."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the CLI ended (exit {proc.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {timeout:g} s:\n{log.read_text()}")
        time.sleep(0.02)


def test_outputs_are_written_under_a_working_name(tmp_path):
    """While a run goes on, its outputs are NAME.partial.SUFFIX, renamed at its end (a process:
    the test looks while it runs)."""
    save, export, log = tmp_path / "out.rrd", tmp_path / "out.parquet", tmp_path / "stderr.txt"
    args = ("run", _squats(), "--save", save, "--export", export, "--inference-size", "320")
    proc = _popen(*args, "--workers", "1", *FAST, stderr=log)
    partials = [tmp_path / "out.partial.rrd", tmp_path / "out.partial.parquet"]
    _wait_for(proc, lambda: all(p.exists() for p in partials), "temporary outputs", log)
    assert not save.exists() and not export.exists()
    assert proc.wait(timeout=scaled(300)) == 0, log.read_text()
    assert save.exists() and export.exists()
    _no_partials(tmp_path)
    assert len(read_rrd(save).frames["video"]) == 65


# --- interruption -------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sig", "to_group", "workers"),
    [
        pytest.param(signal.SIGINT, True, 2, id="SIGINT-ctrl-c-2-workers"),
        pytest.param(signal.SIGTERM, False, 2, id="SIGTERM-kill-2-workers"),
        pytest.param(signal.SIGINT, False, 1, id="SIGINT-1-worker"),
    ],
)
def test_signal_keeps_every_processed_frame(tmp_path, long_clip, sig, to_group, workers):
    """A signal mid-run: exit 128+N, one line; both outputs hold exactly the frames processed so
    far and open cleanly, under their working names (out.partial.rrd, named in the line), none
    under a final name; no worker survives. Ctrl-C reaches the whole process group."""
    save, export, log = tmp_path / "out.rrd", tmp_path / "out.parquet", tmp_path / "stderr.txt"
    proc = _popen(
        *("run", long_clip, "--save", save, "--export", export, "--workers", workers),
        *("--inference-size", "320", *FAST),
        stderr=log,
        start_new_session=True,
    )
    cli = psutil.Process(proc.pid)
    family: dict[int, psutil.Process] = {}
    partial_save, partial_export = tmp_path / "out.partial.rrd", tmp_path / "out.partial.parquet"

    def frames_logged() -> bool:  # a row group reached the export
        with contextlib.suppress(psutil.NoSuchProcess):
            family.update({p.pid: p for p in cli.children(recursive=True)})
        return partial_export.exists() and partial_export.stat().st_size > 4096

    try:
        _wait_for(proc, frames_logged, "frames in the export", log)
        os.killpg(proc.pid, sig) if to_group else proc.send_signal(sig)
        code = proc.wait(timeout=scaled(120))
    finally:
        proc.kill()
    stderr = log.read_text()
    last = _assert_fails(CliResult(code, "", stderr), sig.name, code=128 + sig, only_line=False)
    n = int(re.search(r"after (\d+) frames", last).group(1))
    assert str(partial_save) in last and str(partial_export) in last
    assert 0 < n < LOOP_FRAMES
    rec = read_rrd(partial_save)
    assert rec.frames["video"] == rec.frames["video/pose/points"] == set(range(n))
    assert _export_frames(partial_export) == set(range(n))
    assert not save.exists() and not export.exists()
    _, alive = psutil.wait_procs(list(family.values()), timeout=scaled(10))
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    for p in alive:
        p.kill()
    assert not alive, [p.cmdline() for p in alive]


# --- GPU, options, system libraries -------------------------------------------------------------


def test_require_gpu_without_gpu_fails_in_one_line(cli_main, tmp_path):
    save = tmp_path / "out.rrd"
    result = cli_main("run", _squats(), "--gpu", "--require-gpu", "--save", save, *FAST)
    _assert_fails(result, "--require-gpu", "GPU delegate cannot be created")
    assert not save.exists()


def test_gpu_falls_back_once_with_two_workers(tmp_path):
    """--gpu where there is none, on 2 landmarkers that really run (65 frames in ranges of 20 or
    more): one warning, not one per landmarker; every frame recorded."""
    save = tmp_path / "out.rrd"
    args = ("--gpu", "--workers", "2", "--min-range-frames", "20", "--inference-size", "320")
    result = run_cli("run", _squats(), "--save", save, *args, *FAST)
    assert result.returncode == 0, result.stderr
    assert len([line for line in _lines(result.stderr) if "GPU" in line]) == 1, result.stderr
    assert "on 2 worker(s), cpu" in result.stderr
    assert read_rrd(save).frames["video"] == set(range(65))


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--workers", "0", "expected an integer >= 1, got 0"),
        ("--workers", "two", "expected an integer >= 1, got two"),
        ("--num-poses", "0", "expected an integer >= 1, got 0"),
        ("--max-frames", "-5", "expected an integer >= 1, got -5"),
        ("--max-frames", "0", "expected an integer >= 1, got 0"),
        ("--min-range-frames", "0", "expected an integer >= 1, got 0"),
        ("--inference-size", "-1", "expected an integer >= 0, got -1"),
        ("--fps", "0", "expected a number > 0, got 0"),
        ("--fps", "inf", "expected a number > 0, got inf"),
        ("--min-detection-confidence", "1.5", "expected a number in [0, 1], got 1.5"),
        ("--model", "huge", "unknown model 'huge'"),
    ],
)
def test_option_out_of_range_is_a_usage_error(cli_main, option, value, expected):
    result = cli_main("run", _squats(), f"{option}={value}")
    _assert_fails(result, f"argument {option}: {expected}", code=2, only_line=False)


def test_missing_libegl_names_the_packages(tmp_path):
    """A broken libEGL.so.1 first on LD_LIBRARY_PATH makes MediaPipe's library fail to load for
    real: one line naming the library and the apt packages, and no output file."""
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "libEGL.so.1").write_bytes(b"not a shared library")
    save = tmp_path / "out.rrd"
    env = {"LD_LIBRARY_PATH": f"{libs}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    result = run_cli("run", _squats(), "--save", save, "--workers", "2", *FAST, env=env)
    _assert_fails(result, "libEGL.so.1", "apt-get install libegl1 libgles2")
    assert not save.exists()


# --- MediaPipe's native log, and how a process ended --------------------------------------------


def test_native_log_keeps_the_tail_of_descriptor_2_and_of_child_processes(capfd):
    """Inside NativeLog, writes to descriptor 2 (this process's and a child's, as MediaPipe's glog
    makes them) stay off the terminal and their last lines are kept; other lines on descriptor 2
    (Python's) are not kept but passed on to the terminal."""
    from fastpose.native_log import NativeLog

    with NativeLog(lines=5) as native:
        for i in range(20):
            os.write(2, f"E0000 native line {i}\n".encode())
        os.write(2, b"a line of Python's, not the native log's\n")
        subprocess.run(
            [sys.executable, "-c", "import os; os.write(2, b'F0000 child: check failed\\n')"],
            check=True,
        )
        deadline = time.monotonic() + scaled(5)  # NativeLog's thread reads the pipe
        while "F0000 child: check failed" not in native.tail() and time.monotonic() < deadline:
            time.sleep(0.01)
        tail = native.tail()
    expected = [f"E0000 native line {i}" for i in range(16, 20)] + ["F0000 child: check failed"]
    assert tail == expected, tail
    terminal = capfd.readouterr().err
    assert "a line of Python's, not the native log's" in terminal, terminal
    assert "native line" not in terminal and "check failed" not in terminal, terminal


def test_native_tail_shown_with_a_model_error_keeps_only_errors(caplog):
    """Above a landmarker's error: the native log's error lines, not its info, warnings or stack
    frames, nor what the error message already quotes."""
    from fastpose.cli import _show_native_tail
    from fastpose.errors import ModelError
    from fastpose.native_log import NativeLog

    with NativeLog() as native:
        for line in (
            "I0000 00:00:1.0 1 calculator_graph.cc:10] Graph started",
            "E0000 00:00:1.1 1 tflite_model_loader.cc:33] Unsupported op: CUSTOM_OP_X",
            "    @     0x7f00  mediapipe::tasks::Create()",
            "ERROR: The model is not a valid Flatbuffer buffer",
        ):
            os.write(2, line.encode() + b"\n")
        deadline = time.monotonic() + scaled(5)
        while len(native.tail()) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        error = ModelError(
            "m.task: MediaPipe rejected the model: The model is not a valid Flatbuffer buffer"
        )
        with caplog.at_level("ERROR", logger="fastpose"):
            _show_native_tail(native, error)
    assert "Unsupported op: CUSTOM_OP_X" in caplog.text
    for noise in ("Graph started", "mediapipe::tasks::Create", "Flatbuffer"):
        assert noise not in caplog.text, caplog.text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import os; os.abort()", "aborted (SIGABRT"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "was killed (SIGKILL"),
        ("raise SystemExit(3)", "exited with code 3"),
    ],
)
def test_describe_exit_tells_an_abort_from_a_kill(code, expected):
    from fastpose.errors import describe_exit

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=scaled(60))
    assert describe_exit(proc.returncode).startswith(expected), describe_exit(proc.returncode)


def test_asset_mode_on_a_rotated_file_is_refused(cli_main, tmp_path):
    """Rerun's video player ignores the rotation: --video-mode asset is refused in one line."""
    video = _remux(_squats(), tmp_path / "rot90.mp4", "mp4", rotation=90)
    save = tmp_path / "out.rrd"
    result = cli_main("run", video, "--video-mode", "asset", "--save", save, *FAST)
    _assert_fails(
        result, str(video), "--video-mode asset", "rotated 90 degrees", "jpeg", only_line=False
    )
    assert not save.exists()
    _no_partials(tmp_path)

"""Faults: MediaPipe's import under threads and when its private paths fail, crash reports, bad
input paths, the viewer's port and lifetime, and a batch stopped by SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from clips import loop_video, transcode
from conftest import ROOT, data_file, reference_image_landmarks, scaled


def _python(code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (a fresh import state), run from the repository; ``timeout``
    is scaled (TIMEOUT_SCALE)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        cwd=ROOT,
    )


def test_mediapipe_completes_once_for_concurrent_threads() -> None:
    """After pose_api(), 6 threads touching mediapipe.tasks.vision at the same instant all get
    it, in each of 3 fresh processes (before the fix: 3 of 4 threads failed, every trial)."""
    code = """
        import threading
        from fastpose.mediapipe_api import pose_api
        api = pose_api()
        import mediapipe
        gate, got = threading.Barrier(6), []
        def touch():
            gate.wait()
            try:
                got.append(mediapipe.tasks.vision.PoseLandmarker is api.PoseLandmarker)
            except Exception as exc:
                got.append(repr(exc))
        threads = [threading.Thread(target=touch) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(got)
    """
    for trial in range(3):
        proc = _python(code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == str([True] * 6), f"trial {trial}: {proc.stdout}"


def test_pose_api_falls_back_to_plain_import(model_path) -> None:
    """When MediaPipe's private module paths fail (a finder refuses every mediapipe submodule
    that fastpose asks for itself), pose_api says so in a debug line, imports mediapipe whole,
    and its landmarker still finds the reference pose of mediapipe_pose.jpg."""
    image = data_file("mediapipe_pose.jpg")
    code = f"""
        import json, logging, sys

        class RefusePrivatePaths:
            def find_spec(self, name, path=None, target=None):
                if not name.startswith("mediapipe."):
                    return None
                frame = sys._getframe(1)
                while frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen")):
                    frame = frame.f_back
                if frame.f_globals.get("__name__") == "fastpose.mediapipe_api":
                    raise ModuleNotFoundError(f"refused: {{name}}", name=name)
                return None

        sys.meta_path.insert(0, RefusePrivatePaths())
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(message)s")
        from fastpose.mediapipe_api import pose_api
        api = pose_api()
        assert "mediapipe.tasks.python.audio" in sys.modules  # the whole package
        options = api.PoseLandmarkerOptions(
            base_options=api.BaseOptions(model_asset_path={str(model_path)!r}),
            running_mode=api.RunningMode.IMAGE,
        )
        with api.PoseLandmarker.create_from_options(options) as landmarker:
            result = landmarker.detect(api.Image.create_from_file({str(image)!r}))
        print(json.dumps([[p.x, p.y] for p in result.pose_landmarks[0]]))
    """
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    debug, *_, landmarks = proc.stdout.strip().splitlines()
    assert "private module paths failed" in debug and "refused: mediapipe." in debug, debug
    err = np.abs(np.asarray(json.loads(landmarks)) - reference_image_landmarks())
    assert err.max() < 0.03, f"worst landmark error {err.max():.4f}"


# --- crash reports ------------------------------------------------------------------------------


FAST = ("--no-segment", "--no-progress", "--inference-size", "320")


@pytest.fixture(scope="module")
def long_squats(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pose_squats looped to 3,000 frames: long enough to be stopped mid-run."""
    clip = tmp_path_factory.mktemp("clips") / "squats_3000.mp4"
    return loop_video(data_file("pose_squats.mp4"), clip, 3000)


@pytest.mark.e2e
def test_segfault_mid_run_leaves_its_report(tmp_path, long_squats) -> None:
    """`kill -SEGV` during `fastpose run`: the process dies by the signal, and the terminal gets
    faulthandler's report with the Python traceback of fastpose's threads, then the native log's
    last lines (before: exit 139 and only the info line)."""
    export, log = tmp_path / "out.parquet", tmp_path / "stderr.txt"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", "run", long_squats, "--export", export, *FAST],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    partial = tmp_path / "out.partial.parquet"
    deadline = time.monotonic() + scaled(300)
    try:
        while not (partial.exists() and partial.stat().st_size > 4096):
            assert proc.poll() is None, f"ended (exit {proc.returncode}):\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no frames exported in {scaled(300):g} s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGSEGV)
        code = proc.wait(timeout=scaled(60))
    finally:
        proc.kill()
    header = "fastpose: the native log's last lines (file descriptor 2):\n"
    deadline = time.monotonic() + scaled(20)  # the watcher prints once it sees the process gone
    while header not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    stderr = log.read_text()
    assert code == -signal.SIGSEGV, stderr
    assert "Fatal Python error: Segmentation fault" in stderr, stderr
    assert "most recent call first" in stderr and "fastpose/" in stderr, stderr
    report = stderr.split(header, 1)
    assert len(report) == 2 and report[1].startswith("  "), stderr


def test_native_abort_shows_its_own_lines() -> None:
    """A CHECK failure's line goes into the captured descriptor 2, then abort(): the terminal gets
    faulthandler's report and, after it, that line."""
    proc = _python(
        """
        import os
        from fastpose.native_log import NativeLog
        with NativeLog():
            os.write(2, b"I0000 calculator_graph.cc:1] a line of no interest\\n")
            os.write(2, b"F0000 image_frame.cc:42] Check failed: width > 0 (0 vs. 0)\\n")
            os.abort()
        """
    )  # its stderr ends when the watcher, which holds it too, has printed and ended
    assert proc.returncode == -signal.SIGABRT, proc.stderr
    fatal = proc.stderr.index("Fatal Python error: Aborted")
    check = proc.stderr.index("  F0000 image_frame.cc:42] Check failed: width > 0 (0 vs. 0)")
    assert fatal < check, proc.stderr


def test_native_log_left_cleanly_prints_nothing() -> None:
    """Lines written to descriptor 2 inside the log are in its tail as soon as they are written,
    and a clean exit leaves the terminal empty; descriptor 2 is the terminal again after it."""
    proc = _python(
        """
        import os
        from fastpose.native_log import NativeLog
        with NativeLog() as log:
            os.write(2, b"W0000 one\\nE0000 two\\n")
            assert log.tail(2) == ["W0000 one", "E0000 two"], log.tail()
        os.write(2, b"after\\n")
        """
    )
    assert proc.returncode == 0 and proc.stderr == "after\n", proc.stderr


# --- the viewer ---------------------------------------------------------------------------------


def _rerun_server(keeper: int):  # -> psutil.Process
    """The rerun executable that a served viewer's keeper process started."""
    import psutil

    deadline = time.monotonic() + scaled(10)
    while not (children := psutil.Process(keeper).children()):
        assert time.monotonic() < deadline, "no rerun server under the keeper"
        time.sleep(0.1)
    (server,) = children
    assert os.path.basename(server.exe()) == "rerun", server.cmdline()
    return server


def test_served_viewers_started_at_once_listen_where_they_say() -> None:
    """Three served viewers started at the same time, each from a thread that then ends, keep
    serving, each on the ports its URLs name (the server binds port 0 itself and says which it
    got: no port is chosen, freed, then bound), on localhost only."""
    import threading
    from urllib.parse import urlsplit

    import psutil

    from fastpose.viewer.serve import ServedViewer

    servers: list[ServedViewer] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            servers.append(ServedViewer())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.0)  # a server tied to its starting thread would be ending now
    try:
        assert not errors, errors
        ports = set()
        for server in servers:
            listening = {
                c.laddr
                for c in _rerun_server(server._proc.pid).net_connections()
                if c.status == psutil.CONN_LISTEN
            }
            named = {urlsplit(server.grpc_url).port, urlsplit(server.web_url).port}
            assert {a.port for a in listening} == named, (listening, named)
            assert {a.ip for a in listening} == {"127.0.0.1"}, listening
            ports |= named
        assert len(ports) == 6, ports
    finally:
        for server in servers:
            server.close()


@pytest.mark.e2e
def test_served_viewer_dies_with_its_parent_killed(tmp_path) -> None:
    """kill -9 of the process that serves the viewer: the server (the rerun executable, started
    without Python between fork and exec in the threaded parent) ends within seconds."""
    import psutil

    code = (
        "import threading, time\n"
        "from fastpose.viewer.serve import ServedViewer\n"
        "servers = []\n"
        "starter = threading.Thread(target=lambda: servers.append(ServedViewer()))\n"
        "starter.start()\n"
        "starter.join()\n"
        "print(servers[0]._proc.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        keeper = psutil.Process(int(proc.stdout.readline()))
        server = _rerun_server(keeper.pid)
        time.sleep(1.0)
        assert server.is_running() and server.status() != psutil.STATUS_ZOMBIE
        proc.send_signal(signal.SIGKILL)
        proc.wait(scaled(10))
        _, alive = psutil.wait_procs([server, keeper], timeout=scaled(10))
        for p in alive:
            p.kill()
        assert not alive, [p.cmdline()[:2] for p in alive]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.mark.e2e
def test_stuck_viewer_leaves_other_recordings_their_flush_at_exit(tmp_path) -> None:
    """An API user's own recording to a file, beside a viewer stream that fastpose gave up on (a
    server that answers once, then takes nothing): at a normal exit the user's file is complete
    (every frame, and the footer Rerun writes at its shutdown), within a bounded time."""
    import warnings

    from conftest import read_rrd

    from fastpose.viewer.stream import FLUSH_GRACE_S, FLUSH_TIMEOUT_S

    mine = tmp_path / "mine.rrd"
    code = f"""
        import socket, threading
        import numpy as np
        import rerun as rr
        from fastpose.errors import ViewerError
        from fastpose.target import RerunTarget
        from fastpose.viewer.stream import close_stream

        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        held = []
        def serve():  # answers the HTTP/2 preface with SETTINGS, then takes nothing
            while True:
                conn, _ = server.accept()
                held.append(conn)
                conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        threading.Thread(target=serve, daemon=True).start()
        url = f"rerun+http://127.0.0.1:{{server.getsockname()[1]}}/proxy"

        mine = rr.RecordingStream("users_own")
        mine.save({str(mine)!r})
        stuck = rr.RecordingStream("fastpose")
        stuck.connect_grpc(url)
        rng = np.random.default_rng(0)
        for i in range(200):
            stuck.set_time("frame_idx", sequence=i)
            stuck.log("video", rr.Image(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)))
        try:
            close_stream(stuck, RerunTarget(connect=url), timeout=2)
        except ViewerError as exc:
            print("gave up:", exc, flush=True)
        for i in range(50):
            mine.set_time("frame_idx", sequence=i)
            mine.log("points", rr.Points2D(rng.random((10, 2))))
    """
    start = time.monotonic()
    proc = _python(code, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("gave up:"), proc.stdout
    # The 2 s given up above, the exit's own bounded shutdown, and the rest (imports, 250 frames).
    assert elapsed < 2 + FLUSH_GRACE_S + FLUSH_TIMEOUT_S + scaled(45), elapsed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "RRD file has no footer": Rerun's shutdown did not run
        assert read_rrd(mine).frames["points"] == set(range(50))


# --- input paths --------------------------------------------------------------------------------


def _run_lines(*args: str | Path) -> tuple[int, list[str], str]:
    from conftest import run_cli

    result = run_cli("run", *args, timeout=scaled(300))
    return result.returncode, [x for x in result.stderr.splitlines() if x.strip()], result.stderr


def _input(kind: str, d: Path) -> Path:
    if kind == "fifo":
        os.mkfifo(d / "stream.mp4")
        return d / "stream.mp4"
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "symlink-loop":
        (d / "a.mp4").symlink_to(d / "b.mp4")
        (d / "b.mp4").symlink_to(d / "a.mp4")
        return d / "a.mp4"
    (d / "gone.mp4").symlink_to(d / "moved_away.mp4")
    return d / "gone.mp4"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("fifo", "not a regular file (a named pipe)"),
        ("dev-zero", "not a regular file (a character device)"),
        ("symlink-loop", "a symbolic link loop"),
        ("dangling-symlink", "no such file (a symbolic link to "),
    ],
)
def test_input_that_is_no_regular_file_fails_in_one_line(
    cli_main, tmp_path, kind, expected
) -> None:
    """A named pipe, a device, a symbolic link loop or a dangling link: one line saying which
    (before: "empty file (0 bytes)" for the first two, "no such file" for a loop), exit 1."""
    path = _input(kind, tmp_path)
    result = cli_main("run", path, "--save", tmp_path / "out.rrd")
    code, stderr = result.returncode, result.stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert code == 1 and "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith(f"fastpose: {path}: "), stderr
    assert expected in lines[0], stderr
    assert not (tmp_path / "out.rrd").exists()


def test_video_under_an_image_name_is_tracked_as_a_video(tmp_path) -> None:
    """pose_squats.mp4 copied as squats.jpg: a warning says it is an MP4 video under an image's
    name, and its frames are tracked (before: "not a video or image")."""
    import pyarrow.parquet as pq

    clip = tmp_path / "squats.jpg"
    clip.write_bytes(data_file("pose_squats.mp4").read_bytes())
    table = tmp_path / "out.parquet"
    code, _, stderr = _run_lines(clip, "--export", table, "--max-frames", "8", "--no-progress")
    assert code == 0, stderr
    assert f"fastpose: {clip}: a video (MP4/MOV, h264) under an image's name (.jpg)" in stderr
    assert "Traceback" not in stderr, stderr
    frames = set(pq.read_table(table, columns=["frame_idx"]).column(0).to_pylist())
    assert frames == set(range(8)), frames


# --- a batch on Ray stopped by SIGTERM ----------------------------------------------------------


#: Frames of the short clip the signal tests wait for (pose_squats' first ones at half size): done
#: soon, so the signal comes early; the whole 65-frame clip at 720x1280 proved the same, later.
SHORT_FRAMES = 16


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """pose_squats' first SHORT_FRAMES frames at 360x640, made once for the tests below."""
    folder = tmp_path_factory.mktemp("short")
    return transcode(data_file("pose_squats.mp4"), folder / "short.mp4", (360, 640), SHORT_FRAMES)


@pytest.mark.e2e
def test_sigterm_during_a_ray_batch_leaves_a_row_per_video(tmp_path, short_clip) -> None:
    """SIGTERM to `fastpose batch --ray` (a local runtime on 127.0.0.1) once the short clip is
    done: exit 143, one line naming the summary, and summary.csv holds a row for every video:
    the short one done, the long ones interrupted (before: the header alone)."""
    import csv

    pytest.importorskip("ray")  # the `ray` extra, as tests/test_batch.py's Ray tests
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copyfile(short_clip, clips / "short.mp4")
    for name in ("long_a", "long_b"):
        loop_video(data_file("pose_squats.mp4"), clips / f"{name}.mp4", 1500)
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    args = ["batch", clips, "--out", out, "--ray", "--workers", "3", *FAST]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", *map(str, args)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        )
    try:
        deadline = time.monotonic() + scaled(300)
        # The short clip's row is the batch's once it logs it. Its outputs are renamed earlier, in
        # Ray's worker: a signal before its result reaches the batch leaves it `interrupted`.
        while f"short.mp4: done, {SHORT_FRAMES} frames" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert (out / "short.rrd").exists()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=scaled(120))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # Ray's runtime too, should the test fail
    stderr = log.read_text()
    assert code == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.splitlines()[-1]
    assert "interrupted by SIGTERM" in last and str(out / "summary.csv") in last, stderr
    with (out / "summary.csv").open(newline="") as f:
        rows = {Path(r["video"]).stem: r for r in csv.DictReader(f)}
    assert sorted(rows) == ["long_a", "long_b", "short"], rows
    assert rows["short"]["status"] == "done" and rows["short"]["frames"] == str(SHORT_FRAMES), rows
    for name in ("long_a", "long_b"):
        assert rows[name]["status"] == "interrupted", rows[name]
        assert "stopped" in rows[name]["message"], rows[name]
        assert not (out / f"{name}.rrd").exists()


# --- faults of fastpose itself (a bug): one line, an exit, what was written kept ----------------

#: Code that makes ``TARGET`` (``module:function`` or ``module:Class.method``) raise a ValueError
#: at its ``NTH`` call (from any thread), then runs the CLI with ``ARGS``.
_FAULTY_CLI = """
    import importlib, itertools, sys, threading
    module, _, name = {target!r}.partition(":")
    owner = importlib.import_module(module)
    *path, attr = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    original, calls, lock = getattr(owner, attr), itertools.count(1), threading.Lock()
    def faulty(*args, **kwargs):
        with lock:
            call = next(calls)
        if call == {nth}:
            raise ValueError("an injected fault")
        return original(*args, **kwargs)
    setattr(owner, attr, faulty)
    from fastpose.cli import main
    sys.exit(main({args!r}))
"""


def _faulty_run(target: str, nth: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`fastpose run ARGS` with ``target`` raising at its ``nth`` call; a hang fails the test."""
    code = _FAULTY_CLI.format(target=target, nth=nth, args=[str(a) for a in args])
    return _python(code, timeout=120)


def _assert_fault_line(proc: subprocess.CompletedProcess[str], where: str) -> int:
    """Exit 70, no traceback, the last line names ``where`` and the fault; the frames written."""
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode == 70, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    last = lines[-1]
    assert last.startswith(f"fastpose: internal error in {where}"), proc.stderr
    assert "ValueError: an injected fault" in last, last
    assert last.endswith("please report it (-v shows the traceback)"), last
    return int(re.search(r"after (\d+) frames", last).group(1))


def _faulty_args(tmp_path: Path, *more: str) -> list[str | Path]:
    clip = data_file("pose_squats.mp4")
    outs = ("--save", tmp_path / "out.rrd", "--export", tmp_path / "out.parquet")
    return ["run", clip, *outs, "--no-progress", "--no-segment", "--inference-size", "320", *more]


def _assert_kept(tmp_path: Path, frames: int) -> None:
    """The export holds exactly the frames written, under its working name; no final name."""
    import pyarrow.parquet as pq

    kept = tmp_path / "out.partial.parquet"
    got = set(pq.read_table(kept, columns=["frame_idx"]).column(0).to_pylist())
    assert got == set(range(frames)), sorted(got)
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.rrd").exists()
    assert (tmp_path / "out.partial.rrd").stat().st_size > 0


def test_a_fault_in_a_sink_ends_the_run_in_one_line(tmp_path) -> None:
    """The landmark table's write raising a ValueError at its 3rd batch (a bug, not an OS error):
    one line naming the output and the fault, exit 70, no traceback, no hang; the frames written
    before it kept under the working names (before: a traceback and exit 1)."""
    proc = _faulty_run("fastpose.sinks.landmarks:LandmarkTable.write", 3, *_faulty_args(tmp_path))
    frames = _assert_fault_line(proc, f"the output {tmp_path / 'out.parquet'} (at fastpose/")
    assert 0 < frames < 65
    _assert_kept(tmp_path, frames)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("target", "more", "where"),
    [
        pytest.param(
            "fastpose.laterality:Laterality.__call__",
            (),
            "the tracker (at fastpose/tracker.py:",
            id="tracker",
        ),
        pytest.param(
            "fastpose.sinks.rerun:encode_jpegs",
            ("--video-mode", "jpeg", "--workers", "2", "--min-range-frames", "20"),
            "a landmarker's thread (frames ",
            id="landmarker-thread",
        ),
    ],
)
def test_a_fault_in_the_tracker_or_a_thread_ends_the_run_in_one_line(
    tmp_path, target, more, where
) -> None:
    """The left/right correction (the tracker, on the caller's thread), or the recording's JPEG
    hook (in the landmarkers' threads, 2 ranges), raising at its 3rd batch: the line names where,
    exit 70, no traceback, the other threads stopped; whatever reached the outputs is kept."""
    proc = _faulty_run(target, 3, *_faulty_args(tmp_path, *more))
    frames = _assert_fault_line(proc, where)
    assert frames < 65
    if frames:
        _assert_kept(tmp_path, frames)


@pytest.mark.e2e
def test_a_fault_shows_its_traceback_with_verbose(tmp_path) -> None:
    """With -v the fault's traceback is logged before its line (and the line drops the hint)."""
    args = [*_faulty_args(tmp_path), "-v"]
    proc = _faulty_run("fastpose.sinks.landmarks:LandmarkTable.write", 3, *args)
    assert proc.returncode == 70, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr, proc.stderr
    assert ", in faulty\n" in proc.stderr and "ValueError: an injected fault\n" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("fastpose: internal error in the output "), last
    assert last.endswith("please report it"), last

"""Issue 14, viewers that may not answer: ``--connect`` URLs checked before any work, a viewer that
is not there or never answers found at the start, a bounded final flush, Ctrl-C and SIGTERM that
end the process within seconds, ``--spawn`` without a display, and ``--serve`` that keeps serving
the web viewer on localhost after tracking until Ctrl-C.

Network: only 127.0.0.1, with servers started here (a socket that accepts and never answers, one
that answers the HTTP/2 handshake and then goes silent, Rerun's own server).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, data_file, run_cli, scaled

from fastpose.errors import ViewerError
from fastpose.viewer.probe import PROBE_TIMEOUT_S, URL_FORM, check_url, has_display, probe
from fastpose.viewer.serve import ServedViewer
from fastpose.viewer.stream import FLUSH_GRACE_S, FLUSH_TIMEOUT_S, INTERRUPTED_FLUSH_TIMEOUT_S

FAST = ("--no-segment", "--no-progress")
#: Every run here ends within this, whatever the viewer does: fastpose's own final flush timeout,
#: plus the start, the model and 10 frames (measured 2026-12-06 on a 2-core VM at load 8: 8 s of
#: the 19 s a run with a silent viewer takes), with a margin, times TIMEOUT_SCALE.
BOUND_S = FLUSH_TIMEOUT_S + FLUSH_GRACE_S + scaled(29)
#: A run that fails before the model and the video: Python's start and fastpose's imports (1.0 s
#: measured as above).
EARLY_S = scaled(10)


def _squats() -> Path:
    return data_file("pose_squats.mp4")


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _listener(answer: bytes | None, drain: bool = True) -> Iterator[int]:
    """A server on 127.0.0.1 that accepts connections, sends ``answer`` (if any) and then reads
    (or not: ``drain``) and never replies; yields its port. It stops when the test ends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = server.accept()
                conn.settimeout(0.2)
                held.append(conn)
                if answer:
                    conn.sendall(answer)
            for conn in held if drain else ():
                with contextlib.suppress(TimeoutError, OSError):
                    conn.recv(1 << 16)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def _timed_cli(*args: str | Path, env: dict[str, str] | None = None) -> tuple[float, object]:
    start = time.monotonic()
    result = run_cli(*args, timeout=BOUND_S + scaled(20), env=env)
    return time.monotonic() - start, result


def _fails_fast(elapsed: float, result, *needles: str, max_lines: int = 1) -> str:
    lines = _lines(result.stderr)
    assert elapsed < BOUND_S, (elapsed, result.stderr)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert 1 <= len(lines) <= max_lines, result.stderr
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])
    return lines[-1]


# --- before any work ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "not-a-url",
        "127.0.0.1:9876",
        "http://127.0.0.1:9876/proxy",
        "rerun+http://127.0.0.1:9876/",
        "rerun+http://127.0.0.1:99999/proxy",
        "rerun+http:///proxy",
    ],
)
def test_malformed_url_fails_in_one_line_naming_the_form(cli_main, url, tmp_path):
    start = time.monotonic()
    result = cli_main("run", _squats(), "--connect", url, *FAST)
    elapsed = time.monotonic() - start
    _fails_fast(elapsed, result, url, URL_FORM)
    assert elapsed < EARLY_S, "checked before the model and the video"


def test_check_url_accepts_rerun_urls():
    assert check_url("rerun+http://127.0.0.1:9876/proxy").port == 9876
    assert check_url("rerun+https://localhost/proxy").tls
    with pytest.raises(ViewerError, match="the path is /, not /proxy"):
        check_url("rerun+http://127.0.0.1:9876/")


def test_closed_port_fails_before_any_work(cli_main):
    url = f"rerun+http://127.0.0.1:{_free_port()}/proxy"
    start = time.monotonic()
    result = cli_main("run", _squats(), "--connect", url, *FAST)
    elapsed = time.monotonic() - start
    _fails_fast(elapsed, result, url, "nothing listens there (connection refused)")
    assert elapsed < EARLY_S


def test_server_that_never_answers_fails_within_seconds():
    """Accepts the connection, reads, never replies: found by the start-up handshake."""
    with _listener(answer=None) as port:
        url = f"rerun+http://127.0.0.1:{port}/proxy"
        elapsed, result = _timed_cli("run", _squats(), "--connect", url, *FAST)
    _fails_fast(elapsed, result, url, "no Rerun viewer answered within 5 s")
    assert elapsed < PROBE_TIMEOUT_S + EARLY_S


def test_probe_tells_http1_from_grpc():
    with (
        _listener(answer=b"HTTP/1.1 400 Bad Request\r\n\r\n") as port,
        pytest.raises(ViewerError, match="an HTTP/1 server answered"),
    ):
        probe(f"rerun+http://127.0.0.1:{port}/proxy", timeout=3)


#: An HTTP/2 server's first frame: empty SETTINGS. Enough for the handshake check, after which
#: this server acknowledges nothing, so Rerun's client stalls with data still to send.
H2_SETTINGS = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


@pytest.mark.e2e
@pytest.mark.parametrize("drain", [True, False], ids=["reads", "reads-nothing"])
def test_viewer_that_stops_answering_bounds_the_final_flush(drain):
    """The viewer answers at the start, then takes nothing (it reads and drops the data, or reads
    nothing): the end of the run waits a bounded time, then one line says what may not have
    arrived; non-zero exit, within 40 s (Rerun's own exit would wait for ever)."""
    with _listener(answer=H2_SETTINGS, drain=drain) as port:
        url = f"rerun+http://127.0.0.1:{port}/proxy"
        args = ("run", _squats(), "--connect", url, "--max-frames", "10", "--workers", "1")
        elapsed, result = _timed_cli(*args, *FAST)
    last = _fails_fast(elapsed, result, url, "may not have arrived", max_lines=6)
    assert "did not take the end of the recording" in last


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_the_viewer_hangs_ends_within_seconds(tmp_path, sig):
    """SIGTERM or Ctrl-C while the final flush waits for a silent viewer: the process ends within
    seconds (Rerun's own flush would wait for ever)."""
    log = tmp_path / "stderr.txt"
    with _listener(answer=H2_SETTINGS, drain=False) as port, log.open("wb") as err:
        url = f"rerun+http://127.0.0.1:{port}/proxy"
        args = ("run", _squats(), "--connect", url, "--max-frames", "10", "--workers", "1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", *map(str, args), *FAST],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + BOUND_S
            while "10 frames" not in log.read_text():  # the start line: signals are handled
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            # No line marks the final flush's start: the signal lands in it or in tracking (10
            # frames, ~1 s), and either way the process must end within seconds.
            time.sleep(1)
            proc.send_signal(sig)
            start = time.monotonic()
            code = proc.wait(timeout=BOUND_S)
            waited = time.monotonic() - start
        finally:
            proc.kill()
    stderr = log.read_text()
    assert waited < INTERRUPTED_FLUSH_TIMEOUT_S + scaled(5), (waited, stderr)
    assert code != 0, stderr
    assert "Traceback" not in stderr, stderr


@pytest.fixture
def rerun_viewer() -> Iterator[str]:
    """Rerun's own gRPC server (what `rerun` starts for a viewer) on 127.0.0.1; yields its URL."""
    from fastpose.viewer.serve import _rerun_binary

    port = _free_port()
    proc = subprocess.Popen(
        [_rerun_binary(), "--serve-grpc", "--bind", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"rerun+http://127.0.0.1:{port}/proxy"
    try:
        deadline = time.monotonic() + scaled(20)
        while True:
            try:
                probe(url, timeout=1)
                break
            except ViewerError:
                assert time.monotonic() < deadline, "rerun --serve-grpc did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(scaled(10))


def test_connect_to_a_rerun_viewer_works(rerun_viewer):
    args = ("run", _squats(), "--connect", rerun_viewer, "--max-frames", "5", "--workers", "1")
    elapsed, result = _timed_cli(*args, *FAST)
    assert result.returncode == 0, result.stderr
    assert f"-> {rerun_viewer}" in result.stderr
    assert elapsed < BOUND_S


def test_spawn_without_a_display_fails_before_any_work(tmp_path):
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    elapsed, result = _timed_cli("run", _squats(), "--spawn", *FAST, env=env)
    _fails_fast(elapsed, result, "--spawn: no display here", "--save FILE.rrd")
    assert elapsed < EARLY_S


# --- --serve ------------------------------------------------------------------------------------


def test_served_viewer_listens_on_localhost_only():
    with ServedViewer() as server:
        proc = psutil.Process(server._proc.pid).children()[0]  # the keeper's rerun server
        listening = [c.laddr for c in proc.net_connections() if c.status == psutil.CONN_LISTEN]
        assert len(listening) >= 2, listening
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
        assert server.web_url.startswith("http://127.0.0.1:")
    assert proc.wait(scaled(5)) is not None or not proc.is_running()


def _get(url: str) -> int:
    match = re.match(r"http://127\.0\.0\.1:(\d+)/", url)
    assert match, url
    conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status
    finally:
        conn.close()


def _frames_served(web: str, save: Path) -> set[int]:
    """The frames a viewer connecting now gets: Rerun's CLI saves what the server sends."""
    from urllib.parse import parse_qs, urlsplit

    from conftest import read_rrd

    from fastpose.viewer.serve import _rerun_binary

    grpc = parse_qs(urlsplit(web).query)["url"][0]
    assert grpc.startswith("rerun+http://127.0.0.1:"), grpc
    # The client hosts a gRPC server of its own, on 0.0.0.0:9876 unless told: a Rerun viewer
    # open on this machine (or another test's) holds that port, and the client then exits at
    # once ("Address already in use"). Port 0: a free port the OS picks as it binds.
    client = subprocess.Popen(
        [_rerun_binary(), grpc, "--save", str(save), "--port", "0", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    frames: set[int] = set()
    try:
        deadline = time.monotonic() + scaled(20)
        while time.monotonic() < deadline and len(frames) < 5:
            time.sleep(0.5)
            with contextlib.suppress(Exception):  # the file is still being written
                frames = read_rrd(save).frames.get("video/pose/points", set())
    finally:
        client.send_signal(signal.SIGINT)
        try:
            client.wait(scaled(10))
        except subprocess.TimeoutExpired:
            client.kill()
    return frames


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore:RRD file has no footer")
def test_serve_keeps_serving_after_tracking_until_ctrl_c(tmp_path):
    """--serve: the web viewer's address is printed; after tracking the viewer still answers
    (HTTP on 127.0.0.1) and a viewer connecting then gets every frame, until Ctrl-C, which ends
    fastpose and the server within seconds."""
    log = tmp_path / "stderr.txt"
    args = ("run", _squats(), "--serve", "--max-frames", "5", "--workers", "1")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpose", *map(str, args), *FAST],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + BOUND_S
        while "still serving" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        stderr = log.read_text()
        web = re.search(r"web viewer: (http://\S+)", stderr).group(1)
        assert "5 frames" in stderr
        servers = psutil.Process(proc.pid).children(recursive=True)
        assert servers, "no server process"
        time.sleep(3)  # well after tracking ended
        assert proc.poll() is None, log.read_text()
        assert _get(web) == 200
        assert _frames_served(web, tmp_path / "late.rrd") == set(range(5))
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=scaled(10))
    finally:
        proc.kill()
    _, alive = psutil.wait_procs(servers, timeout=scaled(10))
    assert not alive, alive
    stderr = log.read_text()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped serving" in stderr


def test_the_last_line_says_how_to_open_the_recording_here(cli_run):
    """With a display, ``rerun FILE``; without one (where ``rerun FILE`` fails: winit wants a
    display), a browser's way (``rerun --serve-web FILE``, or ``--serve``) and copying it."""
    run = cli_run(data_file("pose2sim_single_cam01.mp4"))
    last = run.stderr.strip().splitlines()[-1]
    if has_display():
        assert last == f"fastpose: open it with: rerun {run.rrd}", run.stderr
    else:
        assert f"rerun --serve-web {run.rrd}" in last and "--serve" in last, run.stderr
        assert "open it with" not in run.stderr

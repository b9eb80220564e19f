"""Where a recording goes, and opening and closing its stream so that no viewer can hang a run.

A file (``--save``), a spawned viewer (``--spawn``), a running viewer's gRPC URL (``--connect``)
or a web viewer served from here (``--serve``). Rerun's own calls wait for ever on a viewer that
accepts a connection and never answers (its ``disconnect`` and its at-exit flush block, deaf to
signals), and fail only after seconds on one that is not there. So, before any work:
:func:`check_url` checks a URL's form and :func:`probe` that an HTTP/2 (gRPC) server answers
there; :func:`check_display` that ``--spawn`` has a screen. At the end, :func:`close_stream`
flushes a viewer's stream in a thread for a bounded time, and gives up on it in one line.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from fastpose.closing import Closing
from fastpose.errors import OutputError, ViewerError, one_line
from fastpose.target import RerunTarget

if TYPE_CHECKING:  # Rerun loads when a stream opens, not at import: start-up overlaps it
    import rerun as rr
    import rerun.blueprint as rrb

logger = logging.getLogger(__name__)

URL_FORM = "rerun+http://HOST:PORT/proxy"
SCHEMES = {"rerun+http": False, "rerun+https": True, "rerun": True}  # scheme -> TLS
#: How long a viewer has to answer at the start, and to take the end of the recording.
PROBE_TIMEOUT_S = 5.0
FLUSH_TIMEOUT_S = 10.0
#: Past the flush's own timeout, how long to wait for it to return.
FLUSH_GRACE_S = 1.0
#: When the run is being interrupted: Ctrl-C must end the process within seconds.
INTERRUPTED_FLUSH_TIMEOUT_S = 3.0
SERVE_START_TIMEOUT_S = 15.0
#: Below this much free space on a recording file's file system, each batch is flushed to the
#: file before the next is tracked, so that the first write that fails stops the run.
LOW_SPACE_BYTES = 64 * 2**20
#: A file system with less free space than this after a failed write is full.
FULL_BYTES = 2**20
#: A flush to a file that has not grown for this long has failed (Rerun's writer is gone).
FILE_STALL_S = 2.0
LOCALHOST = "127.0.0.1"
_EVERY_INTERFACE = ("0.0.0.0", "::", "")
# HTTP/2's client preface and an empty SETTINGS frame; a gRPC server answers with SETTINGS.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 4
#: Streams given up on: their native flush blocks for ever, holding Rerun's locks, so Python's
#: finalization (which collects other streams) would wait on them. Process-wide, as the blocked
#: native thread is; the CLI ends the process at once when this is not empty (:func:`abandoned`).
_abandoned: list[rr.RecordingStream] = []


# --- before any work ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool


def check_url(url: str) -> Endpoint:
    """The host and port of a viewer's gRPC URL; one line naming the expected form if it is not
    one (``rerun+http://HOST:PORT/proxy``, or ``rerun+https://``, ``rerun://``)."""

    def bad(why: str) -> ViewerError:
        return ViewerError(f"--connect {url}: expected a URL like {URL_FORM}, but {why}")

    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        return_why = f"the scheme is {parts.scheme + '://' if parts.scheme else 'missing'}"
        raise bad(return_why)
    if not parts.hostname:
        raise bad("the host is missing")
    try:
        port = parts.port
    except ValueError:
        raise bad("the port is not a number from 0 to 65535") from None
    if parts.path.rstrip("/") != "/proxy":
        raise bad(f"the path is {parts.path or 'empty'}, not /proxy")
    tls = SCHEMES[parts.scheme]
    return Endpoint(parts.hostname, port or (443 if tls else 80), tls)


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail in one line unless a gRPC (HTTP/2) server answers at ``url`` within ``timeout``.

    Runs in a thread so a host name that takes long to resolve can't hold the run; a signal still
    interrupts the wait."""
    endpoint = check_url(url)
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def attempt() -> None:
        try:
            _handshake(endpoint, time.monotonic() + timeout)
            outcome.append(None)
        except BaseException as exc:  # handed to the waiting thread
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=attempt, name="fastpose-viewer-probe", daemon=True).start()
    if not done.wait(timeout + 0.5) or isinstance(outcome[0], TimeoutError):
        raise ViewerError(
            f"{url}: no Rerun viewer answered within {timeout:g} s (something may accept "
            "connections there without answering); start one with `rerun`, or use --save FILE.rrd"
        )
    error = outcome[0]
    if error is None:
        return
    if isinstance(error, ConnectionRefusedError):
        raise ViewerError(
            f"{url}: nothing listens there (connection refused); start a viewer with `rerun` "
            "(it listens on rerun+http://127.0.0.1:9876/proxy), or use --save FILE.rrd"
        )
    if isinstance(error, socket.gaierror):
        raise ViewerError(f"{url}: unknown host {endpoint.host} ({one_line(error)})")
    if isinstance(error, ViewerError):
        raise ViewerError(f"{url}: {error}")
    if isinstance(error, OSError):
        raise ViewerError(f"{url}: cannot connect ({one_line(error)})")
    raise error


def _handshake(endpoint: Endpoint, deadline: float) -> None:
    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    with socket.create_connection((endpoint.host, endpoint.port), timeout=left()) as raw:
        sock: socket.socket = raw
        if endpoint.tls:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(raw, server_hostname=endpoint.host)
        sock.settimeout(left())
        sock.sendall(_H2_PREFACE)
        header = b""
        while len(header) < 9:
            sock.settimeout(left())
            try:
                chunk = sock.recv(9 - len(header))
            except TimeoutError:
                raise
            except OSError as exc:
                raise ViewerError(f"the connection failed ({one_line(exc)})") from exc
            if not chunk:
                raise ViewerError("the server closed the connection without answering")
            header += chunk
        if header.startswith(b"HTTP/"):
            raise ViewerError("an HTTP/1 server answered, not a Rerun viewer (gRPC)")
        if header[3] != _H2_SETTINGS:
            raise ViewerError("the server there does not speak gRPC (not a Rerun viewer)")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "darwin",
        "win32",
    )


def check_display() -> None:
    """``--spawn`` opens a window: fail now, in one line, where there is no screen for it."""
    if not has_display():
        raise ViewerError(
            "--spawn: no display here (DISPLAY and WAYLAND_DISPLAY are unset); use "
            "--save FILE.rrd, --serve (a web viewer), or --connect URL"
        )


def check_target(target: RerunTarget) -> None:
    """Everything about ``target`` that can be checked before any work."""
    if target.spawn:
        check_display()
    elif target.connect is not None:
        probe(target.connect)


# --- the stream ---------------------------------------------------------------------------------


def open_stream(
    rec: rr.RecordingStream,
    target: RerunTarget,
    blueprint: rrb.Blueprint,
    save_to: Path | None = None,
) -> None:
    """Send ``rec`` to ``target`` (a file to ``save_to``, the working name of ``target.save``)."""
    if target.save is not None:
        path = Path(save_to or target.save)
        try:
            rec.save(path, default_blueprint=blueprint)
            return
        except RuntimeError as exc:  # the file's first bytes could not be written
            why = _file_failure(path, exc)
        # Raised outside the handler, so that Rerun's frames (holding the blueprint's buffer) go
        # now: dropped at exit, it would log a line that its data was lost.
        raise OutputError(f"{target.describe()}: {why}")
    elif target.spawn:
        check_display()
        try:
            rec.spawn(default_blueprint=blueprint)
        except (RuntimeError, OSError) as exc:
            raise ViewerError(
                f"--spawn: the Rerun viewer did not start ({one_line(exc)}); "
                "use --save FILE.rrd or --serve"
            ) from exc
    elif target.connect is not None:
        probe(target.connect)
        rec.connect_grpc(target.connect, default_blueprint=blueprint)
    else:
        raise ValueError("RerunTarget(serve=True): start a ServedViewer, connect to its grpc_url")


def close_stream(
    rec: rr.RecordingStream,
    target: RerunTarget,
    timeout: float = FLUSH_TIMEOUT_S,
    path: Path | None = None,
) -> None:
    """Flush and close ``rec``. A file (``path``: its working name) is flushed to the end, or
    :class:`OutputError` if it can't be; a viewer gets ``timeout`` seconds, in a thread (a signal
    still ends the wait), then one line says what may be missing."""
    if target.save is not None:
        flush_file(rec, target, path)  # a failed file's stream is given up on: no disconnect
        rec.disconnect()
        return
    failure: list[BaseException] = []
    done = threading.Event()

    def finish() -> None:
        try:
            rec.flush(timeout_sec=timeout)
            rec.disconnect()
        except Exception as exc:  # handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=finish, name="fastpose-viewer-flush", daemon=True).start()
    try:  # Rerun's flush times out by itself; the grace covers one that would not
        finished = done.wait(timeout + FLUSH_GRACE_S)
    finally:
        if not done.is_set() or failure:  # a flush that timed out left the stream stuck too
            _abandon(rec)
    if not finished or (failure and "timed out" in str(failure[0]).lower()):
        raise ViewerError(
            f"{target.describe()}: the viewer did not take the end of the recording within "
            f"{timeout:g} s; the frames logged last may not have arrived"
        )
    if failure:
        raise ViewerError(
            f"{target.describe()}: {one_line(failure[0])}; the frames logged since the "
            "viewer stopped answering did not arrive"
        )


def check_file(rec: rr.RecordingStream, target: RerunTarget, path: Path | None = None) -> None:
    """Once a recording file's file system has less than :data:`LOW_SPACE_BYTES` free, flush
    ``rec`` to the file (``path``: its working name; see :func:`flush_file`). Rerun writes files
    in a thread of its own, and a write that fails (a full disk) only stops that thread and logs
    a line: without this the run would track to the end of the video and fail there. Checking
    the free space costs ~40 us per batch, a flush ~15 ms (16 frames; measured 2026-12-06,
    2-core VM): only a nearly full disk pays for the flushes."""
    if target.save is None:
        return
    if _free_bytes(Path(target.save).parent) < LOW_SPACE_BYTES:
        flush_file(rec, target, path)


def flush_file(rec: rr.RecordingStream, target: RerunTarget, path: Path | None = None) -> None:
    """Flush ``rec`` to its file (``path``, else ``target.save``), for as long as the file grows;
    else :class:`OutputError`, the stream given up on. Rerun's file writer that failed either
    says only "File-writer thread shut down prematurely" or leaves the flush waiting for ever (and
    its ``disconnect`` after it): a file that stops growing while a flush waits has failed."""
    path = Path(path or target.save)  # type: ignore[arg-type]
    last = -1
    while True:
        try:
            rec.flush(timeout_sec=FILE_STALL_S)
            return
        except RuntimeError as exc:
            size = _size(path)
            if "timed out" in str(exc).lower() and size != last:  # a slow disk: still writing
                last = size
                continue
            _abandon(rec)
            raise OutputError(f"{target.describe()}: {_file_failure(path, exc)}") from exc


def _file_failure(path: Path, exc: BaseException) -> str:
    """Why Rerun could not write ``path``: its messages name the OS error only in its log (or,
    when a file is opened, as "os error 28"); a file system left full says it too."""
    if "os error 28" in str(exc) or _free_bytes(path.parent) < FULL_BYTES:
        return "no space left on device"
    return f"Rerun's file writer failed ({one_line(exc)})"


def _free_bytes(folder: Path) -> int:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return 2**62  # unknown: taken as plenty
    return stat.f_bavail * stat.f_frsize


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -2


def _abandon(rec: rr.RecordingStream) -> None:
    """Give up on a stuck stream. Rerun's at-exit shutdown flushes every recording of the
    process, this one too, for ever: it is swapped for one bounded in time, so the process's
    other recordings (an API user's own) still get their flush, and then the exit goes on."""
    import rerun as rr

    if not _abandoned:
        atexit.unregister(rr.rerun_shutdown)
        atexit.register(_shutdown_within, FLUSH_TIMEOUT_S)
    _abandoned.append(rec)


def _shutdown_within(timeout: float) -> None:
    import rerun as rr

    done = threading.Thread(target=rr.rerun_shutdown, name="fastpose-rerun-shutdown", daemon=True)
    done.start()
    done.join(timeout)


def abandoned() -> bool:
    """A stream was given up on (a viewer's, a failed file's): end the process with
    ``os._exit`` (after flushing stdio), as a normal exit would wait for it for ever."""
    return bool(_abandoned)


# --- --serve ------------------------------------------------------------------------------------


def _rerun_binary() -> str:
    """The ``rerun`` executable of the installed rerun-sdk (its ``rerun`` script runs it)."""
    if "RERUN_CLI_PATH" in os.environ:
        return os.environ["RERUN_CLI_PATH"]
    import rerun_cli

    exe = Path(rerun_cli.__file__).with_name("rerun.exe" if sys.platform == "win32" else "rerun")
    if not exe.is_file():
        raise ViewerError(f"--serve: the rerun executable is missing ({exe}); reinstall rerun-sdk")
    return str(exe)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


#: The server's keeper on Linux, so that the server ends with fastpose even if fastpose is killed
#: (SIGKILL), and no Python runs between fork and exec in fastpose's threaded process. It forks the
#: server with PR_SET_PDEATHSIG (1, kept across exec) aimed at itself: single-threaded, it can't
#: lose the thread that PR_SET_PDEATHSIG follows (fastpose's starting thread may end first). It
#: watches fastpose (a pidfd, else its parent pid), passes SIGTERM on, and ends as the server does.
_KEEPER = """
import ctypes, os, select, signal, sys
parent, argv, libc = int(sys.argv[1]), sys.argv[2:], ctypes.CDLL(None, use_errno=True)
try:
    watch = [os.pidfd_open(parent)]
except (AttributeError, OSError):
    watch = []
keeper = os.getpid()
child = os.fork()
if child == 0:
    libc.prctl(1, signal.SIGTERM)
    if os.getppid() != keeper:
        os._exit(1)
    os.execv(argv[0], argv)
    os._exit(127)
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda signum, _: os.kill(child, signum))
while True:
    if select.select(watch, [], [], 0.5)[0] or os.getppid() != parent:
        os.kill(child, signal.SIGTERM)
    pid, status = os.waitpid(child, os.WNOHANG)
    if pid:
        code = os.waitstatus_to_exitcode(status)
        sys.exit(128 - code if code < 0 else code)
"""
#: Where the server says it listens (it picks free ports itself: asked for port 0).
_GRPC_LISTENING = re.compile(r"Listening for gRPC connections on \S*:(\d+)")
_WEB_LISTENING = re.compile(r"Hosting a web-viewer at https?://\S*?:(\d+)")


class ServedViewer(Closing):
    """Rerun's web viewer and gRPC proxy, served from here by a ``rerun --serve-web`` process
    bound to ``bind`` (localhost unless asked otherwise), until :meth:`close`.

    The process outlives the recording stream, so the viewer keeps showing the recording after
    tracking; Rerun's in-process web server can only listen on every interface."""

    def __init__(self, bind: str = LOCALHOST, *, timeout: float = SERVE_START_TIMEOUT_S) -> None:
        self.bind = bind
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        command = [_rerun_binary(), "--serve-web", "--bind", bind or "0.0.0.0"]
        command += ["--port", "0", "--web-viewer-port", "0"]  # bound by the server: no race
        if sys.platform.startswith("linux"):
            keeper = [sys.executable, "-I", "-S", "-c", _KEEPER, str(os.getpid())]
            command = [*keeper, *command]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            grpc_port, web_port = self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise
        local = LOCALHOST if bind in _EVERY_INTERFACE else _url_host(bind)
        shown = socket.gethostname() if bind in _EVERY_INTERFACE else _url_host(bind)
        self.grpc_url = f"rerun+http://{local}:{grpc_port}/proxy"
        shown_grpc = f"rerun+http://{shown}:{grpc_port}/proxy"
        self.web_url = f"http://{shown}:{web_port}/?url={quote(shown_grpc, safe='')}"

    def _wait_ready(self, timeout: float) -> tuple[int, int]:
        """The gRPC and web ports, once the server says it listens on them and answers there."""
        deadline = time.monotonic() + timeout
        local = LOCALHOST if self.bind in _EVERY_INTERFACE else _url_host(self.bind)
        while True:
            if self._proc.poll() is not None:
                raise ViewerError(self._start_failure("ended at its start"))
            text = self._log_text()
            grpc, web = _GRPC_LISTENING.search(text), _WEB_LISTENING.search(text)
            try:
                if grpc and web:
                    probe(f"rerun+http://{local}:{grpc[1]}/proxy", timeout=1.0)
                    with socket.create_connection((local.strip("[]"), int(web[1])), timeout=1.0):
                        return int(grpc[1]), int(web[1])
            except (ViewerError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ViewerError(self._start_failure(f"did not start within {timeout:g} s"))
            time.sleep(0.1)

    def _start_failure(self, what: str) -> str:
        tail = self.log_tail()
        if "Address already in use" in tail or "AddrInUse" in tail:
            return f"--bind {self.bind}: cannot listen there (address in use): {tail}"
        if "Cannot assign requested address" in tail or "AddrNotAvailable" in tail:
            return f"--bind {self.bind}: cannot listen there (no such address here): {tail}"
        return f"--serve: the Rerun server {what}: {tail}"

    def _log_text(self) -> str:
        self._log.seek(0)
        return re.sub(r"\x1b\[[0-9;]*m", "", self._log.read().decode(errors="replace"))

    def log_tail(self, lines: int = 3) -> str:
        """The server's last log lines, on one line."""
        tail = [line.strip() for line in self._log_text().splitlines() if line.strip()][-lines:]
        return " / ".join(tail) or "(nothing logged)"

    def wait(self) -> None:
        """Serve until a signal (raised as the guard's exception) or the server's own end."""
        while self._proc.poll() is None:
            time.sleep(0.2)
        raise ViewerError(f"--serve: the Rerun server ended: {self.log_tail()}")

    def close(self) -> None:
        """Stop the server (within seconds); safe to call twice."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

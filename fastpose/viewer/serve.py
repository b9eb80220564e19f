"""``--serve``: Rerun's web viewer and gRPC proxy served from here (:class:`ServedViewer`), by a
``rerun --serve-web`` process that a keeper (fastpose.viewer.keeper, a module of its own run with
``python -m``) ends with fastpose even if fastpose is killed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import rerun_cli

from fastpose.closing import Closing
from fastpose.errors import ViewerError
from fastpose.viewer.probe import probe

SERVE_START_TIMEOUT_S = 15.0
LOCALHOST = "127.0.0.1"
_EVERY_INTERFACE = ("0.0.0.0", "::", "")
#: The folder holding the fastpose package, for the keeper (run with ``-I -S``: no site-packages).
_PACKAGES = str(Path(__file__).resolve().parents[2])


def _rerun_binary() -> str:
    """The ``rerun`` executable of the installed rerun-sdk (its ``rerun`` script runs it)."""
    if "RERUN_CLI_PATH" in os.environ:
        return os.environ["RERUN_CLI_PATH"]

    exe = Path(rerun_cli.__file__).with_name("rerun.exe" if sys.platform == "win32" else "rerun")
    if not exe.is_file():
        raise ViewerError(f"--serve: the rerun executable is missing ({exe}); reinstall rerun-sdk")
    return str(exe)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


#: Runs fastpose.viewer.keeper as ``python -m`` would, from the package's folder (argv[1]) alone:
#: ``-I -S`` keep the environment and site-packages out of the keeper.
_RUN_KEEPER = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('fastpose.viewer.keeper', run_name='__main__', alter_sys=True)"
)
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
            keeper = [sys.executable, "-I", "-S", "-c", _RUN_KEEPER, _PACKAGES, str(os.getpid())]
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

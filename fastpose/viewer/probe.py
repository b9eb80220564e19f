"""Checking where a recording goes before any work: a ``--connect`` URL's form
(:func:`check_url`), that a gRPC (HTTP/2) server answers there (:func:`probe`, an HTTP/2 handshake
bounded in time: Rerun's own calls wait for ever on a viewer that accepts a connection and never
answers), and that ``--spawn`` has a screen (:func:`check_display`)."""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastpose.errors import ViewerError, one_line
from fastpose.target import RerunTarget

URL_FORM = "rerun+http://HOST:PORT/proxy"
SCHEMES = {"rerun+http": False, "rerun+https": True, "rerun": True}  # scheme -> TLS
#: How long a viewer has to answer at the start.
PROBE_TIMEOUT_S = 5.0
# HTTP/2's client preface and an empty SETTINGS frame; a gRPC server answers with SETTINGS.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 4


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

"""The on-disk cache of models and sample clips, and how files get into it.

Every file is produced in a temporary file next to its final name, validated, then renamed over it
(``os.replace``), so an interrupted or broken download never leaves a bad file under the final name.
Network fetches use short timeouts so an offline machine reaches its fallback in seconds.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import platformdirs

from fastpose.errors import OutputError, one_line

logger = logging.getLogger(__name__)

Validator = Callable[[Path], None]

PIP_SOCKET_TIMEOUT = 20.0  # seconds without bytes before pip gives up a connection
PIP_TOTAL_TIMEOUT = 900.0  # a whole `pip download`, even on a slow line
_CHUNK = 1 << 20
_UNREACHABLE_SIGNS = ("NewConnectionError", "ConnectTimeout", "ProxyError", "NameResolution")


def cache_dir(override: Path | None = None) -> Path:
    """The cache directory: ``override``, else ``$FASTPOSE_CACHE``, else the user cache dir."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("FASTPOSE_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("fastpose"))


def fallback_dir() -> Path:
    """Where files go when the cache directory is read-only: a per-user temp directory."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"fastpose-cache-{user}"


def _is_writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def writable_dir(directory: Path) -> Path:
    """``directory`` (created if needed) if files can be written there, else :func:`fallback_dir`.

    Falling back logs a warning naming both directories; raises OutputError if neither is writable.
    """
    if _is_writable(directory):
        return directory
    fallback = fallback_dir()
    if not _is_writable(fallback):
        raise OutputError(f"cache directory {directory} is not writable, nor is {fallback}")
    logger.warning(
        "cache directory %s is not writable; using %s instead (set FASTPOSE_CACHE to change it)",
        directory,
        fallback,
    )
    return fallback


@contextlib.contextmanager
def atomic_file(dest: Path) -> Iterator[Path]:
    """Yield a temp path next to ``dest``; a clean exit renames it to ``dest``, else deletes it."""
    try:
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as err:
        raise OutputError(f"cannot write in {dest.parent}: {err}") from err
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes it private; cached files are not secrets
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(dest: Path, data: bytes, validate: Validator | None = None) -> Path:
    """Write ``data`` to ``dest`` atomically, after ``validate`` accepts the written file."""
    with atomic_file(dest) as tmp:
        tmp.write_bytes(data)
        if validate is not None:
            validate(tmp)
    return dest


def download(url: str, dest: Path, validate: Validator | None = None, timeout: float = 3.0) -> Path:
    """Download ``url`` to ``dest`` atomically, after ``validate`` accepts it.

    ``timeout`` bounds the name lookup, the connect and each read. Network failures raise
    ConnectionError; the validator's own error propagates. Either way ``dest`` is left as it was.
    """
    _check_resolvable(url, timeout)
    with atomic_file(dest) as tmp:
        try:
            _fetch(url, tmp, timeout)
        except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets
            raise ConnectionError(f"cannot download {url}: {one_line(err)}") from err
        if validate is not None:
            validate(tmp)
    return dest


def _fetch(url: str, dest: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("wb") as out:
        expected = response.headers.get("Content-Length")
        shutil.copyfileobj(response, out, _CHUNK)
        got = out.tell()
    if expected is not None and got != int(expected):  # read(n) takes an early close for the end
        raise ConnectionError(f"the connection closed after {got} of {expected} bytes")


def _check_resolvable(url: str, timeout: float) -> None:
    """Fail within ``timeout`` if the URL's host has no address (socket timeouts skip DNS)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return  # the proxy resolves it
    outcome: dict[str, BaseException | None] = {}

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None)
            outcome["error"] = None
        except OSError as err:
            outcome["error"] = err

    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" not in outcome:
        raise ConnectionError(f"cannot download {url}: looking up {host} took over {timeout:g} s")
    if outcome["error"] is not None:
        raise ConnectionError(f"cannot download {url}: cannot resolve {host} ({outcome['error']})")


def pip_download(requirement: str, directory: Path, options: Sequence[str] = ()) -> Path:
    """``pip download REQUIREMENT --no-deps`` into ``directory``; return the one file it fetched.

    Raises ConnectionError with pip's last error line when pip fails (e.g. no registry reachable).
    """
    command = [
        *(sys.executable, "-m", "pip", "download", requirement, "--no-deps"),
        *("--only-binary=:all:", "--no-input", "--disable-pip-version-check"),
        *("--timeout", str(PIP_SOCKET_TIMEOUT), "--retries", "2", "-d", str(directory), *options),
    ]
    logger.info("running %s", " ".join(command[2:]))
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TOTAL_TIMEOUT)
    except subprocess.TimeoutExpired as err:
        raise ConnectionError(f"pip download {requirement} took over {err.timeout:g} s") from err
    files = sorted(directory.iterdir()) if directory.is_dir() else []
    if proc.returncode != 0 or len(files) != 1:
        raise ConnectionError(f"pip download {requirement} failed: {_last_error(proc)}")
    return files[0]


def _last_error(proc: subprocess.CompletedProcess[str]) -> str:
    text = proc.stderr + proc.stdout
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR")]
    message = (errors or lines or [f"exit status {proc.returncode}"])[-1]
    if any(sign in text for sign in _UNREACHABLE_SIGNS):
        message += " (no package index could be reached)"
    return message

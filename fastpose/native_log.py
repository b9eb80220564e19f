"""MediaPipe's native log (glog, TFLite: file descriptor 2), kept off the terminal but not lost.

:class:`NativeLog` points descriptor 2 at a pipe read by a small watcher process, which hands the
lines on to a thread that keeps a bounded buffer of them, while Python's ``sys.stderr`` keeps the
real terminal. Lines that are not the native log's (glog, TFLite, absl: :data:`NATIVE_LINE`), such
as Python's written through a handler made before, also go on to the terminal. When a
landmarker fails, its last lines say why (:meth:`NativeLog.tail`).

A crash must still leave its report on the terminal: :mod:`faulthandler` writes the Python
traceback of a fatal signal (SIGSEGV, SIGABRT of a failed CHECK...) to the real terminal, and the
watcher, which outlives the process, prints the log's last lines there when the process ends
without leaving the log cleanly (a thread of the dying process could not: none runs after a fatal
signal). Child processes inherit the pipe, so their native logs land in the same buffer.
"""

from __future__ import annotations

import collections
import contextlib
import faulthandler
import itertools
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

from fastpose.closing import Closing

#: Lines kept, and the longest line kept (a runaway line is cut).
TAIL_LINES = 200
LINE_CHARS = 500
#: What MediaPipe's native code writes: glog (``W0000 00:00:...``), TFLite / LiteRT
#: (``INFO: [...]``), absl's stack frames. Other lines are passed on to the terminal.
NATIVE_LINE = re.compile(
    rb"^\s*(?:[IWEF]\d{4} |(?:INFO|WARNING|ERROR|VERBOSE): |@ |\*\*\* |Stack trace:"
    # Rerun's own log (Rust's tracing: "2026-12-06T05:47:48.633313Z ERROR re_sdk::...", coloured)
    rb"|(?:\x1b\[[\d;]*m)*\d{4}-\d\d-\d\dT[\d:.]+Z(?:\x1b\[[\d;]*m)*\s+(?:\x1b\[[\d;]*m)*\s*"
    rb"(?:TRACE|DEBUG|INFO|WARN|ERROR)\b)"
)
#: Lines the watcher prints after a crash.
CRASH_LINES = 20
#: How long :meth:`NativeLog.tail` waits for the lines already written to arrive.
SYNC_S = 1.0

# The watcher: stdin is the log pipe, stdout goes to the parent's reader thread, stderr is the real
# terminal. A line holding the token + b" sync" is handed on (the parent waits for it); the token
# + b" done" means the parent left cleanly. When the parent ends (a pidfd, or its pid no longer
# being our parent) or the pipe closes without "done", the last lines go to the terminal.
_WATCHER = r"""
import collections, os, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
token, parent, keep, show, width = sys.argv[1].encode(), int(sys.argv[2]), *map(int, sys.argv[3:])
tail, pending, done = collections.deque(maxlen=keep), b"", False
try:
    waits = [0, os.pidfd_open(parent)]
except (AttributeError, OSError):
    waits = [0]
def forward(data):
    try:
        os.write(1, data)
    except OSError:
        pass
def read():
    try:
        return os.read(0, 1 << 16)
    except BlockingIOError:
        return b""
alive = True
while alive:
    ready = select.select(waits, [], [], 0.5)[0]
    if len(waits) > 1 and waits[1] in ready or os.getppid() != parent:
        os.set_blocking(0, False)  # the parent is gone: what is left in the pipe, then stop
        alive = False
    elif 0 not in ready:
        continue
    while chunk := read():
        *lines, pending = (pending + chunk).split(b"\n")
        pending = pending[-width:]
        for line in lines:
            if line.startswith(token):
                done = done or line.endswith(b" done")
                if not done:
                    forward(line + b"\n")
                continue
            if not done:
                forward(line + b"\n")
            if line.strip():
                tail.append(line[:width])
        if alive:
            break
    else:
        alive = False  # end of the pipe: every writer closed it
if pending.strip():
    tail.append(pending)
if not done and tail:
    report = [b"fastpose: the native log's last lines (file descriptor 2):"]
    report += [b"  " + line.rstrip() for line in list(tail)[-show:]]
    os.write(2, b"\n".join(report) + b"\n")
"""


class NativeLog(Closing):
    """A context manager: while inside, descriptor 2 goes to a bounded in-memory buffer and
    :attr:`stderr` (also set as ``sys.stderr``) is the real terminal, where :mod:`faulthandler`
    reports fatal signals."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._lock = threading.Lock()
        self._token = b"fastpose-native-log-" + secrets.token_hex(8).encode()
        self._syncs = itertools.count()
        self._synced: dict[bytes, threading.Event] = {}
        self._real_fd = -1
        self._watcher: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._previous_stderr: TextIO | None = None
        self._faulthandler_was_enabled = False
        self.stderr: TextIO | None = None

    def __enter__(self) -> NativeLog:
        sys.stderr.flush()
        self._real_fd = os.dup(2)
        log_read, log_write = os.pipe()
        lines_read, lines_write = os.pipe()
        try:
            self._watcher = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHER, self._token.decode()]
                + [str(n) for n in (os.getpid(), self._lines.maxlen, CRASH_LINES, LINE_CHARS)],
                stdin=log_read,
                stdout=lines_write,
                stderr=self._real_fd,
                start_new_session=True,  # a Ctrl-C at the terminal is the parent's to handle
            )
        finally:
            os.close(log_read)
            os.close(lines_write)
        os.dup2(log_write, 2)  # inheritable: child processes log into the pipe too
        os.close(log_write)
        forward_fd = os.dup(self._real_fd)  # the reader's own: it closes it when done
        self._reader = threading.Thread(
            target=self._read,
            args=(lines_read, forward_fd),
            name="fastpose-native-log",
            daemon=True,
        )
        self._reader.start()
        self._previous_stderr = sys.stderr
        self.stderr = os.fdopen(
            self._real_fd,
            "w",
            buffering=1,
            encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
            errors="replace",
            closefd=False,
        )
        sys.stderr = self.stderr
        self._faulthandler_was_enabled = faulthandler.is_enabled()
        faulthandler.enable(self.stderr, all_threads=True)
        return self

    def _read(self, fd: int, forward_fd: int) -> None:
        try:
            with os.fdopen(fd, "rb", buffering=0) as pipe:
                pending = b""
                while chunk := pipe.read(65536):
                    *complete, pending = (pending + chunk).split(b"\n")
                    self._add(complete, forward_fd)
                self._add([pending], forward_fd)
        finally:
            os.close(forward_fd)

    def _add(self, raw: list[bytes], forward_fd: int) -> None:
        for line in raw:
            if line.startswith(self._token):
                event = self._synced.pop(line, None)
                if event is not None:
                    event.set()
        raw = [line for line in raw if not line.startswith(self._token)]
        others = [line for line in raw if line.strip() and not NATIVE_LINE.match(line)]
        if others:
            with contextlib.suppress(OSError):
                os.write(forward_fd, b"".join(line + b"\n" for line in others))
        lines = [
            line.decode(errors="replace").rstrip()[:LINE_CHARS]
            for line in raw
            if NATIVE_LINE.match(line)
        ]
        with self._lock:
            self._lines.extend(line for line in lines if line.strip())

    def tail(self, lines: int = 10) -> list[str]:
        """The last ``lines`` non-empty lines written to descriptor 2 (those written before the
        call included: it waits up to :data:`SYNC_S` for them to come through the pipes)."""
        if self.stderr is not None:
            marker = self._token + b" sync %d" % next(self._syncs)
            event = self._synced.setdefault(marker, threading.Event())
            os.write(2, marker + b"\n")
            event.wait(SYNC_S)
        with self._lock:
            return list(self._lines)[-lines:]

    def close(self) -> None:
        """Descriptor 2 back to the terminal, the watcher told the process left cleanly; safe to
        call twice."""
        if self.stderr is None:
            return
        self.stderr.flush()
        sys.stderr = self._previous_stderr or sys.__stderr__
        if self._faulthandler_was_enabled:  # back on the stream it is restored to, if it has a fd
            with contextlib.suppress(AttributeError, ValueError, OSError):
                faulthandler.enable(sys.stderr, all_threads=True)
        else:
            faulthandler.disable()
        os.write(2, self._token + b" done\n")  # left cleanly: the watcher prints nothing
        os.dup2(self._real_fd, 2)  # closes the pipe's write end: the watcher sees its end...
        os.close(self._real_fd)  # ...unless a child process still holds it
        self.stderr = None
        if self._watcher is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):  # a child holds the pipe:
                self._watcher.wait(timeout=SYNC_S)  # the watcher ends with this process


class _Shared:
    """One :class:`NativeLog` for the whole process while anyone needs MediaPipe's native log off
    the terminal (the CLI, each running :class:`~fastpose.tracker.Tracker`): descriptor 2 is the
    process's, so the first user redirects it and the last one gives it back, whatever the order
    (trackers in threads of a batch end in any order)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.log: NativeLog | None = None

    def acquire(self) -> NativeLog:
        with self._lock:
            if self._users == 0:
                self.log = NativeLog().__enter__()
            self._users += 1
            assert self.log is not None
            return self.log

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self.log is not None:
                log, self.log = self.log, None
                log.close()


_SHARED = _Shared()  # descriptor 2 is one per process, and so is this


@contextlib.contextmanager
def quiet() -> Iterator[NativeLog]:
    """MediaPipe's native log (glog, TFLite) kept off the terminal, its tail in memory, while
    inside; nested and concurrent uses share one redirection."""
    log = _SHARED.acquire()
    try:
        yield log
    finally:
        _SHARED.release()

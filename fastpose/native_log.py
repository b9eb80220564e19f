"""MediaPipe's native log (glog, TFLite: file descriptor 2), kept off the terminal but not lost.

:class:`NativeLog` points descriptor 2 at a pipe that a thread reads: the native log's lines go to
a bounded buffer, every other line (Python's, written through a handler made before, or a
child's) on to the real terminal, while ``sys.stderr`` is the real terminal. When a landmarker
fails, its last lines say why (:meth:`NativeLog.tail`). Child processes inherit the pipe, so their
native logs land in the same buffer (until the parent ends).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import TextIO

#: Lines kept, and the longest line kept (a runaway line is cut).
TAIL_LINES = 200
LINE_CHARS = 500
#: What MediaPipe's native code writes: glog (``W0000 00:00:...``), TFLite / LiteRT
#: (``INFO: [...]``), absl's stack frames. Other lines are passed on to the terminal.
NATIVE_LINE = re.compile(rb"^\s*(?:[IWEF]\d{4} |(?:INFO|WARNING|ERROR|VERBOSE): |@ |\*\*\* )")


class NativeLog:
    """A context manager: while inside, descriptor 2 goes to a bounded in-memory buffer and
    :attr:`stderr` (also set as ``sys.stderr``) is the real terminal."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._lock = threading.Lock()
        self._real_fd = -1
        self._reader: threading.Thread | None = None
        self._previous_stderr: TextIO | None = None
        self.stderr: TextIO | None = None

    def __enter__(self) -> NativeLog:
        sys.stderr.flush()
        self._real_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.set_inheritable(write_fd, True)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        forward_fd = os.dup(self._real_fd)  # the reader's own: it closes it when done
        self._reader = threading.Thread(
            target=self._read, args=(read_fd, forward_fd), name="fastpose-native-log", daemon=True
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
        native = [line for line in raw if NATIVE_LINE.match(line)]
        others = [line for line in raw if line.strip() and not NATIVE_LINE.match(line)]
        if others:
            with contextlib.suppress(OSError):
                os.write(forward_fd, b"".join(line + b"\n" for line in others))
        lines = [line.decode(errors="replace").rstrip()[:LINE_CHARS] for line in native]
        with self._lock:
            self._lines.extend(line for line in lines if line.strip())

    def tail(self, lines: int = 10) -> list[str]:
        """The last ``lines`` non-empty lines written to descriptor 2."""
        with self._lock:
            return list(self._lines)[-lines:]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.stderr is None:
            return
        self.stderr.flush()
        sys.stderr = self._previous_stderr or sys.__stderr__
        os.dup2(self._real_fd, 2)  # closes the pipe's write end: the reader sees its end...
        os.close(self._real_fd)  # ...unless a child process still holds it: it is a daemon
        self.stderr = None


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
                log.__exit__(None, None, None)


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

"""MediaPipe's native log (glog, TFLite: file descriptor 2), kept off the terminal but not lost.

:class:`NativeLog` points descriptor 2 at a pipe that a thread reads into a bounded buffer of
lines, while Python's ``sys.stderr`` keeps the real terminal. When a landmarker fails, its last
lines say why (:meth:`NativeLog.tail`). Child processes inherit the pipe, so their native logs
land in the same buffer (until the parent ends).
"""

from __future__ import annotations

import collections
import os
import sys
import threading
from types import TracebackType
from typing import TextIO

#: Lines kept, and the longest line kept (a runaway line is cut).
TAIL_LINES = 200
LINE_CHARS = 500


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
        self._reader = threading.Thread(
            target=self._read, args=(read_fd,), name="fastpose-native-log", daemon=True
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

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                *complete, pending = (pending + chunk).split(b"\n")
                pending = pending[-LINE_CHARS:]
                self._add(complete)
            self._add([pending])

    def _add(self, raw: list[bytes]) -> None:
        lines = [line.decode(errors="replace").rstrip()[:LINE_CHARS] for line in raw]
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

"""Signals as exceptions: SIGINT and SIGTERM unwind through every ``with``, so outputs close.

Only the CLI installs a :class:`SignalGuard`; the jobs it runs (``run``, ``batch``) take the guard
to hold a signal while a batch reaches every output.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Protocol


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; unwinds through every ``with`` so outputs are closed cleanly."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """Turns SIGINT and SIGTERM into :class:`Interrupted` while installed (a context manager).

    Inside :meth:`deferred` a signal is held until the section ends, so a batch reaches every output
    or none. After the first signal both are ignored, up to the exit: a second one must not cut the
    clean-up short.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._depth = 0
        self._received: int | None = None  # the first signal
        self._pending = False  # it arrived inside a deferred section
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalGuard:
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._received is None:
            for s, handler in self._previous.items():
                signal.signal(s, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        for s in self.SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        self._received = signum
        if self._depth:
            self._pending = True
            return
        raise Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A section a signal does not interrupt; it is raised when the section ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if not self._depth and self._pending and self._received is not None:
            self._pending = False
            raise Interrupted(self._received)


class Guard(Protocol):
    """What a recording asks of whoever may stop it: a section that is written whole."""

    def deferred(self) -> contextlib.AbstractContextManager[None]: ...


class Stopped(Exception):
    """A run was asked to stop (a batch's other thread saw a signal); raised between batches."""


class StopCheckpoint:
    """A :class:`Guard` for threads that get no signals (a batch's jobs): once ``stop`` is set,
    the run stops after the batch being written, with :class:`Stopped`."""

    def __init__(self, stop: threading.Event | None) -> None:
        self.stop = stop

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        yield
        if self.stop is not None and self.stop.is_set():
            raise Stopped

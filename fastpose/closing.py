"""``with thing:``, the context manager every closable of fastpose shares: :class:`Ending` (the
thing is told whether the block completed: a sink) and :class:`Closing` (it is closed however the
block ends: a landmarker, a video source, a tracker, a range's threads, a claim, the native log...).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Ending:
    """A mixin: ``__enter__`` returns the object, ``__exit__`` calls its :meth:`end` with
    ``complete`` False if an exception ends the block. A subclass defines ``end``."""

    def end(self, *, complete: bool) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end(complete=exc_type is None)


class Closing(Ending):
    """A mixin: ``__exit__`` calls the object's :meth:`close`, however the block ends. A
    subclass defines ``close``."""

    def close(self) -> None:
        raise NotImplementedError

    def end(self, *, complete: bool) -> None:
        self.close()

""":class:`Closing`: ``with thing:`` closes it, the context manager every closable of fastpose
shares (a landmarker, a video source, a tracker, a range's threads, a claim...)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """A mixin: ``__enter__`` returns the object, ``__exit__`` calls its :meth:`close`, however
    the block ends. A subclass defines ``close``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

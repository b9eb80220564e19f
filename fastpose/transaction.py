"""One run's output files as a transaction: each written under a working name it claimed for
itself, moved to its final name only when the run completes.

A run that does not finish (Ctrl-C, SIGTERM, an error, a full disk) never replaces a file: what it
wrote stays under its working name (``out.partial.rrd`` beside ``out.rrd`` for ``fastpose run``;
``DIR/.incomplete/NAME.rrd`` for ``fastpose batch``), readable as it is, and the run's last
message names it. A run that wrote no frame leaves no file at all. A working name is created with
an exclusive create, so two runs never write into one file, and nothing is renamed into place
that this run did not wholly write.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

from fastpose.errors import OutputError, one_line

logger = logging.getLogger(__name__)


def partial_path(path: Path) -> Path:
    """``out.partial.rrd`` for ``out.rrd``: the name an unfinished run's result keeps."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _numbered(path: Path, n: int) -> Path:
    return path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")


def create_exclusive(path: Path, *, numbered: bool = True) -> Path:
    """Create ``path`` empty, for this process alone (``O_EXCL``); if it exists, ``stem-1``,
    ``stem-2``... when ``numbered``, else :class:`OutputError`."""
    for n in range(10_000 if numbered else 1):
        candidate = _numbered(path, n)
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"{candidate}: cannot write there ({one_line(exc)})") from exc
        os.close(fd)
        return candidate
    raise OutputError(f"{path}: exists (another run is writing it)")


class Transaction:
    """Hands out working paths (:meth:`claim`) and ends the run's files together (:meth:`finish`).

    ``working(final)`` names a file's working path (default: ``out.partial.rrd``); ``numbered``
    takes ``out.partial-1.rrd`` when that exists (a ``fastpose run`` beside an earlier one's
    partial), else a taken name is an error (a batch holds its video's lock: see
    fastpose.batching.claims). ``last``: the file moved into place last (a batch's recording:
    once it is there, every output of the video is)."""

    def __init__(
        self,
        working: Callable[[Path], Path] = partial_path,
        *,
        numbered: bool = True,
        last: Path | None = None,
    ) -> None:
        self._working = working
        self._numbered = numbered
        self._last = last
        self.files: list[tuple[Path, Path]] = []  # (final, working)
        self.kept: list[Path] = []

    def claim(self, final: Path) -> Path:
        working = create_exclusive(self._working(Path(final)), numbered=self._numbered)
        self.files.append((Path(final), working))
        return working

    def finish(self, *, complete: bool, frames: int) -> list[Path]:
        """Move every file to its final name if ``complete`` (in the order claimed), keep them
        under their working names if not, remove them if no frame was written; returns where
        the frames are (:attr:`kept`)."""
        if frames == 0:
            for _, working in self.files:
                with contextlib.suppress(FileNotFoundError):
                    working.unlink()
            self.kept = []
        elif complete:
            order = sorted(self.files, key=lambda f: f[0] == self._last)  # stable: last at the end
            for final, working in order:
                try:
                    os.replace(working, final)
                except OSError as exc:
                    what = "is gone" if exc.errno == errno.ENOENT else one_line(exc)
                    raise OutputError(f"{final}: cannot move {working} into place: {what}") from exc
            self.kept = [final for final, _ in self.files]
        else:
            self.kept = [working for _, working in self.files if working.exists()]
        return self.kept

"""Output files: checked before any frame is processed, written under a working name, moved to
their final name only when the run finished.

A run that does not finish (Ctrl-C, SIGTERM, an error) never replaces a file: what it wrote stays
under its working name, ``NAME.partial.SUFFIX`` (``out.partial.rrd``, ``out.partial.parquet``:
viewers and readers still open it), and the run's last message names it. A run that wrote no
frame leaves no file at all. So a file under a final name is always a finished run's.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from fastpose.errors import OutputError


def partial_path(path: Path) -> Path:
    """``out.partial.rrd`` for ``out.rrd``: the name an unfinished run's result keeps."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def check_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """Fail now, with one line, unless ``path`` ends in one of ``suffixes``."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        expected = " or ".join(suffixes)
        raise OutputError(
            f"{path}: expected a {expected} file for {what}, got {path.suffix or 'no suffix'}"
        )
    return path


def check_writable(path: Path, *, overwrite: bool) -> Path:
    """Fail now, with one line, if ``path`` can't be written or exists without ``overwrite``."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, expected a file path")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists (pass --overwrite to replace it)")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise OutputError(f"{path}: cannot write there ({parent} {what})")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    return path


def _same_file(a: Path, b: Path) -> bool:
    """The same path once resolved, or one file under two names (a hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_distinct(outputs: Iterable[tuple[str, Path]], inputs: Iterable[tuple[str, Path]]) -> None:
    """Fail now, with one line, if an output is an input or another output.

    ``outputs`` and ``inputs`` are (what, path) pairs, e.g. ``("--save", out)``, ``("the input
    video", clip)``. Inputs that are not files (a camera, a URL) are left out by the caller."""
    outputs, inputs = list(outputs), list(inputs)
    for i, (what, path) in enumerate(outputs):
        for other, source in inputs:
            if _same_file(path, source):
                raise OutputError(
                    f"{path}: {what} would overwrite {other} ({source}); choose another path"
                )
        for other, second in outputs[i + 1 :]:
            if _same_file(path, second):
                raise OutputError(f"{path}: {what} and {other} name the same file")


def free_name(path: Path) -> Path:
    """``path``, or ``stem-1.suffix``, ``stem-2.suffix``... whichever does not exist yet."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


class OutputFile:
    """One output: written under :attr:`working` (``out.partial.rrd``, or ``out.partial-1.rrd``
    if that exists), moved to :attr:`path` by :meth:`finish` only when the run is complete."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.working = free_name(partial_path(self.path))
        self.kept: Path | None = None

    def finish(self, *, complete: bool, frames: int | None) -> Path | None:
        """Where the result is now: :attr:`path` if ``complete``, :attr:`working` if not; None
        (and no file) if no frame was written. ``frames=None``: not counted, taken as some."""
        if frames == 0:
            self.working.unlink(missing_ok=True)
            self.kept = None
        elif complete:
            os.replace(self.working, self.path)
            self.kept = self.path
        else:
            self.kept = self.working
        return self.kept

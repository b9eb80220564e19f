"""Output paths, checked before any frame is processed: the suffix, writable, not an input nor
another output. How they are written (a working name, then the final one) is
fastpose.transaction's."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from fastpose.errors import OutputError, one_line


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
        raise OutputError(f"{path}: cannot write there ({one_line(exc)})") from exc
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

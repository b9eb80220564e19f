"""Output files: checked before any frame is processed, written under a temporary name, renamed
at the end."""

from __future__ import annotations

import os
from pathlib import Path

from fastpose.errors import OutputError


def partial_path(path: Path) -> Path:
    """The temporary name ``path`` is written under until it is complete."""
    return path.with_name(f".{path.name}.partial")


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
    probe = partial_path(path)
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    return path


def free_name(path: Path) -> Path:
    """``path``, or ``stem-1.suffix``, ``stem-2.suffix``... whichever does not exist yet."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def finish(path: Path) -> None:
    """Move the completed temporary file into place."""
    os.replace(partial_path(path), path)

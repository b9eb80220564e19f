"""Files with one part per track, assembled at close: OpenSim's TRC and MOT count their rows in
the header, and with several tracks are named ``NAME_<id>.SUFFIX`` (``NAME.SUFFIX`` with one),
so each track's final rows go to an unnamed temporary file (float64, a row at a time) as they
become final, and each file is written, header first, at close, when its final path is claimed
from the staging, a chunk of rows at a time (memory stays bounded however long the video).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from fastpose.errors import OutputError, one_line
from fastpose.outputs import check_suffix
from fastpose.sinks.base import Sink, Staging
from fastpose.sinks.track_rows import Rows, TrackRows

#: Rows formatted at a time at close.
CHUNK_ROWS = 4096


@dataclass
class _Body:
    file: IO[bytes]
    columns: int
    rows: int = 0
    first_frame: int = 0


@dataclass(frozen=True)
class TrackFile:
    """One track's file as written: its final path and the working path it was written to."""

    track: int
    final: Path
    working: Path


def cells(values: NDArray[np.float64], fmt: str, missing: str = "") -> list[str]:
    """Rows of tab-separated ``values`` (n, M), NaN as ``missing``."""
    text = np.char.mod(fmt, values)
    text[np.isnan(values)] = missing
    return ["\t".join(row) for row in text.tolist()]


class PerTrackFiles:
    """Each track's rows kept in a temporary file, written under the final names at close."""

    def __init__(self, path: Path, suffix: str, what: str) -> None:
        self.path = check_suffix(Path(path), (suffix,), what)
        self.bodies: dict[int, _Body] = {}
        self.written: list[TrackFile] = []

    def append(self, track: int, first_frame: int, rows: NDArray[np.float64]) -> None:
        """Rows (n, C) of ``track``, in order."""
        body = self.bodies.get(track)
        if body is None:
            try:
                file = tempfile.TemporaryFile("w+b", dir=self.path.parent, suffix=".body")  # noqa: SIM115 (kept open across batches, closed in finish)
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot write: {one_line(exc)}") from exc
            body = self.bodies[track] = _Body(file, rows.shape[1], 0, first_frame)
        np.ascontiguousarray(rows, dtype=np.float64).tofile(body.file)
        body.rows += len(rows)

    def final_path(self, track: int) -> Path:
        if len(self.bodies) > 1:
            return self.path.with_name(f"{self.path.stem}_{track}{self.path.suffix}")
        return self.path

    def chunks(self, track: int):
        """A track's rows so far, a chunk (n, C) at a time (two passes may interleave)."""
        body = self.bodies[track]
        position = 0
        while True:
            body.file.seek(position)
            chunk = np.fromfile(body.file, dtype=np.float64, count=CHUNK_ROWS * body.columns)
            position = body.file.tell()
            if not len(chunk):
                body.file.seek(0, 2)  # appending goes on at the end
                return
            yield chunk.reshape(-1, body.columns)

    def finish(
        self,
        staging: Staging,
        header: Callable[[Path, int, int], str],
        lines: Callable[[int, NDArray[np.float64]], list[str]],
    ) -> list[TrackFile]:
        """Write every track's file: ``header(final, rows, first_frame)``, then its rows as
        ``lines(track, chunk)`` gives them."""
        for track in sorted(self.bodies):
            body = self.bodies[track]
            final = self.final_path(track)
            working = staging.claim(final)
            with open(working, "w", newline="\n") as out:
                out.write(header(final, body.rows, body.first_frame))
                for chunk in self.chunks(track):
                    out.write("\n".join(lines(track, chunk)) + "\n")
            body.file.close()
            self.written.append(TrackFile(track, final, working))
        self.bodies.clear()
        return self.written


class PerTrackSink(Sink):
    """A sink writing one file per track (:class:`PerTrackFiles`), assembled at close: the rows
    left in ``_tracks`` are appended, then every file gets its header."""

    path: Path
    files: PerTrackFiles
    _staging: Staging | None = None
    _tracks: TrackRows | None = None

    def _append(self, rows: Rows) -> None:
        raise NotImplementedError

    def _header(self, final: Path, n: int, first: int) -> str:
        raise NotImplementedError

    def _lines(self, track: int, chunk: NDArray[np.float64]) -> list[str]:
        raise NotImplementedError

    def close(self, *, complete: bool) -> None:
        if self._staging is None:
            return
        if self._tracks is not None:
            for rows in self._tracks.finish():
                self._append(rows)
        staging, self._staging = self._staging, None
        self._finished(self.files.finish(staging, self._header, self._lines), staging)

    def _finished(self, written: list[TrackFile], staging: Staging) -> None:
        """After every file is written (the IK runs here)."""

    def describe(self) -> str:
        written = self.files.written
        return ", ".join(str(f.final) for f in written) if written else str(self.path)

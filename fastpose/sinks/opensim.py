"""OpenSim's files, one per track: markers (``.trc``) from the world landmarks, angles (``.mot``).

TRC, as Pose2Sim writes it (``make_trc``), so its OpenSim scaling and inverse-kinematics set-up
for BlazePose takes the file as it is: the 25 markers of its ``Markers_BlazePose.xml``, in metres,
OpenSim's axes (Y up: MediaPipe's world x, -y, -z, a half turn about x, so X stays the image's
right as in Sports2D's TRC and Z points to the camera), ``Frame#`` the video's frame number, rows
from the track's first frame to its last. MediaPipe puts the world origin at the hips in every
frame, so the markers show posture, not the path through the room. MOT, as Sports2D writes its
angles (``make_mot_with_angles``): the measures in degrees, one column each under their names.

Both formats count their rows in the header, and with several tracks the files are named
``NAME_<id>.SUFFIX`` (``NAME.SUFFIX`` when the run had one track): so rows go to an unnamed
temporary file per track as they become final, and each file is put together, header first, at
close, when its final path is claimed from the staging. Gaps of up to 10 frames are interpolated
and longer ones left empty (see track_rows.py); a marker or an angle under ``min_visibility``
is a gap.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import IO, ClassVar

import numpy as np
from numpy.typing import NDArray

from fastpose.errors import OutputError, one_line
from fastpose.measures.definitions import DEG, OPENSIM_MARKERS, landmark_groups
from fastpose.outputs import check_suffix
from fastpose.sinks.base import Sink, SinkContext, Staging, Tracked
from fastpose.sinks.track_rows import Rows, TrackRows

#: MediaPipe world (x right, y down, z away from the camera) to OpenSim (Y up), right-handed.
TO_OPENSIM = np.array([1.0, -1.0, -1.0])
_MARKER_LANDMARKS = [landmark_groups()[m][0] for m in OPENSIM_MARKERS]


def _cells(values: NDArray[np.float64], fmt: str) -> list[str]:
    """Rows of tab-separated ``values`` (n, M), NaN as an empty cell."""
    text = np.char.mod(fmt, values)
    text[np.isnan(values)] = ""
    return ["\t".join(row) for row in text.tolist()]


class _PerTrackFiles:
    """Final rows of each track kept in a temporary file, assembled under the final names at
    close: ``header(track, rows) + body``."""

    def __init__(self, path: Path, suffix: str, what: str) -> None:
        self.path = check_suffix(Path(path), (suffix,), what)
        self.bodies: dict[int, tuple[IO[str], list[int]]] = {}  # track -> (file, [rows, first])
        self.written: list[Path] = []

    def append(self, rows: Rows, lines: list[str]) -> None:
        if rows.track not in self.bodies:
            try:
                body = tempfile.TemporaryFile("w+", dir=self.path.parent, suffix=".body")  # noqa: SIM115 (kept open across batches, closed in finish)
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot write: {one_line(exc)}") from exc
            self.bodies[rows.track] = (body, [0, int(rows.frame_idx[0])])
        body, count = self.bodies[rows.track]
        body.write("\n".join(lines) + "\n")
        count[0] += len(lines)

    def finish(self, staging: Staging, header) -> list[Path]:
        """Write every track's file: ``header(path, rows, first_frame)`` then its rows."""
        several = len(self.bodies) > 1
        for track, (body, (n, first)) in sorted(self.bodies.items()):
            final = self.path
            if several:
                final = self.path.with_name(f"{self.path.stem}_{track}{self.path.suffix}")
            working = staging.claim(final)
            with open(working, "w", newline="\n") as out:
                out.write(header(final, n, first))
                body.seek(0)
                shutil.copyfileobj(body, out)
            body.close()
            self.written.append(final)
        self.bodies.clear()
        return self.written


class _PerTrackSink(Sink):
    """A sink writing one file per track (:class:`_PerTrackFiles`), assembled at close: the
    rows left in ``_tracks`` are appended, then every file gets its header."""

    path: Path
    files: _PerTrackFiles
    _staging: Staging | None = None
    _tracks: TrackRows | None = None

    def _append(self, rows: Rows) -> None:
        raise NotImplementedError

    def _header(self, final: Path, n: int, first: int) -> str:
        raise NotImplementedError

    def close(self, *, complete: bool) -> None:
        if self._staging is None:
            return
        if self._tracks is not None:
            for rows in self._tracks.finish():
                self._append(rows)
        staging, self._staging = self._staging, None
        self.files.finish(staging, self._header)

    def describe(self) -> str:
        written = self.files.written
        return ", ".join(map(str, written)) if written else str(self.path)


class TrcWriter(_PerTrackSink):
    """OpenSim markers (``.trc``) from each track's world landmarks (see the module's doc)."""

    name: ClassVar[str] = "trc"

    def __init__(self, path: Path, *, min_visibility: float = 0.5) -> None:
        self.files = _PerTrackFiles(path, ".trc", "--trc")
        self.path = self.files.path
        self.min_visibility = min_visibility
        self._tracks = TrackRows(np.zeros(3 * len(OPENSIM_MARKERS)))
        self._staging: Staging | None = None
        self._rate = 30.0

    def open(self, context: SinkContext, staging: Staging) -> None:
        self._staging = staging
        fps = context.info.fps
        self._rate = float(fps) if fps and fps > 0 else 30.0

    def write(self, batch: Tracked) -> None:
        poses = batch.poses
        world = poses.world[:, :, _MARKER_LANDMARKS].astype(np.float64) * TO_OPENSIM
        seen = poses.landmarks[:, :, _MARKER_LANDMARKS, 3] >= self.min_visibility
        world[~seen] = np.nan
        t, p = poses.world.shape[:2]
        for rows in self._tracks.push(
            poses.frame_idx, poses.time_s, poses.ids, world.reshape(t, p, -1)
        ):
            self._append(rows)

    def _append(self, rows: Rows) -> None:
        lead = [f"{f}\t{t:.6f}" for f, t in zip(rows.frame_idx, rows.time_s, strict=True)]
        cells = _cells(rows.values, "%.6f")
        self.files.append(rows, [f"{a}\t{b}" for a, b in zip(lead, cells, strict=True)])

    def _header(self, final: Path, n: int, first: int) -> str:
        rate = f"{self._rate:g}"
        markers = len(OPENSIM_MARKERS)
        return "\n".join(
            [
                f"PathFileType\t4\t(X/Y/Z)\t{final.name}",
                "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate"
                "\tOrigDataStartFrame\tOrigNumFrames",
                f"{rate}\t{rate}\t{n}\t{markers}\tm\t{rate}\t{first}\t{n}",
                "Frame#\tTime\t" + "\t\t\t".join(OPENSIM_MARKERS) + "\t\t\t",
                "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, markers + 1)),
                "",
            ]
        )


class MotWriter(_PerTrackSink):
    """The angles (degrees) in OpenSim's motion format, as Sports2D writes them, per track."""

    name: ClassVar[str] = "mot"
    wants_measures: ClassVar[bool] = True

    def __init__(self, path: Path) -> None:
        self.files = _PerTrackFiles(path, ".mot", "--angles")
        self.path = self.files.path
        self._tracks: TrackRows | None = None
        self._columns: NDArray[np.intp] | None = None
        self._names: list[str] = []
        self._staging: Staging | None = None

    def open(self, context: SinkContext, staging: Staging) -> None:
        self._staging = staging

    def write(self, batch: Tracked) -> None:
        m = batch.measures
        if m is None:
            raise ValueError("MotWriter: expected batch.measures (wants_measures), got None")
        if self._tracks is None:
            self._columns = np.array([i for i, u in enumerate(m.units) if u == DEG])
            self._names = [m.names[i] for i in self._columns]
            self._tracks = TrackRows(m.periods()[self._columns])
        for rows in self._tracks.push(
            m.frame_idx, m.time_s, m.track_ids, m.values[:, :, self._columns]
        ):
            self._append(rows)

    def _append(self, rows: Rows) -> None:
        cells = _cells(rows.values, "%.4f")
        self.files.append(rows, [f"{t:.6f}\t{c}" for t, c in zip(rows.time_s, cells, strict=True)])

    def _header(self, final: Path, n: int, first: int) -> str:
        return "\n".join(
            [
                "Coordinates",
                "version=1",
                f"nRows={n}",
                f"nColumns={len(self._names) + 1}",
                "inDegrees=yes",
                "",
                "Units are S.I. units (second, meters, Newtons, ...)",
                "If the header above contains a line with 'inDegrees', this indicates whether "
                "rotational values are in degrees (yes) or radians (no).",
                "",
                "endheader",
                "time\t" + "\t".join(self._names),
                "",
            ]
        )

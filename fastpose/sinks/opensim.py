"""OpenSim's files, one per track: markers (``.trc``) in a ground frame, angles (``.mot``).

TRC, as Pose2Sim writes it (``make_trc``), so its OpenSim scaling and inverse-kinematics set-up
for BlazePose takes the file as it is: the 25 markers of its ``Markers_BlazePose.xml``, in metres,
``Frame#`` the video's frame number, rows from the track's first frame to its last. The markers
are MediaPipe's world landmarks (metres around the hips) placed where the image shows the person
(fastpose.placement), then expressed in the person's ground frame (fastpose.ground): Y up along
gravity, X the image's right made horizontal, Z towards the camera, the feet on the ground at
Y = 0 (each frame's ground height estimated from the feet's contacts around it), the origin under
the hips of the track's first frame. A missing marker is ``NaN`` (OpenSim's reader drops an
empty last cell, and the row with it). The ground frame is estimated from the whole track, so the
rows are kept (float64, in a temporary file) and written at close, a chunk at a time; the estimate
reads a bounded sample of them from that file (fastpose.ground.sample_rows), so a track costs no
memory while the video runs, whatever its length. MOT, as Sports2D writes its angles
(``make_mot_with_angles``), but with ``_`` for the spaces in the names (``right_knee``):
OpenSim's ``Storage`` splits column names at spaces. A missing value is ``NaN`` in both files, as
OpenSim writes it (an empty cell shifts the row's values in a reader that splits at whitespace).
The MOT says ``version=3`` (OpenSim 4's): ``Storage`` reads a file of version 1 with C++ streams,
which stop at the first ``NaN``, and a later version with OpenSim's table reader, which reads
``NaN`` as NaN, so every row and column reads whole.

With several tracks the files are ``NAME_<id>.SUFFIX`` (``NAME.SUFFIX`` when the run had one
track). Gaps of up to 10 frames are interpolated and longer ones left empty (see track_rows.py);
a marker or an angle under ``min_visibility`` is a gap. With ``ik``, OpenSim scales Pose2Sim's
model and solves its inverse kinematics on each TRC at close (fastpose.ik).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import NDArray

from fastpose.ground import (
    CONTACT_WINDOW_S,
    GroundFrame,
    Skeleton,
    contact_offsets,
    estimate_ground,
    lowest_foot,
    sample_rows,
)
from fastpose.measures.definitions import DEG, OPENSIM_MARKERS, landmark_groups
from fastpose.placement import TrackPlacer
from fastpose.sinks.base import SinkContext, Staging, Tracked
from fastpose.sinks.per_track import PerTrackFiles, PerTrackSink, TrackFile, cells
from fastpose.sinks.track_rows import Rows, TrackRows, unfilled

if TYPE_CHECKING:
    from fastpose.ik import IkResult

logger = logging.getLogger(__name__)
_MARKER_LANDMARKS = [landmark_groups()[m][0] for m in OPENSIM_MARKERS]


def _pair(left: str, right: str) -> tuple[int, int]:
    return OPENSIM_MARKERS.index(left), OPENSIM_MARKERS.index(right)


#: The markers the ground frame reads.
SKELETON = Skeleton(
    hips=_pair("LHip", "RHip"),
    shoulders=_pair("LShoulder", "RShoulder"),
    knees=_pair("LKnee", "RKnee"),
    ankles=_pair("LAnkle", "RAnkle"),
    feet=(*_pair("LHeel", "RHeel"), *_pair("LBigToe", "RBigToe")),
)


#: The MOT's ``version=``: OpenSim 4's storage format. ``opensim.Storage`` reads a version 1 file
#: with C++ streams (stopping at the first ``NaN``), a later one with its table reader (``NaN``
#: read as NaN): ``tests/test_opensim.py`` checks it reads every row and column.
MOT_VERSION = 3


def mot_name(name: str) -> str:
    """A measure's MOT column: its name with ``_`` for spaces (OpenSim splits names there)."""
    return name.replace(" ", "_")


#: Called with each track's IK when it is solved: (track, the run's track count, result).
IkListener = Callable[[int, int, "IkResult"], None]


class TrcWriter(PerTrackSink):
    """OpenSim markers (``.trc``) of each track in its ground frame (see the module's doc);
    ``ik``: then scaling and inverse kinematics on each (``on_ik`` gets every result)."""

    name: ClassVar[str] = "trc"

    def __init__(
        self,
        path: Path,
        *,
        min_visibility: float = 0.5,
        ik: bool = False,
        on_ik: IkListener | None = None,
    ) -> None:
        self.files = PerTrackFiles(path, ".trc", "--trc")
        self.path = self.files.path
        self.min_visibility = min_visibility
        self.ik, self.on_ik = ik, on_ik
        self._tracks = TrackRows(np.zeros(3 * len(OPENSIM_MARKERS)))
        self._staging: Staging | None = None
        self._rate = 30.0
        self._placer: TrackPlacer | None = None
        self._sampled: dict[int, NDArray[np.float64]] = {}  # for IK: each track's sample
        self._frames: dict[int, GroundFrame] = {}
        self._offsets: dict[int, NDArray[np.float64]] = {}  # track -> ground height per row
        self._written: dict[int, int] = {}  # track -> rows written
        self._complete = False
        self.ik_files: list[Path] = []

    def open(self, context: SinkContext, staging: Staging) -> None:
        self._staging = staging
        fps = context.info.fps
        self._rate = float(fps) if fps and fps > 0 else 30.0
        self._placer = TrackPlacer(context.info.width, context.info.height)

    def write(self, batch: Tracked) -> None:
        poses = batch.poses
        if self._placer is None:
            raise ValueError("TrcWriter: expected open() before write(), got write() first")
        ids = poses.ids
        pixels = poses.pixels(self._placer.width, self._placer.height)
        places = self._placer(poses.time_s, ids, pixels, poses.world)
        world = poses.world[:, :, _MARKER_LANDMARKS].astype(np.float64) + places[:, :, None, :]
        seen = poses.landmarks[:, :, _MARKER_LANDMARKS, 3] >= self.min_visibility
        world[~seen] = np.nan
        t, p = poses.world.shape[:2]
        for rows in self._tracks.push(poses.frame_idx, poses.time_s, ids, world.reshape(t, p, -1)):
            self._append(rows)

    def _append(self, rows: Rows) -> None:
        lead = np.stack([rows.frame_idx.astype(np.float64), rows.time_s], axis=1)
        self.files.append(rows.track, int(rows.frame_idx[0]), np.hstack([lead, rows.values]))

    def ground(self, track: int) -> GroundFrame:
        """The ground frame of ``track``, from its rows so far."""
        if track not in self._frames:
            rows = sample_rows(self.files.chunks(track), self.files.bodies[track].rows)
            markers = rows[:, 2:].reshape(-1, len(OPENSIM_MARKERS), 3)
            self._frames[track] = estimate_ground(markers, SKELETON)
            if self.ik:
                self._sampled[track] = markers
        return self._frames[track]

    def offsets(self, track: int) -> NDArray[np.float64]:
        """The ground's height under each row of ``track`` in its ground frame (a first pass
        over its rows: fastpose.ground.contact_offsets), subtracted from the rows' Y."""
        if track not in self._offsets:
            frame, n = self.ground(track), len(OPENSIM_MARKERS)
            lowest = [
                lowest_foot(frame.apply(chunk[:, 2:].reshape(len(chunk), n, 3)), SKELETON)
                for chunk in self.files.chunks(track)
            ]
            window = round(CONTACT_WINDOW_S * self._rate)
            self._offsets[track] = contact_offsets(np.concatenate(lowest), window)
        return self._offsets[track]

    def _lines(self, track: int, chunk: NDArray[np.float64]) -> list[str]:
        n = len(chunk)
        offsets = self.offsets(track)
        start = self._written.get(track, 0)
        self._written[track] = start + n
        markers = self.ground(track).apply(chunk[:, 2:].reshape(n, -1, 3))
        markers[..., 1] -= offsets[start : start + n, None]
        markers = markers.reshape(n, -1)
        lead = [f"{int(f)}\t{t:.6f}" for f, t in chunk[:, :2].tolist()]
        body = cells(markers, "%.6f", "NaN")
        return [f"{a}\t{b}" for a, b in zip(lead, body, strict=True)]

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

    def close(self, *, complete: bool) -> None:
        self._complete = complete
        super().close(complete=complete)

    def _finished(self, written: list[TrackFile], staging: Staging) -> None:
        if not (self.ik and self._complete):
            return
        from fastpose.ik import NothingToSolve, solve_track  # OpenSim: only when asked for

        for file in written:
            markers = self._sampled.pop(file.track)
            try:
                result = solve_track(file.working, file.final, markers, staging)
            except NothingToSolve as exc:
                logger.warning("%s", exc)
                continue
            self.ik_files += result.files
            if self.on_ik is not None:
                self.on_ik(file.track, len(written), result)


class MotWriter(PerTrackSink):
    """The angles (degrees) in OpenSim's motion format, as Sports2D writes them, per track."""

    name: ClassVar[str] = "mot"
    wants_measures: ClassVar[bool] = True

    def __init__(self, path: Path) -> None:
        self.files = PerTrackFiles(path, ".mot", "--angles")
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
            self._names = [mot_name(m.names[i]) for i in self._columns]
            self._tracks = TrackRows(m.periods()[self._columns])
        columns = self._columns
        unmeasured = m.unmeasured()[:, :, columns].astype(np.float64)
        for rows in self._tracks.push(
            m.frame_idx, m.time_s, m.track_ids, m.values[:, :, columns], unmeasured
        ):
            self._append(rows)

    def _append(self, rows: Rows) -> None:
        values, _ = unfilled(rows, np.nan_to_num(rows.extra) > 0)
        rows_out = np.hstack([rows.time_s[:, None], values])
        self.files.append(rows.track, int(rows.frame_idx[0]), rows_out)

    def _lines(self, track: int, chunk: NDArray[np.float64]) -> list[str]:
        body = cells(chunk[:, 1:], "%.4f", "NaN")
        return [f"{t:.6f}\t{c}" for t, c in zip(chunk[:, 0].tolist(), body, strict=True)]

    def _header(self, final: Path, n: int, first: int) -> str:
        return "\n".join(
            [
                "Coordinates",
                f"version={MOT_VERSION}",
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

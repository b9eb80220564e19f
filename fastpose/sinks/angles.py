"""The measures as a tidy table: one row per frame x track x measure, streamed to Parquet or CSV.

Columns: ``frame_idx, time_s, person, measure, value, unit, interpolated, side, replaced,
foreshortened, settling``:
``side`` says which side a 2D angle was measured from (``left``: the person seen from the left,
x mirrored; ``right``; decided per track with hysteresis, see measures/sides.py; null on other
measures and on rows of frames the person was not found), ``replaced`` that a landmark the value
was measured on was replaced by the outlier filter (fastpose.outliers), ``foreshortened`` that a
2D angle is NaN because one of its segments pointed at the camera (measures/foreshortening.py:
such a value is never interpolated), ``settling`` that an angle is NaN because the track's
pose was still settling in its first frames (measures/settling.py: never interpolated either).
Every frame of a
track's lifetime has its rows (NaN values where the person or a point was missing); gaps of up to
10 frames are filled by interpolation and flagged ``interpolated``, as the MOT and TRC files fill
them (see track_rows.py). Parquet files carry the run's settings as key-value metadata
(``fastpose.*`` keys, as the landmark table's: fastpose.sinks.metadata).
:func:`angles_sink` picks the sink for a ``--angles`` path: this table, or a ``.mot`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from fastpose.measures import angles2d
from fastpose.measures.batch import MeasureBatch
from fastpose.outputs import check_suffix
from fastpose.sinks.base import Sink, SinkContext, Staging, Tracked
from fastpose.sinks.opensim import MotWriter
from fastpose.sinks.table_file import TableFile
from fastpose.sinks.track_rows import Rows, TrackRows, unfilled

SCHEMA = pa.schema(
    [
        ("frame_idx", pa.int64()),
        ("time_s", pa.float64()),
        ("person", pa.int32()),
        ("measure", pa.dictionary(pa.int8(), pa.string())),
        ("value", pa.float64()),
        ("unit", pa.dictionary(pa.int8(), pa.string())),
        ("interpolated", pa.bool_()),
        ("side", pa.string()),
        ("replaced", pa.bool_()),
        ("foreshortened", pa.bool_()),
        ("settling", pa.bool_()),
    ]
)
_SIDES = np.array(["left", None, "right"], dtype=object)  # by side + 1 (-1 left, 1 right)
TABLE_FORMATS = (".parquet", ".csv")
FORMATS = (*TABLE_FORMATS, ".mot")


def angles_sink(path: Path) -> Sink:
    """The sink for ``--angles PATH``: :class:`AnglesTable` (.parquet, .csv) or
    :class:`~fastpose.sinks.opensim.MotWriter` (.mot)."""
    path = check_suffix(Path(path), FORMATS, "--angles")
    if path.suffix.lower() == ".mot":
        return MotWriter(path)
    return AnglesTable(path)


class AnglesTable(Sink):
    """Streams the measures' tidy table to ``path`` (.parquet or .csv; Parquet row groups of many
    thousand rows: see fastpose.sinks.table_file)."""

    name: ClassVar[str] = "angles"
    wants_measures: ClassVar[bool] = True

    def __init__(self, path: Path) -> None:
        self.path = check_suffix(Path(path), TABLE_FORMATS, "--angles")
        self._file: TableFile | None = None
        self._tracks: TrackRows | None = None
        self._names: pa.Array | None = None
        self._units: pa.Array | None = None

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return 0 if self._file is None else self._file.rows

    def open(self, context: SinkContext, staging: Staging) -> None:
        working = staging.claim(self.path)
        self._file = TableFile(self.path, working, SCHEMA, context.settings)

    def write(self, batch: Tracked) -> None:
        measures: MeasureBatch = batch.measures
        if measures is None:
            raise ValueError("AnglesTable: expected batch.measures (wants_measures), got None")
        if self._tracks is None:
            self._tracks = TrackRows(measures.periods())
            self._names = pa.array(measures.names, pa.string())
            self._units = pa.array(measures.units, pa.string())
            self._is2d = np.isin(np.array(measures.names), angles2d.NAMES) & (
                np.array(measures.units) == "deg"
            )
        t, p, m = measures.values.shape
        side = np.zeros((t, p, 1)) if measures.side is None else measures.side[..., None]
        replaced = np.zeros((t, p, m)) if measures.replaced is None else measures.replaced
        short = np.zeros((t, p, m)) if measures.foreshortened is None else measures.foreshortened
        settling = np.zeros((t, p, m)) if measures.settling is None else measures.settling
        flags = [side, replaced, short, settling]
        extra = np.concatenate([f.astype(np.float64) for f in flags], axis=2)
        self._write_rows(
            self._tracks.push(
                measures.frame_idx, measures.time_s, measures.track_ids, measures.values, extra
            )
        )

    def _write_rows(self, rows: list[Rows]) -> None:
        for r in rows:
            n, m = r.values.shape
            replaced = np.nan_to_num(r.extra[:, 1 : 1 + m]) > 0
            short = np.nan_to_num(r.extra[:, 1 + m : 1 + 2 * m]) > 0
            settling = np.nan_to_num(r.extra[:, 1 + 2 * m :]) > 0
            values, interpolated = unfilled(r, short | settling)
            measure = pa.array(np.tile(np.arange(m, dtype=np.int8), n), pa.int8())
            columns = [
                np.repeat(r.frame_idx, m),
                np.repeat(r.time_s, m),
                np.full(n * m, r.track, dtype=np.int32),
                pa.DictionaryArray.from_arrays(measure, self._names),
                values.reshape(-1),
                pa.DictionaryArray.from_arrays(measure, self._units),
                interpolated.reshape(-1),
                pa.array(self._sides(r.extra[:, 0]), pa.string()),
                replaced.reshape(-1),
                short.reshape(-1),
                settling.reshape(-1),
            ]
            self._file.write(pa.Table.from_arrays(columns, schema=SCHEMA))

    def _sides(self, side: np.ndarray) -> np.ndarray:
        """(n * M,) each row's side: the frame's on 2D angles, None elsewhere and on NaN."""
        code = np.where(np.isfinite(side), side + 1, 1).astype(np.intp)  # -1 -> 0, 1 -> 2
        return np.where(self._is2d[None, :], _SIDES[code][:, None], None).reshape(-1)

    def close(self, *, complete: bool) -> None:
        if self._file is None:
            return
        try:
            if self._tracks is not None:
                self._write_rows(self._tracks.finish())
                self._tracks = None
        finally:
            self._file.close()

    def describe(self) -> str:
        return str(self.path)

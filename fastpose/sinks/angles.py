"""The measures as a tidy table: one row per frame x track x measure, streamed to Parquet or CSV.

Columns: ``frame_idx, time_s, person, measure, value, unit, interpolated``. Every frame of a
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

from fastpose.measures.batch import MeasureBatch
from fastpose.outputs import check_suffix
from fastpose.sinks.base import Sink, SinkContext, Staging, Tracked
from fastpose.sinks.opensim import MotWriter
from fastpose.sinks.table_file import TableFile
from fastpose.sinks.track_rows import Rows, TrackRows

SCHEMA = pa.schema(
    [
        ("frame_idx", pa.int64()),
        ("time_s", pa.float64()),
        ("person", pa.int32()),
        ("measure", pa.dictionary(pa.int8(), pa.string())),
        ("value", pa.float64()),
        ("unit", pa.dictionary(pa.int8(), pa.string())),
        ("interpolated", pa.bool_()),
    ]
)
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
        self._write_rows(
            self._tracks.push(
                measures.frame_idx, measures.time_s, measures.track_ids, measures.values
            )
        )

    def _write_rows(self, rows: list[Rows]) -> None:
        for r in rows:
            n, m = r.values.shape
            measure = pa.array(np.tile(np.arange(m, dtype=np.int8), n), pa.int8())
            columns = [
                np.repeat(r.frame_idx, m),
                np.repeat(r.time_s, m),
                np.full(n * m, r.track, dtype=np.int32),
                pa.DictionaryArray.from_arrays(measure, self._names),
                r.values.reshape(-1),
                pa.DictionaryArray.from_arrays(measure, self._units),
                r.interpolated.reshape(-1),
            ]
            self._file.write(pa.Table.from_arrays(columns, schema=SCHEMA))

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

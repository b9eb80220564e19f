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
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fastpose.errors import OutputError, one_line
from fastpose.measures.batch import MeasureBatch
from fastpose.outputs import check_suffix
from fastpose.sinks.base import Sink, SinkContext, Staging, Tracked
from fastpose.sinks.metadata import settings_metadata
from fastpose.sinks.opensim import MotWriter
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
    """Streams the measures' tidy table to ``path`` (.parquet or .csv)."""

    name: ClassVar[str] = "angles"
    wants_measures: ClassVar[bool] = True

    def __init__(self, path: Path) -> None:
        self.path = check_suffix(Path(path), TABLE_FORMATS, "--angles")
        self.rows = 0
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self._tracks: TrackRows | None = None
        self._names: pa.Array | None = None

    def open(self, context: SinkContext, staging: Staging) -> None:
        working = staging.claim(self.path)
        try:
            if self.path.suffix.lower() == ".parquet":
                schema = SCHEMA.with_metadata(settings_metadata(context.settings))
                self._writer = pq.ParquetWriter(working, schema, compression="zstd")
            else:
                schema = SCHEMA.set(3, pa.field("measure", pa.string()))
                schema = schema.set(5, pa.field("unit", pa.string()))
                self._writer = pacsv.CSVWriter(working, schema)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write: {one_line(exc)}") from exc

    def write(self, batch: Tracked) -> None:
        measures: MeasureBatch = batch.measures
        if measures is None:
            raise ValueError("AnglesTable: expected batch.measures (wants_measures), got None")
        if self._tracks is None:
            self._tracks = TrackRows(measures.periods())
            self._names, self._units = measures.names, measures.units
        self._write_rows(
            self._tracks.push(
                measures.frame_idx, measures.time_s, measures.track_ids, measures.values
            )
        )

    def _write_rows(self, rows: list[Rows]) -> None:
        for r in rows:
            n, m = r.values.shape
            measure = np.tile(np.arange(m, dtype=np.int8), n)
            columns = [
                np.repeat(r.frame_idx, m),
                np.repeat(r.time_s, m),
                np.full(n * m, r.track, dtype=np.int32),
                pa.DictionaryArray.from_arrays(
                    pa.array(measure, pa.int8()), pa.array(self._names, pa.string())
                ),
                r.values.reshape(-1),
                pa.DictionaryArray.from_arrays(
                    pa.array(measure, pa.int8()), pa.array(self._units, pa.string())
                ),
                r.interpolated.reshape(-1),
            ]
            table = pa.Table.from_arrays(columns, schema=SCHEMA)
            if isinstance(self._writer, pacsv.CSVWriter):
                for i in (3, 5):
                    table = table.set_column(
                        i, SCHEMA.field(i).name, table.column(i).cast(pa.string())
                    )
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self, *, complete: bool) -> None:
        if self._writer is None:
            return
        try:
            if self._tracks is not None:
                self._write_rows(self._tracks.finish())
        finally:
            writer, self._writer = self._writer, None
            writer.close()

    def describe(self) -> str:
        return str(self.path)

"""A table streamed to a Parquet or CSV file, batch by batch, for the landmark and angle tables.

Parquet: rows are buffered (as Arrow tables) and written as row groups of many thousand rows.
pyarrow's ``ParquetWriter`` keeps every row group's metadata (~10 KB with these tables' columns)
until it closes, so a row group per 16-frame batch made the two tables grow RSS by 1.5 KB a frame
(measured: docs/performance.md), 160 MB over an hour. The first row group is written with the
first batch (a reader or a test looking at a file being written sees rows early), each next one
holds twice as many rows as the one before, up to :data:`ROW_GROUP_ROWS` or
:data:`ROW_GROUP_BYTES`; :meth:`TableFile.close` writes what is left. A run stopped by a signal
closes its files, so every frame it wrote is there; one killed outright (``kill -9``) leaves a
Parquet file without its footer, unreadable, as before. CSV rows are written as they come (a CSV
file holds no per-batch state, and a killed run's CSV keeps every row written).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fastpose.errors import OutputError, one_line
from fastpose.sinks.metadata import settings_metadata

#: A Parquet row group holds at most this many rows (~2,000 frames of one person's landmarks)...
ROW_GROUP_ROWS = 65_536
#: ...or this many bytes of Arrow data, whichever comes first.
ROW_GROUP_BYTES = 16 * 1024 * 1024


class TableFile:
    """Tables of ``schema`` appended to ``working`` (the staging's path for ``path``): Parquet
    (zstd, ``settings`` as ``fastpose.*`` metadata) or, for a ``.csv`` path, CSV with dictionary
    columns written as text. ``rows``: rows taken so far (written or buffered)."""

    def __init__(
        self,
        path: Path,
        working: Path,
        schema: pa.Schema,
        settings: Mapping[str, str],
        *,
        max_rows: int = ROW_GROUP_ROWS,
        max_bytes: int = ROW_GROUP_BYTES,
    ) -> None:
        if max_rows < 1 or max_bytes < 1:
            raise ValueError(
                f"TableFile: expected max_rows and max_bytes >= 1, got {max_rows}, {max_bytes}"
            )
        self.path, self.rows = Path(path), 0
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.parquet = self.path.suffix.lower() == ".parquet"
        self._buffer: list[pa.Table] = []
        self._buffered_rows = self._buffered_bytes = 0
        self._next_group: int | None = None  # rows of the next row group (None: the first batch)
        self._text = [i for i, f in enumerate(schema) if pa.types.is_dictionary(f.type)]
        try:
            if self.parquet:
                schema = schema.with_metadata(settings_metadata(settings))
                self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = pq.ParquetWriter(
                    working, schema, compression="zstd"
                )
            else:
                for i in self._text:
                    schema = schema.set(i, pa.field(schema.field(i).name, pa.string()))
                self._writer = pacsv.CSVWriter(working, schema)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write: {one_line(exc)}") from exc

    def write(self, table: pa.Table) -> None:
        """Append ``table``'s rows (buffered for Parquet; see the module's doc)."""
        if self._writer is None:
            raise ValueError(f"{self.path}: expected an open table, got one closed")
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        if not self.parquet:
            for i in self._text:
                table = table.set_column(i, table.field(i).name, table.column(i).cast(pa.string()))
            self._writer.write_table(table)
            return
        self._buffer.append(table)
        self._buffered_rows += table.num_rows
        self._buffered_bytes += table.nbytes
        group = self._next_group or self._buffered_rows
        while self._buffered_rows >= group or self._buffered_bytes >= self.max_bytes:
            self._flush(min(group, self._buffered_rows))
            group = self._next_group = min(2 * group, self.max_rows)

    def _flush(self, rows: int | None = None) -> None:
        """The first ``rows`` buffered rows (all if None) as one row group; the rest stay."""
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer)
        rows = table.num_rows if rows is None else rows
        rest = table.slice(rows)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered_rows, self._buffered_bytes = rest.num_rows, rest.nbytes
        self._writer.write_table(table.slice(0, rows), row_group_size=self.max_rows)

    def close(self) -> None:
        """Write what is buffered and close the file (its footer, for Parquet). Idempotent."""
        if self._writer is None:
            return
        writer = self._writer
        try:
            if self.parquet:
                self._flush()
        finally:
            self._writer = None
            writer.close()

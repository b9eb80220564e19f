"""Landmark tables: one row per frame x person x landmark, streamed to Parquet or CSV."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fastpose.errors import OutputError
from fastpose.outputs import check_writable, finish, partial_path
from fastpose.poses import PoseBatch
from fastpose.skeleton import LANDMARK_NAMES, NUM_LANDMARKS

SCHEMA = pa.schema(
    [
        ("frame_idx", pa.int64()),
        ("time_s", pa.float64()),
        ("person", pa.int16()),
        ("landmark", pa.dictionary(pa.int8(), pa.string())),
        ("x_px", pa.float32()),
        ("y_px", pa.float32()),
        ("z", pa.float32()),
        ("visibility", pa.float32()),
        ("presence", pa.float32()),
        ("world_x", pa.float32()),
        ("world_y", pa.float32()),
        ("world_z", pa.float32()),
    ]
)
FORMATS = (".parquet", ".csv")
_NAMES = pa.array(LANDMARK_NAMES, pa.string())


def table(poses: PoseBatch, width: int, height: int) -> pa.Table:
    """The detected persons of ``poses`` as rows; ``z`` is scaled to pixels like x."""
    frame, person = np.nonzero(poses.detected)
    lm = poses.landmarks[frame, person]  # (R, 33, 5)
    world = poses.world[frame, person]
    rows = len(frame) * NUM_LANDMARKS
    codes = np.tile(np.arange(NUM_LANDMARKS, dtype=np.int8), len(frame))
    columns = [
        np.repeat(poses.frame_idx[frame], NUM_LANDMARKS),
        np.repeat(poses.time_s[frame], NUM_LANDMARKS),
        np.repeat(person.astype(np.int16), NUM_LANDMARKS),
        pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), _NAMES),
        lm[..., 0].reshape(rows) * width,
        lm[..., 1].reshape(rows) * height,
        lm[..., 2].reshape(rows) * width,
        lm[..., 3].reshape(rows),
        lm[..., 4].reshape(rows),
        *(world[..., i].reshape(rows) for i in range(3)),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def check_export(path: Path, *, overwrite: bool) -> Path:
    """Fail now, with one line, unless ``path`` is a writable ``.parquet`` or ``.csv`` file path."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise OutputError(
            f"{path}: expected a .parquet or .csv file, got {path.suffix or 'no suffix'}"
        )
    return check_writable(path, overwrite=overwrite)


class LandmarkExporter:
    """Streams tables to ``path`` (``.parquet`` or ``.csv``) through a temporary file renamed on
    close, so a reader never sees a half-written table and an interrupted run keeps what it
    wrote."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FORMATS:
            raise OutputError(
                f"{path}: expected a .parquet or .csv file, got {self.path.suffix or 'no suffix'}"
            )
        self.width, self.height = width, height
        self.rows = 0
        self._tmp = partial_path(self.path)
        try:
            if self.path.suffix.lower() == ".parquet":
                self._writer = pq.ParquetWriter(self._tmp, SCHEMA, compression="zstd")
            else:
                self._writer = pacsv.CSVWriter(
                    self._tmp, SCHEMA.set(3, pa.field("landmark", pa.string()))
                )
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc

    def write(self, poses: PoseBatch) -> None:
        t = table(poses, self.width, self.height)
        if t.num_rows == 0:
            return
        if isinstance(self._writer, pacsv.CSVWriter):
            t = t.set_column(3, "landmark", t.column(3).cast(pa.string()))
        self._writer.write_table(t)
        self.rows += t.num_rows

    def close(self) -> None:
        """Finish the file and move it into place; safe to call twice."""
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        finish(self.path)

    def __enter__(self) -> LandmarkExporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

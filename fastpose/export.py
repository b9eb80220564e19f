"""Landmark tables: one row per frame x person x landmark, streamed to Parquet or CSV."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fastpose.errors import OutputError
from fastpose.outputs import OutputFile, check_suffix, check_writable
from fastpose.poses import PoseBatch
from fastpose.skeleton import LANDMARK_NAMES, NUM_LANDMARKS

SCHEMA = pa.schema(
    [
        ("frame_idx", pa.int64()),
        ("time_s", pa.float64()),
        ("person", pa.int32()),
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
    """The detected persons of ``poses`` as rows; ``z`` is scaled to pixels like x; ``person``
    is the person's track id (the same in every frame, see identities.py)."""
    frame, slot = np.nonzero(poses.detected)
    lm = poses.landmarks[frame, slot]  # (R, 33, 5)
    world = poses.world[frame, slot]
    rows = len(frame) * NUM_LANDMARKS
    codes = np.tile(np.arange(NUM_LANDMARKS, dtype=np.int8), len(frame))
    columns = [
        np.repeat(poses.frame_idx[frame], NUM_LANDMARKS),
        np.repeat(poses.time_s[frame], NUM_LANDMARKS),
        np.repeat(poses.ids[frame, slot], NUM_LANDMARKS),
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
    return check_writable(check_suffix(path, FORMATS, "--export"), overwrite=overwrite)


class LandmarkExporter:
    """Streams tables to ``path`` (``.parquet`` or ``.csv``) through a working file
    (``out.partial.parquet``), moved to ``path`` on close only if the run is complete: a
    reader never sees a half-written table under the final name, and an interrupted run keeps
    what it wrote under the working name (see :mod:`fastpose.outputs`)."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        self.path = check_suffix(path, FORMATS, "--export")
        self.width, self.height = width, height
        self.rows = 0
        self.output = OutputFile(self.path)
        self._tmp = self.output.working
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

    def close(self, *, complete: bool = True, frames: int | None = None) -> Path | None:
        """Finish the file; move it to its final name if ``complete``, drop it if ``frames`` is
        0. Returns where it is (None: no file). Safe to call twice."""
        if self._writer is None:
            return self.output.kept
        writer, self._writer = self._writer, None
        writer.close()
        return self.output.finish(complete=complete, frames=frames)

    def __enter__(self) -> LandmarkExporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(complete=exc_type is None)

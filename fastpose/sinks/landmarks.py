"""The landmark table as a sink: one row per frame x person x landmark, streamed to Parquet or CSV,
the run's settings in the Parquet file's key-value metadata (``fastpose.*`` keys)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from fastpose.outputs import check_suffix
from fastpose.poses import PoseBatch
from fastpose.sinks.base import Sink, SinkContext, Staging, Tracked
from fastpose.sinks.table_file import TableFile
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
        ("replaced", pa.bool_()),
    ]
)
FORMATS = (".parquet", ".csv")
_NAMES = pa.array(LANDMARK_NAMES, pa.string())


def table(poses: PoseBatch, width: int, height: int) -> pa.Table:
    """The detected persons of ``poses`` as rows; ``z`` is scaled to pixels like x; ``person``
    is the person's track id (the same in every frame, see identities.py); ``replaced`` says the
    outlier filter replaced the landmark (fastpose.outliers)."""
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
        np.zeros(rows, dtype=bool)
        if poses.replaced is None
        else poses.replaced[frame, slot].reshape(rows),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


class LandmarkTable(Sink):
    """Streams the landmarks to ``path`` (``.parquet`` or ``.csv``), through the working file the
    run's staging hands out: a reader never sees a half-written table under the final name.
    Parquet row groups hold many thousand rows (see fastpose.sinks.table_file)."""

    name = "landmarks"

    def __init__(self, path: Path) -> None:
        self.path = check_suffix(Path(path), FORMATS, "--export")
        self._file: TableFile | None = None

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return 0 if self._file is None else self._file.rows

    def open(self, context: SinkContext, staging: Staging) -> None:
        self.width, self.height = context.info.width, context.info.height
        working = staging.claim(self.path)
        self._file = TableFile(self.path, working, SCHEMA, context.settings)

    def write(self, batch: Tracked) -> None:
        self._file.write(table(batch.poses, self.width, self.height))

    def close(self, *, complete: bool) -> None:
        if self._file is not None:
            self._file.close()

    def describe(self) -> str:
        return str(self.path)

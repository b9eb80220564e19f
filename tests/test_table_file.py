"""The landmark and angle tables on a long video: Parquet row groups of many thousand rows (not one
per 16-frame batch, whose metadata pyarrow keeps until the file closes), the first rows on disk
with the first batch, every row in the file once it closes, whether the run completed or not; CSV
rows as they come. Real poses: pose_squats tracked once per session, looped as a long video."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from test_measures import Staging

from fastpose.measures import Measurer
from fastpose.sinks.angles import AnglesTable
from fastpose.sinks.base import SinkContext, Tracked
from fastpose.sinks.landmarks import LandmarkTable, table
from fastpose.sinks.table_file import ROW_GROUP_ROWS

LOOPS = 100  # 6,500 frames: 214,500 landmark rows in 500 batches


def looped(clip, loops: int = LOOPS) -> list:
    """The clip's batches ``loops`` times over, frame numbers and times running on, as the
    tracker hands a looped video's batches to the sinks."""
    n, fps = len(clip.poses), clip.info.fps
    return [
        replace(b, frame_idx=b.frame_idx + k * n, time_s=b.time_s + k * n / fps)
        for k in range(loops)
        for b in clip.batches
    ]


def _write(sink, clip, batches, tmp_path, *, complete: bool = True):
    staging = Staging(tmp_path)
    context = SinkContext(clip.info, clip.decode_size, 1, {"model": "full"})
    measurer = Measurer(clip.info.width, clip.info.height)
    sink.open(context, staging)
    sizes = []
    for poses in batches:
        sink.write(Tracked(poses, measures=measurer(poses) if sink.wants_measures else None))
        sizes.append(staging.claimed[sink.path.name].stat().st_size)
    sink.close(complete=complete)
    return staging.claimed[sink.path.name], sizes


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "stopped"])
def test_landmark_parquet_row_groups_of_many_thousand_rows(track_clip, tmp_path, complete):
    clip = track_clip("pose_squats.mp4", 1)
    batches = looped(clip)
    path, sizes = _write(LandmarkTable(tmp_path / "t.parquet"), clip, batches, tmp_path)
    w, h = clip.info.width, clip.info.height
    expected = pa.concat_tables([table(b, w, h) for b in batches])
    meta = pq.ParquetFile(path).metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert meta.num_rows == expected.num_rows == len(batches) // len(clip.batches) * 65 * 33
    assert len(groups) <= 12, f"expected a few row groups, got {len(groups)}: {groups[:12]}"
    assert groups[0] == len(clip.batches[0]) * 33, "the first row group is the first batch"
    for before, group in itertools.pairwise(groups[:-1]):
        assert group == ROW_GROUP_ROWS or 2 * before <= group < 2 * before + 16 * 33, groups
    assert groups.count(ROW_GROUP_ROWS) >= 2, groups
    assert sizes[0] > 4096, "the first batch is on disk before the next one comes"
    assert pq.read_table(path).equals(expected)


def test_landmark_csv_rows_as_they_come(track_clip, tmp_path):
    clip = track_clip("pose_squats.mp4", 1)
    batches = looped(clip, 2)
    path, sizes = _write(LandmarkTable(tmp_path / "t.csv"), clip, batches, tmp_path)
    assert all(b > a for a, b in itertools.pairwise(sizes)), "a batch not written"
    csv = pacsv.read_csv(path)
    assert csv.num_rows == 130 * 33
    assert csv.column("frame_idx").to_pylist() == np.repeat(np.arange(130), 33).tolist()


def test_angles_parquet_row_groups_hold_the_csvs_rows(track_clip, tmp_path):
    """The angles' Parquet file (few row groups) holds the same rows as its CSV (written as they
    come), every frame of the looped clip, the last ones (held back to fill gaps) included."""
    clip = track_clip("pose_squats.mp4", 1)
    batches = looped(clip, 20)
    parquet, _ = _write(AnglesTable(tmp_path / "a.parquet"), clip, batches, tmp_path)
    csv, _ = _write(AnglesTable(tmp_path / "a.csv"), clip, batches, tmp_path)
    meta = pq.ParquetFile(parquet).metadata
    assert meta.num_row_groups <= 10, meta.num_row_groups
    got, want = pq.read_table(parquet), pacsv.read_csv(csv)
    assert set(got.column("frame_idx").to_pylist()) == set(range(20 * 65))
    assert got.num_rows == want.num_rows
    for name in ("frame_idx", "person", "interpolated"):
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    assert got.column("measure").cast(pa.string()).equals(want.column("measure"))
    np.testing.assert_allclose(
        got.column("value").to_numpy(), want.column("value").to_numpy(), rtol=1e-12
    )

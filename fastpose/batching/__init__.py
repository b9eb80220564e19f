"""``fastpose batch``: folders of videos on every local core, or as tasks on a Ray cluster.

The parts, in the order data flows::

    inputs.py   INPUT arguments -> video files, and each video's output names
    job.py      one video -> DIR/<name>.rrd + DIR/<name>.parquet, under final names once complete
    local.py    the jobs in threads of this process, every core busy
    ray.py      the jobs as Ray tasks (the optional ``ray`` extra)
    summary.py  DIR/summary.csv, one row per video
    driver.py   :func:`batch`, which ties them together (the `batch` command is built on it)

::

    from fastpose.batching import batch

    rows = batch(["clips/", "more/*.mov"], "out")  # [SummaryRow(video=..., status="done", ...)]
"""

from fastpose.batching.driver import batch
from fastpose.batching.inputs import VIDEO_SUFFIXES, expand_inputs, output_names
from fastpose.batching.summary import SUMMARY_NAME, SummaryRow

__all__ = [
    "SUMMARY_NAME",
    "VIDEO_SUFFIXES",
    "SummaryRow",
    "batch",
    "expand_inputs",
    "output_names",
]

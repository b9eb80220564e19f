"""fastpose: fast human pose tracking in videos with MediaPipe, shown in the Rerun viewer.

The Python API the CLI is built on::

    import fastpose

    with fastpose.Tracker("clip.mp4", num_poses=2) as tracker:  # the CLI's defaults
        for batch in tracker:
            batch.poses.landmarks  # (frames, persons, 33, 5): x, y, z, visibility, presence

    # or into outputs, with `fastpose run`'s options as keywords (a fastpose.RunSpec), as
    # `fastpose run clip.mp4 --export clip.parquet --angles a.csv --angles a.mot --height 1.75`:
    fastpose.track("clip.mp4", export="clip.parquet", angles=["a.csv", "a.mot"], height=1.75)

Names are imported on first use (PEP 562), so ``import fastpose`` and ``fastpose --help`` don't
load MediaPipe, Numba or Rerun.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fastpose.errors import (
    DependencyError,
    FastposeError,
    GpuUnavailableError,
    InputNotFoundError,
    InvalidVideoError,
    ModelError,
    ModelUnavailableError,
    OutputError,
)

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "batch": "fastpose.batching",
    "SummaryRow": "fastpose.batching",
    "Landmarker": "fastpose.landmarker",
    "LandmarkerOptions": "fastpose.landmarker",
    "limit_malloc_arenas": "fastpose.memory",
    "purge_mimalloc_at_once": "fastpose.memory",
    "ResolvedModel": "fastpose.models",
    "resolve_model": "fastpose.models",
    "SmoothingOptions": "fastpose.options",
    "TrackOptions": "fastpose.options",
    "DecodeOptions": "fastpose.core",
    "Inferred": "fastpose.core",
    "Recorded": "fastpose.pipeline",
    "record": "fastpose.pipeline",
    "Outputs": "fastpose.spec",
    "RunSpec": "fastpose.spec",
    "build_sinks": "fastpose.spec",
    "track": "fastpose.pipeline",
    "PoseBatch": "fastpose.poses",
    "Sink": "fastpose.sinks.base",
    "SinkContext": "fastpose.sinks.base",
    "Tracked": "fastpose.sinks.base",
    "angles_sink": "fastpose.sinks.angles",
    "LandmarkTable": "fastpose.sinks.landmarks",
    "TrcWriter": "fastpose.sinks.opensim",
    "VideoRenderer": "fastpose.sinks.render",
    "RerunRecording": "fastpose.sinks.rerun",
    "Tracker": "fastpose.tracker",
    "TrackStats": "fastpose.tracker",
    "RerunTarget": "fastpose.target",
    "FrameBatch": "fastpose.video",
    "VideoInfo": "fastpose.video",
    "VideoSource": "fastpose.video",
}

__all__ = [
    "DecodeOptions",
    "DependencyError",
    "FastposeError",
    "FrameBatch",
    "GpuUnavailableError",
    "Inferred",
    "InputNotFoundError",
    "InvalidVideoError",
    "LandmarkTable",
    "Landmarker",
    "LandmarkerOptions",
    "ModelError",
    "ModelUnavailableError",
    "OutputError",
    "Outputs",
    "PoseBatch",
    "Recorded",
    "RerunRecording",
    "RerunTarget",
    "ResolvedModel",
    "RunSpec",
    "Sink",
    "SinkContext",
    "SmoothingOptions",
    "SummaryRow",
    "TrackOptions",
    "TrackStats",
    "Tracked",
    "Tracker",
    "TrcWriter",
    "VideoInfo",
    "VideoRenderer",
    "VideoSource",
    "angles_sink",
    "batch",
    "build_sinks",
    "limit_malloc_arenas",
    "purge_mimalloc_at_once",
    "record",
    "resolve_model",
    "track",
]

if TYPE_CHECKING:
    from fastpose.batching import SummaryRow, batch
    from fastpose.core import DecodeOptions, Inferred
    from fastpose.landmarker import Landmarker, LandmarkerOptions
    from fastpose.memory import limit_malloc_arenas, purge_mimalloc_at_once
    from fastpose.models import ResolvedModel, resolve_model
    from fastpose.options import SmoothingOptions, TrackOptions
    from fastpose.pipeline import Recorded, record, track
    from fastpose.poses import PoseBatch
    from fastpose.sinks.angles import angles_sink
    from fastpose.sinks.base import Sink, SinkContext, Tracked
    from fastpose.sinks.landmarks import LandmarkTable
    from fastpose.sinks.opensim import TrcWriter
    from fastpose.sinks.render import VideoRenderer
    from fastpose.sinks.rerun import RerunRecording
    from fastpose.spec import Outputs, RunSpec, build_sinks
    from fastpose.target import RerunTarget
    from fastpose.tracker import Tracker, TrackStats
    from fastpose.video import FrameBatch, VideoInfo, VideoSource


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastpose' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

"""fastpose: fast human pose tracking in videos with MediaPipe, shown in the Rerun viewer.

The Python API the CLI is built on::

    from fastpose import LandmarkerOptions, Tracker, TrackOptions, resolve_model

    model = resolve_model("full")
    with Tracker("clip.mp4", TrackOptions(LandmarkerOptions(model.path), workers=2)) as tracker:
        for batch in tracker:
            batch.poses.landmarks  # (frames, persons, 33, 5): x, y, z, visibility, presence

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
    "ResolvedModel": "fastpose.models",
    "resolve_model": "fastpose.models",
    "DecodeOptions": "fastpose.parallel",
    "Inferred": "fastpose.parallel",
    "PoseBatch": "fastpose.poses",
    "SmoothingOptions": "fastpose.tracker",
    "Tracker": "fastpose.tracker",
    "TrackOptions": "fastpose.tracker",
    "TrackStats": "fastpose.tracker",
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
    "Landmarker",
    "LandmarkerOptions",
    "ModelError",
    "ModelUnavailableError",
    "OutputError",
    "PoseBatch",
    "ResolvedModel",
    "SmoothingOptions",
    "SummaryRow",
    "TrackOptions",
    "TrackStats",
    "Tracker",
    "VideoInfo",
    "VideoSource",
    "batch",
    "resolve_model",
]

if TYPE_CHECKING:
    from fastpose.batching import SummaryRow, batch
    from fastpose.landmarker import Landmarker, LandmarkerOptions
    from fastpose.models import ResolvedModel, resolve_model
    from fastpose.parallel import DecodeOptions, Inferred
    from fastpose.poses import PoseBatch
    from fastpose.tracker import SmoothingOptions, Tracker, TrackOptions, TrackStats
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

"""fastpose: fast human pose tracking in videos with MediaPipe, shown in the Rerun viewer.

The Python API the CLI is built on::

    from fastpose import LandmarkerOptions, Tracker, TrackOptions, resolve_model

    model = resolve_model("full")
    with Tracker("clip.mp4", TrackOptions(LandmarkerOptions(model.path), workers=2)) as tracker:
        for batch in tracker:
            batch.poses.landmarks  # (frames, persons, 33, 5): x, y, z, visibility, presence
"""

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
from fastpose.landmarker import Landmarker, LandmarkerOptions
from fastpose.models import ResolvedModel, resolve_model
from fastpose.parallel import DecodeOptions, Inferred
from fastpose.poses import PoseBatch
from fastpose.tracker import SmoothingOptions, Tracker, TrackOptions, TrackStats
from fastpose.video import FrameBatch, VideoInfo, VideoSource

__version__ = "0.1.0"

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
    "TrackOptions",
    "TrackStats",
    "Tracker",
    "VideoInfo",
    "VideoSource",
    "resolve_model",
]

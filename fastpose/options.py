"""How to track: :class:`TrackOptions`, with the defaults every way of running fastpose shares.

``fastpose.Tracker("clip.mp4")``, ``fastpose run clip.mp4`` and ``fastpose batch`` all build their
options with :meth:`TrackOptions.create`: model ``full`` (resolved and cached), the inference size
by the number of people, a landmarker on every core, smoothing on. The CLI only parses arguments
into its keywords. :meth:`TrackOptions.settings` is what every output records of how it was made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastpose.core import DecodeOptions
from fastpose.cores import default_workers
from fastpose.landmarker import LandmarkerOptions
from fastpose.models import ResolvedModel, resolve_model
from fastpose.parallel import MAX_UNIT_FRAMES, MIN_UNIT_FRAMES

#: Long side of the frames inference sees, for one person and for several. Measured
#: (docs/performance.md, "Inference size"): one person is found in as many frames at 640 as at
#: native size (220 vs 221 of sports2d_demo's 230), with the same error against the references,
#: at the least CPU; two people need 960 to be found as often as at native size (220 vs 223; 196
#: at 640).
INFERENCE_SIZE_ONE, INFERENCE_SIZE_SEVERAL = 640, 960
#: Settings that change what is found (a resumed batch compares them); the others (versions,
#: workers) are recorded but change nothing, or only the speed.
RESULT_SETTINGS = (
    "model",
    "num_poses",
    "inference_size",
    "min_detection_confidence",
    "min_presence_confidence",
    "min_tracking_confidence",
    "segment",
    "smoothing",
    "cleaning",
    "fps",
    "max_frames",
    "height_m",
)


def default_inference_size(num_poses: int) -> int:
    """The inference size when none is given: the smallest that finds as many people as the
    native size does, for one person or several (see INFERENCE_SIZE_ONE)."""
    return INFERENCE_SIZE_ONE if num_poses <= 1 else INFERENCE_SIZE_SEVERAL


@dataclass(frozen=True)
class SmoothingOptions:
    """One Euro parameters for normalized image and world coordinates (see smoothing.py)."""

    method: str = "one-euro"  # or "none"
    min_cutoff: float = 1.0
    beta: float = 10.0
    world_min_cutoff: float = 1.0
    world_beta: float = 10.0

    def describe(self) -> str:
        if self.method == "none":
            return "none"
        return (
            f"{self.method} (min_cutoff {self.min_cutoff:g}, beta {self.beta:g}; world "
            f"{self.world_min_cutoff:g}, {self.world_beta:g})"
        )


@dataclass(frozen=True)
class TrackOptions:
    """How a video is tracked. Build it with :meth:`create` (the library's defaults, keywords
    named like the CLI's options); the fields are the parts each stage takes."""

    landmarker: LandmarkerOptions
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    max_frames: int | None = None
    workers: int = field(default_factory=default_workers)
    require_gpu: bool = False
    verbose: bool = False  # MediaPipe's native log on stderr (else kept off it)
    model: str = ""  # the model as asked for (a name or a path), for the settings
    #: Frames a landmarker's range holds at least and at most (a warm-up aside): a video shorter
    #: than twice the least runs one landmarker. Smaller ranges split short clips (tests).
    min_range_frames: int = MIN_UNIT_FRAMES
    max_range_frames: int = MAX_UNIT_FRAMES
    #: The ranges as Ray tasks (fastpose.ray_ranges): True on a local runtime of ``workers``
    #: CPUs (or the runtime this process runs in), an address on that cluster; False on threads.
    ray: bool | str = False
    #: Left/right labels corrected and landmark glitches replaced (fastpose.laterality,
    #: fastpose.outliers); off: MediaPipe's landmarks as they come (then only smoothed).
    cleaning: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers: expected >= 1, got {self.workers}")
        if self.min_range_frames < 1:
            raise ValueError(f"min_range_frames: expected >= 1, got {self.min_range_frames}")
        if self.max_range_frames < self.min_range_frames:
            raise ValueError(
                f"max_range_frames: expected >= min_range_frames ({self.min_range_frames}), "
                f"got {self.max_range_frames}"
            )
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames: expected >= 1, got {self.max_frames}")

    @classmethod
    def create(
        cls,
        *,
        model: str | os.PathLike | ResolvedModel = "full",
        num_poses: int = 1,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        segment: bool = True,
        gpu: bool = False,
        require_gpu: bool = False,
        fps: float | None = None,
        max_frames: int | None = None,
        inference_size: int | None = None,
        workers: int | None = None,
        smooth: bool = True,
        verbose: bool = False,
        min_range_frames: int = MIN_UNIT_FRAMES,
        max_range_frames: int = MAX_UNIT_FRAMES,
        ray: bool | str = False,
        cleaning: bool = True,
    ) -> TrackOptions:
        """Options from keywords named like ``fastpose run``'s, with its defaults: ``model``
        ``full`` (resolved and cached: see fastpose.models), ``inference_size`` 640 for one
        person and 960 for several (0: native), ``workers`` the cores here, smoothing on."""
        resolved = model if isinstance(model, ResolvedModel) else resolve_model(os.fspath(model))
        if inference_size is None:
            inference_size = default_inference_size(num_poses)
        return cls(
            landmarker=LandmarkerOptions(
                model_path=resolved.path,
                num_poses=num_poses,
                min_detection_confidence=min_detection_confidence,
                min_presence_confidence=min_presence_confidence,
                min_tracking_confidence=min_tracking_confidence,
                segment=segment,
                gpu=gpu or require_gpu,
            ),
            decode=DecodeOptions(fps=fps, inference_size=inference_size),
            smoothing=SmoothingOptions() if smooth else SmoothingOptions(method="none"),
            max_frames=max_frames,
            workers=workers or default_workers(),
            require_gpu=require_gpu,
            verbose=verbose,
            model=resolved.name,
            min_range_frames=min_range_frames,
            max_range_frames=max_range_frames,
            ray=ray,
            cleaning=cleaning,
        )

    def settings(self) -> dict[str, str]:
        """How the outputs are asked to be made, as text: versions, model, sizes, thresholds,
        smoothing, workers. Every output records it (Parquet metadata, Rerun recording
        properties), with what the tracker really ran (``Tracker.settings``: the landmarkers
        used, the delegate) in place of what was asked."""

        def installed(package: str) -> str:
            try:
                return version(package)
            except PackageNotFoundError:
                return "unknown"

        lm, decode = self.landmarker, self.decode
        return {
            "fastpose": installed("fastpose"),
            "mediapipe": installed("mediapipe"),
            "model": self.model or Path(lm.model_path).stem,
            "model_file": Path(lm.model_path).name,
            "num_poses": str(lm.num_poses),
            "inference_size": str(decode.inference_size) if decode.inference_size else "native",
            "min_detection_confidence": f"{lm.min_detection_confidence:g}",
            "min_presence_confidence": f"{lm.min_presence_confidence:g}",
            "min_tracking_confidence": f"{lm.min_tracking_confidence:g}",
            "segment": str(lm.segment).lower(),
            "smoothing": self.smoothing.describe(),
            "cleaning": "on" if self.cleaning else "off",
            "fps": f"{decode.fps:g}" if decode.fps else "from the file",
            "max_frames": str(self.max_frames) if self.max_frames else "all",
            "delegate": "gpu" if lm.gpu else "cpu",
            "workers": str(self.workers),
            "min_range_frames": str(self.min_range_frames),
        }


def differing(recorded: dict[str, str], wanted: dict[str, str]) -> list[str]:
    """The result settings in which ``recorded`` (an output's) and ``wanted`` differ, as
    ``"num_poses 1 -> 2"``; settings an output didn't record are not compared."""
    return [
        f"{key} {recorded[key]} -> {wanted.get(key, '?')}"
        for key in RESULT_SETTINGS
        if key in recorded and recorded[key] != wanted.get(key)
    ]

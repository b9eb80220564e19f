"""MediaPipe's Pose Landmarker (Tasks API, VIDEO mode) as a context manager that turns frame batches
into :class:`~fastpose.poses.PoseBatch` arrays."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastpose.closing import Closing
from fastpose.errors import DependencyError, GpuUnavailableError, ModelError, one_line
from fastpose.mediapipe_api import SYSTEM_LIBS, pose_api
from fastpose.poses import PoseBatch
from fastpose.skeleton import NUM_LANDMARKS
from fastpose.video import FrameBatch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandmarkerOptions:
    """How to build the landmarker; picklable, so Ray tasks on other nodes can build their own."""

    model_path: Path
    num_poses: int = 1
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    segment: bool = True
    gpu: bool = False

    def __post_init__(self) -> None:
        if self.num_poses < 1:
            raise ValueError(f"num_poses: expected >= 1, got {self.num_poses}")
        for name in (
            "min_detection_confidence",
            "min_presence_confidence",
            "min_tracking_confidence",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a value in [0, 1], got {value}")


def _create(options: LandmarkerOptions, gpu: bool) -> Any:
    api = pose_api()
    delegate = api.BaseOptions.Delegate.GPU if gpu else api.BaseOptions.Delegate.CPU
    mp_options = api.PoseLandmarkerOptions(
        base_options=api.BaseOptions(model_asset_path=str(options.model_path), delegate=delegate),
        running_mode=api.RunningMode.VIDEO,
        num_poses=options.num_poses,
        min_pose_detection_confidence=options.min_detection_confidence,
        min_pose_presence_confidence=options.min_presence_confidence,
        min_tracking_confidence=options.min_tracking_confidence,
        output_segmentation_masks=options.segment,
    )
    try:
        return api.PoseLandmarker.create_from_options(mp_options)
    except OSError as exc:
        raise DependencyError(f"mediapipe cannot start: {exc}; it needs {SYSTEM_LIBS}") from exc
    except (RuntimeError, ValueError) as exc:
        if gpu:
            raise GpuUnavailableError(
                f"GPU delegate unavailable: {one_line(exc, first_line=True)}"
            ) from exc
        raise ModelError(
            f"{options.model_path}: MediaPipe rejected the model: {one_line(exc, first_line=True)}"
        ) from exc


def probe_gpu(options: LandmarkerOptions) -> bool:
    """Whether the GPU delegate can be created for these options (builds one, closes it)."""
    try:
        _create(options, gpu=True).close()
    except GpuUnavailableError as exc:
        logger.debug("%s", exc)
        return False
    return True


class Landmarker(Closing):
    """A VIDEO-mode PoseLandmarker fed frame batches in time order.

    Timestamps handed to MediaPipe are whole milliseconds made strictly increasing, as MediaPipe
    requires; its tracker smooths with time-dependent filters, so the timeline times matter.
    """

    def __init__(self, options: LandmarkerOptions) -> None:
        self.options = options
        self._landmarker = _create(options, gpu=options.gpu)
        self.delegate = "gpu" if options.gpu else "cpu"
        self._last_ms = -1

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def _timestamp_ms(self, time_s: float) -> int:
        ms = max(round(time_s * 1000.0), self._last_ms + 1)
        self._last_ms = ms
        return ms

    def detect(self, frames: FrameBatch) -> PoseBatch:
        """Poses of every frame of ``frames``, in order."""
        from fastpose.kernels import person_ids  # Numba loads here, off the start-up path

        api = pose_api()
        t, p = len(frames.frame_idx), self.options.num_poses
        landmarks = np.full((t, p, NUM_LANDMARKS, 5), np.nan, dtype=np.float32)
        world = np.full((t, p, NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
        h, w = frames.images.shape[1:3]
        masks = np.zeros((t, h, w), dtype=np.uint8) if self.options.segment else None
        for i in range(t):
            image = api.Image(image_format=api.ImageFormat.SRGB, data=frames.images[i])
            result = self._landmarker.detect_for_video(image, self._timestamp_ms(frames.time_s[i]))
            _fill(result, landmarks[i], world[i])
            if masks is not None and result.segmentation_masks:
                views = [m.numpy_view().reshape(h, w) for m in result.segmentation_masks[:p]]
                masks[i] = person_ids(np.stack(views))
        return PoseBatch(frames.frame_idx, frames.time_s, frames.pts_s, landmarks, world, masks)


def _fill(result: Any, landmarks: np.ndarray, world: np.ndarray) -> None:
    for person, (pose, pose_world) in enumerate(
        zip(result.pose_landmarks, result.pose_world_landmarks, strict=False)
    ):
        if person >= len(landmarks):
            break
        landmarks[person] = [
            (m.x, m.y, m.z, _or_nan(m.visibility), _or_nan(m.presence)) for m in pose
        ]
        world[person] = [(m.x, m.y, m.z) for m in pose_world]


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value

"""The 33-landmark BlazePose skeleton: landmark names and the connections that draw it.

Taken from MediaPipe's own definitions so the names and bones always match the model.
"""

from __future__ import annotations

from fastpose.mediapipe_api import pose_api

_API = pose_api()
NUM_LANDMARKS = len(_API.PoseLandmark)
LANDMARK_NAMES: tuple[str, ...] = tuple(lm.name.lower() for lm in _API.PoseLandmark)
CONNECTIONS: tuple[tuple[int, int], ...] = tuple(
    (c.start, c.end) for c in _API.PoseLandmarksConnections.POSE_LANDMARKS
)

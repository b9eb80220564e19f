"""The 33-landmark BlazePose skeleton: landmark names and the connections that draw it.

Taken from MediaPipe's own definitions so the names and bones always match the model.
"""

from __future__ import annotations

from mediapipe.tasks.python.vision.pose_landmarker import PoseLandmark, PoseLandmarksConnections

NUM_LANDMARKS = len(PoseLandmark)
LANDMARK_NAMES: tuple[str, ...] = tuple(lm.name.lower() for lm in PoseLandmark)
CONNECTIONS: tuple[tuple[int, int], ...] = tuple(
    (c.start, c.end) for c in PoseLandmarksConnections.POSE_LANDMARKS
)

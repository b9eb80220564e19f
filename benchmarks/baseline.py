"""The baseline: the seed example's per-frame loop (Rerun's human-pose example) on the Tasks API.

One frame at a time: OpenCV reads it, MediaPipe's Pose Landmarker (VIDEO mode) infers on it at full
resolution, and Rerun logs the frame as a JPEG, the 2D and 3D landmarks and the segmentation mask.
The only change from the seed is that MediaPipe gets RGB (the seed hands it OpenCV's BGR).

Run it as ``python -m benchmarks.baseline VIDEO OUT.rrd MODEL.task [--max-frames N]``; it prints a
JSON line with its counts and the wall-clock time of its first logged frame.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
import rerun as rr
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.vision.pose_landmarker import PoseLandmark, PoseLandmarksConnections

PERSON = 1
KEYPOINT_IDS = [lm.value for lm in PoseLandmark]


@dataclass(frozen=True)
class BaselineRun:
    """Frames logged, how many had a person, and when (``time.time()``) the first was logged."""

    frames: int
    with_person: int
    first_frame_at: float | None


def _log_static(rec: rr.RecordingStream) -> None:
    """The seed's annotation contexts and 3D view coordinates."""
    rec.log(
        "/",
        rr.AnnotationContext(
            rr.ClassDescription(
                info=rr.AnnotationInfo(id=PERSON, label="Person"),
                keypoint_annotations=[
                    rr.AnnotationInfo(id=lm.value, label=lm.name) for lm in PoseLandmark
                ],
                keypoint_connections=[
                    (c.start, c.end) for c in PoseLandmarksConnections.POSE_LANDMARKS
                ],
            )
        ),
        static=True,
    )
    rec.log(
        "video/mask",
        rr.AnnotationContext(
            [
                rr.AnnotationInfo(id=0, label="Background"),
                rr.AnnotationInfo(id=PERSON, label="Person", color=(0, 0, 0)),
            ]
        ),
        static=True,
    )
    rec.log("person", rr.ViewCoordinates.RIGHT_HAND_Y_DOWN, static=True)


def _landmarker(model: Path) -> vision.PoseLandmarker:
    options = vision.PoseLandmarkerOptions(
        base_options=mp.tasks.BaseOptions(model_asset_path=str(model)),
        running_mode=vision.RunningMode.VIDEO,
        output_segmentation_masks=True,
    )
    return vision.PoseLandmarker.create_from_options(options)


def _log_result(
    rec: rr.RecordingStream, result: vision.PoseLandmarkerResult, w: int, h: int
) -> bool:
    """Log the first person's 2D pixels, 3D world landmarks and binary mask, as the seed does.

    Returns whether a person was found.
    """
    if result.pose_landmarks:
        pose = result.pose_landmarks[0]
        points_2d = np.array([(w * lm.x, h * lm.y) for lm in pose])
        rec.log(
            "video/pose/points", rr.Points2D(points_2d, class_ids=PERSON, keypoint_ids=KEYPOINT_IDS)
        )
    if result.pose_world_landmarks:
        points_3d = np.array([(lm.x, lm.y, lm.z) for lm in result.pose_world_landmarks[0]])
        rec.log(
            "person/pose/points",
            rr.Points3D(points_3d, class_ids=PERSON, keypoint_ids=KEYPOINT_IDS),
        )
    if result.segmentation_masks:
        mask = result.segmentation_masks[0].numpy_view()
        rec.log("video/mask", rr.SegmentationImage((mask > 0.5).astype(np.uint8)))
    return bool(result.pose_landmarks)


def run_baseline(video: Path, out: Path, model: Path, max_frames: int | None = None) -> BaselineRun:
    """Track ``video`` frame by frame into the recording ``out``, as the seed example does."""
    rec = rr.RecordingStream("fastpose_baseline")
    rec.save(out)
    _log_static(rec)
    cap = cv2.VideoCapture(str(video))
    frames, with_person, first_frame_at = 0, 0, None
    try:
        with _landmarker(model) as landmarker:
            while max_frames is None or frames < max_frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                time_s = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                rec.set_time("time", duration=time_s)
                rec.set_time("frame_idx", sequence=frames)
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
                result = landmarker.detect_for_video(image, round(time_s * 1000))
                h, w = bgr.shape[:2]
                rec.log("video/bgr", rr.Image(bgr, color_model="BGR").compress(jpeg_quality=75))
                with_person += _log_result(rec, result, w, h)
                if first_frame_at is None:
                    first_frame_at = time.time()
                frames += 1
    finally:
        cap.release()
        rec.flush()
        rec.disconnect()
    return BaselineRun(frames, with_person, first_frame_at)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the seed's per-frame pose tracking loop")
    parser.add_argument("video", type=Path)
    parser.add_argument("out", type=Path, help="the .rrd to write")
    parser.add_argument("model", type=Path, help="a Pose Landmarker .task bundle")
    parser.add_argument("--max-frames", type=int)
    args = parser.parse_args(argv)
    run = run_baseline(args.video, args.out, args.model, args.max_frames)
    print(json.dumps(asdict(run)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

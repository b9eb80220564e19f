"""Rerun output: static contexts and blueprint once, then columnar batches of poses, masks, frames.

Layout (as Rerun's human-pose example): ``video`` frames, ``video/mask`` segmentation,
``video/pose/points`` 2D landmarks in original image pixels, ``person/pose/points`` 3D world
landmarks in metres, on the timelines ``time`` (seconds) and ``frame_idx``. Data goes through
``send_columns``, one call per entity per batch. Frames are referenced from the video file
(``asset``), JPEG-compressed (``jpeg``) or left out.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from fastpose.outputs import OutputFile
from fastpose.poses import PoseBatch
from fastpose.skeleton import CONNECTIONS, LANDMARK_NAMES, NUM_LANDMARKS
from fastpose.tracker import VideoMode
from fastpose.video import VideoInfo
from fastpose.viewer import (
    INTERRUPTED_FLUSH_TIMEOUT_S,
    RerunTarget,
    close_stream,
    open_stream,
)

logger = logging.getLogger(__name__)

PERSON_CLASS = 1


def blueprint(num_persons: int = 1) -> rrb.Blueprint:
    """Result (video, mask, 2D skeleton) beside the 3D pose and the raw video, as the seed's."""
    hidden = [] if num_persons == 1 else [f"+ /person_{k}/**" for k in range(1, num_persons)]
    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Spatial2DView(origin="video", name="Result"),
            rrb.Vertical(
                rrb.Spatial3DView(
                    origin="person", name="3D pose", contents=["+ $origin/**", *hidden]
                ),
                rrb.Spatial2DView(origin="video", contents="$origin", name="Raw video"),
                row_shares=[3, 2],
            ),
            column_shares=[3, 2],
        ),
        collapse_panels=True,
    )


def _entity(prefix: str, person: int) -> str:
    """Person 0 lives at the seed's paths; further ones get their own (``video/pose_1/points``)."""
    if prefix == "video":
        return "video/pose/points" if person == 0 else f"video/pose_{person}/points"
    return "person/pose/points" if person == 0 else f"person_{person}/pose/points"


class RerunSink:
    """Writes one recording. Close it (or use it as a context manager) so everything is written."""

    def __init__(
        self,
        target: RerunTarget,
        info: VideoInfo,
        *,
        video_mode: VideoMode,
        num_persons: int = 1,
        display_size: tuple[int, int] | None = None,
        recording_name: str | None = None,
    ) -> None:
        self.info = info
        self.target = target
        self.video_mode = video_mode
        self.num_persons = num_persons
        # Frames are shown at ``display_size``; landmarks stay in original pixels, scaled to it.
        self.display_size = display_size or (info.width, info.height)
        self._mask_format: tuple[int, int] | None = None
        self._had_person = np.zeros(num_persons, dtype=bool)
        self._asset_nanos: np.ndarray | None = None
        self.rec = rr.RecordingStream("fastpose")
        if recording_name:
            self.rec.send_recording_name(recording_name)
        self._open(target)
        self._log_static()

    def _open(self, target: RerunTarget) -> None:
        """A file is written as ``out.partial.rrd`` until :meth:`close` (see fastpose.outputs)."""
        self.output = OutputFile(target.save) if target.save is not None else None
        working = self.output.working if self.output is not None else None
        open_stream(self.rec, target, blueprint(self.num_persons), working)

    def _log_static(self) -> None:
        log = self.rec.log
        log(
            "/",
            rr.AnnotationContext(
                rr.ClassDescription(
                    info=rr.AnnotationInfo(id=PERSON_CLASS, label="Person"),
                    keypoint_annotations=[
                        rr.AnnotationInfo(id=i, label=name) for i, name in enumerate(LANDMARK_NAMES)
                    ],
                    keypoint_connections=list(CONNECTIONS),
                )
            ),
            static=True,
        )
        log(
            "video/mask",
            rr.AnnotationContext(
                [
                    rr.AnnotationInfo(id=0, label="Background", color=(0, 0, 0, 0)),
                    rr.AnnotationInfo(id=PERSON_CLASS, label="Person", color=(0, 170, 255, 255)),
                ]
            ),
            static=True,
        )
        for k in range(self.num_persons):
            log(
                "person" if k == 0 else f"person_{k}",
                rr.ViewCoordinates.RIGHT_HAND_Y_DOWN,
                static=True,
            )
        sx = self.display_size[0] / self.info.width
        sy = self.display_size[1] / self.info.height
        if (sx, sy) != (1.0, 1.0):
            for k in range(self.num_persons):
                parent = _entity("video", k).rsplit("/", 1)[0]
                log(parent, rr.Transform3D(scale=[sx, sy, 1.0]), static=True)
        if self.video_mode == "asset":
            self._log_asset()
        elif self.video_mode == "jpeg":
            log("video", rr.EncodedImage.from_fields(media_type="image/jpeg"), static=True)

    def _log_asset(self) -> None:
        asset = rr.AssetVideo(path=self.info.uri)
        self.rec.log("video", asset, static=True)
        nanos = asset.read_frame_timestamps_nanos()
        del asset
        # Rerun's own frame times are exact for its decoder; use them when they line up with ours.
        if self.info.num_frames is not None and len(nanos) >= self.info.num_frames:
            self._asset_nanos = nanos

    def _indexes(self, frame_idx: np.ndarray, time_s: np.ndarray) -> list[rr.TimeColumn]:
        return [
            rr.TimeColumn("time", duration=time_s),
            rr.TimeColumn("frame_idx", sequence=frame_idx),
        ]

    def log_poses(self, poses: PoseBatch) -> None:
        """Landmarks of every frame with a person; a Clear where a person disappears."""
        if len(poses) == 0:
            return
        pixels = poses.pixels(self.info.width, self.info.height)
        detected = poses.detected
        ids = np.arange(NUM_LANDMARKS, dtype=np.uint16)
        for k in range(poses.max_persons):
            rows = np.flatnonzero(detected[:, k])
            self._log_clears(poses, k, detected[:, k])
            if len(rows) == 0:
                continue
            idx = self._indexes(poses.frame_idx[rows], poses.time_s[rows])
            n = len(rows)
            extras = rr.Points2D.columns(
                class_ids=np.full(n * NUM_LANDMARKS, PERSON_CLASS, dtype=np.uint16),
                keypoint_ids=np.tile(ids, n),
            ).partition(np.full(n, NUM_LANDMARKS))
            self.rec.send_columns(
                _entity("video", k),
                idx,
                [
                    *rr.Points2D.columns(positions=pixels[rows, k].reshape(-1, 2)).partition(
                        np.full(n, NUM_LANDMARKS)
                    ),
                    *extras,
                ],
            )
            self.rec.send_columns(
                _entity("person", k),
                idx,
                [
                    *rr.Points3D.columns(positions=poses.world[rows, k].reshape(-1, 3)).partition(
                        np.full(n, NUM_LANDMARKS)
                    ),
                    *rr.Points3D.columns(
                        class_ids=np.full(n * NUM_LANDMARKS, PERSON_CLASS, dtype=np.uint16),
                        keypoint_ids=np.tile(ids, n),
                    ).partition(np.full(n, NUM_LANDMARKS)),
                ],
            )

    def _log_clears(self, poses: PoseBatch, person: int, detected: np.ndarray) -> None:
        previous = np.concatenate([[self._had_person[person]], detected[:-1]])
        gone = np.flatnonzero(previous & ~detected)
        self._had_person[person] = detected[-1]
        if len(gone) == 0:
            return
        idx = self._indexes(poses.frame_idx[gone], poses.time_s[gone])
        for prefix in ("video", "person"):
            self.rec.send_columns(
                _entity(prefix, person),
                idx,
                rr.Clear.columns(is_recursive=np.zeros(len(gone), bool)),
            )

    def log_masks(self, poses: PoseBatch) -> None:
        """Segmentation masks, at their own (inference) resolution, scaled onto the frame."""
        masks = poses.masks
        if masks is None or len(poses) == 0:
            return
        h, w = masks.shape[1:]
        if self._mask_format is None:
            self._mask_format = (w, h)
            fmt = rr.components.ImageFormat(
                width=w, height=h, color_model="L", channel_datatype="U8"
            )
            self.rec.log(
                "video/mask",
                rr.SegmentationImage.from_fields(format=fmt, opacity=0.45),
                static=True,
            )
            if (w, h) != self.display_size:
                scale = [self.display_size[0] / w, self.display_size[1] / h, 1.0]
                self.rec.log("video/mask", rr.Transform3D(scale=scale), static=True)
        self.rec.send_columns(
            "video/mask",
            self._indexes(poses.frame_idx, poses.time_s),
            rr.SegmentationImage.columns(buffer=masks.reshape(len(poses), -1)),
        )

    def log_frames(self, poses: PoseBatch, jpegs: list[bytes] | None = None) -> None:
        """Video frames: references into the asset, or the JPEGs given."""
        idx = self._indexes(poses.frame_idx, poses.time_s)
        if self.video_mode == "asset":
            if self._asset_nanos is not None:
                nanos = self._asset_nanos[poses.frame_idx]
            else:
                nanos = np.round(poses.pts_s * 1e9).astype(np.int64)
            self.rec.send_columns("video", idx, rr.VideoFrameReference.columns_nanos(nanos))
        elif self.video_mode == "jpeg" and jpegs:
            self.rec.send_columns("video", idx, rr.EncodedImage.columns(blob=jpegs))

    def close(self, *, complete: bool = True, frames: int | None = None) -> Path | None:
        """Flush and close the output; safe to call twice. A file moves to its final name only
        if ``complete``, and is dropped if ``frames`` is 0; returns where it is (None: no file).
        A viewer gets a bounded time to take the end (a shorter one if not ``complete``), else
        :class:`~fastpose.errors.ViewerError`."""
        if self.rec is None:
            return self.output.kept if self.output is not None else None
        rec, self.rec = self.rec, None
        if complete:
            close_stream(rec, self.target)
        else:
            close_stream(rec, self.target, INTERRUPTED_FLUSH_TIMEOUT_S)
        return self.output.finish(complete=complete, frames=frames) if self.output else None

    def __enter__(self) -> RerunSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(complete=exc_type is None)

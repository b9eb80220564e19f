"""The Rerun recording as a sink: static contexts and blueprint once, then columnar batches of
poses, masks and frames.

Layout (as Rerun's human-pose example): ``video`` frames, ``video/mask`` segmentation,
``video/pose/points`` 2D landmarks in original image pixels, ``person/pose/points`` 3D world
landmarks in metres, ``description`` a text panel, on the timelines ``time`` (seconds) and
``frame_idx``. With several persons (``num_persons > 1``) each track has its own entities,
``video/pose/track_<id>/points`` and ``person/pose/track_<id>/points``, its own class (id + 1) and
colour, and its own class in the mask (id % 250 + 1). Data goes through ``send_columns``: poses,
measures and video samples gathered over ``FLUSH_FRAMES`` frames (a file; a viewer gets each
batch), one call per entity per flush, so the chunks stay few (a file's index keeps ~2 KB per
chunk in memory until it closes); masks at half size, up to ``MASK_FLUSH_BYTES`` at once.
Frames are referenced from the video file (``asset``), an AV1 video stream (``stream``),
JPEG-compressed (``jpeg``) or left out. The run's settings are one property, ``fastpose``'s
``settings``: a JSON object (fastpose.sinks.rerun_layout.recorded_settings reads it back).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import rerun as rr

from fastpose.colors import track_color
from fastpose.errors import InvalidVideoError
from fastpose.measures.batch import MeasureBatch
from fastpose.placement import TrackPlacer
from fastpose.poses import PoseBatch
from fastpose.sinks.base import FrameHook, Sink, SinkContext, Staging, Tracked
from fastpose.sinks.rerun_frames import VideoMode, asset_problem, choose_video_mode, encode_jpegs
from fastpose.sinks.rerun_layout import (
    BONE_RADIUS,
    BONES,
    DESCRIPTION,
    KEYPOINT_RADIUS,
    LABEL_RADIUS,
    MASK_OPACITY,
    MASK_TRACKS,
    PERSON_CLASS,
    blueprint,
    entity,
    skeleton,
    track_classes,
)
from fastpose.sinks.rerun_measures import concat_measures, log_measure_styles, log_measures
from fastpose.sinks.rerun_video import Samples, StreamFrames
from fastpose.skeleton import NUM_LANDMARKS
from fastpose.target import RerunTarget
from fastpose.video import VideoInfo
from fastpose.viewer.abandoned import Abandoned
from fastpose.viewer.stream import (
    INTERRUPTED_FLUSH_TIMEOUT_S,
    check_file,
    close_stream,
    open_stream,
)

logger = logging.getLogger(__name__)


#: Frames gathered before poses, measures and video samples go to a file: a chunk per entity
#: per flush (a few hundred frames of landmarks, ~1 MB).
FLUSH_FRAMES = 256
#: Masks at 1 / MASK_STRIDE of the inference size each way: a mask is the bulk of a frame's
#: bytes (~10 KB compressed at 640 x 360, where a video sample is 2-3 KB).
MASK_STRIDE = 2
#: Masks are sent when this many bytes of them are gathered (or with the poses), so a few hundred
#: frames make one chunk, held no longer than that.
MASK_FLUSH_BYTES = 4 * 2**20
#: Frames (JPEGs, video samples) gathered are sent at this many bytes, before ``FLUSH_FRAMES``
#: if they are large: frames are held briefly, and a full disk is found early.
FRAME_FLUSH_BYTES = 4 * 2**20


class RerunRecording(Sink):
    """The Rerun recording: a file (``--save``), a spawned viewer, a viewer's URL or a served web
    viewer (``target``). Frames come from the MP4 itself (``asset``), as an AV1 stream or
    JPEG at the inference size (``stream``, ``jpeg``: encoded in the landmarkers' threads) or not
    at all; ``auto`` picks the asset when the viewer can play it, else the stream."""

    name = "rerun"
    wants_measures = True  # joint angles and speeds, plotted beside the video
    wants_masks = True

    def __init__(
        self,
        target: RerunTarget,
        *,
        video_mode: VideoMode | Literal["auto"] = "auto",
        recording_name: str | None = None,
        abandoned: Abandoned | None = None,
        flush_frames: int | None = None,
    ) -> None:
        if flush_frames is not None and flush_frames < 1:
            raise ValueError(f"flush_frames: expected >= 1, got {flush_frames}")
        self.target = target
        #: Frames gathered before poses, measures and samples are sent (None: FLUSH_FRAMES to
        #: a file, every batch to a viewer, which shows them as they come).
        self.flush_frames = flush_frames
        #: Where a stream given up on goes (the CLI's, to end the process at once; else its own).
        self.abandoned = abandoned if abandoned is not None else Abandoned()
        self.requested_mode = video_mode
        self.recording_name = recording_name
        self.rec: rr.RecordingStream | None = None
        self._working: Path | None = None
        self._mask_format: tuple[int, int] | None = None
        self._shown: dict[int | None, bool] = {}  # track (None: the one person) -> on screen
        self._classes = 0  # tracks with a class described in the annotation context
        self._styled: set[int] = set()  # tracks whose keypoint radius is logged
        self._asset_nanos: np.ndarray | None = None
        self._measured: list[int] = []  # tracks whose measures are styled, in order seen
        self._measures_last: set[int] = set()  # tracks in the last frame whose measures are sent
        self._placer: TrackPlacer | None = None  # several people: where each stands in 3D
        self._stream: StreamFrames | None = None  # the video stream's encoders
        self._pending: list[Tracked] = []  # batches not yet sent (masks sent already)
        self._pending_frames = 0
        self._pending_bytes = 0  # of the frames (JPEGs, video samples) in them
        self._masks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # masks not yet sent
        self._mask_bytes = 0

    def open(self, context: SinkContext, staging: Staging) -> None:
        info = self.info = context.info
        self.num_persons = context.num_poses
        self.video_mode = self._video_mode(info)
        # Frames are shown at ``display_size``; landmarks stay in original pixels, scaled to it.
        self.display_size = (
            (info.width, info.height) if self.video_mode == "asset" else context.frame_size
        )
        if self.target.save is not None:
            self._working = staging.claim(self.target.save)
        self.rec = rr.RecordingStream("fastpose")
        self.rec.send_recording_name(self.recording_name or Path(info.uri).name)
        settings = json.dumps(dict(context.settings), sort_keys=True)
        self.rec.send_property("fastpose", rr.AnyValues(settings=settings))
        if self.flush_frames is None:
            self.flush_frames = FLUSH_FRAMES if self.target.save is not None else 1
        open_stream(self.rec, self.target, blueprint(self.num_persons), self._working)
        self._log_static()

    def _video_mode(self, info: VideoInfo) -> VideoMode:
        """The requested mode, or ``auto``'s choice; an MP4 the viewer can't read as an asset
        gets the video stream (``auto``) or fails (``asset``)."""
        mode = choose_video_mode(info, self.requested_mode)
        if mode != "asset":
            return mode
        if info.rotation:
            raise InvalidVideoError(
                f"{info.uri}: --video-mode asset: the video is rotated {info.rotation} degrees "
                "by its metadata, which Rerun's video player ignores (it would play sideways "
                "under upright landmarks); use --video-mode auto, stream or jpeg"
            )
        problem = asset_problem(info.uri)
        if problem is None:
            return mode
        if self.requested_mode == "asset":
            raise InvalidVideoError(
                f"{info.uri}: --video-mode asset: Rerun cannot read this MP4 ({problem})"
            )
        logger.warning(
            "%s: Rerun cannot read this MP4 (%s); recording the frames as a video stream",
            info.uri,
            problem,
        )
        return "stream"

    def frame_hook(self) -> FrameHook | None:
        if self.video_mode == "stream":
            self._stream = StreamFrames()
            return self._stream
        return encode_jpegs if self.video_mode == "jpeg" else None

    def write(self, batch: Tracked) -> None:
        self.log_masks(batch.poses)
        poses = replace(batch.poses, masks=None, appearance=None)
        mine = {self.name: batch.extras[self.name]} if self.name in batch.extras else {}
        self._pending.append(Tracked(poses, mine, batch.measures))  # not the others' extras
        self._pending_frames += len(poses)
        self._pending_bytes += _frame_bytes(mine.get(self.name))
        if self._pending_frames >= self.flush_frames or self._pending_bytes >= FRAME_FLUSH_BYTES:
            self.flush()
        check_file(
            self.rec, self.target, self._working, self.abandoned
        )  # a full disk: stop at its first failure

    def flush(self) -> None:
        """Send the batches gathered: one call per entity."""
        self._send_masks()
        pending, self._pending, self._pending_frames = self._pending, [], 0
        self._pending_bytes = 0
        if not pending:
            return
        poses = PoseBatch.concat([b.poses for b in pending])
        self.log_poses(poses)
        extras = [b.extras.get(self.name) for b in pending]
        if self.video_mode == "stream":
            self.log_samples(poses, [e for e in extras if e is not None])
        else:
            jpegs = [j for e in extras if e for j in e]
            self.log_frames(poses, jpegs or None)
        measures = [b.measures for b in pending if b.measures is not None]
        if measures:
            self.log_measures(concat_measures(measures))

    def log_measures(self, measures: MeasureBatch) -> None:
        """Angles and speeds as time series, each track's styled when it first appears; the
        lines break where a value is missing or the person is gone."""
        ids = measures.track_ids
        new = [t for t in np.unique(ids[ids >= 0]).tolist() if t not in self._measured]
        single = self.num_persons == 1
        if new:
            log_measure_styles(self.rec, measures.names, measures.units, new, single_person=single)
            self._measured += new
        self._measures_last = log_measures(self.rec, measures, single, self._measures_last)

    def describe(self) -> str:
        return self.target.describe()

    def _log_static(self) -> None:
        log = self.rec.log
        if self.num_persons == 1:
            log(
                "/",
                rr.AnnotationContext([skeleton(PERSON_CLASS, "Person", track_color(0))]),
                static=True,
            )
            mask_classes = [rr.AnnotationInfo(PERSON_CLASS, "Person", (*track_color(0), 255))]
            self._style(None, PERSON_CLASS)
        else:
            self._describe_tracks(16)
            mask_classes = [
                rr.AnnotationInfo(k + 1, f"Person {k}", (*track_color(k), 255))
                for k in range(MASK_TRACKS)
            ]
        log(
            "video/mask",
            rr.AnnotationContext(
                [rr.AnnotationInfo(id=0, label="Background", color=(0, 0, 0, 0)), *mask_classes]
            ),
            static=True,
        )
        log("person", rr.ViewCoordinates.RIGHT_HAND_Y_DOWN, static=True)
        people = (
            ""
            if self.num_persons == 1
            else "\nEach person has a colour and a track id of their own, the same from frame to "
            "frame, drawn as a label at their nose: `video/pose/track_<id>/points` (2D) and "
            "`person/pose/track_<id>/points` (3D); the export's `person` column holds the id. In "
            "the 3D view each person stands roughly where the image shows them (a translation "
            "from their size and place in the image, assuming a 60 degree field of view).\n"
        )
        log(
            "description",
            rr.TextDocument(DESCRIPTION.format(people=people), media_type=rr.MediaType.MARKDOWN),
            static=True,
        )
        sx = self.display_size[0] / self.info.width
        sy = self.display_size[1] / self.info.height
        if (sx, sy) != (1.0, 1.0):
            log("video/pose", rr.Transform3D(scale=[sx, sy, 1.0]), static=True)
        if self.video_mode == "asset":
            self._log_asset()
        elif self.video_mode == "jpeg":
            log("video", rr.EncodedImage.from_fields(media_type="image/jpeg"), static=True)
        elif self.video_mode == "stream":
            log("video", rr.VideoStream(codec=rr.VideoCodec.AV1), static=True)

    def _describe_tracks(self, count: int) -> None:
        """Classes (skeleton, colour) for tracks ``0..count-1``, re-logged as ids grow."""
        self._classes = count
        self.rec.log(
            "/",
            rr.AnnotationContext(
                [skeleton(k + 1, f"Person {k}", track_color(k)) for k in range(count)]
            ),
            static=True,
        )

    def _style(self, track: int | None, class_id: int) -> None:
        """Keypoints and bones big enough to see over the mask, in the track's class colour, for
        every frame of the track's entities."""
        log = self.rec.log
        log(entity("video", track), rr.Points2D.from_fields(radii=KEYPOINT_RADIUS), static=True)
        log(entity("person", track), rr.Points3D.from_fields(radii=KEYPOINT_RADIUS), static=True)
        bones = rr.LineStrips2D.from_fields(radii=BONE_RADIUS, class_ids=[class_id])
        log(entity("video", track, "bones"), bones, static=True)
        if track is not None:  # several people: each one's id, drawn at the nose
            label = rr.Points2D.from_fields(
                labels=[f"Person {track}"],
                show_labels=True,
                class_ids=[class_id],
                radii=LABEL_RADIUS,
            )
            log(entity("video", track, "label"), label, static=True)

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
        """Landmarks of every frame with a person (each track at its own entities when there
        are several); a Clear where a person disappears."""
        if len(poses) == 0:
            return
        pixels = poses.pixels(self.info.width, self.info.height)
        if self.num_persons == 1:
            here = poses.detected[:, :1]
            self._log_clears(poses, None, here[:, 0])
            self._send_track(poses, pixels, None, PERSON_CLASS, *np.nonzero(here))
            return
        ids = poses.ids
        present = np.unique(ids[ids >= 0]).tolist()
        if present and present[-1] >= self._classes:
            self._describe_tracks(max(2 * self._classes, present[-1] + 1))
        if self._placer is None:
            self._placer = TrackPlacer(self.info.width, self.info.height)
        places = self._placer(poses.time_s, ids, pixels, poses.world)
        for track in sorted(set(present) | {k for k in self._shown if k is not None}):
            here = ids == track
            self._log_clears(poses, track, here.any(axis=1))
            if track in present:
                if track not in self._styled:
                    self._styled.add(track)
                    self._style(track, track + 1)
                rows, slots = np.nonzero(here)
                self._send_track(poses, pixels, track, track + 1, rows, slots)
                self._send_place(poses, track, rows, places[rows, slots])

    def _send_place(
        self, poses: PoseBatch, track: int, rows: np.ndarray, places: np.ndarray
    ) -> None:
        """Several people: each track's 3D skeleton where the image shows it (an approximate
        translation: see fastpose.placement), and its id as a label at its nose in 2D."""
        idx = self._indexes(poses.frame_idx[rows], poses.time_s[rows])
        self.rec.send_columns(
            f"person/pose/track_{track}", idx, rr.Transform3D.columns(translation=places)
        )
        slots = np.argmax(poses.ids[rows] == track, axis=1)
        nose = poses.pixels(self.info.width, self.info.height)[rows, slots, 0]
        self.rec.send_columns(
            entity("video", track, "label"), idx, rr.Points2D.columns(positions=nose)
        )

    def _send_track(
        self,
        poses: PoseBatch,
        pixels: np.ndarray,
        track: int | None,
        class_id: int,
        rows: np.ndarray,
        slots: np.ndarray,
    ) -> None:
        """The 2D and 3D landmarks of one track in frames ``rows`` (slot ``slots`` of each)."""
        n = len(rows)
        if n == 0:
            return
        idx = self._indexes(poses.frame_idx[rows], poses.time_s[rows])
        lengths = np.full(n, NUM_LANDMARKS)
        classes = np.full(n * NUM_LANDMARKS, class_id, dtype=np.uint16)
        keypoints = np.tile(np.arange(NUM_LANDMARKS, dtype=np.uint16), n)
        self.rec.send_columns(
            entity("video", track),
            idx,
            [
                *rr.Points2D.columns(positions=pixels[rows, slots].reshape(-1, 2)).partition(
                    lengths
                ),
                *rr.Points2D.columns(class_ids=classes, keypoint_ids=keypoints).partition(lengths),
            ],
        )
        bones = pixels[rows, slots][:, BONES]  # (n, 35, 2 ends, 2)
        self.rec.send_columns(
            entity("video", track, "bones"),
            idx,
            rr.LineStrips2D.columns(strips=bones.reshape(-1, 2, 2)).partition(
                np.full(n, len(BONES))
            ),
        )
        self.rec.send_columns(
            entity("person", track),
            idx,
            [
                *rr.Points3D.columns(positions=poses.world[rows, slots].reshape(-1, 3)).partition(
                    lengths
                ),
                *rr.Points3D.columns(class_ids=classes, keypoint_ids=keypoints).partition(lengths),
            ],
        )

    def _log_clears(self, poses: PoseBatch, track: int | None, here: np.ndarray) -> None:
        """A Clear on ``track``'s entities in each frame it is gone from (``here``: (T,))."""
        previous = np.concatenate([[self._shown.get(track, False)], here[:-1]])
        gone = np.flatnonzero(previous & ~here)
        if here[-1]:
            self._shown[track] = True
        else:
            self._shown.pop(track, None)
        if len(gone) == 0:
            return
        idx = self._indexes(poses.frame_idx[gone], poses.time_s[gone])
        entities = [entity("video", track), entity("video", track, "bones")]
        if track is not None:
            entities.append(entity("video", track, "label"))
        for path in entities:
            self.rec.send_columns(
                path, idx, rr.Clear.columns(is_recursive=np.zeros(len(gone), bool))
            )
        self.rec.send_columns(
            entity("person", track), idx, rr.Clear.columns(is_recursive=np.zeros(len(gone), bool))
        )

    def log_masks(self, poses: PoseBatch) -> None:
        """Segmentation masks, at ``1 / MASK_STRIDE`` of their own (inference) resolution, scaled
        onto the frame; with several persons, each track's pixels in its own class."""
        if poses.masks is None or len(poses) == 0:
            return
        masks = np.ascontiguousarray(poses.masks[:, ::MASK_STRIDE, ::MASK_STRIDE])
        h, w = masks.shape[1:]
        if self._mask_format is None:
            self._mask_format = (w, h)
            fmt = rr.components.ImageFormat(
                width=w, height=h, color_model="L", channel_datatype="U8"
            )
            self.rec.log(
                "video/mask",
                rr.SegmentationImage.from_fields(format=fmt, opacity=MASK_OPACITY),
                static=True,
            )
            if (w, h) != self.display_size:
                scale = [self.display_size[0] / w, self.display_size[1] / h, 1.0]
                self.rec.log("video/mask", rr.Transform3D(scale=scale), static=True)
        if self.num_persons > 1:
            masks = track_classes(masks, poses.ids)
        self._masks.append((poses.frame_idx, poses.time_s, masks))
        self._mask_bytes += masks.nbytes
        if self._mask_bytes >= MASK_FLUSH_BYTES:
            self._send_masks()

    def _send_masks(self) -> None:
        """The masks gathered, in one call."""
        gathered, self._masks, self._mask_bytes = self._masks, [], 0
        if not gathered:
            return
        frames, times, masks = (np.concatenate(parts) for parts in zip(*gathered, strict=True))
        self.rec.send_columns(
            "video/mask",
            self._indexes(frames, times),
            rr.SegmentationImage.columns(buffer=masks.reshape(len(frames), -1)),
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

    def log_samples(self, poses: PoseBatch, batches: list[Samples]) -> None:
        """The video stream's samples of ``poses``' frames (a sample a frame, in order)."""
        if not batches:
            return
        frames = np.concatenate([b.frame_idx for b in batches])
        if not np.array_equal(frames, poses.frame_idx):
            raise ValueError(
                f"video samples: expected frames {poses.frame_idx[0]}..{poses.frame_idx[-1]} "
                f"({len(poses)}), got {len(frames)} samples"
            )
        self.rec.send_columns(
            "video",
            self._indexes(poses.frame_idx, poses.time_s),
            rr.VideoStream.columns(
                sample=[s for b in batches for s in b.samples],
                is_keyframe=np.concatenate([b.keyframes for b in batches]),
            ),
        )

    def close(self, *, complete: bool) -> None:
        """Flush and close the stream; safe to call twice. A viewer gets a bounded time to take
        the end (a shorter one if not ``complete``), else :class:`~fastpose.errors.ViewerError`.
        What was written is sent first, complete or not."""
        if self._stream is not None:
            self._stream.close()
        if self.rec is None:
            return
        try:
            self.flush()
        finally:
            rec, self.rec = self.rec, None
            if complete:
                close_stream(rec, self.target, path=self._working, abandoned=self.abandoned)
            else:
                timeout = INTERRUPTED_FLUSH_TIMEOUT_S
                close_stream(rec, self.target, timeout, self._working, self.abandoned)


def _frame_bytes(extra: object) -> int:
    """The bytes of a batch's frames for the recording: its JPEGs or its video samples."""
    if isinstance(extra, Samples):
        return sum(len(s) for s in extra.samples)
    if isinstance(extra, list):
        return sum(len(j) for j in extra)
    return 0

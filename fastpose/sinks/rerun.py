"""The Rerun recording as a sink: static contexts and blueprint once, then columnar batches of
poses, masks and frames.

Layout (as Rerun's human-pose example): ``video`` frames, ``video/mask`` segmentation,
``video/pose/points`` 2D landmarks in original image pixels, ``person/pose/points`` 3D world
landmarks in metres, ``description`` a text panel, on the timelines ``time`` (seconds) and
``frame_idx``. With several persons (``num_persons > 1``) each track has its own entities,
``video/pose/track_<id>/points`` and ``person/pose/track_<id>/points``, its own class (id + 1) and
colour, and its own class in the mask (id % 250 + 1). Data goes through ``send_columns``, one call
per entity per batch. Frames are referenced from the video file (``asset``), JPEG-compressed
(``jpeg``) or left out.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from fastpose.colors import track_color
from fastpose.errors import InvalidVideoError
from fastpose.measures.batch import MeasureBatch
from fastpose.placement import TrackPlacer
from fastpose.poses import PoseBatch
from fastpose.sinks.base import FrameHook, Sink, SinkContext, Staging, Tracked
from fastpose.sinks.rerun_frames import VideoMode, asset_problem, choose_video_mode, encode_jpegs
from fastpose.sinks.rerun_measures import log_measure_styles, log_measures, measures_view
from fastpose.skeleton import CONNECTIONS, LANDMARK_NAMES, NUM_LANDMARKS
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


PERSON_CLASS = 1
#: The mask's classes (uint8): track ``id`` is ``id % MASK_TRACKS + 1``, a multiple of the
#: palette's length so mask and skeleton keep one colour.
MASK_TRACKS = 250
#: Skeletons are drawn over the mask in a lighter tint of their colour, as bones this thick (the
#: viewer draws keypoint connections one pixel wide, too thin to see over a mask) and keypoints.
SKELETON_TINT = 0.45
BONE_RADIUS = rr.Radius.ui_points(2.0)
KEYPOINT_RADIUS = rr.Radius.ui_points(3.5)
LABEL_RADIUS = rr.Radius.ui_points(1.0)
_BONES = np.array(CONNECTIONS, dtype=np.intp)  # (35, 2) landmark pairs
MASK_OPACITY = 0.35
DESCRIPTION = """# Pose tracking with fastpose

MediaPipe's Pose Landmarker on every frame, smoothed per person (One Euro filter).

- **Result**: the video, the person mask and the 2D skeleton of the 33 landmarks, in the
  video's pixels.
- **Joint angles**: knees, hips and elbows in degrees (0 = straight), synced to the video;
  every angle and speed is under `angles/` and `speeds/`.
- **3D pose**: the world landmarks, in metres around each person's hips.
- **Raw video**: the frames as they are.
{people}
Timelines: `time` (seconds) and `frame_idx`.
"""


#: Tracks whose main joint angles the default time-series view shows, at most: ids are given
#: from 0 on, so the first people seen. The view names every series it shows (Rerun's queries
#: take no wildcard inside a path), so they are named up front, with no blueprint sent again.
PLOTTED_TRACKS = 4


def blueprint(num_persons: int = 1) -> rrb.Blueprint:
    """Result (video, mask, 2D skeletons) over the main joint angles of the first people (a time
    series, synced to the video), beside the 3D poses, the raw video and a description, as the
    seed's; every track shows in the result and the 3D view (they are under ``video`` and
    ``person``)."""
    tracks = range(min(max(num_persons, 2), PLOTTED_TRACKS))
    angles = measures_view(tracks, single_person=num_persons == 1)
    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Vertical(
                rrb.Spatial2DView(origin="video", name="Result"), angles, row_shares=[3, 1]
            ),
            rrb.Vertical(
                rrb.Spatial3DView(origin="person", name="3D pose"),
                rrb.Spatial2DView(origin="video", contents="$origin", name="Raw video"),
                rrb.TextDocumentView(origin="description", name="Description"),
                row_shares=[3, 2, 2],
            ),
            column_shares=[3, 2],
        ),
        collapse_panels=True,
    )


def _entity(prefix: str, track: int | None, leaf: str = "points") -> str:
    """One person (``track`` None) at the seed's paths (``video/pose/points``); with several, each
    track at its own (``video/pose/track_3/points``). ``leaf`` "bones": the 2D skeleton's lines."""
    root = "video" if prefix == "video" else "person"
    return f"{root}/pose/{leaf}" if track is None else f"{root}/pose/track_{track}/{leaf}"


def _tint(color: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(round(c + SKELETON_TINT * (255 - c)) for c in color)


def _skeleton(class_id: int, label: str, color: tuple[int, int, int]) -> rr.ClassDescription:
    return rr.ClassDescription(
        info=rr.AnnotationInfo(id=class_id, label=label, color=_tint(color)),
        keypoint_annotations=[
            rr.AnnotationInfo(id=i, label=name) for i, name in enumerate(LANDMARK_NAMES)
        ],
        keypoint_connections=list(CONNECTIONS),
    )


class RerunRecording(Sink):
    """The Rerun recording: a file (``--save``), a spawned viewer, a viewer's URL or a served web
    viewer (``target``). Frames come from the MP4 itself (``asset``), as JPEG at the inference
    size (``jpeg``: encoded in the landmarkers' threads) or not at all; ``auto`` picks the asset
    when the viewer can play it."""

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
    ) -> None:
        self.target = target
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
        self.rec.send_property("fastpose", rr.AnyValues(**dict(context.settings)))
        open_stream(self.rec, self.target, blueprint(self.num_persons), self._working)
        self._log_static()

    def _video_mode(self, info: VideoInfo) -> VideoMode:
        """The requested mode, or ``auto``'s choice; an MP4 the viewer can't read as an asset
        gets JPEG frames (``auto``) or fails (``asset``)."""
        mode = choose_video_mode(info, self.requested_mode)
        if mode != "asset":
            return mode
        if info.rotation:
            raise InvalidVideoError(
                f"{info.uri}: --video-mode asset: the video is rotated {info.rotation} degrees "
                "by its metadata, which Rerun's video player ignores (it would play sideways "
                "under upright landmarks); use --video-mode jpeg or auto"
            )
        problem = asset_problem(info.uri)
        if problem is None:
            return mode
        if self.requested_mode == "asset":
            raise InvalidVideoError(
                f"{info.uri}: --video-mode asset: Rerun cannot read this MP4 ({problem})"
            )
        logger.warning(
            "%s: Rerun cannot read this MP4 (%s); recording the frames as JPEG", info.uri, problem
        )
        return "jpeg"

    def frame_hook(self) -> FrameHook | None:
        return encode_jpegs if self.video_mode == "jpeg" else None

    def write(self, batch: Tracked) -> None:
        self.log_poses(batch.poses)
        self.log_masks(batch.poses)
        self.log_frames(batch.poses, batch.extras.get(self.name))
        if batch.measures is not None:
            self.log_measures(batch.measures)
        check_file(
            self.rec, self.target, self._working, self.abandoned
        )  # a full disk: stop at its first failure

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
                rr.AnnotationContext([_skeleton(PERSON_CLASS, "Person", track_color(0))]),
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

    def _describe_tracks(self, count: int) -> None:
        """Classes (skeleton, colour) for tracks ``0..count-1``, re-logged as ids grow."""
        self._classes = count
        self.rec.log(
            "/",
            rr.AnnotationContext(
                [_skeleton(k + 1, f"Person {k}", track_color(k)) for k in range(count)]
            ),
            static=True,
        )

    def _style(self, track: int | None, class_id: int) -> None:
        """Keypoints and bones big enough to see over the mask, in the track's class colour, for
        every frame of the track's entities."""
        log = self.rec.log
        log(_entity("video", track), rr.Points2D.from_fields(radii=KEYPOINT_RADIUS), static=True)
        log(_entity("person", track), rr.Points3D.from_fields(radii=KEYPOINT_RADIUS), static=True)
        bones = rr.LineStrips2D.from_fields(radii=BONE_RADIUS, class_ids=[class_id])
        log(_entity("video", track, "bones"), bones, static=True)
        if track is not None:  # several people: each one's id, drawn at the nose
            label = rr.Points2D.from_fields(
                labels=[f"Person {track}"],
                show_labels=True,
                class_ids=[class_id],
                radii=LABEL_RADIUS,
            )
            log(_entity("video", track, "label"), label, static=True)

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
            _entity("video", track, "label"), idx, rr.Points2D.columns(positions=nose)
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
            _entity("video", track),
            idx,
            [
                *rr.Points2D.columns(positions=pixels[rows, slots].reshape(-1, 2)).partition(
                    lengths
                ),
                *rr.Points2D.columns(class_ids=classes, keypoint_ids=keypoints).partition(lengths),
            ],
        )
        bones = pixels[rows, slots][:, _BONES]  # (n, 35, 2 ends, 2)
        self.rec.send_columns(
            _entity("video", track, "bones"),
            idx,
            rr.LineStrips2D.columns(strips=bones.reshape(-1, 2, 2)).partition(
                np.full(n, len(_BONES))
            ),
        )
        self.rec.send_columns(
            _entity("person", track),
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
        entities = [_entity("video", track), _entity("video", track, "bones")]
        if track is not None:
            entities.append(_entity("video", track, "label"))
        for entity in entities:
            self.rec.send_columns(
                entity, idx, rr.Clear.columns(is_recursive=np.zeros(len(gone), bool))
            )
        self.rec.send_columns(
            _entity("person", track), idx, rr.Clear.columns(is_recursive=np.zeros(len(gone), bool))
        )

    def log_masks(self, poses: PoseBatch) -> None:
        """Segmentation masks, at their own (inference) resolution, scaled onto the frame; with
        several persons, each track's pixels in its own class."""
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
                rr.SegmentationImage.from_fields(format=fmt, opacity=MASK_OPACITY),
                static=True,
            )
            if (w, h) != self.display_size:
                scale = [self.display_size[0] / w, self.display_size[1] / h, 1.0]
                self.rec.log("video/mask", rr.Transform3D(scale=scale), static=True)
        if self.num_persons > 1:
            masks = _track_classes(masks, poses.ids)
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

    def close(self, *, complete: bool) -> None:
        """Flush and close the stream; safe to call twice. A viewer gets a bounded time to take
        the end (a shorter one if not ``complete``), else :class:`~fastpose.errors.ViewerError`."""
        if self.rec is None:
            return
        rec, self.rec = self.rec, None
        if complete:
            close_stream(rec, self.target, path=self._working, abandoned=self.abandoned)
        else:
            timeout = INTERRUPTED_FLUSH_TIMEOUT_S
            close_stream(rec, self.target, timeout, self._working, self.abandoned)


def _track_classes(masks: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Masks of pose slots (0 background, k slot k - 1) as masks of track classes
    (``id % MASK_TRACKS + 1``); a united mask (1 for anyone) goes to slot 0's track."""
    lut = np.zeros((len(ids), ids.shape[1] + 1), np.uint8)
    lut[:, 1:] = np.where(ids >= 0, ids % MASK_TRACKS + 1, 0)
    out = np.empty_like(masks)
    top = ids.shape[1]
    for i in range(len(masks)):
        np.take(lut[i], np.minimum(masks[i], top), out=out[i])
    return out

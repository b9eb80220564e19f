"""What a fastpose recording looks like: the default layout (:func:`blueprint`), each track's
entities, colours and skeleton class, the mask's classes, the description panel; and the
settings it records, read back (:func:`recorded_settings`). fastpose.sinks.rerun writes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from fastpose.sinks.rerun_measures import measures_view
from fastpose.skeleton import CONNECTIONS, LANDMARK_NAMES

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
BONES = np.array(CONNECTIONS, dtype=np.intp)  # (35, 2) landmark pairs
MASK_OPACITY = 0.35
DESCRIPTION = """# Pose tracking with fastpose

MediaPipe's Pose Landmarker on every frame, smoothed per person (One Euro filter).

- **Result**: the video, the person mask and the 2D skeleton of the 33 landmarks, in the
  video's pixels.
- **Joint angles**: knees, hips and elbows in degrees (0 = straight), synced to the video;
  every angle is a series of `angles` (the legend shows or hides each), every speed of `speeds`.
- **3D pose**: the world landmarks, in metres around each person's hips.
- **Raw video**: the frames as they are.
{people}
Timelines: `time` (seconds) and `frame_idx`.
"""


#: Tracks whose main joint angles the default time-series view shows, at most: ids are given
#: from 0 on, so the first people seen. The view names every series it shows (Rerun's queries
#: take no wildcard inside a path), so they are named up front, with no blueprint sent again.
PLOTTED_TRACKS = 4


def ik_view(series: list[str]) -> rrb.TimeSeriesView:
    """A time-series view of IK's joint angles: the ``series`` named (entity paths under ``ik``,
    fastpose.ik.viewer)."""
    return rrb.TimeSeriesView(origin="/", contents=list(series), name=IK_VIEW)


#: The name of the view of IK's joint angles (beside the joint angles, when IK ran).
IK_VIEW = "IK joint angles"


def blueprint(num_persons: int = 1, ik_series: list[str] | None = None) -> rrb.Blueprint:
    """Result (video, mask, 2D skeletons) over the main joint angles of the first people (a time
    series, synced to the video), beside the 3D poses, the raw video and a description, as the
    seed's; every track shows in the result and the 3D view (they are under ``video`` and
    ``person``). ``ik_series``: IK ran, and these of its series (the main joints' of the first
    people) show in a view beside the joint angles."""
    tracks = range(min(max(num_persons, 2), PLOTTED_TRACKS))
    angles = measures_view(tracks, single_person=num_persons == 1)
    if ik_series:
        angles = rrb.Horizontal(angles, ik_view(ik_series))
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


def entity(prefix: str, track: int | None, leaf: str = "points") -> str:
    """One person (``track`` None) at the seed's paths (``video/pose/points``); with several, each
    track at its own (``video/pose/track_3/points``). ``leaf`` "bones": the 2D skeleton's lines."""
    root = "video" if prefix == "video" else "person"
    return f"{root}/pose/{leaf}" if track is None else f"{root}/pose/track_{track}/{leaf}"


def tint(color: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(round(c + SKELETON_TINT * (255 - c)) for c in color)


def skeleton(class_id: int, label: str, color: tuple[int, int, int]) -> rr.ClassDescription:
    return rr.ClassDescription(
        info=rr.AnnotationInfo(id=class_id, label=label, color=tint(color)),
        keypoint_annotations=[
            rr.AnnotationInfo(id=i, label=name) for i, name in enumerate(LANDMARK_NAMES)
        ],
        keypoint_connections=list(CONNECTIONS),
    )


def track_classes(masks: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Masks of pose slots (0 background, k slot k - 1) as masks of track classes
    (``id % MASK_TRACKS + 1``); a united mask (1 for anyone) goes to slot 0's track."""
    lut = np.zeros((len(ids), ids.shape[1] + 1), np.uint8)
    lut[:, 1:] = np.where(ids >= 0, ids % MASK_TRACKS + 1, 0)
    out = np.empty_like(masks)
    top = ids.shape[1]
    for i in range(len(masks)):
        np.take(lut[i], np.minimum(masks[i], top), out=out[i])
    return out


def recorded_settings(path: str | Path) -> dict[str, str]:
    """The settings a recording file holds (``fastpose``'s ``settings`` property), or {}."""
    from rerun.chunk import RrdReader

    for chunk in RrdReader(path).stream().to_chunks():
        if chunk.entity_path == "/__properties/fastpose":
            batch = chunk.to_record_batch()
            if "settings" in batch.schema.names:
                return json.loads(batch.column("settings")[0].as_py()[0])
    return {}

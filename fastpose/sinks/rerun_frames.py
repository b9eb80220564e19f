"""How the Rerun recording holds the video's frames: references into the MP4 itself (``asset``),
an AV1 video stream at the inference size (``stream``: fastpose.sinks.rerun_video), JPEG at the
inference size (``jpeg``), or none; the stream and JPEG are encoded in the landmarkers' threads
(a frame hook). ``auto`` picks the asset when the viewer can play it, else the stream (2-3 KB a
frame where JPEG takes 30-45: an hour stays within what a viewer holds)."""

from __future__ import annotations

import os
from typing import Literal

import rerun as rr

from fastpose.poses import PoseBatch
from fastpose.video import FrameBatch, VideoInfo

VideoMode = Literal["asset", "stream", "jpeg", "none"]
#: Codecs the Rerun viewer decodes from an MP4 asset.
ASSET_CODECS = frozenset({"h264", "hevc", "h265", "av1", "vp9"})
#: Larger files go to the viewer as a video stream: Rerun holds a whole asset in memory (twice over,
#: measured: a 156 MB file raised the process's RSS by 317 MB), so memory would grow with length.
ASSET_MAX_BYTES = 64 * 2**20
JPEG_QUALITY = 75


def choose_video_mode(info: VideoInfo, requested: VideoMode | Literal["auto"]) -> VideoMode:
    """How the viewer gets frames: ``asset`` for an upright MP4 in a codec it plays, up to
    ``ASSET_MAX_BYTES``; else ``stream``."""
    if requested != "auto":
        return requested
    playable = (
        not info.is_image
        and info.codec in ASSET_CODECS
        and info.container is not None
        and "mp4" in info.container
        and info.rotation == 0
        and info.backend in ("pyav", "decord")  # frame indices exact by presentation time
        and os.path.getsize(info.uri) <= ASSET_MAX_BYTES
    )
    return "asset" if playable else "stream"


def asset_problem(uri: str) -> str | None:
    """Why the Rerun viewer cannot play ``uri`` as a video asset (e.g. a truncated MP4), or None."""
    if not os.path.isfile(uri):
        return "not a file"
    try:
        rr.AssetVideo(path=uri).read_frame_timestamps_nanos()
    except (RuntimeError, ValueError, OSError) as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


def encode_jpegs(frames: FrameBatch, _poses: PoseBatch) -> list[bytes]:
    """The frames as JPEG, for the recording: a frame hook (it runs in the landmarkers' threads)."""
    import cv2  # only when the recording holds JPEG frames

    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    return [
        cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), params)[1].tobytes()
        for im in frames.images
    ]

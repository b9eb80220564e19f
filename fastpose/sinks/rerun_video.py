"""The recording's frames as a compressed video stream (Rerun's ``VideoStream``): AV1, encoded in
the landmarkers' threads as a frame hook, a sample (one frame's OBUs) a frame, a keyframe every
``KEYFRAME_INTERVAL`` frames so the viewer seeks fast.

AV1 and not H.264: Rerun's desktop viewer decodes AV1 itself but needs an FFmpeg executable on
the PATH for H.264 ("Failed to decode: Couldn't find an installation of the FFmpeg executable"),
and browsers decode both. SVT-AV1 (in PyAV's wheels) in low-delay mode gives each frame's sample
as the frame goes in, so a batch's samples are ready when its poses are.

Ranges of a video run on several threads at once, each on its own frames: each range gets an
encoder of its own, found by the frame it expects next (a range's frames are consecutive), so
each range starts on a keyframe (unless the range before it ended first: its encoder runs on) and
its samples follow the ones before it on the timeline. When a range reaches the frame another
range started at, its encoder goes on with the next range to start (on a keyframe): a video of
many ranges makes as many encoders as ranges run at once, all closed by
:meth:`StreamFrames.close`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fastpose.poses import PoseBatch
from fastpose.video import FrameBatch

#: Frames between keyframes: the viewer decodes from the last keyframe before the frame shown.
KEYFRAME_INTERVAL = 60
#: SVT-AV1's quality (0-63, lower is better) and speed (0-13, higher is faster): measured on
#: 640 px frames of the test clips, 2-3 KB a frame at ~200 frames/s on one core.
CRF = 29
PRESET = 10
#: Low delay (a sample out for each frame in), no look-ahead, one thread pool, and a flat
#: prediction structure (each frame predicted from those before, no mini-GOP of 4 pictures held):
#: an encoder holds ~12 MB at 640x360 instead of ~21, and at CRF 29 its stream is as large and as
#: good as the 4-picture structure's at CRF 35 (measured on three clips: -1%, -3% and +4% bytes,
#: -0.2, +0.0 and +0.1 dB PSNR; docs/performance.md).
SVT_PARAMS = "pred-struct=1:lookahead=0:lp=1:rtc=1:hierarchical-levels=0"
ENCODER = "libsvtav1"
#: SVT-AV1's log level (it reads only its environment): errors, not its banner on every open.
SVT_LOG = "1"


@dataclass(frozen=True)
class Samples:
    """One batch's frames, encoded: a sample a frame, and which are keyframes."""

    frame_idx: np.ndarray  # (T,) int64
    samples: list[bytes]
    keyframes: np.ndarray  # (T,) bool

    def __post_init__(self) -> None:
        n = len(self.frame_idx)
        if len(self.samples) != n or len(self.keyframes) != n:
            raise ValueError(
                f"Samples: expected {n} samples and keyframe flags, "
                f"got {len(self.samples)} and {len(self.keyframes)}"
            )


class VideoEncoder:
    """One AV1 stream of consecutive frames (``width`` x ``height`` RGB, padded to even sizes),
    starting on a keyframe; :meth:`encode` gives a sample per frame."""

    def __init__(self, width: int, height: int, first: int) -> None:
        import av  # only when the recording holds a video stream

        os.environ.setdefault("SVT_LOG", SVT_LOG)  # a level the user set stays
        self.first = self.next = first
        self.size = (width, height)
        self._pad = (height % 2, width % 2)
        ctx = av.CodecContext.create(ENCODER, "w")
        ctx.width, ctx.height = width + self._pad[1], height + self._pad[0]
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 30)  # the samples' times are the recording's, not these
        ctx.options = {
            "preset": str(PRESET),
            "crf": str(CRF),
            "g": str(KEYFRAME_INTERVAL),
            "svtav1-params": SVT_PARAMS,
        }
        ctx.open()
        self._ctx = ctx
        self._frame = av.VideoFrame
        self._keyframe = av.video.frame.PictureType.I
        self._pts = 0  # the encoder's own clock, running on across restarts
        self._restarted = False

    def restart(self, first: int) -> None:
        """Go on with another range of frames, from ``first``: its first frame a keyframe (one
        that decodes alone, with the sequence header), as a new encoder's would be."""
        self.first = self.next = first
        self._restarted = True

    def encode(self, images: np.ndarray) -> tuple[list[bytes], list[bool]]:
        """Samples (and keyframe flags) of ``images`` ((T, h, w, 3) RGB), a sample a frame."""
        if self._ctx is None:
            raise RuntimeError("VideoEncoder.encode: the encoder is closed")
        samples: list[bytes] = []
        keys: list[bool] = []
        ph, pw = self._pad
        for image in images:
            if ph or pw:
                image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")
            frame = self._frame.from_ndarray(image, format="rgb24")
            frame.pts = self._pts
            if self._restarted:
                frame.pict_type, self._restarted = self._keyframe, False
            self._pts += 1
            self.next += 1
            for packet in self._ctx.encode(frame):
                samples.append(bytes(packet))
                keys.append(bool(packet.is_keyframe))
        if len(samples) != len(images):
            raise RuntimeError(
                f"{ENCODER}: expected a sample for each of {len(images)} frames, "
                f"got {len(samples)} (the encoder delays frames)"
            )
        return samples, keys

    def close(self) -> None:
        """End the stream and free the encoder (it holds no frame back in low delay)."""
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.encode(None)


class StreamFrames:
    """The frame hook of the video stream, and the encoders of the ranges running; thread-safe
    (each range's thread calls it with its own frames). ``close()`` frees every encoder."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, VideoEncoder] = {}  # by the frame each range expects next
        self._starts: set[int] = set()  # the first frame of every range started
        self._idle: list[VideoEncoder] = []  # ranges done: their encoders, for the next range
        self._open: set[VideoEncoder] = set()
        #: Encoders made: as many as ranges ran at once (~12 MB each at 640x360, 18 threads).
        self.created = 0

    def __call__(self, frames: FrameBatch, _poses: PoseBatch) -> Samples:
        start = int(frames.frame_idx[0])
        h, w = frames.images.shape[1:3]
        with self._lock:
            encoder = self._waiting.pop(start, None)  # a range running on: its frames alone
            if encoder is None:  # a range starts: a done range's encoder, or a new one
                self._starts.add(start)
                encoder = next((e for e in self._idle if e.size == (w, h)), None)
                if encoder is not None:
                    self._idle.remove(encoder)
                    encoder.restart(start)
        if encoder is None:
            encoder = VideoEncoder(w, h, start)
            with self._lock:
                self._open.add(encoder)
                self.created += 1
        samples, keys = encoder.encode(frames.images)
        with self._lock:
            if encoder.next in self._starts:  # its range reached the next one's start: done
                self._idle.append(encoder)
            else:
                self._waiting[encoder.next] = encoder
        return Samples(frames.frame_idx, samples, np.array(keys, bool))

    @property
    def open_encoders(self) -> int:
        """Encoders not yet closed (ranges running or done)."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        with self._lock:
            encoders, self._open, self._waiting, self._idle = list(self._open), set(), {}, []
        for encoder in encoders:
            encoder.close()

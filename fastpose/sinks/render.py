"""The rendered video (``--render FILE.mp4``): the source with every tracked person drawn on it.

Frame ``i`` of the output is frame ``i`` of the source, at its size (upright), time and count, a
frame without a person copied as it is, with each person's skeleton and id in the track's colour
(fastpose.colors, as in the viewer). H.264 4:2:0 in a fragmented MP4 (fastpose.render.encoder).

Where the work runs, and why (measured 2026-12-06 on the 2-core VM, 1080x1920 H.264 at 60 fps,
CPU per frame): frame hooks see frames at the inference size and poses without track ids or
smoothing, which exist only in the consumer's thread, in frame order; the full-size frames the
landmarkers decode are scaled down and dropped long before their poses are tracked (a range runs
up to hundreds of frames ahead). So this sink decodes the file again at its own size (3.7 ms, one
thread), in its own thread, and :meth:`VideoRenderer.write` only hands the consumer's poses over
(a few kB a batch). That thread copies each frame upright into a frame of the encoder's pool
(0.5-0.8 ms), draws on its YUV planes (~1 ms a person; converting to RGB and back would cost
~15 ms) and queues it for the encoder's thread (x264 ``ultrafast``, 8.6 ms). Both hand-overs are
bounded (:data:`QUEUE_BATCHES` batches of poses, the encoder's pool of frames), so a slow encoder
slows the run instead of filling memory (RSS flat over 1800 frames at 1080x1920).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from fastpose.errors import OutputError, one_line
from fastpose.outputs import check_suffix
from fastpose.render.draw import MIN_VISIBILITY, Style, YuvCanvas, draw_people
from fastpose.render.encoder import CRF, PRESET, EncodeError, H264Writer, codec_threads
from fastpose.render.frames import NativeFrames, planes
from fastpose.sinks.base import Sink, SinkContext, Staging, Tracked

logger = logging.getLogger(__name__)

#: Batches of poses waiting for the drawing thread (each a few kB).
QUEUE_BATCHES = 2
#: The joint angles written beside their joint, as Sports2D's overlay shows them: (measure,
#: MediaPipe landmark).
LABELLED_ANGLES = (
    ("right knee", 26),
    ("left knee", 25),
    ("right hip", 24),
    ("left hip", 23),
    ("right elbow", 14),
    ("left elbow", 13),
)
_BT709 = 1  # AVCOL_SPC_BT709


@dataclass(frozen=True)
class _People:
    """What the drawing thread needs of one batch: frame positions, not the whole PoseBatch."""

    frame_idx: NDArray[np.int64]  # (T,)
    pixels: NDArray[np.float32]  # (T, P, 33, 2)
    visible: NDArray[np.bool_]  # (T, P, 33)
    ids: NDArray[np.int32]  # (T, P)
    angles: NDArray[np.float32] | None = None  # (T, P, len(LABELLED_ANGLES)) degrees, or None

    def labels(self, j: int) -> list[list[tuple[int, str]]] | None:
        """Frame ``j``'s angle labels per slot: ``(landmark, "93")`` where the angle is known."""
        if self.angles is None:
            return None
        return [
            [
                (landmark, f"{value:.0f}")
                for (_, landmark), value in zip(LABELLED_ANGLES, row, strict=True)
                if np.isfinite(value)
            ]
            for row in self.angles[j]
        ]


@dataclass(frozen=True)
class _End:
    complete: bool


class VideoRenderer(Sink):
    """Writes ``path`` (.mp4): the source video with the tracked people drawn on it.

    ``preset`` and ``crf`` are x264's; landmarks less visible than ``min_visibility`` are not
    drawn. Needs a video file as the source (not a camera, stream or image). The run's settings
    are the file's tags (``fastpose.model``...).
    """

    name = "render"
    wants_measures = True  # the main joint angles, written beside their joints

    def __init__(
        self,
        path: str | Path,
        *,
        preset: str = PRESET,
        crf: int = CRF,
        min_visibility: float = MIN_VISIBILITY,
    ) -> None:
        self.path = check_suffix(Path(path), (".mp4",), "the rendered video")
        if not 0 <= crf <= 51:
            raise ValueError(f"VideoRenderer: expected crf in 0-51, got {crf}")
        if not 0 <= min_visibility <= 1:
            raise ValueError(
                f"VideoRenderer: expected min_visibility in [0, 1], got {min_visibility}"
            )
        self._preset, self._crf, self._min_visibility = preset, crf, min_visibility
        self._queue: queue.Queue[_People | _End] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._thread: threading.Thread | None = None
        self._frames: NativeFrames | None = None
        self._writer: H264Writer | None = None
        self._error: BaseException | None = None
        self._raised = False
        self._closed = False
        self.frames_written = 0

    def open(self, context: SinkContext, staging: Staging) -> None:
        info = context.info
        if info.num_frames is None or info.is_image:
            what = "an image" if info.is_image else "a camera or stream"
            raise OutputError(f"{self.path}: a rendered video needs a video file, not {what}")
        source = Path(info.uri)
        if self.path.resolve() == source.resolve():
            raise OutputError(f"{self.path}: the rendered video would replace its source")
        self._size = (info.width, info.height)  # the frame the poses' coordinates refer to
        try:
            frames = NativeFrames(
                source, info.rotation, info.num_frames, context.layout, info.fps, codec_threads()
            )
        except (av.error.FFmpegError, ValueError) as err:
            raise OutputError(
                f"{self.path}: cannot read {info.uri} again to render it ({one_line(err)})"
            ) from err
        try:
            work = staging.claim(self.path)
            ctx = frames.codec_context
            self._writer = H264Writer(
                work,
                frames.size,
                frames.timing.time_base,
                frames.timing.rate,
                preset=self._preset,
                crf=self._crf,
                colorspace=ctx.colorspace,
                color_range=1,  # limited ("tv"): frames are converted to it where they are not
                metadata={
                    "comment": f"fastpose: the tracked people drawn on {source.name}",
                    **{f"fastpose.{k}": v for k, v in context.settings.items()},
                },
            )
        except BaseException:
            frames.close()
            raise
        self._frames = frames
        self._style = Style.for_size(*frames.size)
        self._thread = threading.Thread(target=self._run, name="render-draw", daemon=True)
        self._thread.start()

    def write(self, batch: Tracked) -> None:
        if self._thread is None or self._closed:
            raise RuntimeError("VideoRenderer.write: the sink is not open")
        poses = batch.poses
        lm = poses.landmarks
        angles = None
        if batch.measures is not None:
            m = batch.measures
            angles = np.stack(
                [m.column(name, "deg") for name, _ in LABELLED_ANGLES], axis=-1
            ).astype(np.float32)
        people = _People(
            poses.frame_idx.copy(),
            poses.pixels(*self._size),
            (lm[..., 3] >= self._min_visibility) & ~np.isnan(lm[..., 0]),
            poses.ids.copy(),
            angles,
        )
        self._put(people)

    def _put(self, item: _People | _End) -> None:
        while True:
            self._raise_failure()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise_failure()
                    raise OutputError(f"{self.path}: the rendering thread stopped") from None

    def _raise_failure(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            err = self._error
            if isinstance(err, OutputError):
                raise err
            raise OutputError(f"{self.path}: cannot render the video ({one_line(err)})") from err

    # -- the drawing thread --

    def _run(self) -> None:
        try:
            self._render()
        except BaseException as err:  # handed to the consumer, which raises it
            self._error = err
        finally:
            try:
                self._writer.close()
            except EncodeError as err:
                self._error = self._error or err
            self._frames.close()

    def _render(self) -> None:
        """Frames in order, each drawn with its batch's poses, until the run ends."""
        decoded = iter(self._frames)
        pending: tuple[int, int, av.VideoFrame] | None = None
        while isinstance(item := self._queue.get(), _People):
            for j, idx in enumerate(item.frame_idx.tolist()):
                while True:  # frames before idx (no poses: a decoding error) are copied
                    pending = pending or next(decoded, None)
                    if pending is None or pending[0] > idx:
                        break  # idx was not decoded here: its poses are dropped
                    frame, pending = pending, None
                    self._emit(frame, item if frame[0] == idx else None, j)
                    if frame[0] == idx:
                        break
        if item.complete:  # the source's frames after the last poses, up to the run's last
            if pending is not None:
                self._emit(pending)
            for frame in decoded:
                self._emit(frame)

    def _emit(
        self, decoded: tuple[int, int, av.VideoFrame], people: _People | None = None, j: int = 0
    ) -> None:
        """One output frame: the decoded one upright in a frame of the encoder's pool, with
        ``people``'s frame ``j`` drawn on it."""
        _, pts, frame = decoded
        out = self._writer.frame()
        self._frames.upright_into(frame, out)
        out.pts = pts
        if people is not None and people.visible[j].any():
            matrix = "bt709" if out.colorspace == _BT709 else "bt601"
            canvas = YuvCanvas(*planes(out), matrix=matrix)
            draw_people(
                canvas,
                people.pixels[j],
                people.visible[j],
                people.ids[j],
                self._style,
                people.labels(j),
            )
        self._writer.write(out)
        self.frames_written += 1

    def close(self, *, complete: bool) -> None:
        """Draws and encodes the batches written (and, if ``complete``, the source's frames after
        the last of them), then finishes the file: an interrupted run's file plays to its last
        frame written. Raises :class:`OutputError` if rendering failed (once)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            while self._thread.is_alive():  # the thread may have stopped on an error
                try:
                    self._queue.put(_End(complete), timeout=0.1)
                    break
                except queue.Full:
                    continue
            self._thread.join()
        self._raise_failure()

    def describe(self) -> str:
        return str(self.path)

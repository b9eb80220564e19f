"""OpenCV's decoder: cameras, stream URLs, and files the other decoders reject."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from fastpose.errors import InvalidVideoError
from fastpose.video.readers import Batches
from fastpose.video.timeline import upright

STREAM_TIMEOUT_MS = 10_000
#: FourCC codes OpenCV reports, as PyAV's codec names.
FOURCC_CODECS = {
    "avc1": "h264", "h264": "h264", "x264": "h264", "hev1": "hevc", "hvc1": "hevc", "hevc": "hevc",
    "vp90": "vp9", "vp09": "vp9", "av01": "av1", "mjpg": "mjpeg", "vp80": "vp8", "mp4v": "mpeg4",
}  # fmt: skip


class OpenCVReader:
    """Sequential decode with OpenCV: cameras, stream URLs, and files the others reject."""

    def __init__(self, uri: str | int, name: str) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        cap = cv2.VideoCapture(uri, cv2.CAP_ANY, params)
        if not cap.isOpened():
            raise InvalidVideoError(f"{name}: cannot be opened")
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # turned here, as with the other backends
        self._cap = cap
        self.rotation = -int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360  # OpenCV's is clockwise
        self.coded_size = (
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        rate = cap.get(cv2.CAP_PROP_FPS)
        self.fps = rate if 0 < rate < 1000 else 0.0
        self.frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1")
        self.codec = FOURCC_CODECS.get(fourcc.strip("\0 ").lower())
        self.coded: tuple[int, int] | None = None  # decode size before rotation; None: as decoded
        self.errors = 0
        self.last_error: str | None = None
        self.reached = 0

    def batches(self, start: int, stop: int | None, size: int) -> Batches:
        if start > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        self.reached = start
        while True:
            idx, images, seconds = [], [], []
            while len(idx) < size and (stop is None or self.reached < stop):
                ok, bgr = self._cap.read()
                if not ok:
                    break
                idx.append(self.reached)
                images.append(self._rgb(bgr))
                seconds.append(self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1e3)
                self.reached += 1
            if idx:
                turned = upright(np.stack(images), self.rotation)
                yield np.array(idx, np.int64), turned, np.array(seconds)
            if len(idx) < size:
                return

    def _rgb(self, bgr: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if self.coded is not None and (bgr.shape[1], bgr.shape[0]) != self.coded:
            bgr = cv2.resize(bgr, self.coded, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()

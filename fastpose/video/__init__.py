"""Video frames in batches: PyAV for files, decord or OpenCV where it fails, OpenCV for live input.

The parts, in the order data flows through them:

- :mod:`~fastpose.video.info`: what a source is (:class:`VideoInfo`), what it yields
  (:class:`FrameBatch`).
- :mod:`~fastpose.video.probe`: what a file holds (:class:`VideoLayout`), read before decoding.
- :mod:`~fastpose.video.timeline`: frame times, reduced sizes, quarter turns to upright.
- :mod:`~fastpose.video.readers`: the decoders (PyAV, decord, OpenCV) behind one interface.
- :mod:`~fastpose.video.prefetch`: decoding one batch ahead, in a thread.
- :mod:`~fastpose.video.source`: :class:`VideoSource`, which puts them together.
"""

from fastpose.video.info import FrameBatch, VideoInfo
from fastpose.video.probe import VideoLayout
from fastpose.video.source import DECODERS, VideoSource
from fastpose.video.timeline import FALLBACK_FPS, repair_times, scaled_size

__all__ = [
    "DECODERS",
    "FALLBACK_FPS",
    "FrameBatch",
    "VideoInfo",
    "VideoLayout",
    "VideoSource",
    "repair_times",
    "scaled_size",
]

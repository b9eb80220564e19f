"""Drawing people on a frame: skeletons in their track's colour, ids near their heads.

A frame is drawn as a :class:`Canvas`: one or more planes, each at its own scale of the frame, with
a colour converted for it. :class:`YuvCanvas` draws straight on a decoded frame's Y, U and V planes
(chroma at half size), so a rendered frame is never converted to RGB and back: at 1080x1920 that
round trip costs ~15 ms a frame, twice the H.264 encoding (measured in fastpose.sinks.render).
:class:`RgbCanvas` draws on an RGB image, the plain reference the YUV drawing is tested against.
Lines, circles and text are OpenCV's, anti-aliased, at sub-pixel positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from fastpose.colors import track_color
from fastpose.skeleton import CONNECTIONS

#: Landmarks less visible than this are not drawn (MediaPipe's own drawing utilities use 0.5).
MIN_VISIBILITY = 0.5
#: The landmarks of the head (nose, eyes, ears, mouth): the id is written above them.
HEAD = tuple(range(11))
NOSE, SHOULDERS = 0, (11, 12)
BLACK = (0, 0, 0)
#: Labels beside joints (angles) are this much smaller than the id.
LABEL_SCALE = 0.6
_BONES = np.array(CONNECTIONS, dtype=np.intp)
_SHIFT = 4  # OpenCV's fixed-point bits: positions to 1/16 pixel
_ONE = 1 << _SHIFT
_FONT = cv2.FONT_HERSHEY_SIMPLEX

Matrix = Literal["bt601", "bt709"]
#: (Kr, Kb) of the YCbCr matrices.
_MATRICES: dict[str, tuple[float, float]] = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
Color = tuple[int, ...]


def yuv_color(rgb: tuple[int, int, int], matrix: Matrix = "bt601") -> tuple[int, int, int]:
    """``rgb`` (0-255) as limited-range (16-235/240) Y, Cb, Cr in ``matrix``: the values a frame
    tagged with that matrix (or untagged: FFmpeg then assumes BT.601) shows as ``rgb``."""
    if matrix not in _MATRICES:
        raise ValueError(f"yuv_color: expected matrix in {', '.join(_MATRICES)}, got {matrix}")
    kr, kb = _MATRICES[matrix]
    r, g, b = (c / 255.0 for c in rgb)
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    return round(16 + 219 * y), round(128 + 224 * cb), round(128 + 224 * cr)


@dataclass(frozen=True)
class Style:
    """Sizes in frame pixels, scaled with the frame so a skeleton reads the same at any size."""

    thickness: int  # bones
    radius: int  # joints
    font_scale: float
    text_thickness: int

    @classmethod
    def for_size(cls, width: int, height: int) -> Style:
        long_side = max(width, height)
        thickness = max(2, round(long_side / 480))
        return cls(thickness, thickness + 2, max(0.5, long_side / 1100), max(1, thickness - 1))


class Canvas:
    """Planes to draw on: (image, scale from frame pixels, the colour converter for it)."""

    def layers(self, rgb: tuple[int, int, int]) -> list[tuple[NDArray[np.uint8], float, Color]]:
        raise NotImplementedError


class RgbCanvas(Canvas):
    """An RGB image (h, w, 3), drawn in place."""

    def __init__(self, image: NDArray[np.uint8]) -> None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"RgbCanvas: expected uint8 (h, w, 3), got {image.dtype} {image.shape}"
            )
        self.image = image

    def layers(self, rgb: tuple[int, int, int]) -> list[tuple[NDArray[np.uint8], float, Color]]:
        return [(self.image, 1.0, tuple(rgb))]


class YuvCanvas(Canvas):
    """A 4:2:0 frame's planes (Y full size, U and V half size), drawn in place."""

    def __init__(
        self,
        y: NDArray[np.uint8],
        u: NDArray[np.uint8],
        v: NDArray[np.uint8],
        matrix: Matrix = "bt601",
    ) -> None:
        h, w = y.shape
        half = ((h + 1) // 2, (w + 1) // 2)
        if u.shape != half or v.shape != half:
            raise ValueError(
                f"YuvCanvas: expected U and V planes of {half} for Y {y.shape}, "
                f"got {u.shape} and {v.shape}"
            )
        self.planes = (y, u, v)
        self.matrix = matrix
        self._colors: dict[tuple[int, int, int], tuple[int, int, int]] = {}

    def layers(self, rgb: tuple[int, int, int]) -> list[tuple[NDArray[np.uint8], float, Color]]:
        yuv = self._colors.get(rgb)
        if yuv is None:
            yuv = self._colors[rgb] = yuv_color(rgb, self.matrix)
        y, u, v = self.planes
        return [(y, 1.0, (yuv[0],)), (u, 0.5, (yuv[1],)), (v, 0.5, (yuv[2],))]


def _fixed(pixels: NDArray[np.float32], scale: float) -> list[tuple[int, int]]:
    """Frame positions (continuous: pixel i spans [i, i+1)) as OpenCV's fixed-point centres in a
    plane at ``scale``; computed at once, as Python ints (OpenCV's calls take tuples)."""
    fixed = np.rint((pixels * scale - 0.5) * _ONE).astype(np.int64)
    return list(map(tuple, fixed.tolist()))


def draw_people(
    canvas: Canvas,
    pixels: NDArray[np.float32],
    visible: NDArray[np.bool_],
    ids: NDArray[np.int32],
    style: Style,
    labels: Sequence[Sequence[tuple[int, str]]] | None = None,
) -> None:
    """Draws every person of one frame: bones between visible landmarks, joints, the id.

    ``pixels`` (P, 33, 2) are frame positions (normalized x, y times the frame's size),
    ``visible`` (P, 33) which landmarks to draw, ``ids`` (P,) track ids (-1: an empty slot).
    ``labels[k]``: small texts beside slot ``k``'s landmarks, ``(landmark, text)`` (joint
    angles, as Sports2D shows them).
    """
    for k in range(len(ids)):
        track = int(ids[k])
        if track < 0 or not visible[k].any():
            continue
        draw_person(canvas, pixels[k], visible[k], track, style, labels[k] if labels else ())


def draw_person(
    canvas: Canvas,
    pixels: NDArray[np.float32],
    visible: NDArray[np.bool_],
    track: int,
    style: Style,
    labels: Sequence[tuple[int, str]] = (),
) -> None:
    """One person: (33, 2) positions, (33,) visibility, in ``track``'s colour; ``labels`` beside
    their (visible) landmarks."""
    color = track_color(track)
    bones = _BONES[visible[_BONES[:, 0]] & visible[_BONES[:, 1]]].tolist()
    joints = np.flatnonzero(visible)
    rim = max(1, style.radius // 3)
    for (image, scale, col), (_, _, black) in zip(
        canvas.layers(color), canvas.layers(BLACK), strict=True
    ):
        at = _fixed(pixels, scale)
        t = max(1, round(style.thickness * scale))
        for a, b in bones:
            cv2.line(image, at[a], at[b], col, t, cv2.LINE_AA, _SHIFT)
        centres = [at[j] for j in joints]
        r_rim, r = (round(x * scale * _ONE) for x in (style.radius + rim, style.radius))
        for c in centres:  # every rim first, so no rim covers another joint
            cv2.circle(image, c, r_rim, black, -1, cv2.LINE_AA, _SHIFT)
        for c in centres:
            cv2.circle(image, c, r, col, -1, cv2.LINE_AA, _SHIFT)
    head = [j for j in HEAD if visible[j]]
    near = pixels[head] if head else pixels[visible]
    gap = 2 * style.radius + style.text_thickness
    if visible[NOSE] and visible[SHOULDERS[0]] and visible[SHOULDERS[1]]:
        neck = pixels[NOSE] - (pixels[SHOULDERS[0]] + pixels[SHOULDERS[1]]) / 2
        gap += 0.6 * float(np.linalg.norm(neck))  # the top of the head, hair, a cap
    above = float(near[:, 1].min()) - gap
    _text(canvas, str(track), float(near[:, 0].mean()), above, color, style, centred=True)
    small = replace(style, font_scale=style.font_scale * LABEL_SCALE)
    for j, text in labels:
        if visible[j]:
            x, y = pixels[j]
            _text(canvas, text, float(x) + 2 * style.radius, float(y), color, small, centred=False)


def _text(
    canvas: Canvas,
    text: str,
    x: float,
    y: float,
    color: tuple[int, int, int],
    style: Style,
    *,
    centred: bool,
) -> None:
    """``text`` with its baseline at ``y``, starting at ``x`` (centred on it if ``centred``),
    outlined in black, kept inside the frame."""
    (tw, th), base = cv2.getTextSize(text, _FONT, style.font_scale, style.text_thickness)
    layers = canvas.layers(color)
    height, width = layers[0][0].shape[:2]
    x = min(max(x - tw / 2 if centred else x, 0.0), max(width - tw, 0))
    y = min(max(y, float(th)), float(height - base))
    outline = style.text_thickness + 2 * max(1, style.text_thickness // 2)
    for (image, scale, col), (_, _, black) in zip(layers, canvas.layers(BLACK), strict=True):
        org = (round(x * scale), round(y * scale))
        size = style.font_scale * scale
        cv2.putText(image, text, org, _FONT, size, black, max(1, round(outline * scale)),
                    cv2.LINE_AA)  # fmt: skip
        cv2.putText(image, text, org, _FONT, size, col, max(1, round(style.text_thickness * scale)),
                    cv2.LINE_AA)  # fmt: skip

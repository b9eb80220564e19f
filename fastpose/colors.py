"""Track colours, shared by every output that draws people (the viewer, the rendered video)."""

from __future__ import annotations

#: Track colours (RGB): saturated and far apart in hue, each seen both on grass and on skin.
PALETTE = (
    (0, 190, 255),
    (255, 120, 0),
    (255, 60, 170),
    (90, 230, 40),
    (255, 225, 0),
    (170, 110, 255),
    (0, 235, 200),
    (255, 60, 50),
    (200, 240, 0),
    (120, 160, 255),
)


def track_color(track: int) -> tuple[int, int, int]:
    """The RGB colour of ``track`` (an id >= 0): the same in every output."""
    return PALETTE[track % len(PALETTE)]

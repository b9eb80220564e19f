"""File decoders behind one tiny interface: batches of upright RGB frames over a frame range."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

#: What a backend yields: frame indices, upright RGB frames, and (streams only) clock seconds.
Batches = Iterator[tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float64] | None]]


class Reader(Protocol):
    """A backend: batches over ``[start, stop)``, counting the frames it had to skip."""

    errors: int  # frames skipped
    last_error: str | None
    reached: int  # one past the last frame index tried

    def batches(self, start: int, stop: int | None, size: int) -> Batches: ...

    def close(self) -> None: ...

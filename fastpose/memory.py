"""Process-wide memory settings worth making on long videos."""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3

#: Bytes from which glibc's malloc maps a block of its own (given back to the system when freed),
#: held there (see :func:`limit_malloc_arenas`): glibc's initial 128 KiB cost ~25% of the speed.
MMAP_THRESHOLD = 2**20


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = MMAP_THRESHOLD) -> None:
    """Cap glibc's malloc arenas at ``arenas`` (as ``MALLOC_ARENA_MAX=2`` does) and hold its
    mmap threshold at ``mmap_threshold`` bytes (as ``MALLOC_MMAP_THRESHOLD_`` does); call it once
    at the start of a program that tracks long videos.

    glibc gives threads that allocate arenas of their own (up to 8 a core); with a decoder, a
    landmarker and MediaPipe's threads per range, freed frames stay spread over many of them: peak
    RSS of a 3,000-frame 1080p run with 2 landmarkers was 1.12 GB, and 0.82 GB with 2 arenas, at
    the same speed (2026-11-29, 2-core VM). glibc also raises its mmap threshold to the size of
    every mapped block freed (up to 32 MB): once a large buffer is freed at start, frames and masks
    come from the arenas' heaps instead of maps of their own, and those heaps fragment as ranges
    come and go: held at 1 MiB, a 2,000-frame 360p run with every output peaked at 770 MB
    instead of 807, at the same speed (2026-12-07, docs/performance.md). It acts on the whole
    process, so the library does not call it for you; ``fastpose`` (the CLI) does. Elsewhere
    than glibc it does nothing, and each setting is left alone where its environment variable is
    set."""
    if not arenas >= 1:
        raise ValueError(f"limit_malloc_arenas.arenas: expected >= 1, got {arenas}")
    if not 0 <= mmap_threshold <= 32 * 2**20:
        raise ValueError(
            f"limit_malloc_arenas.mmap_threshold: expected 0..32 MiB, got {mmap_threshold}"
        )
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # AttributeError: not glibc
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(M_ARENA_MAX, arenas)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(M_MMAP_THRESHOLD, mmap_threshold)


#: mimalloc's delay (ms) before it gives freed pages back; it reads it once, when it loads.
MIMALLOC_PURGE_DELAY_MS = 0


def purge_mimalloc_at_once(delay_ms: int = MIMALLOC_PURGE_DELAY_MS) -> bool:
    """Have mimalloc, the allocator Rerun's bindings and pyarrow each carry, give freed pages
    back to the system after ``delay_ms`` (``MIMALLOC_PURGE_DELAY``; both copies' default: 1 s,
    and what they keep meanwhile piles up on a long run): on the 20,000-frame soak, Rerun's
    mimalloc grew from 11 to 39 MB over 450 s, and the long run's peak RSS against the
    2,000-frame one's was 1.11x by default, 1.08x with 0 (2026-12-07, docs/performance.md). Call
    it once at the start of a program, before ``rerun`` or ``pyarrow`` is imported (False if one
    was: it comes too late); a ``MIMALLOC_PURGE_DELAY`` the user set stays. It acts on the whole
    process, so the library does not call it for you; ``fastpose`` (the CLI) does."""
    if not delay_ms >= 0:
        raise ValueError(f"purge_mimalloc_at_once.delay_ms: expected >= 0, got {delay_ms}")
    if "rerun_bindings" in sys.modules or "pyarrow" in sys.modules:
        return False
    os.environ.setdefault("MIMALLOC_PURGE_DELAY", str(delay_ms))
    return True


#: Seconds between two :class:`AllocatorTrim` calls that give memory back.
TRIM_INTERVAL_S = 1.0


class AllocatorTrim:
    """Gives back to the system the memory glibc's malloc keeps after it was freed
    (``malloc_trim(0)``), at most once every ``interval_s`` seconds: call it after each batch.

    A run frees as much as it allocates (frames, masks, Arrow tables, Rerun's chunks), but glibc
    keeps freed memory in its heaps, fragmented, and RSS grew with the video: over 20,000 360p
    frames with every output on, 21 KB a frame, against 9.8 KB with a trim every second (issue
    27). A trim walks the heaps (2-15 ms measured with a second's frees to give back) and changes
    no setting, so the library makes it (``fastpose.record`` does); elsewhere than glibc it does
    nothing. ``trims``: how many were made."""

    def __init__(
        self, interval_s: float = TRIM_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not interval_s >= 0:
            raise ValueError(f"AllocatorTrim.interval_s: expected >= 0, got {interval_s}")
        self.interval_s, self._clock = interval_s, clock
        self._last = clock()
        self.trims = 0
        self._trim = _malloc_trim()

    def __call__(self) -> bool:
        """Trim if ``interval_s`` has passed since the last one; True if it did."""
        if self._trim is None:
            return False
        now = self._clock()
        if now - self._last < self.interval_s:
            return False
        self._trim(0)
        self._last = self._clock()
        self.trims += 1
        return True


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (not Linux, not glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # AttributeError: not glibc (musl has none)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim

"""How many cores this process may use: the default number of landmarkers."""

from __future__ import annotations

import os


def default_workers() -> int:
    """The cores this process may use (its CPU affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

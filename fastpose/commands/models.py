"""``fastpose models list|fetch``: the cached pose models, and provisioning one."""

from __future__ import annotations

import argparse

from fastpose import models
from fastpose.signals import SignalGuard
from fastpose.viewer.abandoned import Abandoned


def list_command(args: argparse.Namespace, _guard: SignalGuard, _abandoned: Abandoned) -> int:
    """``fastpose models list``: each cached model, its size and whether it is valid."""
    cached = models.list_cached()
    if not cached:
        print(f"no models cached in {models.cache_dir()}")
    for m in cached:
        state = "ok" if m.valid else "INVALID (will be replaced)"
        print(f"{m.name:8s} {m.size / 1e6:7.1f} MB  {state:10s} {m.path}")
    return 0


def fetch_command(args: argparse.Namespace, _guard: SignalGuard, _abandoned: Abandoned) -> int:
    """``fastpose models fetch NAME``: download (or build) the model into the cache."""
    resolved = models.fetch(args.name)
    print(f"{resolved.name}: {resolved.path} ({resolved.source})")
    return 0

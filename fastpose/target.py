"""Where a recording goes: :class:`RerunTarget`, a file, a spawned viewer, a viewer's gRPC URL
or a web viewer served from here. Checking and opening it is fastpose.viewer's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RerunTarget:
    """Where the recording goes: a file, a spawned viewer, a gRPC URL or a served web viewer.

    ``serve`` with ``connect``: the URL of the :class:`ServedViewer` started for it."""

    save: Path | None = None
    spawn: bool = False
    connect: str | None = None
    serve: bool = False

    def __post_init__(self) -> None:
        chosen = sum([self.save is not None, self.spawn, self.connect is not None or self.serve])
        if chosen != 1:
            raise ValueError(f"RerunTarget: expected exactly one output, got {chosen}")

    def describe(self) -> str:
        if self.save is not None:
            return str(self.save)
        if self.spawn:
            return "the spawned viewer"
        if self.serve:
            return "the served viewer"
        return str(self.connect)

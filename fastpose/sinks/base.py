"""What every output is: a :class:`Sink`, opened with the run's :class:`SinkContext`, fed
:class:`Tracked` batches in frame order, closed complete or not.

A sink never renames files: it asks the run's :class:`Staging` for a working path for each file it
writes (``staging.claim(final)``), and the staging moves them to their final names when the run
completes, keeps them under their working names when it does not, and drops them when no frame
was written (see fastpose.transaction). Per-frame work that must stay parallel (JPEG encoding for
the viewer, drawing) is a :data:`FrameHook` the sink returns from :meth:`Sink.frame_hook`: it runs
in the landmarkers' threads on the decoded frames, and its result for a batch reaches
:meth:`Sink.write` as ``batch.extras[sink.name]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from fastpose.closing import Ending
from fastpose.core import FrameHook  # per-frame work in the landmarkers' threads

if TYPE_CHECKING:
    from fastpose.poses import PoseBatch
    from fastpose.video import VideoInfo, VideoLayout


class Staging(Protocol):
    """Hands out working paths for output files and moves them into place when the run ends."""

    def claim(self, final: Path) -> Path:
        """A working path for ``final``, created (empty) for this run alone; the staging moves it
        to ``final`` when the run completes."""
        ...


@dataclass(frozen=True)
class SinkContext:
    """What a sink is opened with: the source, the frames hooks see, and how the run was made."""

    info: VideoInfo  # the source: upright original size, fps, frame count (None: live)
    frame_size: tuple[int, int]  # (width, height) of the frames a FrameHook gets
    num_poses: int  # person slots per frame (PoseBatch.max_persons)
    #: The run's settings and versions, as text (fastpose, mediapipe, model, inference_size,
    #: num_poses, thresholds, smoothing, workers...): every output records them.
    settings: Mapping[str, str] = field(default_factory=dict)
    #: What the source file holds, as the tracker probed it (None: live input, or not given):
    #: a sink that reads the file again (the rendered video) indexes its frames by it.
    layout: VideoLayout | None = None

    def __post_init__(self) -> None:
        w, h = self.frame_size
        if w < 1 or h < 1:
            raise ValueError(f"SinkContext.frame_size: expected positive sizes, got {w}x{h}")
        if self.num_poses < 1:
            raise ValueError(f"SinkContext.num_poses: expected >= 1, got {self.num_poses}")
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))


@dataclass(frozen=True)
class Tracked:
    """One batch of consecutive frames as the pipeline hands it to sinks.

    ``poses``: smoothed, with ``track_ids``. ``extras``: each frame hook's result for these frames,
    by sink name. ``measures``: joint angles and speeds when a sink asked for them (None if not).
    """

    poses: PoseBatch
    extras: Mapping[str, Any] = field(default_factory=dict)
    measures: Any = None

    def __len__(self) -> int:
        return len(self.poses)


class Sink(Ending):
    """Base of every output. Subclasses set :attr:`name` and override what they need."""

    #: Unique among a run's sinks: the key of this sink's frame-hook results in ``Tracked.extras``.
    name: ClassVar[str] = "sink"
    #: True if :meth:`write` reads ``batch.measures`` (angles, speeds): the pipeline computes them.
    wants_measures: ClassVar[bool] = False
    #: True if :meth:`write` reads ``batch.poses.masks``: ranges run elsewhere (on Ray) send
    #: them back only then.
    wants_masks: ClassVar[bool] = False

    def open(self, context: SinkContext, staging: Staging) -> None:
        """Start writing (claim files from ``staging``); called once, before any frame hook runs."""

    def frame_hook(self) -> FrameHook | None:
        """Per-frame work for the landmarkers' threads, asked once after :meth:`open`."""
        return None

    def write(self, batch: Tracked) -> None:
        """One batch, in frame order. A signal is held while every sink writes it."""

    def close(self, *, complete: bool) -> None:
        """Flush and finish; ``complete`` False when the run is being cut short. Idempotent.
        Files are moved into place by the staging afterwards, not here."""

    def describe(self) -> str:
        """Where this output goes, for the run's last line (a path, 'the spawned viewer')."""
        return self.name

    def end(self, *, complete: bool) -> None:
        """``with sink:`` closes it, complete only if no exception ends the block."""
        self.close(complete=complete)

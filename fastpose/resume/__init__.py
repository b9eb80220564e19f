"""Continuing an interrupted run (``fastpose run --resume``, ``fastpose batch``).

While a run writes files, a :class:`~fastpose.resume.journal.Journal` beside its first output
(``OUT.resume/``) keeps the tracked poses of every batch written and, every
:data:`~fastpose.resume.journal.CHECKPOINT_FRAMES` frames and when the run is cut short, a
checkpoint: where the journal ends, the run's settings, and the tracker's state (identities,
smoothers) after the last frame journaled. A resumed run checks the settings, replays the
journaled poses into fresh outputs (no inference: the frames are decoded only for sinks that
need them), then tracks on from the checkpoint's frame, its identities handed over from the
saved state. Its landmarker warms up from the frame the interrupted one started at, when that
is at most 320 frames back (the same path: the same people on every frame), else as a frame
range does (fastpose.parallel: run again from further back if it finds fewer people).
"""

from fastpose.resume.journal import (
    CHECKPOINT_FRAMES,
    Checkpoint,
    Journal,
    ResumeError,
    has_checkpoint,
    journal_folder,
    read_checkpoint,
)

__all__ = [
    "CHECKPOINT_FRAMES",
    "Checkpoint",
    "Journal",
    "ResumeError",
    "has_checkpoint",
    "journal_folder",
    "read_checkpoint",
]

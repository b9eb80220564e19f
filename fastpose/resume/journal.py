"""The journal of a run: the tracked poses of every batch written, and its last checkpoint.

``OUT.resume/poses.bin`` holds one record a batch (its length, then the pickled
:class:`~fastpose.poses.PoseBatch`, masks zlib-compressed); ``OUT.resume/checkpoint.pkl`` a
:class:`Checkpoint` (pickled, zlib-compressed), replaced atomically (written, fsynced, renamed)
every :data:`CHECKPOINT_FRAMES` frames and when the run is cut short by a signal or an error. A
run killed outright (SIGKILL, a power cut) continues from its last checkpoint; the journal's bytes
after it are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import numpy as np

from fastpose.errors import OutputError, ResumeError, one_line
from fastpose.poses import PoseBatch

logger = logging.getLogger(__name__)

#: Frames between checkpoints (~3 s at 30 fps): what a run killed outright does again at most.
#: A checkpoint costs two fsyncs and a ~90 kB file (two people), so it can come often.
CHECKPOINT_FRAMES = 100
_FORMAT = 2  # 2: the tracker's state carries the outlier filter and the batches it held
#: Settings that change the speed, not the results: a run may continue with others (a local Ray
#: runtime's address changes from run to run).
SPEED_ONLY = frozenset({"workers", "ray", "ray_tasks"})
_LENGTH = struct.Struct("<Q")
_POSES, _CHECKPOINT = "poses.bin", "checkpoint.pkl"


def has_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint (of a run cut short)."""
    return (Path(folder) / _CHECKPOINT).is_file()


def journal_folder(first_output: Path) -> Path:
    """Where the journal of a run whose first output file is ``first_output`` lives."""
    first_output = Path(first_output)
    return first_output.with_name(f"{first_output.name}.resume")


@dataclass(frozen=True)
class Checkpoint:
    """Where a run can continue from: ``next_frame``, the first frame not yet written, after
    ``frames`` frames in the journal's first ``offset`` bytes; what it was asked (``settings``,
    ``outputs``, ``video``) and the tracker's ``state`` (fastpose.tracker, ``Tracker.state``)."""

    next_frame: int
    frames: int
    offset: int
    settings: Mapping[str, str]
    outputs: tuple[str, ...]
    video: str
    num_frames: int | None
    working: tuple[str, ...] = ()  # the run's files under their working names
    state: bytes = field(default=b"", repr=False)
    format: int = _FORMAT

    def __post_init__(self) -> None:
        if not 0 <= self.frames <= self.next_frame:
            raise ValueError(
                f"Checkpoint: expected 0 <= frames <= next_frame, got {self.frames}, "
                f"{self.next_frame}"
            )
        object.__setattr__(self, "settings", dict(self.settings))  # pickled: not a proxy

    def check(self, *, settings: Mapping[str, str], outputs: tuple[str, ...], video: str) -> None:
        """Raise :class:`ResumeError` (one line) unless a run asked ``settings``, ``outputs``
        and ``video`` may continue this one."""
        if self.num_frames is not None and self.next_frame >= self.num_frames:
            raise ResumeError(
                f"--resume: the interrupted run had written every frame ({self.num_frames}); "
                "run without --resume to write the outputs again"
            )
        if video != self.video:
            raise ResumeError(f"--resume: the interrupted run tracked {self.video}, not {video}")
        if outputs != self.outputs:
            raise ResumeError(
                f"--resume: the interrupted run wrote {', '.join(self.outputs)}, not "
                f"{', '.join(outputs)}"
            )
        differ = [
            f"{k}: {self.settings.get(k, 'unset')}, not {settings.get(k, 'unset')}"
            for k in sorted(set(self.settings) | set(settings))
            if self.settings.get(k) != settings.get(k) and k not in SPEED_ONLY
        ]
        if differ:
            raise ResumeError(
                f"--resume: the interrupted run was made with other settings ({'; '.join(differ)});"
                " run without --resume to start again"
            )


def read_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint in ``folder``, None if there is none; :class:`ResumeError` if unreadable."""
    path = Path(folder) / _CHECKPOINT
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ResumeError(f"--resume: cannot read {path}: {one_line(exc)}") from exc
    with contextlib.suppress(zlib.error):  # compressed since format 2
        data = zlib.decompress(data)
    try:
        checkpoint = pickle.loads(data)
    except Exception as exc:
        raise ResumeError(f"--resume: {path} is not a checkpoint ({one_line(exc)})") from exc
    if not isinstance(checkpoint, Checkpoint) or checkpoint.format != _FORMAT:
        raise ResumeError(f"--resume: {path}: expected a checkpoint of format {_FORMAT}")
    return checkpoint


def _encode(poses: PoseBatch) -> bytes:
    masks = poses.masks
    packed = None if masks is None else (masks.shape, zlib.compress(masks.tobytes(), 1))
    plain = replace(poses, masks=None, appearance=None)
    return pickle.dumps((plain, packed), protocol=pickle.HIGHEST_PROTOCOL)


def _decode(data: bytes) -> PoseBatch:
    plain, packed = pickle.loads(data)
    if packed is None:
        return plain
    shape, raw = packed
    masks = np.frombuffer(zlib.decompress(raw), dtype=np.uint8).reshape(shape).copy()
    return replace(plain, masks=masks)


def journaled(folder: Path, checkpoint: Checkpoint) -> Iterator[PoseBatch]:
    """The batches ``checkpoint`` covers, in order, read from ``folder``'s journal."""
    path = Path(folder) / _POSES
    try:
        with open(path, "rb") as f:
            while f.tell() < checkpoint.offset:
                head = f.read(_LENGTH.size)
                (n,) = _LENGTH.unpack(head)
                data = f.read(n)
                if len(head) < _LENGTH.size or len(data) < n:
                    break
                yield _decode(data)
            if f.tell() < checkpoint.offset:
                raise ResumeError(f"--resume: {path} ends before its checkpoint")
    except OSError as exc:
        raise ResumeError(f"--resume: cannot read {path}: {one_line(exc)}") from exc


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Writes the journal of a run writing ``outputs`` (their paths, as text) in ``folder``
    (see the module's doc), continuing ``resumed``'s."""

    def __init__(
        self,
        folder: Path,
        outputs: tuple[str, ...],
        *,
        every: int = CHECKPOINT_FRAMES,
        resumed: Checkpoint | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"Journal.every: expected >= 1 frame, got {every}")
        self.folder, self.every, self.resumed = Path(folder), every, resumed
        self.outputs = tuple(outputs)
        self.frames = resumed.frames if resumed else 0
        self.offset = resumed.offset if resumed else 0
        self._file: IO[bytes] | None = None
        self._base: dict[str, object] = {}
        self._pending: Checkpoint | None = None
        self._latest: Checkpoint | None = resumed  # the last batch's, saved or not
        self._saved = self.frames  # frames the checkpoint on disk covers
        self._closed = False

    def start(
        self,
        *,
        settings: Mapping[str, str],
        video: str,
        num_frames: int | None,
        working: tuple[str, ...],
    ) -> None:
        """Open the journal: a new one, or ``resumed``'s cut at its checkpoint."""
        self._base = {
            "settings": dict(settings),
            "outputs": self.outputs,
            "video": video,
            "num_frames": num_frames,
            "working": working,
        }
        try:
            self.folder.mkdir(exist_ok=True)
            path = self.folder / _POSES
            if self.resumed is None:
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / _CHECKPOINT).unlink()
                self._file = open(path, "wb")  # noqa: SIM115 (closed in close)
            else:
                self._file = open(path, "r+b")  # noqa: SIM115 (closed in close)
                self._file.truncate(self.offset)
                self._file.seek(self.offset)
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot write the journal: {one_line(exc)}") from exc

    def append(self, poses: PoseBatch, state: Callable[[], bytes]) -> None:
        """Journal a batch written to every output; ``state()``: the tracker's state after it.
        A checkpoint follows every :attr:`every` frames."""
        if self._file is None or len(poses) == 0:
            return
        data = _encode(poses)
        try:
            self._file.write(_LENGTH.pack(len(data)))
            self._file.write(data)
        except OSError as exc:  # the outputs say it (a full disk fails them too)
            self._give_up(exc)
            return
        self.frames += len(poses)
        self.offset += _LENGTH.size + len(data)
        self._pending = self._latest = Checkpoint(
            next_frame=int(poses.frame_idx[-1]) + 1,
            frames=self.frames,
            offset=self.offset,
            state=state(),
            **self._base,  # type: ignore[arg-type]
        )
        if self.frames - self._saved >= self.every:
            self.checkpoint()

    @property
    def saved_frames(self) -> int:
        """Frames the checkpoint on disk covers (0: none, the run would start again)."""
        return self._saved if self.folder.exists() else 0

    def _give_up(self, exc: OSError) -> None:
        """Journal no more: the run goes on, continuable from its last checkpoint only."""
        logger.info("%s: cannot write the journal (%s); stopped journaling", self.folder, exc)
        file, self._file, self._pending = self._file, None, None
        with contextlib.suppress(OSError):
            if file is not None:
                file.close()

    def checkpoint(self) -> None:
        """Make the journal durable up to the last batch appended and say so in the checkpoint."""
        pending, self._pending = self._pending, None
        if pending is None or self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            tmp = self.folder / f"{_CHECKPOINT}.tmp"
            with open(tmp, "wb") as f:
                # compressed: the held batches' masks are mostly zeros (~4 MB -> ~0.1 MB)
                f.write(zlib.compress(pickle.dumps(pending, protocol=pickle.HIGHEST_PROTOCOL), 1))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / _CHECKPOINT)
            _fsync_folder(self.folder)
        except OSError as exc:
            self._give_up(exc)
            return
        self._saved = pending.frames

    def close(self, *, complete: bool, working: tuple[str, ...] = ()) -> None:
        """A complete run's journal is removed; a cut-short one's gets a last checkpoint (if
        it can be written: a full disk keeps the previous one) naming its ``working`` files
        (those a resumed run replaces, some made only as it closed). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if not complete and self._latest is not None and self.frames:
                self._pending = replace(self._latest, working=working or self._latest.working)
                self.checkpoint()  # nothing if the journal was given up
        finally:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                if file is not None:
                    file.close()
        if complete or self._saved == 0:
            shutil.rmtree(self.folder, ignore_errors=True)

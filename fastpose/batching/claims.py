"""Which batch tracks a video: an exclusive lock per video, so batches sharing an output folder
(two terminals, a cron job, nodes of a cluster on a shared file system) never write one video's
outputs at once, and what a killed run left behind is cleared by the next one that claims it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from fastpose.closing import Closing

logger = logging.getLogger(__name__)


class VideoClaim(Closing):
    """An exclusive ``flock`` on ``folder/NAME.lock``, held while one video is tracked (or the
    summary merged), the file removed when released. The kernel drops it when its process
    dies, however it dies, so a lock that can be taken means that every file its earlier
    holders staged for the video is stale."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name
        self.path = folder / f"{name}.lock"
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False) -> bool:
        """True once held; False if another process (or thread) holds it now (``wait``: wait
        for it instead)."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            # The holder before us may have removed the file after we opened it: ours is then a
            # lock on nothing. Hold it only if the name still leads to the inode we locked.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)

    def clear_stale(self, names: Iterable[str]) -> list[Path]:
        """Remove the files named ``names`` in the folder (an earlier, dead holder's staged
        outputs); returns those removed."""
        removed = []
        for name in names:
            path = self.folder / name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        if removed:
            logger.debug("%s: removed what an earlier run left: %s", self.name, removed)
        return removed

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while held: no one can be between open and lock on this inode
        os.close(self._fd)
        self._fd = None

    close = release  # ``with claim:`` releases it (Closing)

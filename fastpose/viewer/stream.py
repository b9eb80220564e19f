"""A recording's stream, opened and closed so that no viewer can hang a run: :func:`open_stream`
sends it to its target; :func:`close_stream` flushes a viewer's in a thread for a bounded time and
gives up on it in one line; :func:`check_file` and :func:`flush_file` stop a recording file at its
first failed write (a full disk). A stream given up on goes to the :class:`Abandoned` the caller
holds (the CLI ends the process at once when it is not empty: a normal exit would wait for it)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from fastpose.errors import OutputError, ViewerError, one_line
from fastpose.target import RerunTarget
from fastpose.viewer.abandoned import Abandoned
from fastpose.viewer.probe import check_display, probe

if TYPE_CHECKING:  # Rerun loads when a stream opens, not at import: start-up overlaps it
    import rerun as rr
    import rerun.blueprint as rrb

#: How long a viewer has to take the end of the recording.
FLUSH_TIMEOUT_S = 10.0
#: Past the flush's own timeout, how long to wait for it to return.
FLUSH_GRACE_S = 1.0
#: When the run is being interrupted: Ctrl-C must end the process within seconds.
INTERRUPTED_FLUSH_TIMEOUT_S = 3.0
#: Below this much free space on a recording file's file system, each batch is flushed to the
#: file before the next is tracked, so that the first write that fails stops the run.
LOW_SPACE_BYTES = 64 * 2**20
#: A file system with less free space than this after a failed write is full.
FULL_BYTES = 2**20
#: A flush to a file that has not grown for this long has failed (Rerun's writer is gone).
FILE_STALL_S = 2.0


def open_stream(
    rec: rr.RecordingStream,
    target: RerunTarget,
    blueprint: rrb.Blueprint,
    save_to: Path | None = None,
) -> None:
    """Send ``rec`` to ``target`` (a file to ``save_to``, the working name of ``target.save``)."""
    if target.save is not None:
        path = Path(save_to or target.save)
        try:
            rec.save(path, default_blueprint=blueprint)
            return
        except RuntimeError as exc:  # the file's first bytes could not be written
            why = _file_failure(path, exc)
        # Raised outside the handler, so that Rerun's frames (holding the blueprint's buffer) go
        # now: dropped at exit, it would log a line that its data was lost.
        raise OutputError(f"{target.describe()}: {why}")
    elif target.spawn:
        check_display()
        try:
            rec.spawn(default_blueprint=blueprint)
        except (RuntimeError, OSError) as exc:
            raise ViewerError(
                f"--spawn: the Rerun viewer did not start ({one_line(exc)}); "
                "use --save FILE.rrd or --serve"
            ) from exc
    elif target.connect is not None:
        probe(target.connect)
        rec.connect_grpc(target.connect, default_blueprint=blueprint)
    else:
        raise ValueError("RerunTarget(serve=True): start a ServedViewer, connect to its grpc_url")


def close_stream(
    rec: rr.RecordingStream,
    target: RerunTarget,
    timeout: float = FLUSH_TIMEOUT_S,
    path: Path | None = None,
    abandoned: Abandoned | None = None,
) -> None:
    """Flush and close ``rec``. A file (``path``: its working name) is flushed to the end, or
    :class:`OutputError` if it can't be; a viewer gets ``timeout`` seconds, in a thread (a signal
    still ends the wait), then one line says what may be missing. A stream given up on goes to
    ``abandoned`` (a new one if not given: it keeps the stream until the process ends)."""
    abandoned = abandoned if abandoned is not None else Abandoned()
    if target.save is not None:
        flush_file(rec, target, path, abandoned)  # a failed file's stream is given up on
        rec.disconnect()
        return
    failure: list[BaseException] = []
    done = threading.Event()

    def finish() -> None:
        try:
            rec.flush(timeout_sec=timeout)
            rec.disconnect()
        except Exception as exc:  # handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=finish, name="fastpose-viewer-flush", daemon=True).start()
    try:  # Rerun's flush times out by itself; the grace covers one that would not
        finished = done.wait(timeout + FLUSH_GRACE_S)
    finally:
        if not done.is_set() or failure:  # a flush that timed out left the stream stuck too
            abandoned.add(rec)
    if not finished or (failure and "timed out" in str(failure[0]).lower()):
        raise ViewerError(
            f"{target.describe()}: the viewer did not take the end of the recording within "
            f"{timeout:g} s; the frames logged last may not have arrived"
        )
    if failure:
        raise ViewerError(
            f"{target.describe()}: {one_line(failure[0])}; the frames logged since the "
            "viewer stopped answering did not arrive"
        )


def check_file(
    rec: rr.RecordingStream,
    target: RerunTarget,
    path: Path | None = None,
    abandoned: Abandoned | None = None,
) -> None:
    """Once a recording file's file system has less than :data:`LOW_SPACE_BYTES` free, flush
    ``rec`` to the file (``path``: its working name; see :func:`flush_file`). Rerun writes files
    in a thread of its own, and a write that fails (a full disk) only stops that thread and logs
    a line: without this the run would track to the end of the video and fail there. Checking
    the free space costs ~40 us per batch, a flush ~15 ms (16 frames; measured 2026-12-06,
    2-core VM): only a nearly full disk pays for the flushes."""
    if target.save is None:
        return
    if _free_bytes(Path(target.save).parent) < LOW_SPACE_BYTES:
        flush_file(rec, target, path, abandoned)


def flush_file(
    rec: rr.RecordingStream,
    target: RerunTarget,
    path: Path | None = None,
    abandoned: Abandoned | None = None,
) -> None:
    """Flush ``rec`` to its file (``path``, else ``target.save``), for as long as the file grows;
    else :class:`OutputError`, the stream given up on. Rerun's file writer that failed either
    says only "File-writer thread shut down prematurely" or leaves the flush waiting for ever (and
    its ``disconnect`` after it): a file that stops growing while a flush waits has failed."""
    path = Path(path or target.save)  # type: ignore[arg-type]
    last = -1
    while True:
        try:
            rec.flush(timeout_sec=FILE_STALL_S)
            return
        except RuntimeError as exc:
            size = _size(path)
            if "timed out" in str(exc).lower() and size != last:  # a slow disk: still writing
                last = size
                continue
            (abandoned if abandoned is not None else Abandoned()).add(rec)
            raise OutputError(f"{target.describe()}: {_file_failure(path, exc)}") from exc


def _file_failure(path: Path, exc: BaseException) -> str:
    """Why Rerun could not write ``path``: its messages name the OS error only in its log (or,
    when a file is opened, as "os error 28"); a file system left full says it too."""
    if "os error 28" in str(exc) or _free_bytes(path.parent) < FULL_BYTES:
        return "no space left on device"
    return f"Rerun's file writer failed ({one_line(exc)})"


def _free_bytes(folder: Path) -> int:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return 2**62  # unknown: taken as plenty
    return stat.f_bavail * stat.f_frsize


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -2

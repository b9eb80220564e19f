"""The errors fastpose raises.

Every error derives from :class:`FastposeError` and also from the builtin it means, so callers can
catch either (``except FastposeError`` or ``except FileNotFoundError``), as PyAV's errors do.
The CLI turns each into one line on stderr and a non-zero exit; :func:`one_line` is how every
output words an exception it quotes.
"""

from __future__ import annotations

import errno
import signal
from pathlib import Path


class FastposeError(Exception):
    """Base of every error fastpose raises on purpose."""


class InputNotFoundError(FastposeError, FileNotFoundError):
    """The input video or image does not exist."""


class InvalidVideoError(FastposeError, ValueError):
    """The input exists but is not a readable video or image (or has no frames)."""


class ModelError(FastposeError, ValueError):
    """A model bundle is missing, corrupt, or cannot be provisioned."""


class ModelUnavailableError(ModelError, ConnectionError):
    """A named model is not cached and cannot be downloaded or built here."""


class OutputError(FastposeError, OSError):
    """An output file cannot be written, or exists and ``overwrite`` was not given."""


class ResumeError(FastposeError, ValueError):
    """``--resume`` has nothing to continue, or the interrupted run was made differently."""


class GpuUnavailableError(FastposeError, RuntimeError):
    """The GPU delegate was required but cannot be created."""


class DependencyError(FastposeError, ImportError):
    """A system library MediaPipe needs is missing (libEGL, libGLESv2)."""


class ViewerError(FastposeError, ConnectionError):
    """A Rerun viewer cannot be reached, started, or did not take the whole recording."""


class RemoteTaskError(FastposeError, RuntimeError):
    """A task on another process or node (a frame range on Ray) failed: what it raised, or that
    its worker or node died."""


class InternalError(FastposeError, RuntimeError):
    """A fault of fastpose itself (a bug, not bad input or a failed write): raised by the CLI
    from the unexpected exception (its ``__cause__``), worded by :func:`internal_error`."""


def describe_exit(returncode: int | None) -> str:
    """How a child process ended, in words: ``returncode`` as :class:`subprocess.Popen` and
    :class:`multiprocessing.Process` give it (``-N``: killed by signal N).

    Tells an abort (SIGABRT: the native code gave up, its log says why) from a kill (SIGKILL:
    another process or the out-of-memory killer) from an exit code."""
    if returncode is None:
        return "still running"
    if returncode >= 0:
        return f"exited with code {returncode}"
    signum = -returncode
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return f"was ended by signal {signum}"
    if signum == signal.SIGABRT:
        return f"aborted ({name}: the native code gave up)"
    if signum == signal.SIGKILL:
        return f"was killed ({name}: by another process or the out-of-memory killer)"
    if signum == signal.SIGSEGV:
        return f"crashed ({name}: a fault in native code)"
    return f"was ended by {name}"


#: The most characters of an error's text a one-line message quotes.
ONE_LINE_CHARS = 300


def one_line(exc: BaseException, *, first_line: bool = False) -> str:
    """An exception as the few words of a one-line message, the same for every output: a full
    disk is "no space left on device" (whatever library raised it), an OS error its
    ``strerror``, a failed download its reason, anything else its text with whitespace
    collapsed (``first_line``: only its first line, as MediaPipe's errors continue with a trace),
    at most ONE_LINE_CHARS characters, or the exception's type if it has no text."""
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "no space left on device"
        if exc.errno == errno.EDQUOT:
            return "disk quota exceeded"
        if exc.strerror:
            return exc.strerror
        reason = getattr(exc, "reason", None)  # urllib's URLError; an HTTPError says its code
        if reason is not None and not hasattr(exc, "code"):
            return one_line(reason) if isinstance(reason, BaseException) else str(reason)
    text = str(exc).strip()
    if first_line and text:
        text = text.splitlines()[0]
    return " ".join(text.split())[:ONE_LINE_CHARS] or type(exc).__name__


#: How :func:`blame` marks an exception (a PEP 678 note: a traceback shows it too).
_WHERE = "fastpose: raised in "


def is_fault(exc: BaseException) -> bool:
    """True for an unexpected exception (a bug): not fastpose's own errors, which say what is
    wrong, nor an OS error (a failed write), nor a signal's or an exit's."""
    return isinstance(exc, Exception) and not isinstance(exc, FastposeError | OSError)


def blame(exc: BaseException, where: str) -> BaseException:
    """Note on a fault (:func:`is_fault`) the part of a run it came from (``"the output
    out.rrd"``, ``"the tracker"``), unless a part nearer its origin noted one already; returns
    ``exc``."""
    if is_fault(exc) and blamed(exc) is None:
        exc.add_note(_WHERE + where)
    return exc


def blamed(exc: BaseException) -> str | None:
    """The part of a run :func:`blame` noted on ``exc``, or None."""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, str) and note.startswith(_WHERE):
            return note.removeprefix(_WHERE)
    return None


def origin(exc: BaseException) -> str | None:
    """Where in fastpose ``exc`` was raised: the innermost frame of its traceback in a fastpose
    module, as ``fastpose/sinks/rerun.py:207 in flush``; None if none is."""
    package = Path(__file__).parent
    found = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        path = Path(code.co_filename)
        if path.is_relative_to(package):
            found = f"{path.relative_to(package.parent)}:{tb.tb_lineno} in {code.co_name}"
        tb = tb.tb_next
    return found


def internal_error(exc: BaseException) -> str:
    """An unexpected exception (a bug) as one line: ``internal error in PART (at FILE:LINE in
    FUNCTION): TYPE: TEXT``, the part of the run that :func:`blame` noted and where in fastpose
    it was raised."""
    part, line = blamed(exc), origin(exc)
    where = f"{part} (at {line})" if part and line else part or line or "fastpose"
    return f"internal error in {where}: {type(exc).__name__}: {one_line(exc, first_line=True)}"

"""The errors fastpose raises.

Every error derives from :class:`FastposeError` and also from the builtin it means, so callers can
catch either (``except FastposeError`` or ``except FileNotFoundError``), as PyAV's errors do.
The CLI turns each into one line on stderr and a non-zero exit; :func:`one_line` is how every
output words an exception it quotes.
"""

from __future__ import annotations

import errno
import signal


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

"""The errors fastpose raises.

Every error derives from :class:`FastposeError` and also from the builtin it means, so callers can
catch either (``except FastposeError`` or ``except FileNotFoundError``), as PyAV's errors do.
The CLI turns each into one line on stderr and a non-zero exit.
"""

from __future__ import annotations


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


class GpuUnavailableError(FastposeError, RuntimeError):
    """The GPU delegate was required but cannot be created."""


class DependencyError(FastposeError, ImportError):
    """A system library MediaPipe needs is missing (libEGL, libGLESv2)."""

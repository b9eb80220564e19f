"""MediaPipe's Pose Landmarker API, imported without the rest of MediaPipe.

``import mediapipe`` runs the package's ``__init__``, which imports every task (audio, text, vision)
and the drawing utilities with matplotlib: 0.88 s here, of which the pose landmarker needs 0.11 s
(``python -X importtime``, 2026-11-29, 2-core VM). :func:`pose_api` imports only the modules the
landmarker needs. The parent packages are made from their specs without running their
``__init__``; each gets a module ``__getattr__`` that runs the real ``__init__`` the first time
anything else is asked of it, so other code in the process still sees the whole of MediaPipe.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fastpose.errors import DependencyError

_TASKS = "mediapipe.tasks.python"
_PARENTS = ("mediapipe", "mediapipe.tasks", _TASKS, f"{_TASKS}.vision")
SYSTEM_LIBS = "libEGL.so.1 and libGLESv2.so.2 (Debian/Ubuntu: apt-get install libegl1 libgles2)"


@dataclass(frozen=True)
class PoseApi:
    """The names of MediaPipe's Tasks API that fastpose uses."""

    BaseOptions: Any
    PoseLandmarker: Any
    PoseLandmarkerOptions: Any
    RunningMode: Any
    Image: Any
    ImageFormat: Any
    PoseLandmark: Any
    PoseLandmarksConnections: Any


class _Deferred:
    """MediaPipe's parent packages, registered without running their ``__init__``.

    The first attribute that is missing on any of them runs every deferred ``__init__``, the
    deepest first: the order ``import mediapipe`` runs them in (``mediapipe/__init__`` rebinds
    ``mediapipe.tasks`` to ``mediapipe.tasks.python`` once the packages below it are complete).
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self._pending: list[tuple[ModuleType, object]] = []
        for name in names:
            if name in sys.modules:
                continue
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            module = importlib.util.module_from_spec(spec)
            module.__getattr__ = self._getattr_of(module)  # type: ignore[method-assign]
            sys.modules[name] = module
            self._pending.append((module, spec.loader))

    def _getattr_of(self, module: ModuleType) -> Any:
        def __getattr__(attr: str) -> Any:
            self._complete()
            try:
                return module.__dict__[attr]
            except KeyError:
                raise AttributeError(
                    f"module {module.__name__!r} has no attribute {attr!r}"
                ) from None

        return __getattr__

    def _complete(self) -> None:
        pending, self._pending = self._pending, []
        for module, _ in pending:
            del module.__getattr__
            parent, _, child = module.__name__.rpartition(".")
            if parent:  # as the import system binds a package to its parent (not done before:
                setattr(sys.modules[parent], child, module)  # mediapipe.tasks must ask here)
        for module, loader in reversed(pending):
            loader.exec_module(module)  # type: ignore[attr-defined]


def pose_api() -> PoseApi:
    """MediaPipe's Pose Landmarker API, or a DependencyError naming the missing system libraries."""
    try:
        _Deferred(_PARENTS)
        base = importlib.import_module(f"{_TASKS}.core.base_options")
        pose = importlib.import_module(f"{_TASKS}.vision.pose_landmarker")
        mode = importlib.import_module(f"{_TASKS}.vision.core.vision_task_running_mode")
        image = importlib.import_module(f"{_TASKS}.vision.core.image")
    except OSError as exc:  # the native library failed to load
        raise DependencyError(f"mediapipe cannot load: {exc}; it needs {SYSTEM_LIBS}") from exc
    return PoseApi(
        BaseOptions=base.BaseOptions,
        PoseLandmarker=pose.PoseLandmarker,
        PoseLandmarkerOptions=pose.PoseLandmarkerOptions,
        RunningMode=mode.VisionTaskRunningMode,
        Image=image.Image,
        ImageFormat=image.ImageFormat,
        PoseLandmark=pose.PoseLandmark,
        PoseLandmarksConnections=pose.PoseLandmarksConnections,
    )

"""MediaPipe's Pose Landmarker API, imported without the rest of MediaPipe.

``import mediapipe`` runs the package's ``__init__``, which imports every task (audio, text, vision)
and the drawing utilities with matplotlib. A whole process that imports the pose API this way takes
0.16 s against 0.79 s with ``import mediapipe`` (medians of 6 alternating runs, 2026-12-06, 2-core
VM; ``python -X importtime``: 0.85 s of it is ``mediapipe.tasks.python``). :func:`pose_api` imports
only the modules the landmarker needs. The parent packages are made from their specs without running
their ``__init__``; each gets a module ``__getattr__`` that runs the real ``__init__`` the first
time anything else is asked of it (under a lock: threads wait for it), so other code in the process
still sees the whole of MediaPipe. If the private paths fail, a plain ``import mediapipe`` serves.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fastpose.errors import DependencyError

logger = logging.getLogger(__name__)

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
    A lock makes other threads wait until every ``__init__`` has run, and the hooks stay until
    then, so a thread never sees a package half made; a package that was rebound meanwhile (the
    old ``mediapipe.tasks``) hands the question on to what its name now means.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self._lock = threading.RLock()
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
                pass
            current = _bound(module.__name__)
            if current is not None and current is not module:
                return getattr(current, attr)
            raise AttributeError(f"module {module.__name__!r} has no attribute {attr!r}")

        __getattr__.deferred = True  # type: ignore[attr-defined]
        return __getattr__

    def _complete(self) -> None:
        with self._lock:  # other threads wait here; this one, re-entering, finds nothing pending
            pending, self._pending = self._pending, []
            try:
                for module, _ in pending:
                    parent, _, child = module.__name__.rpartition(".")
                    if parent:  # as the import system binds a package to its parent (not done
                        setattr(sys.modules[parent], child, module)  # before: ask the hook)
                for module, loader in reversed(pending):
                    loader.exec_module(module)  # type: ignore[attr-defined]
            finally:
                for module, _ in pending:
                    if getattr(module.__dict__.get("__getattr__"), "deferred", False):
                        del module.__getattr__


def _bound(name: str) -> Any:
    """What a dotted module name now means through its parents' attributes (None if nothing)."""
    root, *path = name.split(".")
    value: Any = sys.modules.get(root)
    for part in path:
        value = value.__dict__.get(part) if isinstance(value, ModuleType) else None
    return value


def pose_api() -> PoseApi:
    """MediaPipe's Pose Landmarker API, or a DependencyError naming the missing system libraries.

    The private module paths are MediaPipe's internals and may move in a release: if they fail,
    the API comes from a plain ``import mediapipe`` (slower to import, same objects).
    """
    try:
        try:
            return _private_api()
        except (ImportError, AttributeError) as exc:
            logger.debug("MediaPipe's private module paths failed (%s): importing mediapipe", exc)
            return _public_api()
    except OSError as exc:  # the native library failed to load
        raise DependencyError(f"mediapipe cannot load: {exc}; it needs {SYSTEM_LIBS}") from exc


def _private_api() -> PoseApi:
    before = set(sys.modules)
    try:
        _Deferred(_PARENTS)
        base = importlib.import_module(f"{_TASKS}.core.base_options")
        pose = importlib.import_module(f"{_TASKS}.vision.pose_landmarker")
        mode = importlib.import_module(f"{_TASKS}.vision.core.vision_task_running_mode")
        image = importlib.import_module(f"{_TASKS}.vision.core.image")
        return _api(base, pose, mode.VisionTaskRunningMode, image)
    except (ImportError, AttributeError):
        for name in set(sys.modules) - before:  # half-made packages would spoil a plain import
            if name == "mediapipe" or name.startswith("mediapipe."):
                del sys.modules[name]
        raise


def _public_api() -> PoseApi:
    import mediapipe

    vision = mediapipe.tasks.vision
    return _api(mediapipe.tasks, vision, vision.RunningMode, mediapipe)


def _api(base: Any, pose: Any, running_mode: Any, image: Any) -> PoseApi:
    """The API from where it lives: ``base`` has BaseOptions, ``pose`` the landmarker's names,
    ``image`` Image and ImageFormat (modules or packages)."""
    return PoseApi(
        BaseOptions=base.BaseOptions,
        PoseLandmarker=pose.PoseLandmarker,
        PoseLandmarkerOptions=pose.PoseLandmarkerOptions,
        RunningMode=running_mode,
        Image=image.Image,
        ImageFormat=image.ImageFormat,
        PoseLandmark=pose.PoseLandmark,
        PoseLandmarksConnections=pose.PoseLandmarksConnections,
    )

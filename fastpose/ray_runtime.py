"""A Ray runtime to run tasks on: a local one (127.0.0.1 only, no dashboard, no usage reports) or
a cluster joined at an address; the one place fastpose starts, joins and leaves Ray.

``fastpose run --ray`` (a video's frame ranges, fastpose.ray_ranges) and ``fastpose batch --ray``
(one task a video, fastpose.batching.ray) both run through :class:`RayRuntime`. Inside a Ray task
the runtime is already up: it is used as it is, and left up.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from fastpose.closing import Closing
from fastpose.errors import DependencyError, one_line

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "fastpose[ray]"'
#: A local runtime: bound to 127.0.0.1 (not the machine's address), no usage reports sent.
_LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
#: A range task's result in the object store, at most: 600 frames of two people's poses and
#: masks (bit-packed, 960x540) measured 121 kB a frame, 73 MB (fastpose.ray_ranges).
RANGE_BYTES = 96 * 2**20
#: The least object store of a local runtime: batch tasks return one small row each.
MIN_STORE_BYTES = 100 * 2**20


def local_store_bytes(cores: int) -> int:
    """A local runtime's shared-memory object store: room for the range results that may wait
    there (fastpose.ray_ranges keeps at most ``cores + 1`` submitted)."""
    return max(MIN_STORE_BYTES, (cores + 1) * RANGE_BYTES)


def import_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise DependencyError(f"--ray needs Ray, an optional extra: {INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def loopback_only() -> Iterator[Any]:
    """The ``ray`` module, set to start a local runtime on 127.0.0.1 only, without usage reports;
    the previous settings come back afterwards.

    Ray reads the first from the environment when it is imported (its processes inherit it); if
    it was imported before, its module-level copy is set too."""
    saved = {name: os.environ.get(name) for name in _LOCAL_ENV}
    os.environ.update(_LOCAL_ENV)
    try:
        ray = import_ray()
        import ray._private.ray_constants as constants

        enabled, constants.ENABLE_RAY_CLUSTER = constants.ENABLE_RAY_CLUSTER, False
        try:
            yield ray
        finally:
            constants.ENABLE_RAY_CLUSTER = enabled
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def signals_raised() -> Iterator[None]:
    """A signal handler that raises inside Ray's native code surfaces as a SystemError: raise
    the handler's exception (Interrupted, KeyboardInterrupt) instead."""
    try:
        yield
    except SystemError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, BaseException) and not isinstance(cause, Exception):
            raise cause from None
        raise


def connect(ray: Any, address: str | None, cores: int, *, gpu: bool) -> bool:
    """Start or join a runtime unless one is up; True if this call started (or joined) it.

    Ray replaces the driver's SIGTERM handler; the caller's is put back."""
    if ray.is_initialized():
        return False
    common = {"log_to_driver": False, "logging_level": logging.ERROR}
    previous = signal.getsignal(signal.SIGTERM)
    try:
        if address is None:
            ray.init(
                num_cpus=cores,
                num_gpus=None if gpu else 0,
                object_store_memory=local_store_bytes(cores),
                include_dashboard=False,
                **common,
            )
        else:
            ray.init(address=address, **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        raise DependencyError(f"cannot start or join {where}: {one_line(exc)}") from None
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    return True


def resources(ray: Any) -> tuple[int, int, float]:
    """The cluster's CPUs, the most CPUs on one node, and its GPUs."""
    total = ray.cluster_resources()
    per_node = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    cpus = max(1, math.floor(total.get("CPU", 1)))
    return cpus, max(1, math.floor(max(per_node, default=1))), float(total.get("GPU", 0))


class RayRuntime(Closing):
    """Ray, up for as long as this object is open: ``address`` None or True starts a local
    runtime of ``cores`` CPUs (or uses the one this process runs in, a Ray task's), a text joins
    the cluster there. :attr:`cpus` is the cluster's. :meth:`close` shuts down what this object
    started or joined, and nothing else."""

    def __init__(self, address: str | bool | None, cores: int, *, gpu: bool = False) -> None:
        self._exit = contextlib.ExitStack()
        where = address if isinstance(address, str) and address else None
        try:
            if where is None and not _inside_ray():
                self.ray = self._exit.enter_context(loopback_only())
            else:
                self.ray = import_ray()
            if connect(self.ray, where, cores, gpu=gpu):
                self._exit.callback(self.ray.shutdown)
            self.cpus, self.cpus_per_node, self.gpus = resources(self.ray)
        except BaseException:
            self.close()
            raise
        self.address = where or "local"

    def close(self) -> None:
        self._exit.close()


def _inside_ray() -> bool:
    """True in a Ray worker or a driver that already joined a runtime."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()

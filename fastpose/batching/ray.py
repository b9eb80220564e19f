"""The batch on Ray: each video a Ray task that writes its outputs to the batch's folder.

``address=None`` starts a small local runtime (bound to 127.0.0.1, no dashboard, no usage
reports); otherwise the driver joins the cluster at ``address``, whose every node must see the
videos and the output folder at the same paths. A task asks for one CPU (and a share of a GPU
with ``--gpu``); when fewer videos than CPUs are queued, each asks for more and runs that many
landmarkers on its frame ranges, within its node. Ray reuses its worker processes between tasks.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from fastpose.batching.job import Job, track_job
from fastpose.batching.summary import SummaryRow
from fastpose.errors import DependencyError, one_line
from fastpose.models import resolve_model
from fastpose.options import TrackOptions

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "fastpose[ray]"'
#: A local runtime: bound to 127.0.0.1 (not the machine's address), no usage reports sent.
_LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
#: The local runtime's shared-memory object store: tasks return one small row each.
OBJECT_STORE_BYTES = 100 * 2**20
POLL_S = 0.2
#: Seconds a cancelled task gets to close its outputs before its worker is killed.
CANCEL_GRACE_S = 10.0


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


def track_on_node(job: Job, options: TrackOptions, model: str) -> SummaryRow:
    """A Ray task's body: the model is resolved again where the driver's path is not visible."""
    if not options.landmarker.model_path.is_file():
        landmarker = replace(options.landmarker, model_path=resolve_model(model).path)
        options = replace(options, landmarker=landmarker)
    return track_job(job, options)


def track_on_ray(
    jobs: Sequence[Job],
    options: TrackOptions,
    *,
    address: str | None,
    cores: int,
    model: str,
    on_row: Callable[[SummaryRow], None],
) -> None:
    """Run ``jobs`` as Ray tasks; ``on_row`` gets each finished video's row as it completes.

    ``cores`` sizes a local runtime. Any exception here (a signal's included) cancels the tasks
    left, waits a little for them to close their outputs, and propagates."""
    with contextlib.ExitStack() as stack:
        ray = import_ray() if address else stack.enter_context(loopback_only())
        _run(ray, jobs, options, address=address, cores=cores, model=model, on_row=on_row)


def _run(
    ray: Any,
    jobs: Sequence[Job],
    options: TrackOptions,
    *,
    address: str | None,
    cores: int,
    model: str,
    on_row: Callable[[SummaryRow], None],
) -> None:
    started = _connect(ray, address, cores, gpu=options.landmarker.gpu)
    refs: dict[Any, Job] = {}
    try:
        task = ray.remote(track_on_node)
        cpus, per_node, gpus = _resources(ray)
        gpu_share = min(1.0, gpus / cpus) if options.landmarker.gpu and gpus else 0
        if options.landmarker.gpu and not gpus:
            logger.warning("no GPU in the Ray cluster; the tasks run on the CPU")
            options = replace(options, landmarker=replace(options.landmarker, gpu=False))
        ordered = sorted(jobs, key=Job.size, reverse=True)
        share = max(1, min(per_node, cpus // max(1, len(ordered))))
        for job in ordered:
            logger.debug("%s: a Ray task on %d CPU(s)", job.video, share)
            job_options = replace(options, workers=share)
            ref = task.options(num_cpus=share, num_gpus=gpu_share).remote(job, job_options, model)
            refs[ref] = job
        while refs:
            with _signals_raised():
                ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
            if not ready:
                time.sleep(POLL_S)  # a signal raises here, outside Ray's native code
            for ref in ready:
                job = refs.pop(ref)
                on_row(_result(ray, ref, job))
    finally:
        _cancel(ray, refs, on_row)
        if started:
            ray.shutdown()


@contextlib.contextmanager
def _signals_raised() -> Iterator[None]:
    """A signal handler that raises inside Ray's native code surfaces as a SystemError: raise
    the handler's exception (Interrupted, KeyboardInterrupt) instead."""
    try:
        yield
    except SystemError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, BaseException) and not isinstance(cause, Exception):
            raise cause from None
        raise


def _connect(ray: Any, address: str | None, cores: int, *, gpu: bool) -> bool:
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
                object_store_memory=OBJECT_STORE_BYTES,
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


def _resources(ray: Any) -> tuple[int, int, float]:
    """The cluster's CPUs, the most CPUs on one node, and its GPUs."""
    total = ray.cluster_resources()
    per_node = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    cpus = max(1, math.floor(total.get("CPU", 1)))
    return cpus, max(1, math.floor(max(per_node, default=1))), float(total.get("GPU", 0))


def _result(ray: Any, ref: Any, job: Job) -> SummaryRow:
    """The task's row; a task that died (its worker killed, say) fails in one line."""
    try:
        return ray.get(ref)
    except Exception as exc:  # RayTaskError, WorkerCrashedError, TaskCancelledError...
        logger.debug("%s: the Ray task failed", job.video, exc_info=True)
        message = f"the Ray task failed: {type(exc).__name__}: {one_line(exc)}"
        return SummaryRow(video=str(job.video), status="failed", message=message[:300])


def _cancel(ray: Any, refs: dict[Any, Job], on_row: Callable[[SummaryRow], None]) -> None:
    """Cancel the tasks left (KeyboardInterrupt in the running ones: they close their outputs);
    force-kill what still runs after ``CANCEL_GRACE_S``. A task that finished all the same gives
    its row; a cancelled one gives none (the batch marks its video interrupted)."""
    if not refs:
        return
    for ref in refs:
        ray.cancel(ref)
    ready, left = ray.wait(list(refs), num_returns=len(refs), timeout=CANCEL_GRACE_S)
    for ref in left:
        ray.cancel(ref, force=True)
    for ref in ready:
        try:
            row = ray.get(ref, timeout=0)
        except Exception:  # TaskCancelledError, RayTaskError(KeyboardInterrupt)...
            continue
        on_row(row)

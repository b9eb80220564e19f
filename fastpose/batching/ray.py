"""The batch on Ray: each video a Ray task that writes its outputs to the batch's folder.

``address=None`` starts a small local runtime (bound to 127.0.0.1, no dashboard, no usage
reports); otherwise the driver joins the cluster at ``address``, whose every node must see the
videos and the output folder at the same paths. A task asks for one CPU (and a share of a GPU
with ``--gpu``). When fewer videos than CPUs are queued, a video's task asks for none and runs its
frame ranges as Ray tasks of one CPU each, on any node (fastpose.ray_ranges), writing the outputs
itself: a long video gets several tasks (its outputs record ``ray_tasks``); with ``--gpu`` it
runs that share of CPUs' landmarkers on its frame ranges, within its node. Ray reuses its worker
processes between tasks.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from fastpose.batching.job import Job, track_job
from fastpose.batching.summary import SummaryRow
from fastpose.errors import one_line
from fastpose.models import resolve_model
from fastpose.options import TrackOptions
from fastpose.ray_runtime import (
    connect,
    import_ray,
    loopback_only,
    resources,
    signals_raised,
)

logger = logging.getLogger(__name__)

POLL_S = 0.2
#: Seconds a cancelled task gets to close its outputs before its worker is killed.
CANCEL_GRACE_S = 10.0


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
        started = connect(ray, address, cores, gpu=options.landmarker.gpu)
        refs: dict[Any, Job] = {}
        try:
            _submit(ray, jobs, options, model, refs)
            while refs:
                with signals_raised():
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


def _submit(
    ray: Any, jobs: Sequence[Job], options: TrackOptions, model: str, refs: dict[Any, Job]
) -> None:
    """Submit a task per job, largest first, into ``refs``: a job alone on several CPUs, or (fewer
    jobs than CPUs) its frame ranges as tasks of their own."""
    task = ray.remote(track_on_node)
    cpus, per_node, gpus = resources(ray)
    gpu_share = min(1.0, gpus / cpus) if options.landmarker.gpu and gpus else 0
    if options.landmarker.gpu and not gpus:
        logger.warning("no GPU in the Ray cluster; the tasks run on the CPU")
        options = replace(options, landmarker=replace(options.landmarker, gpu=False))
    ordered = sorted(jobs, key=Job.size, reverse=True)
    share = max(1, min(per_node, cpus // max(1, len(ordered))))
    split = len(ordered) < cpus and not options.landmarker.gpu
    for job in ordered:
        if split:  # its ranges as tasks of their own, on any node; it writes the outputs
            logger.debug("%s: a Ray task, its frame ranges Ray tasks", job.video)
            job_options = replace(options, workers=share, ray=True)
            ref = task.options(num_cpus=0).remote(job, job_options, model)
        else:
            logger.debug("%s: a Ray task on %d CPU(s)", job.video, share)
            job_options = replace(options, workers=share)
            ref = task.options(num_cpus=share, num_gpus=gpu_share).remote(job, job_options, model)
        refs[ref] = job


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

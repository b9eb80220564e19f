"""``fastpose batch``: the parsed arguments -> :func:`batch`, its last line and its exit status."""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from pathlib import Path

from fastpose.batching.driver import batch
from fastpose.batching.job import STAGING_DIR
from fastpose.batching.ray import import_ray
from fastpose.batching.summary import SUMMARY_NAME, SummaryRow, read_summary
from fastpose.commands.parsed import spec_from_args
from fastpose.signals import Interrupted, SignalGuard
from fastpose.viewer.abandoned import Abandoned

logger = logging.getLogger(__name__)

EXIT_FAILED = 1


def batch_command(args: argparse.Namespace, _guard: SignalGuard, abandoned: Abandoned) -> int:
    """Exit 0 when every video is done or skipped, 1 when any failed, 128+N on signal N."""
    out = Path(args.out)
    if args.ray is not False:
        import_ray()  # without the extra: one line, before any work
    spec = spec_from_args(args)  # each video's paths are mapped into it (fastpose.batching.job)
    started = time.perf_counter()
    try:
        rows = batch(
            args.inputs,
            out,
            spec.options,
            workers=args.workers,
            recursive=args.recursive,
            export_format=args.format,
            overwrite=spec.outputs.overwrite,
            ray=args.ray,
            video_mode=spec.outputs.video_mode,
            angles=args.angles,
            trc=args.trc,
            ik=args.ik,
            render=args.render,
            height=spec.outputs.height,
            progress=not args.no_progress,
            abandoned=abandoned,
        )
    except Interrupted as exc:
        ran = list(read_summary(out / SUMMARY_NAME).values())
        logger.error(
            "interrupted by %s: %s; %s lists them; unfinished outputs are in %s",
            exc,
            _counts(ran) or "no video finished",
            out / SUMMARY_NAME,
            out / STAGING_DIR,
        )
        return 128 + exc.signum
    elapsed = time.perf_counter() - started
    videos = f"{len(rows)} video{'s' if len(rows) != 1 else ''}"
    logger.info("%s: %s in %.1f s; summary: %s", videos, _counts(rows), elapsed, out / SUMMARY_NAME)
    return EXIT_FAILED if any(r.status not in ("done", "skipped") for r in rows) else 0


def _counts(rows: list[SummaryRow]) -> str:
    counts = Counter(r.status for r in rows)
    return ", ".join(f"{n} {status}" for status, n in counts.items())

"""``fastpose batch``: the parsed arguments -> :func:`batch`, its last line and its exit status."""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from pathlib import Path

from fastpose.batching.job import STAGING_DIR
from fastpose.batching.runner import batch
from fastpose.batching.summary import SUMMARY_NAME, SummaryRow, read_summary
from fastpose.landmarker import LandmarkerOptions
from fastpose.models import resolve_model
from fastpose.parallel import DecodeOptions
from fastpose.signals import Interrupted, SignalGuard
from fastpose.tracker import SmoothingOptions, TrackOptions

logger = logging.getLogger(__name__)

EXIT_FAILED = 1


def options(args: argparse.Namespace, model_path: Path) -> TrackOptions:
    return TrackOptions(
        landmarker=LandmarkerOptions(
            model_path=model_path,
            num_poses=args.num_poses,
            min_detection_confidence=args.min_detection_confidence,
            min_presence_confidence=args.min_presence_confidence,
            min_tracking_confidence=args.min_tracking_confidence,
            segment=not args.no_segment,
            gpu=args.gpu,
        ),
        decode=DecodeOptions(fps=args.fps, inference_size=args.inference_size),
        smoothing=SmoothingOptions(method="none" if args.no_smooth else "one-euro"),
        max_frames=args.max_frames,
        video_mode=args.video_mode,
    )


def run_batch(args: argparse.Namespace, _guard: SignalGuard) -> int:
    """Exit 0 when every video is done or skipped, 1 when any failed, 128+N on signal N."""
    out = Path(args.out)
    if args.ray is not False:
        from fastpose.batching.ray import import_ray

        import_ray()  # without the extra: one line, before any work
    model = resolve_model(args.model)
    started = time.perf_counter()
    try:
        rows = batch(
            args.inputs,
            out,
            options(args, model.path),
            workers=args.workers,
            recursive=args.recursive,
            export_format=args.format,
            overwrite=args.overwrite,
            ray=args.ray,
            model=args.model,
            progress=not args.no_progress,
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

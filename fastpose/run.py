"""``fastpose run``: a tracker feeding the Rerun sink, the landmark export and a progress bar.

Everything that can fail before the first frame (output paths, the model, MediaPipe's libraries, the
input) is checked before any output is opened, so a failed run leaves no file behind. Once outputs
are open, each batch reaches all of them or none, and they are closed (renamed into place) however
the run ends: an error or a signal keeps every frame processed so far.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from fastpose.export import check_export
from fastpose.landmarker import Landmarker, LandmarkerOptions
from fastpose.models import ResolvedModel, resolve_model
from fastpose.outputs import check_writable, free_name
from fastpose.parallel import DecodeOptions
from fastpose.record import Written, open_tracker, record
from fastpose.rerun_sink import RerunTarget
from fastpose.samples import resolve_sample
from fastpose.signals import Interrupted, SignalGuard
from fastpose.tracker import SmoothingOptions, Tracker, TrackOptions

logger = logging.getLogger(__name__)

EXIT_ERROR = 1


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "darwin",
        "win32",
    )


def _target(args: argparse.Namespace, video: str) -> RerunTarget:
    if args.save is not None:
        return RerunTarget(save=check_writable(args.save, overwrite=args.overwrite))
    if args.spawn or (args.connect is None and not args.serve and _has_display()):
        return RerunTarget(spawn=True)
    if args.connect is not None:
        return RerunTarget(connect=args.connect)
    if args.serve:
        return RerunTarget(serve=True)
    path = Path(video)
    default = (
        path.with_suffix(".rrd") if path.is_file() and os.access(path.parent, os.W_OK) else None
    )
    if default is None or args.video is None:  # the sample lives in the cache: write here instead
        default = Path.cwd() / f"{path.stem or 'fastpose'}.rrd"
    return RerunTarget(save=check_writable(free_name(default), overwrite=False))


def _options(args: argparse.Namespace, model_path: Path) -> TrackOptions:
    return TrackOptions(
        landmarker=LandmarkerOptions(
            model_path=model_path,
            num_poses=args.num_poses,
            min_detection_confidence=args.min_detection_confidence,
            min_presence_confidence=args.min_presence_confidence,
            min_tracking_confidence=args.min_tracking_confidence,
            segment=not args.no_segment,
            gpu=args.gpu or args.require_gpu,
        ),
        decode=DecodeOptions(fps=args.fps, inference_size=args.inference_size),
        smoothing=SmoothingOptions(method="none" if args.no_smooth else "one-euro"),
        max_frames=args.max_frames,
        workers=args.workers,
        require_gpu=args.require_gpu,
        video_mode=args.video_mode,
    )


def _preflight(options: LandmarkerOptions) -> None:
    """Load MediaPipe and the model once here (~0.1 s), so a missing system library or a model
    MediaPipe rejects fails now, not in a worker after the outputs are open."""
    with Landmarker(replace(options, gpu=False)):
        pass


def run(args: argparse.Namespace, guard: SignalGuard) -> int:
    video = args.video if args.video is not None else str(resolve_sample())
    target = _target(args, video)
    export = check_export(args.export, overwrite=args.overwrite) if args.export else None
    model = resolve_model(args.model)
    options = _options(args, model.path)
    _preflight(options.landmarker)
    written = Written()
    files = [str(p) for p in (target.save, export) if p is not None]
    outputs = ", ".join(files) or "the viewer"
    hold = "holds" if len(files) < 2 else "hold"
    try:
        with open_tracker(video, options) as tracker:
            _describe(tracker, model)
            record(
                tracker,
                target,
                export,
                num_persons=args.num_poses,
                guard=guard,
                written=written,
                progress=not args.no_progress,
            )
            _summary(tracker, outputs, target)
    except Interrupted as exc:
        logger.error(
            "interrupted by %s after %d frames; %s %s every frame processed so far",
            exc,
            written.frames,
            outputs,
            hold,
        )
        return 128 + exc.signum
    except BrokenProcessPool:
        logger.error(
            "a worker process died (killed, or out of memory?) after %d frames; %s %s every "
            "frame processed so far; try fewer --workers",
            written.frames,
            outputs,
            hold,
        )
        return EXIT_ERROR
    return 0


def _describe(tracker: Tracker, model: ResolvedModel) -> None:
    info = tracker.info
    frames = (
        "1 image" if info.is_image else f"{info.num_frames or 'live'} frames at {info.fps:g} fps"
    )
    logger.info(
        "%s: %dx%d, %s (%s, %s); model %s (%s)",
        tracker.uri,
        info.width,
        info.height,
        frames,
        info.codec or "unknown codec",
        info.backend,
        model.name,
        model.source,
    )
    logger.debug("model file: %s", model.path)


def _summary(tracker: Tracker, outputs: str, target: RerunTarget) -> None:
    s = tracker.stats
    fps = s.frames / s.elapsed_s if s.elapsed_s > 0 else 0.0
    without = s.frames - s.frames_with_person
    parts = [f"{s.frames} frames", f"{without} without a person"]
    if s.decode_errors:
        parts.append(f"{s.decode_errors} skipped (decode errors)")
    line = f"{', '.join(parts)}; {fps:.1f} frames/s on {s.workers} worker(s), {s.delegate}"
    if s.first_frame_s is not None:
        line += f", first frame after {s.first_frame_s:.1f} s"
    if s.ended_early:
        logger.warning("%s: the file ended early; read %d frames", tracker.uri, s.frames)
    logger.info("%s -> %s", line, outputs)
    if target.save is not None:
        logger.info("open it with: rerun %s", target.save)

"""``fastpose run``: a tracker feeding the Rerun sink, the landmark export and a progress bar."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from tqdm import tqdm

from fastpose.export import LandmarkExporter
from fastpose.landmarker import LandmarkerOptions
from fastpose.models import resolve_model
from fastpose.outputs import check_writable, free_name
from fastpose.parallel import DecodeOptions
from fastpose.rerun_sink import RerunSink, RerunTarget
from fastpose.samples import resolve_sample
from fastpose.tracker import SmoothingOptions, Tracker, TrackOptions

logger = logging.getLogger(__name__)


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
    default = path.with_suffix(".rrd") if path.is_file() and os.access(path.parent, os.W_OK) else None
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


def run(args: argparse.Namespace) -> int:
    video = args.video if args.video is not None else str(resolve_sample())
    target = _target(args, video)
    export = check_writable(args.export, overwrite=args.overwrite) if args.export else None
    model = resolve_model(args.model)
    logger.info("model %s: %s (%s)", model.name, model.path, model.source)
    with Tracker(video, _options(args, model.path)) as tracker:
        info = tracker.info
        display = (info.width, info.height) if tracker.video_mode == "asset" else tracker.source.decode_size
        sink = RerunSink(
            target,
            info,
            video_mode=tracker.video_mode,
            num_persons=args.num_poses,
            display_size=display,
            recording_name=Path(video).name,
        )
        exporter = LandmarkExporter(export, info.width, info.height) if export else None
        bar = tqdm(
            total=info.num_frames,
            unit="frame",
            disable=args.no_progress or not sys.stderr.isatty(),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        with sink, exporter or contextlib.nullcontext(), bar:
            for item in tracker:
                sink.log_poses(item.poses)
                sink.log_masks(item.poses)
                sink.log_frames(item.poses, item.jpegs)
                if exporter is not None:
                    exporter.write(item.poses)
                bar.update(len(item.poses))
        _summary(tracker, target, export)
    return 0


def _summary(tracker: Tracker, target: RerunTarget, export: Path | None) -> None:
    s = tracker.stats
    fps = s.frames / s.elapsed_s if s.elapsed_s > 0 else 0.0
    without = s.frames - s.frames_with_person
    parts = [f"{s.frames} frames", f"{without} without a person"]
    if s.decode_errors:
        parts.append(f"{s.decode_errors} skipped (decode errors)")
    line = f"{', '.join(parts)}; {fps:.1f} frames/s on {s.workers} worker(s), {s.delegate}"
    outputs = [str(p) for p in (target.save, export) if p is not None]
    if s.ended_early:
        logger.warning("%s: the file ended early; read %d frames", tracker.uri, s.frames)
    logger.info("%s -> %s", line, ", ".join(outputs) or "viewer")
    if target.save is not None:
        logger.info("open it with: rerun %s", target.save)

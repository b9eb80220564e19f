"""``fastpose run``: a tracker feeding the Rerun sink, the landmark export and a progress bar.

Everything that can fail before the first frame (output paths, the model, MediaPipe's libraries, the
input, an output that would overwrite an input, a viewer that does not answer) is checked before
any output is opened, so a failed run leaves no file behind. Once outputs are open, each batch
reaches all of them or none; they reach their final names only if the run finishes, and an error
or a signal keeps every frame processed so far under ``NAME.partial.SUFFIX``, named in its message.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from dataclasses import replace
from pathlib import Path

from fastpose.errors import FastposeError, ViewerError
from fastpose.export import check_export
from fastpose.landmarker import LandmarkerOptions
from fastpose.models import ResolvedModel, resolve_model
from fastpose.outputs import check_distinct, check_suffix, check_writable, free_name
from fastpose.parallel import DecodeOptions
from fastpose.record import Written, open_tracker, record
from fastpose.samples import resolve_sample
from fastpose.signals import Interrupted, SignalGuard
from fastpose.tracker import SmoothingOptions, Tracker, TrackOptions
from fastpose.viewer import RerunTarget, ServedViewer, check_target, check_url, has_display

logger = logging.getLogger(__name__)

EXIT_ERROR = 1


def _target(args: argparse.Namespace, video: str) -> RerunTarget:
    """Where the recording goes, checked: a writable ``.rrd`` path, a display for ``--spawn``, a
    well-formed URL where a viewer answers for ``--connect``."""
    if args.save is not None:
        return RerunTarget(save=check_suffix(args.save, (".rrd",), "--save"))
    if args.spawn or (args.connect is None and not args.serve and has_display()):
        return RerunTarget(spawn=True)
    if args.connect is not None:
        check_url(args.connect)
        return RerunTarget(connect=args.connect)
    if args.serve:
        return RerunTarget(serve=True)
    path = Path(video)
    default = (
        path.with_suffix(".rrd") if path.is_file() and os.access(path.parent, os.W_OK) else None
    )
    if default is None or args.video is None:  # the sample lives in the cache: write here instead
        default = Path.cwd() / f"{path.stem or 'fastpose'}.rrd"
    return RerunTarget(save=free_name(default))


def _check_outputs(
    target: RerunTarget, export: Path | None, video: str, args: argparse.Namespace
) -> None:
    """No output may be an input (the video, a model file) or the other output; then each must
    be writable. Checked before any work, so nothing is overwritten."""
    outputs = [("--save", target.save), ("--export", export)]
    outputs = [(what, Path(path)) for what, path in outputs if path is not None]
    inputs = [("the input video", Path(video)), ("the model", Path(args.model))]
    check_distinct(outputs, [(what, path) for what, path in inputs if path.is_file()])
    for _, path in outputs:
        check_writable(path, overwrite=args.overwrite)


def track_options(args: argparse.Namespace, model_path: Path) -> TrackOptions:
    """TrackOptions from the options ``fastpose run`` and ``fastpose batch`` share (one landmarker:
    each command sets its own ``workers``)."""
    require_gpu = getattr(args, "require_gpu", False)  # `run` only
    return TrackOptions(
        landmarker=LandmarkerOptions(
            model_path=model_path,
            num_poses=args.num_poses,
            min_detection_confidence=args.min_detection_confidence,
            min_presence_confidence=args.min_presence_confidence,
            min_tracking_confidence=args.min_tracking_confidence,
            segment=not args.no_segment,
            gpu=args.gpu or require_gpu,
        ),
        decode=DecodeOptions(fps=args.fps, inference_size=args.inference_size),
        smoothing=SmoothingOptions(method="none" if args.no_smooth else "one-euro"),
        max_frames=args.max_frames,
        require_gpu=require_gpu,
        video_mode=args.video_mode,
    )


def run(args: argparse.Namespace, guard: SignalGuard) -> int:
    video = args.video if args.video is not None else str(resolve_sample())
    target = _target(args, video)
    export = check_export(args.export, overwrite=args.overwrite) if args.export else None
    _check_outputs(target, export, video, args)
    check_target(target)
    model = resolve_model(args.model)
    options = replace(track_options(args, model.path), workers=args.workers)
    with contextlib.ExitStack() as stack:
        server = None
        if target.serve:
            server = stack.enter_context(ServedViewer(args.bind))
            target = RerunTarget(connect=server.grpc_url, serve=True)
            logger.info("web viewer: %s", server.web_url)
        code = _track(args, guard, video, target, export, model, options)
        if code or server is None:
            return code
        logger.info("tracking done; still serving %s until Ctrl-C", server.web_url)
        try:
            server.wait()
        except Interrupted:
            logger.info("stopped serving")
    return 0


def _track(
    args: argparse.Namespace,
    guard: SignalGuard,
    video: str,
    target: RerunTarget,
    export: Path | None,
    model: ResolvedModel,
    options: TrackOptions,
) -> int:
    written = Written()
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
            _summary(tracker, written, target)
    except Interrupted as exc:
        logger.error(
            "interrupted by %s after %d frames; %s", exc, written.frames, _kept(written, target)
        )
        return 128 + exc.signum
    except FastposeError as exc:
        if not written.frames or isinstance(exc, ViewerError):
            raise
        raise type(exc)(f"{exc}; after {written.frames} frames, {_kept(written, target)}") from exc
    return 0


def _kept(written: Written, target: RerunTarget) -> str:
    """Where the frames of an unfinished run are, and that no earlier file was replaced."""
    if written.frames == 0:
        return "no output was written"
    files = [str(path) for path in written.kept]
    where = ", ".join(reversed(files))  # closed last to first: the recording first
    if target.save is None:
        where = ", ".join([target.describe(), *reversed(files)])
    text = f"every frame processed so far is in {where}"
    if files:
        text += " (not under the final names: the run did not finish, no file was replaced)"
    return text


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


def _summary(tracker: Tracker, written: Written, target: RerunTarget) -> None:
    files = [str(path) for path in reversed(written.kept)]
    outputs = ", ".join(files if target.save is not None else [target.describe(), *files])
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
    if written.frames == 0:
        logger.warning("%s: no frame was read; no output was written", tracker.uri)
        return
    logger.info("%s -> %s", line, outputs)
    if target.save is not None:
        logger.info("open it with: rerun %s", target.save)

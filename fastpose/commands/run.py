"""``fastpose run``: the parsed arguments -> a run specification, a tracker feeding the sinks it
asks for, a progress bar and a last line.

Everything that can fail before the first frame (output paths, the model, MediaPipe's libraries, the
input, an output that would overwrite an input, a viewer that does not answer) is checked before
any output is opened, so a failed run leaves no file behind. Once outputs are open, each batch
reaches all of them or none; they reach their final names only if the run finishes, and an error
or a signal keeps every frame processed so far under ``NAME.partial.SUFFIX``, named in its message.
With no output named, the recording goes to a viewer (a display) or ``VIDEO.rrd``; naming any
output (``--export``, ``--save``, ``--spawn``, ``--connect``, ``--serve``) writes only those.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import shlex
import threading
from dataclasses import replace
from pathlib import Path

from fastpose.commands.parsed import outputs_from_args, track_options
from fastpose.errors import (
    FastposeError,
    InternalError,
    OutputError,
    ResumeError,
    ViewerError,
    internal_error,
)
from fastpose.models import ResolvedModel, resolve_model
from fastpose.outputs import check_distinct, check_suffix, check_writable, free_name
from fastpose.pipeline import Recorded, record, run_settings
from fastpose.resume import (
    Checkpoint,
    Journal,
    has_checkpoint,
    journal_folder,
    read_checkpoint,
)
from fastpose.samples import resolve_sample
from fastpose.signals import Interrupted, SignalGuard
from fastpose.spec import Outputs, RunSpec, build_sinks
from fastpose.target import RerunTarget
from fastpose.tracker import Tracker
from fastpose.viewer.abandoned import Abandoned
from fastpose.viewer.probe import check_target, check_url, has_display
from fastpose.viewer.serve import ServedViewer

logger = logging.getLogger(__name__)


def _target(args: argparse.Namespace, video: str) -> RerunTarget | None:
    """Where the recording goes, checked: a writable ``.rrd`` path, a display for ``--spawn``, a
    well-formed URL where a viewer answers for ``--connect``; None when only other outputs were
    asked for."""
    if args.save is not None:
        if Path(args.save).is_dir():
            raise OutputError(f"{args.save}: is a directory; --save takes a FILE.rrd path")
        return RerunTarget(save=check_suffix(args.save, (".rrd",), "--save"))
    if args.spawn:
        return RerunTarget(spawn=True)
    if args.connect is not None:
        check_url(args.connect)
        return RerunTarget(connect=args.connect)
    if args.serve:
        return RerunTarget(serve=True)
    if any(p is not None for p in (args.export, args.angles, args.trc, args.render)):
        return None  # a table (or a video...) was asked for, not a recording
    if has_display():
        return RerunTarget(spawn=True)
    path = Path(video)
    default = (
        path.with_suffix(".rrd") if path.is_file() and os.access(path.parent, os.W_OK) else None
    )
    if default is None or args.video is None:  # the sample lives in the cache: write here instead
        default = Path.cwd() / f"{path.stem or 'fastpose'}.rrd"
    return RerunTarget(save=free_name(default))


def _check_outputs(outputs: Outputs, video: str, model: str) -> None:
    """No output may be an input (the video, a model file) or another output; then each must
    be writable. Checked before any work, so nothing is overwritten."""
    files = outputs.files()
    inputs = [("the input video", Path(video)), ("the model", Path(model))]
    check_distinct(files, [(what, path) for what, path in inputs if path.is_file()])
    for _, path in files:
        check_writable(path, overwrite=outputs.overwrite)


def run_command(args: argparse.Namespace, guard: SignalGuard, abandoned: Abandoned) -> int:
    """``fastpose run``: 0 when the video was tracked into every output, 128+N on signal N; a
    recording stream given up on goes to ``abandoned``."""
    video = args.video if args.video is not None else str(resolve_sample())
    target = _target(args, video)
    outputs = outputs_from_args(args, target)
    _check_outputs(outputs, video, args.model)
    if target is not None:
        check_target(target)
        # Rerun loads (~0.5 s) in a thread while the tracker starts, which is mostly native work.
        threading.Thread(
            target=importlib.import_module, args=("fastpose.sinks.rerun",), daemon=True
        ).start()
    model = resolve_model(args.model)
    spec = RunSpec(track_options(args, model), outputs)
    with contextlib.ExitStack() as stack:
        server = None
        if target is not None and target.serve:
            server = stack.enter_context(ServedViewer(args.bind))
            served = RerunTarget(connect=server.grpc_url, serve=True)
            spec = replace(spec, outputs=replace(outputs, recording=served))
            logger.info("web viewer: %s", server.web_url)
        code = _track(args, guard, video, spec, model, abandoned)
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
    spec: RunSpec,
    model: ResolvedModel,
    abandoned: Abandoned,
) -> int:
    result = Recorded()
    files = [str(path) for _, path in spec.outputs.files()]
    folder = journal_folder(Path(files[0])) if files else None
    resumed = _resume_point(folder) if args.resume else None
    if folder is not None and resumed is None and has_checkpoint(folder):
        logger.warning("%s: starting again over an interrupted run's checkpoint", folder)
    journal = None if folder is None else Journal(folder, tuple(files), resumed=resumed)
    try:
        with Tracker(
            video,
            spec.options,
            start_frame=resumed.next_frame if resumed else 0,
            state=resumed.state if resumed else None,
        ) as tracker:
            _describe(tracker, model)
            if resumed is not None:
                _continue(resumed, tracker, spec, tuple(files))
            record(
                tracker,
                build_sinks(spec, abandoned=abandoned),
                guard=guard,
                progress=not args.no_progress,
                result=result,
                height=spec.outputs.height,
                journal=journal,
            )
            _summary(tracker, result)
    except Interrupted as exc:
        again = _how_to_continue(args, journal)
        logger.error(
            "interrupted by %s after %d frames; %s%s", exc, result.frames, _kept(result), again
        )
        return 128 + exc.signum
    except OutputError as exc:  # a write failed (a full disk): the files end where it did
        again = _how_to_continue(args, journal)
        if not result.frames:
            raise OutputError(f"{exc}; nothing kept") from exc
        raise OutputError(
            f"{exc}; after {result.frames} frames, {_cut_short(result)}{again}"
        ) from exc
    except FastposeError as exc:
        if not result.frames or isinstance(exc, ViewerError):
            raise
        again = _how_to_continue(args, journal)
        raise type(exc)(f"{exc}; after {result.frames} frames, {_kept(result)}{again}") from exc
    except Exception as exc:  # a fault (a bug): one line (fastpose.cli), what was written kept
        again = _how_to_continue(args, journal)
        written = f"after {result.frames} frames, {_kept(result)}{again}"
        raise InternalError(f"{internal_error(exc)}; {written}") from exc
    return 0


def _resume_point(folder: Path | None) -> Checkpoint:
    """The checkpoint ``--resume`` continues from, or :class:`ResumeError`."""
    if folder is None:
        raise ResumeError("--resume: continues a run that wrote files; no output file was named")
    checkpoint = read_checkpoint(folder)
    if checkpoint is None:
        raise ResumeError(
            f"--resume: nothing to resume (no checkpoint in {folder}); run without --resume"
        )
    return checkpoint


def _continue(resumed: Checkpoint, tracker: Tracker, spec: RunSpec, files: tuple[str, ...]) -> None:
    """Check that this run may continue ``resumed``, then remove its partial files (the
    journal holds what they did: they are written again, whole)."""
    settings = run_settings(tracker, spec.outputs.height)
    resumed.check(settings=settings, outputs=files, video=tracker.uri)
    for working in resumed.working:
        with contextlib.suppress(FileNotFoundError):
            Path(working).unlink()
    logger.info(
        "resuming at frame %d: %d frames already tracked", resumed.next_frame, resumed.frames
    )


def _how_to_continue(args: argparse.Namespace, journal: Journal | None) -> str:
    """The end of an interrupted run's message: the command that continues it, if it can be."""
    argv = list(getattr(args, "argv", []))
    if not argv or journal is None or not journal.saved_frames:
        return ""
    command = ["fastpose", *argv, *([] if "--resume" in argv else ["--resume"])]
    return f"; to continue it: {shlex.join(command)}"


def _cut_short(result: Recorded) -> str:
    """Where what a run whose write failed wrote is (each file up to its failed write)."""
    if not result.kept:
        return "nothing kept"
    return (
        f"kept what was written in {', '.join(map(str, result.kept))} (up to the failed write; "
        "not under the final names: no file was replaced)"
    )


def _streams(result: Recorded) -> list[str]:
    """The outputs that are not files (a viewer), by name."""
    return [
        s.describe()
        for s in result.sinks
        if getattr(getattr(s, "target", None), "save", "file") is None
    ]


def _kept(result: Recorded) -> str:
    """Where the frames of an unfinished run are, and that no earlier file was replaced."""
    if result.frames == 0:
        return "no output was written"
    files = [str(path) for path in result.kept]
    text = f"every frame processed so far is in {', '.join([*_streams(result), *files])}"
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


def _summary(tracker: Tracker, result: Recorded) -> None:
    outputs = ", ".join([*_streams(result), *map(str, result.kept)])
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
    if result.frames == 0:
        logger.warning("%s: no frame was read; no output was written", tracker.uri)
        return
    logger.info("%s -> %s", line, outputs)
    rrd = [p for p in result.kept if p.suffix == ".rrd"]
    if rrd and has_display():
        logger.info("open it with: rerun %s", rrd[0])
    elif rrd:  # the native viewer needs a screen: a browser on this machine or another does not
        logger.info(
            "no display here: view it in a browser with `rerun --serve-web %s` (or track with "
            "--serve), or copy it to a machine with a display and run `rerun %s`",
            rrd[0],
            rrd[0].name,
        )

"""The ``fastpose`` command line: ``fastpose run VIDEO``, ``fastpose batch INPUT... --out DIR``
and ``fastpose models list|fetch``.

The CLI is the only place that configures logging, silences MediaPipe's native stderr output and
handles signals; every error it knows ends in one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from fastpose import __version__
from fastpose.cores import default_workers
from fastpose.errors import (
    FastposeError,
    InternalError,
    ModelError,
    ModelUnavailableError,
    internal_error,
)
from fastpose.memory import limit_malloc_arenas, purge_mimalloc_at_once
from fastpose.model_names import MODEL_NAMES
from fastpose.native_log import NativeLog, quiet
from fastpose.signals import Interrupted, SignalGuard
from fastpose.viewer.abandoned import Abandoned

logger = logging.getLogger("fastpose")

#: The library's defaults (fastpose.options), repeated here only as help text: importing the
#: options would load MediaPipe for ``--help``.
_INFERENCE_HELP = (
    "long side of the frames inference sees (0 = native; default 640 for one person, 960 with "
    "--num-poses 2 or more)"
)
_RANGE_HELP = (
    "frames a landmarker's range holds at least (default 60): a video under twice as many "
    "runs one landmarker"
)
_HEIGHT_HELP = "the person's height, for speeds in m/s (else in px/s only)"
_WORKERS_HELP_RUN = (
    "landmarkers inferring in parallel, each a thread on its own range of frames "
    f"(default: the cores here, {default_workers()})"
)
_WORKERS_HELP_BATCH = (
    f"landmarkers at once, over all videos (default: the cores here, {default_workers()}; "
    "with --ray, the local runtime's CPUs)"
)
#: fastpose.spec.VIDEO_MODES, repeated: importing it would load MediaPipe for ``--help``.
VIDEO_MODES = ("auto", "asset", "stream", "jpeg", "none")
EXIT_ERROR = 1
#: A fault of fastpose itself (a bug): sysexits.h's EX_SOFTWARE.
EXIT_INTERNAL = 70


def _number(text: str, kind: type[int] | type[float], expected: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = _number(text, int, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _nonnegative_int(text: str) -> int:
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text, float, "a number > 0")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _unit_float(text: str) -> float:
    value = _number(text, float, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def _model_spec(text: str) -> str:
    looks_like_path = os.sep in text or "." in Path(text).name
    if text not in MODEL_NAMES and not looks_like_path:
        raise argparse.ArgumentTypeError(
            f"unknown model {text!r}: expected one of {', '.join(MODEL_NAMES)} "
            "or a path to a .task file"
        )
    return text


def _verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    help_v, help_q = "debug messages and MediaPipe's native logs", "only warnings and errors"
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help=help_v)
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help=help_q)


def add_track_options(
    parser: argparse.ArgumentParser, out: argparse._ArgumentGroup, *, workers_help: str
) -> argparse._ArgumentGroup:
    """The options ``run`` and ``batch`` share, declared once (each command adds its own): how
    to track (fastpose.options.TrackOptions) and the settings of the outputs (``--video-mode``,
    ``--height``, ``--overwrite``), parsed into one fastpose.spec.RunSpec. Returns the
    processing group, for the command's own processing options."""
    out.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs (batch: redo videos)"
    )
    out.add_argument(
        "--ik",
        action="store_true",
        help="also OpenSim scaling and inverse kinematics on the TRC: FILE_ik.mot (joint angles), "
        "FILE_ik_marker_errors.sto, FILE_scaled.osim (needs fastpose[opensim])",
    )
    out.add_argument(
        "--video-mode",
        choices=VIDEO_MODES,
        default="auto",
        help="frames in the recording: referenced from the MP4 (asset), an AV1 video stream, "
        "JPEG, or none (default: auto: the MP4 up to 64 MB, else the stream)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model", type=_model_spec, default="full", help="lite, full, heavy or a .task path"
    )
    model.add_argument("--gpu", action="store_true", help="use the GPU delegate when available")
    model.add_argument(
        "--require-gpu", action="store_true", help="fail instead of falling back to the CPU"
    )
    model.add_argument(
        "--num-poses", type=_positive_int, default=1, help="most persons per frame (default 1)"
    )
    model.add_argument("--min-detection-confidence", type=_unit_float, default=0.5, metavar="P")
    model.add_argument("--min-presence-confidence", type=_unit_float, default=0.5, metavar="P")
    model.add_argument("--min-tracking-confidence", type=_unit_float, default=0.5, metavar="P")
    model.add_argument("--no-segment", action="store_true", help="no segmentation masks")
    proc = parser.add_argument_group("processing")
    proc.add_argument(
        "--fps",
        type=_positive_float,
        help="frame i is at i/FPS seconds (ignore the container's times)",
    )
    proc.add_argument(
        "--max-frames", type=_positive_int, metavar="N", help="stop (each video) after N frames"
    )
    proc.add_argument("--inference-size", type=_nonnegative_int, metavar="PX", help=_INFERENCE_HELP)
    proc.add_argument("--workers", type=_positive_int, help=workers_help)
    proc.add_argument("--no-smooth", action="store_true", help="no landmark smoothing")
    proc.add_argument(
        "--no-cleaning",
        action="store_true",
        help="keep MediaPipe's left/right labels and glitches (no correction, no outlier filter)",
    )
    proc.add_argument("--height", type=_positive_float, metavar="METRES", help=_HEIGHT_HELP)
    proc.add_argument("--min-range-frames", type=_positive_int, metavar="N", help=_RANGE_HELP)
    proc.add_argument("--no-progress", action="store_true", help="no progress bar")
    return proc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastpose", description="Fast human pose tracking, shown in Rerun."
    )
    parser.add_argument("--version", action="version", version=f"fastpose {__version__}")
    _verbosity(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="track poses in a video and log them to Rerun")
    _verbosity(run, default=argparse.SUPPRESS)  # also after `run`, as the README shows them
    run.add_argument(
        "video",
        nargs="?",
        help="video file, image, camera index or stream URL (default: a sample clip)",
    )
    out = run.add_argument_group(
        "output (default: the viewer if there is a display, else VIDEO.rrd)"
    )
    dest = out.add_mutually_exclusive_group()
    dest.add_argument(
        "--save", type=Path, metavar="FILE.rrd", help="write a Rerun recording to FILE.rrd"
    )
    dest.add_argument("--spawn", action="store_true", help="stream to a new Rerun viewer")
    dest.add_argument(
        "--connect", metavar="URL", help="stream to a running viewer (rerun+http://HOST:PORT/proxy)"
    )
    dest.add_argument("--serve", action="store_true", help="serve a web viewer until Ctrl-C")
    out.add_argument(
        "--bind",
        metavar="ADDR",
        default="127.0.0.1",
        help="address --serve listens on (default 127.0.0.1: this machine only; 0.0.0.0: all)",
    )
    out.add_argument(
        "--export", type=Path, metavar="FILE", help="write landmarks to FILE.parquet or FILE.csv"
    )
    out.add_argument(
        "--angles",
        type=Path,
        action="append",
        metavar="FILE",
        help="write joint angles and speeds to FILE.parquet, FILE.csv or FILE.mot (OpenSim); "
        "give it twice for a table and a .mot",
    )
    out.add_argument(
        "--trc",
        type=Path,
        metavar="FILE.trc",
        help="write the 3D landmarks as OpenSim markers (FILE_<id>.trc with several people)",
    )
    out.add_argument(
        "--render",
        type=Path,
        metavar="FILE.mp4",
        help="write the video with every person's skeleton, id and main joint angles drawn",
    )
    out.add_argument(
        "--resume",
        action="store_true",
        help="continue the same command's run that was cut short (Ctrl-C, kill, full disk) "
        "from its last checkpoint, instead of starting again",
    )
    proc = add_track_options(run, out, workers_help=_WORKERS_HELP_RUN)
    proc.add_argument(
        "--ray", nargs="?", const=True, default=False, metavar="ADDRESS",
        help="run the video's frame ranges as Ray tasks: on a local runtime of --workers CPUs, "
        'or on the cluster at ADDRESS, whose nodes read VIDEO by the same path or URL (needs '
        'pip install "fastpose[ray]")',
    )  # fmt: skip
    run.set_defaults(func=_command("fastpose.commands.run", "run_command"))
    _add_batch(sub)

    models = sub.add_parser("models", help="list or provision pose models")
    msub = models.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="models in the cache").set_defaults(
        func=_command("fastpose.commands.models", "list_command")
    )
    fetch = msub.add_parser("fetch", help="download (or build) a model into the cache")
    fetch.add_argument("name", choices=MODEL_NAMES)
    fetch.set_defaults(func=_command("fastpose.commands.models", "fetch_command"))
    return parser


def _add_batch(sub: argparse._SubParsersAction) -> None:
    batch = sub.add_parser(
        "batch",
        help="track every video of a folder, list or pattern into DIR, locally or on Ray",
        description="Track many videos: DIR/<name>.rrd, DIR/<name>.parquet and DIR/summary.csv. "
        "Videos whose outputs exist are skipped. Exit 1 if any video failed.",
    )
    _verbosity(batch, default=argparse.SUPPRESS)
    batch.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="video files, folders, glob patterns, or @FILE (a list, one path a line)",
    )
    out = batch.add_argument_group("output")
    out.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for outputs")
    out.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="tables")
    out.add_argument(
        "--angles", action="store_true", help="also DIR/<name>.angles.parquet (or .csv)"
    )
    out.add_argument("--trc", action="store_true", help="also DIR/<name>.trc (OpenSim markers)")
    out.add_argument(
        "--render", action="store_true", help="also DIR/<name>.mp4 (the skeletons drawn)"
    )
    proc = add_track_options(batch, out, workers_help=_WORKERS_HELP_BATCH)
    proc.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    proc.add_argument(
        "--ray", nargs="?", const=True, default=False, metavar="ADDRESS",
        help="run each video as a Ray task: on a local runtime, or on the cluster at ADDRESS "
        '(needs pip install "fastpose[ray]")',
    )  # fmt: skip
    batch.set_defaults(func=_command("fastpose.commands.batch", "batch_command"))


Command = Callable[[argparse.Namespace, SignalGuard, Abandoned], int]


def _command(module: str, name: str) -> Command:
    """The command ``module.name``, imported when it runs: importing the commands loads MediaPipe,
    NumPy and PyArrow (~1 s, ``python -X importtime``), which ``fastpose --help`` doesn't need."""

    def command(args: argparse.Namespace, guard: SignalGuard, abandoned: Abandoned) -> int:
        return getattr(importlib.import_module(module), name)(args, guard, abandoned)

    return command


def configure_logging(verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fastpose: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[NativeLog]:
    """Keep file descriptor 2 (MediaPipe's glog, TFLite) off the terminal, its tail in memory for
    when a landmarker fails; Python's output (the log) keeps the real stderr."""
    real_stderr = sys.stderr
    with quiet() as native:
        _redirect_python_stderr(native.stderr)
        try:
            yield native
        finally:
            _redirect_python_stderr(real_stderr)


#: Failures of MediaPipe's native code whose log may say more than the exception (a missing
#: library or GPU has its own clear message).
NATIVE_FAILURES = (ModelError,)
#: glog / TFLite lines that explain nothing: info, warnings, stack frames.
_NOISE = re.compile(r"^\s*(?:[IW]\d{4} |INFO: |WARNING: |@ )")


def _show_native_tail(native: NativeLog | None, exc: BaseException, lines: int = 6) -> None:
    """The native log's last errors, before the error's line; those it quotes are left out."""
    said = str(exc)
    tail = [t for t in (native.tail(50) if native is not None else []) if not _NOISE.match(t)]
    tail = [t for t in tail if t.split("] ", 1)[-1].removeprefix("ERROR: ").strip() not in said]
    tail = tail[-lines:]
    if tail:
        logger.error("MediaPipe's last native log lines:\n%s", "\n".join(f"  {t}" for t in tail))


def _redirect_python_stderr(stream: TextIO) -> None:
    sys.stderr = stream
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def main(argv: list[str] | None = None) -> int:
    abandoned = Abandoned()  # the recording streams a command gave up on
    code = _main(argv, abandoned)
    if abandoned or code == EXIT_INTERNAL:
        # A viewer's stream stuck in Rerun's native code, or whatever a fault left waiting (a
        # thread, a native object the traceback holds): a normal exit would wait for it. The
        # outputs are closed already.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: list[str] | None, abandoned: Abandoned) -> int:
    faulthandler.enable(all_threads=True)  # a fatal signal's traceback (NativeLog re-aims it)
    limit_malloc_arenas()
    purge_mimalloc_at_once()  # before Rerun and pyarrow load
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command, to say how to resume
    configure_logging(args.verbose, args.quiet)
    silence = contextlib.nullcontext() if args.verbose else native_stderr_silenced()
    try:
        with SignalGuard() as guard, silence as native:
            try:
                return args.func(args, guard, abandoned)
            except NATIVE_FAILURES as exc:
                if not isinstance(exc, ModelUnavailableError):
                    _show_native_tail(native, exc)
                raise
    except Interrupted as exc:
        logger.error("interrupted by %s", exc)
        return 128 + exc.signum
    except InternalError as exc:
        return _report_fault(exc.__cause__ or exc, str(exc))
    except FastposeError as exc:
        logger.error("%s", exc)
        return EXIT_ERROR
    except Exception as exc:  # a fault outside a run's outputs
        return _report_fault(exc, internal_error(exc))


def _report_fault(exc: BaseException, line: str) -> int:
    """A fault of fastpose (a bug) in one line; its traceback only with ``-v``."""
    logger.debug("the traceback:", exc_info=exc)
    verbose = logger.isEnabledFor(logging.DEBUG)
    logger.error("%s; please report it%s", line, "" if verbose else " (-v shows the traceback)")
    return EXIT_INTERNAL

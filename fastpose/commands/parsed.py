"""The options ``fastpose run`` and ``fastpose batch`` share (declared once: fastpose.cli's
``add_track_options``), parsed into the one object both run: a fastpose.spec.RunSpec."""

from __future__ import annotations

import argparse

from fastpose.models import ResolvedModel, resolve_model
from fastpose.options import TrackOptions
from fastpose.spec import Outputs, RunSpec
from fastpose.target import RerunTarget


def outputs_from_args(args: argparse.Namespace, recording: RerunTarget | None) -> Outputs:
    """The outputs ``run`` or ``batch`` was asked for: the shared settings (``--video-mode``,
    ``--height``, ``--overwrite``) and, for ``run``, its paths (``batch`` maps each video's)."""
    paths = (
        {
            "landmarks": args.export,
            "angles": tuple(args.angles or ()),
            "trc": args.trc,
            "render": args.render,
        }
        if args.command == "run"
        else {}
    )
    return Outputs(
        recording=recording,
        video_mode=args.video_mode,
        height=args.height,
        overwrite=args.overwrite,
        ik=args.ik and args.command == "run",  # batch: each video's, with its TRC
        **paths,
    )


def track_options(args: argparse.Namespace, model: ResolvedModel) -> TrackOptions:
    """The tracking options ``fastpose run`` and ``fastpose batch`` share, parsed into the
    library's."""
    return TrackOptions.create(
        model=model,
        num_poses=args.num_poses,
        min_detection_confidence=args.min_detection_confidence,
        min_presence_confidence=args.min_presence_confidence,
        min_tracking_confidence=args.min_tracking_confidence,
        segment=not args.no_segment,
        gpu=args.gpu,
        require_gpu=args.require_gpu,
        fps=args.fps,
        max_frames=args.max_frames,
        inference_size=args.inference_size,
        workers=args.workers,
        smooth=not args.no_smooth,
        cleaning=not args.no_cleaning,
        verbose=args.verbose,
        **({"min_range_frames": args.min_range_frames} if args.min_range_frames else {}),
        ray=args.ray if args.command == "run" else False,  # batch --ray: its own (batching.ray)
    )


def spec_from_args(
    args: argparse.Namespace,
    recording: RerunTarget | None = None,
    model: ResolvedModel | None = None,
) -> RunSpec:
    """The one object ``run`` and ``batch`` parse their shared options into (``model``: the
    resolved ``--model``, resolved here if not given)."""
    outputs = outputs_from_args(args, recording)
    return RunSpec(track_options(args, model or resolve_model(args.model)), outputs)

"""One run, specified: :class:`RunSpec` (how to track, and the :class:`Outputs` asked for) and
:func:`build_sinks`, the one place the outputs are made from it.

``fastpose run`` parses its arguments into a RunSpec, ``fastpose batch`` maps each video's
``DIR/<name>.*`` paths into one (see fastpose.batching.job), and ``fastpose.track`` takes one, or
the same keywords (:meth:`RunSpec.create`). To add an output: a sink module (fastpose.sinks) and
one line in :func:`build_sinks`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastpose.errors import DependencyError, OutputError
from fastpose.ik import opensim_missing
from fastpose.options import TrackOptions
from fastpose.outputs import check_suffix
from fastpose.sinks.angles import angles_sink
from fastpose.sinks.base import Sink
from fastpose.sinks.landmarks import LandmarkTable
from fastpose.sinks.opensim import TrcWriter
from fastpose.sinks.render import VideoRenderer
from fastpose.target import RerunTarget
from fastpose.viewer.abandoned import Abandoned

#: Where the landmark table and the measures may go.
EXPORT_FORMATS = (".parquet", ".csv")
ANGLES_FORMATS = (".parquet", ".csv", ".mot")
VIDEO_MODES = ("auto", "asset", "stream", "jpeg", "none")
VideoModeChoice = Literal["auto", "asset", "stream", "jpeg", "none"]


def _path(value: str | os.PathLike | None) -> Path | None:
    return None if value is None else Path(value)


@dataclass(frozen=True)
class Outputs:
    """What to write: the recording (``recording``, its frames as ``video_mode`` says), the
    landmark table (``landmarks``), the joint angles and speeds (``angles``: a ``.parquet`` or
    ``.csv`` table, a ``.mot`` file, or both), OpenSim markers (``trc``; with ``ik``, OpenSim's
    scaling and inverse kinematics on them too: fastpose.ik), the drawn video (``render``);
    ``height`` (metres) adds speeds in m/s; existing files are replaced only with ``overwrite``.
    Checked on creation (suffixes, OpenSim for ``ik``), before any model is loaded."""

    recording: RerunTarget | None = None
    video_mode: VideoModeChoice = "auto"
    landmarks: Path | None = None
    angles: tuple[Path, ...] = ()
    trc: Path | None = None
    render: Path | None = None
    height: float | None = None
    overwrite: bool = False
    ik: bool = False

    def __post_init__(self) -> None:
        angles = tuple(Path(p) for p in self.angles)
        object.__setattr__(self, "angles", angles)
        for name in ("landmarks", "trc", "render"):
            object.__setattr__(self, name, _path(getattr(self, name)))
        if self.video_mode not in VIDEO_MODES:
            raise ValueError(
                f"video_mode: expected one of {', '.join(VIDEO_MODES)}, got {self.video_mode!r}"
            )
        if self.height is not None and not self.height > 0:
            raise ValueError(f"height: expected a number > 0 (metres), got {self.height}")
        if self.landmarks is not None:
            check_suffix(self.landmarks, EXPORT_FORMATS, "--export")
        for path in angles:
            check_suffix(path, ANGLES_FORMATS, "--angles")
        kinds = ["a .mot file" if p.suffix.lower() == ".mot" else "a table" for p in angles]
        if len(set(kinds)) != len(kinds):
            raise OutputError(
                f"--angles: expected one table (.parquet or .csv) and one .mot at most, got "
                f"{', '.join(map(str, angles))}"
            )
        if self.trc is not None:
            check_suffix(self.trc, (".trc",), "--trc")
        if self.ik:
            if self.trc is None:
                raise OutputError("--ik: expected --trc FILE.trc too (IK solves its markers)")
            if missing := opensim_missing():
                raise DependencyError(missing)
        if self.render is not None:
            check_suffix(self.render, (".mp4",), "--render")

    def files(self) -> list[tuple[str, Path]]:
        """The files asked for, as (option, path): the recording's first if it goes to a file."""
        save = self.recording.save if self.recording is not None else None
        given: list[tuple[str, Path | None]] = [
            ("--save", save),
            ("--export", self.landmarks),
            *(("--angles", p) for p in self.angles),
            ("--trc", self.trc),
            ("--render", self.render),
        ]
        return [(what, Path(path)) for what, path in given if path is not None]


@dataclass(frozen=True)
class RunSpec:
    """One run: how to track (``options``) and the outputs asked for (``outputs``)."""

    options: TrackOptions
    outputs: Outputs = Outputs()

    @classmethod
    def create(
        cls,
        *,
        save: str | os.PathLike | None = None,
        recording: RerunTarget | None = None,
        video_mode: VideoModeChoice = "auto",
        export: str | os.PathLike | None = None,
        angles: str | os.PathLike | tuple[str | os.PathLike, ...] | list[Any] = (),
        trc: str | os.PathLike | None = None,
        render: str | os.PathLike | None = None,
        height: float | None = None,
        overwrite: bool = False,
        ik: bool = False,
        options: TrackOptions | None = None,
        **keywords: Any,
    ) -> RunSpec:
        """A spec from keywords named like ``fastpose run``'s options: the outputs (``save``
        a ``.rrd`` path, or a ``recording`` target; ``export``, ``angles`` (one path or
        several), ``trc``, ``ik``, ``render``, ``video_mode``, ``height``, ``overwrite``) and how to
        track (``options``, or :meth:`TrackOptions.create`'s keywords: ``num_poses``...)."""
        if options is not None and keywords:
            raise TypeError(f"RunSpec: pass options or keywords, got both ({', '.join(keywords)})")
        if save is not None and recording is not None:
            raise TypeError("RunSpec: pass save or recording, not both")
        if save is not None:
            recording = RerunTarget(save=Path(save))
        if isinstance(angles, str | os.PathLike):
            angles = (angles,)
        outputs = Outputs(
            recording=recording,
            video_mode=video_mode,
            landmarks=_path(export),
            angles=tuple(Path(p) for p in angles),
            trc=_path(trc),
            render=_path(render),
            height=height,
            overwrite=overwrite,
            ik=ik,
        )
        return cls(options if options is not None else TrackOptions.create(**keywords), outputs)

    def settings(self) -> dict[str, str]:
        """What every output records of how it was asked for (the tracking options' settings
        and the person's height); the tracker replaces what it ran differently (fastpose.tracker,
        ``Tracker.settings``)."""
        return {**self.options.settings(), "height_m": height_setting(self.outputs.height)}


def height_setting(height: float | None) -> str:
    """The person's height as the outputs record it."""
    return f"{height:g}" if height is not None else "none"


def build_sinks(spec: RunSpec | Outputs, *, abandoned: Abandoned | None = None) -> list[Sink]:
    """The sinks writing the outputs ``spec`` asks for, the recording first: the one place every
    way of running fastpose (``run``, ``batch`` locally and on Ray, ``fastpose.track``) makes
    its outputs. A recording stream given up on goes to ``abandoned`` (fastpose.viewer.stream:
    the CLI's, which ends the process at once then). Rerun's module (~0.5 s to import, measured
    with ``-X importtime``) loads here only when a recording is asked for."""
    spec = spec.outputs if isinstance(spec, RunSpec) else spec
    sinks: list[Sink] = []
    if spec.recording is not None:
        from fastpose.sinks.rerun import RerunRecording  # Rerun: only when recording

        recording = RerunRecording(spec.recording, video_mode=spec.video_mode, abandoned=abandoned)
        sinks.append(recording)
    if spec.landmarks is not None:
        sinks.append(LandmarkTable(spec.landmarks))
    sinks += [angles_sink(path) for path in spec.angles]
    if spec.trc is not None:
        on_ik = None
        if spec.ik and spec.recording is not None:
            from fastpose.ik.viewer import ik_logger  # Rerun: only when recording
            from fastpose.sinks.rerun_layout import blueprint

            on_ik = ik_logger(recording, layout=blueprint)
        sinks.append(TrcWriter(spec.trc, ik=spec.ik, on_ik=on_ik))
    if spec.render is not None:
        sinks.append(VideoRenderer(spec.render))
    return sinks


__all__ = ["ANGLES_FORMATS", "EXPORT_FORMATS", "Outputs", "RunSpec", "build_sinks"]

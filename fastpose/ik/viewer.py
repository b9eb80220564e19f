"""IK's joint angles in the Rerun recording: each coordinate in degrees as a time series at
``ik/<coordinate>`` (``ik/track_<id>/<coordinate>`` with several people), and the markers' RMS
error (mm) at ``ik/marker_error_rms_mm``, on the ``time`` and ``frame_idx`` timelines the other
measures use. IK runs when the TRC is complete, at the run's end, before the recording closes
(the recording sink is the first made, so the last closed): the series arrive then, and the
layout is sent again with a view of the main joints' IK series (``layout``: the default
blueprint with them, fastpose.sinks.rerun_layout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from fastpose.ik import IkResult

#: The IK coordinates the default layout plots, per person (each a series of its own).
MAIN_COORDINATES = tuple(
    f"{joint}_{side}"
    for joint in ("hip_flexion", "knee_angle", "ankle_angle", "arm_flex", "elbow_flex")
    for side in "rl"
)

#: A blueprint from the run's pose count and the IK series to plot (entity paths).
Layout = Callable[[int, list[str]], rrb.Blueprint]


def ik_path(coordinate: str, track: int, single_person: bool) -> str:
    return f"ik/{coordinate}" if single_person else f"ik/track_{track}/{coordinate}"


def log_ik(rec: rr.RecordingStream, track: int, tracks: int, result: IkResult) -> list[str]:
    """``result``'s rotations (degrees) and marker errors as series, one entity each; the paths
    of its :data:`MAIN_COORDINATES`."""
    single = tracks == 1
    indexes = [
        rr.TimeColumn("time", duration=result.time_s),
        rr.TimeColumn("frame_idx", sequence=result.frame_idx),
    ]
    series = [
        (name, result.values[:, k])
        for k, (name, unit) in enumerate(zip(result.coordinates, result.units, strict=True))
        if unit == "deg"
    ]
    series.append(("marker_error_rms_mm", result.marker_rms * 1000.0))
    for name, values in series:
        path = ik_path(name, track, single)
        label = f"IK {name}" + ("" if single else f", person {track}")
        rec.log(path, rr.SeriesLines(names=[label], widths=[1.0]), static=True)
        rec.send_columns(
            path, indexes=indexes, columns=rr.Scalars.columns(scalars=np.asarray(values))
        )
    logged = {name for name, _ in series}
    return [ik_path(c, track, single) for c in MAIN_COORDINATES if c in logged]


def ik_logger(recording: Any, layout: Layout | None = None):
    """A TrcWriter's ``on_ik`` logging into ``recording`` (a sink with a ``rec`` stream, None
    once closed, and ``num_persons``); with ``layout``, the blueprint it makes with the main IK
    series of every track solved so far is sent after each track's."""
    plotted: list[str] = []

    def on_ik(track: int, tracks: int, result: IkResult) -> None:
        if recording.rec is None:
            return
        plotted.extend(log_ik(recording.rec, track, tracks, result))
        if layout is not None and plotted:
            recording.rec.send_blueprint(layout(recording.num_persons, list(plotted)))

    return on_ik

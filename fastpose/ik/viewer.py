"""IK's joint angles in the Rerun recording: each coordinate in degrees as a time series at
``ik/<coordinate>`` (``ik/track_<id>/<coordinate>`` with several people), and the markers' RMS
error (mm) at ``ik/marker_error_rms_mm``, on the ``time`` and ``frame_idx`` timelines the other
measures use. IK runs when the TRC is complete, at the run's end, before the recording closes
(the recording sink is the first made, so the last closed): the series arrive then."""

from __future__ import annotations

from typing import Any

import numpy as np
import rerun as rr

from fastpose.ik import IkResult


def ik_path(coordinate: str, track: int, single_person: bool) -> str:
    return f"ik/{coordinate}" if single_person else f"ik/track_{track}/{coordinate}"


def log_ik(rec: rr.RecordingStream, track: int, tracks: int, result: IkResult) -> None:
    """``result``'s rotations (degrees) and marker errors as series, one entity each."""
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


def ik_logger(recording: Any):
    """A TrcWriter's ``on_ik`` logging into ``recording`` (a sink with a ``rec`` stream, None
    once closed)."""

    def on_ik(track: int, tracks: int, result: IkResult) -> None:
        if recording.rec is not None:
            log_ik(recording.rec, track, tracks, result)

    return on_ik

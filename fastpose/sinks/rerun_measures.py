"""The measures in a Rerun recording: angles and speeds as time series, one entity per track and
measure, sent as columns (``rec.send_columns``) on the ``time`` and ``frame_idx`` timelines.

Paths: ``angles/track_<id>/<name>`` and ``speeds/track_<id>/<name>`` (``angles/<name>`` with
one person), the name with spaces as underscores (``angles/track_1/right_knee``); the series keep
the measure's own name (``right knee``) in the legend. A speed is logged in m/s when the run
knows the person's height, else in px/s. A missing value is sent as NaN, and so is the frame a
person leaves: the viewer breaks the line there (it joins the points it is given with straight
lines, so left-out values drew a line across every gap).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from fastpose.measures.batch import MeasureBatch
from fastpose.measures.definitions import DEG, M_S, PX_S

#: What the measures' view shows by default: the main joints' angles.
MAIN_ANGLES = ("right knee", "left knee", "right hip", "left hip", "right elbow", "left elbow")
#: Series colours (RGB): the right side in warm hues, the left in cool ones, a hue a joint;
#: the rest grey.
SERIES_COLOURS = {
    "right knee": (230, 50, 50),
    "right hip": (255, 150, 40),
    "right elbow": (230, 70, 170),
    "left knee": (50, 110, 240),
    "left hip": (40, 200, 230),
    "left elbow": (140, 90, 240),
}
_SIDES = {"right": (230, 110, 90), "left": (90, 140, 230)}
_OTHER = (160, 160, 160)


def _part(name: str) -> str:
    return name.replace(" ", "_")


def _root(unit: str) -> str:
    return "angles" if unit == DEG else "speeds"


def measure_path(name: str, unit: str, track: int, single_person: bool) -> str:
    """The entity path of measure ``name`` of ``track``."""
    if single_person:
        return f"{_root(unit)}/{_part(name)}"
    return f"{_root(unit)}/track_{track}/{_part(name)}"


def _logged(names: tuple[str, ...], units: tuple[str, ...]) -> list[int]:
    """Which measures go to the recording: every angle, and each speed once (m/s if there)."""
    metric = {n for n, u in zip(names, units, strict=True) if u == M_S}
    return [
        m
        for m, (n, u) in enumerate(zip(names, units, strict=True))
        if u in (DEG, M_S) or (u == PX_S and n not in metric)
    ]


def log_measure_styles(
    rec: rr.RecordingStream,
    names: tuple[str, ...],
    units: tuple[str, ...],
    tracks: Iterable[int],
    *,
    single_person: bool,
) -> None:
    """Static line styles (legend name, colour by side) for the measures of ``tracks``; call it
    when tracks first appear (static data can be sent again at no harm)."""
    for track in tracks:
        for m in _logged(names, units):
            name, unit = names[m], units[m]
            colour = SERIES_COLOURS.get(name, _SIDES.get(name.split(" ")[0], _OTHER))
            label = name if unit == DEG else f"{name} ({unit})"
            if not single_person:
                label = f"{label}, person {track}"
            rec.log(
                measure_path(name, unit, track, single_person),
                rr.SeriesLines(colors=[colour], names=[label], widths=[1.5]),
                static=True,
            )


def log_measures(
    rec: rr.RecordingStream,
    measures: MeasureBatch,
    single_person: bool,
    previous: Collection[int] = (),
) -> set[int]:
    """Each track's angles and speeds of one batch as ``rr.Scalars`` columns: the frames it is in
    (NaN where a value is missing) and a NaN at each frame it leaves, so the plot shows the gaps.
    ``previous``: the tracks in the frame before this batch (what the last call returned); returns
    the tracks in the batch's last frame."""
    ids = measures.track_ids
    if single_person:  # one series whatever the track's id
        ids = np.where(ids >= 0, 0, -1)
    if len(measures) == 0:
        return set(previous)
    logged = _logged(measures.names, measures.units)
    for track in sorted(set(np.unique(ids[ids >= 0]).tolist()) | set(previous)):
        hits = ids == track
        here = hits.any(axis=1)
        gone = np.concatenate([[track in previous], here[:-1]]) & ~here
        frames = np.flatnonzero(here | gone)
        if len(frames) == 0:
            continue
        slots = np.argmax(hits[frames], axis=1)
        values = np.where(here[frames, None], measures.values[frames, slots], np.nan)  # (n, M)
        indexes = [
            rr.TimeColumn("time", duration=measures.time_s[frames]),
            rr.TimeColumn("frame_idx", sequence=measures.frame_idx[frames]),
        ]
        for m in logged:
            if not (np.isfinite(values[:, m]).any() or gone.any() or track in previous):
                continue  # a track just seen: no series of NaN only
            rec.send_columns(
                measure_path(measures.names[m], measures.units[m], track, single_person),
                indexes=indexes,
                columns=rr.Scalars.columns(scalars=values[:, m]),
            )
    return set(ids[-1][ids[-1] >= 0].tolist())


def measures_view(
    tracks: Iterable[int] = (), *, single_person: bool = False, name: str = "Joint angles"
) -> rrb.TimeSeriesView:
    """A time-series view of the knees', hips' and elbows' angles of ``tracks`` (Rerun's queries
    take no wildcard inside a path, so the view names each track's entities: send the blueprint
    again when tracks appear). With no tracks yet, every angle."""
    tracks = list(tracks)
    if single_person:
        contents = [measure_path(n, DEG, 0, True) for n in MAIN_ANGLES]
    elif tracks:
        contents = [measure_path(n, DEG, t, False) for t in tracks for n in MAIN_ANGLES]
    else:
        contents = ["angles/**"]
    return rrb.TimeSeriesView(origin="/", contents=contents, name=name)

"""The measures in a Rerun recording: each track's angles as one multi-series time series, its
speeds as another, sent as columns (``rec.send_columns``: one call per track and kind per flush)
on the ``time`` and ``frame_idx`` timelines.

Paths: ``angles/track_<id>`` and ``speeds/track_<id>`` (``angles`` and ``speeds`` with one
person): one ``Scalars`` row per frame holds every measure of the kind, in the order of
:func:`series`; the static ``SeriesLines`` names each series (``right knee``; ``hips speed (m/s)``)
and colours it. One entity per kind keeps the recording's chunks few (a chunk per measure made
~3 chunks a frame, and a file's index keeps ~2 KB per chunk in memory until it closes). A speed
is logged in m/s when the run knows the person's height, else in px/s. A missing value is sent
as NaN, and so is the frame a person leaves: the viewer breaks the line there (it joins the
points it is given with straight lines, so left-out values drew a line across every gap).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from fastpose.measures import angles2d, angles3d
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
KINDS = ("angles", "speeds")


def _kind(unit: str) -> str:
    return "angles" if unit == DEG else "speeds"


def measures_path(kind: str, track: int, single_person: bool) -> str:
    """The entity path of ``track``'s ``kind`` ("angles" or "speeds")."""
    return kind if single_person else f"{kind}/track_{track}"


def series(names: tuple[str, ...], units: tuple[str, ...], kind: str) -> list[int]:
    """The measures (indices into ``names``) that are ``kind``'s series, in their order, the
    main joints' first (the legend lists them first): every angle; each speed once (m/s if
    there, else px/s)."""
    metric = {n for n, u in zip(names, units, strict=True) if u == M_S}
    chosen = [
        m
        for m, (n, u) in enumerate(zip(names, units, strict=True))
        if _kind(u) == kind and (u in (DEG, M_S) or (u == PX_S and n not in metric))
    ]
    return sorted(chosen, key=lambda m: names[m] not in MAIN_ANGLES)


def series_label(name: str, unit: str) -> str:
    """A series' legend name: the angle's name, a speed's with its unit."""
    return name if unit == DEG else f"{name} ({unit})"


def log_measure_styles(
    rec: rr.RecordingStream,
    names: tuple[str, ...],
    units: tuple[str, ...],
    tracks: Iterable[int],
    *,
    single_person: bool,
) -> None:
    """Static line styles (legend names, colours by side) of the series of ``tracks``; call it
    when tracks first appear (static data can be sent again at no harm)."""
    for track in tracks:
        for kind in KINDS:
            chosen = series(names, units, kind)
            if not chosen:
                continue
            labels = [series_label(names[m], units[m]) for m in chosen]
            if not single_person:
                labels = [f"{label}, person {track}" for label in labels]
            colours = [
                SERIES_COLOURS.get(names[m], _SIDES.get(names[m].split(" ")[0], _OTHER))
                for m in chosen
            ]
            rec.log(
                measures_path(kind, track, single_person),
                rr.SeriesLines(colors=colours, names=labels, widths=[1.5] * len(chosen)),
                static=True,
            )


def log_measures(
    rec: rr.RecordingStream,
    measures: MeasureBatch,
    single_person: bool,
    previous: Collection[int] = (),
) -> set[int]:
    """Each track's angles and speeds of a run of frames as two ``rr.Scalars`` columns (a row a
    frame, a value a series): the frames it is in (NaN where a value is missing) and a NaN row
    at each frame it leaves, so the plot shows the gaps. ``previous``: the tracks in the frame
    before these (what the last call returned); returns the tracks in the last frame."""
    ids = measures.track_ids
    if single_person:  # one series whatever the track's id
        ids = np.where(ids >= 0, 0, -1)
    if len(measures) == 0:
        return set(previous)
    kinds = [(k, series(measures.names, measures.units, k)) for k in KINDS]
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
        for kind, chosen in kinds:
            if not chosen:
                continue
            block = values[:, chosen]
            if not (np.isfinite(block).any() or gone.any() or track in previous):
                continue  # a track just seen: no rows of NaN only
            rec.send_columns(
                measures_path(kind, track, single_person),
                indexes=indexes,
                columns=rr.Scalars.columns(scalars=block.reshape(-1)).partition(
                    np.full(len(frames), len(chosen))
                ),
            )
    return set(ids[-1][ids[-1] >= 0].tolist())


#: The angles the measurer gives, in its order (every angle is in degrees).
ANGLE_NAMES = angles2d.NAMES + angles3d.NAMES


def main_series() -> list[bool]:
    """Which of the angles' series are the main joints' (the default view shows those)."""
    order = series(ANGLE_NAMES, (DEG,) * len(ANGLE_NAMES), "angles")
    return [ANGLE_NAMES[m] in MAIN_ANGLES for m in order]


def measures_view(
    tracks: Iterable[int] = (),
    *,
    single_person: bool = False,
    shown: list[bool] | None = None,
    name: str = "Joint angles",
) -> rrb.TimeSeriesView:
    """A time-series view of the angles of ``tracks`` (Rerun's queries take no wildcard inside a
    path, so the view names each track's entity: send the blueprint again when tracks appear),
    showing the series ``shown`` marks (by default the main joints': :func:`main_series`). With
    no tracks yet, every track's angles."""
    tracks = list(tracks)
    if single_person:
        contents = [measures_path("angles", 0, True)]
    elif tracks:
        contents = [measures_path("angles", t, False) for t in tracks]
    else:
        contents = ["angles/**"]
    overrides = None
    shown = main_series() if shown is None else shown
    if "angles/**" not in contents:
        only = rr.SeriesLines.from_fields(visible_series=shown)
        overrides = {path: only for path in contents}
    return rrb.TimeSeriesView(origin="/", contents=contents, name=name, overrides=overrides)


def concat_measures(batches: list[MeasureBatch]) -> MeasureBatch:
    """Consecutive measure batches as one (the same measures, the same person slots)."""
    return MeasureBatch.concat(batches)

"""Per-track rows for the measure and marker files: every frame of a track's lifetime, short gaps
filled, streamed with a delay of ``max_gap`` frames.

A track's rows run from the first frame it is seen to the last: frames in between where its person
was not found come out as NaN rows (written when the person is found again, so a track that ends
gets no rows past its last frame). Per column, a run of NaN of up to ``max_gap`` frames between
two values is filled by linear interpolation in time (on the circle for angles, given a
``period``) and flagged; longer runs stay NaN. A row is final once ``max_gap`` newer rows of its
track exist (or the track has been away that long), so memory stays at ``max_gap`` rows a track,
and a track away longer than :data:`REMEMBER_FRAMES` frames is forgotten (an hour of people coming
and going keeps only the recent ones, and a frame's work does not grow with the video).
Columns of ``extra`` (flags: the side measured from, replaced landmarks) ride along with their
rows as they are: never interpolated, NaN on the rows of frames the person was not found.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

#: Gaps of up to this many frames are interpolated (Sports2D's ``interp_gap_smaller_than``: 10).
MAX_GAP = 10
#: Frames remembered to give a returning track's gap its frame numbers and times (a track away
#: longer gets rows from its return on; identities end tracks after a second).
REMEMBER_FRAMES = 4096


@dataclass
class Rows:
    """Final rows of one track: (n,) frames and times, (n, M) values and which were filled."""

    track: int
    frame_idx: NDArray[np.int64]
    time_s: NDArray[np.float64]
    values: NDArray[np.float64]
    interpolated: NDArray[np.bool_]
    extra: NDArray[np.float64] | None = None  # (n, E) the ``extra`` columns as pushed


@dataclass
class _Track:
    m: int
    last_frame: int = -1  # counter of the frame it was last seen in
    pending: deque = field(default_factory=deque)  # [frame, time, values, interpolated]
    out: list = field(default_factory=list)
    last_value: NDArray[np.float64] = None  # per column: last non-NaN value
    last_time: NDArray[np.float64] = None
    run: NDArray[np.int64] = None  # per column: NaN rows since it

    def __post_init__(self) -> None:
        self.last_value = np.full(self.m, np.nan)
        self.last_time = np.full(self.m, np.nan)
        self.run = np.zeros(self.m, dtype=np.int64)


class TrackRows:
    """Turns batches of per-slot values into final per-track rows (see the module's doc).

    ``periods`` (M,): 0 for a linear column, else the period its values wrap with (360 or 180
    degrees).
    """

    def __init__(self, periods: NDArray[np.float64], max_gap: int = MAX_GAP) -> None:
        self.periods = np.asarray(periods, dtype=np.float64)
        self.max_gap = max_gap
        self.tracks: dict[int, _Track] = {}
        self.frames: deque[tuple[int, float]] = deque(maxlen=REMEMBER_FRAMES)
        self.counter = -1  # of frames seen
        self.extra = 0  # extra columns

    def push(
        self,
        frame_idx: NDArray[np.int64],
        time_s: NDArray[np.float64],
        ids: NDArray[np.int32],
        values: NDArray[np.float64],
        extra: NDArray[np.float64] | None = None,
    ) -> list[Rows]:
        """Rows made final by these frames: ``ids`` (T, P), ``values`` (T, P, M), ``extra``
        (T, P, E) columns carried as they are (the same E in every push)."""
        if extra is not None:
            self.extra = extra.shape[2]
        for f in range(len(frame_idx)):
            self.counter += 1
            frame, t = int(frame_idx[f]), float(time_s[f])
            self.frames.append((frame, t))
            for k in np.flatnonzero(ids[f] >= 0):
                track = self.tracks.setdefault(int(ids[f, k]), _Track(len(self.periods)))
                away = self.counter - track.last_frame - 1
                if track.last_frame >= 0 and 0 < away < len(self.frames):
                    nan = np.full(len(self.periods), np.nan)
                    for gap_frame, gap_t in list(self.frames)[-away - 1 : -1]:
                        self._add(track, gap_frame, gap_t, nan, np.full(self.extra, np.nan))
                more = None if extra is None else extra[f, k].astype(np.float64)
                self._add(track, frame, t, values[f, k].astype(np.float64), more)
                track.last_frame = self.counter
            for track in self.tracks.values():
                if track.pending and self.counter - track.last_frame > self.max_gap:
                    track.out.extend(track.pending)
                    track.pending.clear()
        rows = self._collect()
        self._forget()
        return rows

    def _forget(self) -> None:
        """Drop the tracks away for as long as frames are remembered: their rows are out, and
        one coming back gets rows from its return on, as it would if kept."""
        gone = [
            tid
            for tid, track in self.tracks.items()
            if self.counter - track.last_frame >= REMEMBER_FRAMES and not track.pending
        ]
        for tid in gone:
            del self.tracks[tid]

    def finish(self) -> list[Rows]:
        """Every row still held: the tracks' last ``max_gap`` rows."""
        for track in self.tracks.values():
            track.out.extend(track.pending)
            track.pending.clear()
        return self._collect()

    def _add(
        self,
        track: _Track,
        frame: int,
        t: float,
        v: NDArray[np.float64],
        extra: NDArray[np.float64] | None = None,
    ) -> None:
        good = ~np.isnan(v)
        fill = good & (track.run > 0) & (track.run <= self.max_gap) & ~np.isnan(track.last_value)
        for col in np.flatnonzero(fill):
            n, t0, v0 = track.run[col], track.last_time[col], track.last_value[col]
            period = self.periods[col]
            delta = v[col] - v0
            if period:
                delta = (delta + period / 2) % period - period / 2
            for row in list(track.pending)[-n:]:
                x = v0 + delta * (row[1] - t0) / (t - t0)
                row[2][col] = (x + period / 2) % period - period / 2 if period else x
                row[3][col] = True
        track.last_value = np.where(good, v, track.last_value)
        track.last_time = np.where(good, t, track.last_time)
        track.run = np.where(good, 0, track.run + 1)
        more = np.full(self.extra, np.nan) if extra is None else extra
        track.pending.append([frame, t, v.copy(), np.zeros(len(v), dtype=bool), more])
        while len(track.pending) > self.max_gap:
            track.out.append(track.pending.popleft())

    def _collect(self) -> list[Rows]:
        rows = []
        for tid, track in self.tracks.items():
            if not track.out:
                continue
            out, track.out = track.out, []
            rows.append(
                Rows(
                    tid,
                    np.array([r[0] for r in out], dtype=np.int64),
                    np.array([r[1] for r in out], dtype=np.float64),
                    np.stack([r[2] for r in out]),
                    np.stack([r[3] for r in out]),
                    np.stack([r[4] for r in out]) if self.extra else None,
                )
            )
        return rows


def unfilled(rows: Rows, unmeasured: NDArray[np.bool_]) -> tuple[NDArray, NDArray[np.bool_]]:
    """``rows``' values and ``interpolated`` flags with the ``unmeasured`` ones (n, M: values that
    can't be measured, MeasureBatch.unmeasured) NaN again and not flagged as filled: a gap is
    interpolated, an unmeasurable value never."""
    return np.where(unmeasured, np.nan, rows.values), rows.interpolated & ~unmeasured

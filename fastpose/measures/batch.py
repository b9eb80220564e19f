"""Measures of consecutive frames as arrays: what the pipeline hands to the sinks that want them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fastpose.measures.definitions import UNITS, period


def _expect(ok: bool, what: str, expected: str, got: object) -> None:
    if not ok:
        raise ValueError(f"{what}: expected {expected}, got {got}")


@dataclass(frozen=True)
class MeasureBatch:
    """Angles and speeds of consecutive frames, per person slot.

    ``values[t, p, m]`` is measure ``names[m]`` in ``units[m]`` for the person in slot ``p`` of
    frame ``t``, whose track id is ``track_ids[t, p]`` (-1: an empty slot, all NaN). NaN wherever a
    point the measure needs is missing or not visible enough. A name may come twice with two
    units (a speed in px/s and in m/s); a (name, unit) pair only once.
    """

    frame_idx: NDArray[np.int64]  # (T,)
    time_s: NDArray[np.float64]  # (T,)
    track_ids: NDArray[np.int32]  # (T, P)
    names: tuple[str, ...]
    units: tuple[str, ...]
    values: NDArray[np.float64]  # (T, P, M)
    #: The side each slot's person was measured from (measures/sides.py: 1 right, -1 left, 0 an
    #: empty slot), or None where not decided.
    side: NDArray[np.int8] | None = None  # (T, P)
    #: Which values were measured on a landmark the outlier filter replaced (outliers.py).
    replaced: NDArray[np.bool_] | None = None  # (T, P, M)
    #: Which 2D angles are NaN because a segment points at the camera (foreshortening.py).
    foreshortened: NDArray[np.bool_] | None = None  # (T, P, M)
    #: Which angles are NaN because the track's pose was still settling (settling.py).
    settling: NDArray[np.bool_] | None = None  # (T, P, M)

    def __post_init__(self) -> None:
        t = len(self.frame_idx)
        _expect(self.frame_idx.ndim == 1, "frame_idx", "1-D", self.frame_idx.shape)
        _expect(self.frame_idx.dtype == np.int64, "frame_idx", "int64", self.frame_idx.dtype)
        _expect(self.time_s.shape == (t,), "time_s", f"shape ({t},)", self.time_s.shape)
        _expect(self.time_s.dtype == np.float64, "time_s", "float64", self.time_s.dtype)
        ids = self.track_ids
        _expect(ids.dtype == np.int32, "track_ids", "int32", ids.dtype)
        _expect(ids.ndim == 2 and ids.shape[0] == t, "track_ids", f"shape ({t}, P)", ids.shape)
        _expect(
            isinstance(self.names, tuple) and isinstance(self.units, tuple),
            "names, units",
            "tuples",
            (type(self.names).__name__, type(self.units).__name__),
        )
        _expect(
            len(self.names) == len(self.units),
            "units",
            f"one per name ({len(self.names)})",
            len(self.units),
        )
        bad = [u for u in self.units if u not in UNITS]
        _expect(not bad, "units", f"one of {UNITS}", bad[:1])
        pairs = list(zip(self.names, self.units, strict=True))
        twice = [p for p in pairs if pairs.count(p) > 1]
        _expect(not twice, "names", "each (name, unit) once", twice[:1])
        shape = (*ids.shape, len(self.names))
        _expect(self.values.dtype == np.float64, "values", "float64", self.values.dtype)
        _expect(self.values.shape == shape, "values", f"shape {shape}", self.values.shape)
        if self.side is not None:
            _expect(self.side.dtype == np.int8, "side", "int8", self.side.dtype)
            _expect(self.side.shape == ids.shape, "side", f"shape {ids.shape}", self.side.shape)
        for name in ("replaced", "foreshortened", "settling"):
            r = getattr(self, name)
            if r is not None:
                _expect(r.dtype == np.bool_, name, "bool", r.dtype)
                _expect(r.shape == shape, name, f"shape {shape}", r.shape)

    def __len__(self) -> int:
        return len(self.frame_idx)

    @classmethod
    def concat(cls, batches: list[MeasureBatch]) -> MeasureBatch:
        """Consecutive batches of the same measures and person slots as one (every field)."""
        if len(batches) == 1:
            return batches[0]
        first = batches[0]

        def joined(name: str) -> np.ndarray | None:
            parts = [getattr(b, name) for b in batches]
            return None if any(p is None for p in parts) else np.concatenate(parts)

        return cls(
            frame_idx=joined("frame_idx"),
            time_s=joined("time_s"),
            track_ids=joined("track_ids"),
            names=first.names,
            units=first.units,
            values=joined("values"),
            side=joined("side"),
            replaced=joined("replaced"),
            foreshortened=joined("foreshortened"),
            settling=joined("settling"),
        )

    def index(self, name: str, unit: str | None = None) -> int:
        """Where measure ``name`` (in ``unit``; None: its first unit) is along the last axis."""
        for m, (n, u) in enumerate(zip(self.names, self.units, strict=True)):
            if n == name and (unit is None or u == unit):
                return m
        raise KeyError(f"no measure {name!r}{f' in {unit}' if unit else ''}")

    def unmeasured(self) -> NDArray[np.bool_]:
        """(T, P, M): the values that are NaN because they can't be measured (a segment pointing
        at the camera, a pose still settling): outputs never fill them in."""
        out = np.zeros(self.values.shape, dtype=np.bool_)
        for flags in (self.foreshortened, self.settling):
            if flags is not None:
                out |= flags
        return out

    def periods(self) -> NDArray[np.float64]:
        """(M,) the period each measure's values wrap with (0: none), for interpolating gaps."""
        return np.array([period(n, u) for n, u in zip(self.names, self.units, strict=True)])

    def column(self, name: str, unit: str | None = None) -> NDArray[np.float64]:
        """(T, P) the values of one measure."""
        return self.values[:, :, self.index(name, unit)]

    def take(self, sl: slice) -> MeasureBatch:
        """The frames in ``sl`` (views, no copy)."""
        return MeasureBatch(
            self.frame_idx[sl],
            self.time_s[sl],
            self.track_ids[sl],
            self.names,
            self.units,
            self.values[sl],
            None if self.side is None else self.side[sl],
            None if self.replaced is None else self.replaced[sl],
            None if self.foreshortened is None else self.foreshortened[sl],
            None if self.settling is None else self.settling[sl],
        )

"""Scaling and inverse kinematics of a TRC with OpenSim, as Pose2Sim runs them, with its
BlazePose model and set-up (``fastpose[opensim]``: the ``opensim`` wheel).

Pose2Sim (BSD-3-Clause, (c) 2022 perfanalytics: ``data/LICENSE.Pose2Sim``) ships the files in
``data/``, copied from its 0.10.49 wheel: ``Model_Pose2Sim_simple.osim`` (its model without
muscles, whose IK is about ten times faster), ``Markers_BlazePose.xml``,
``Scaling_Setup_Pose2Sim_Blazepose.xml`` and ``IK_Setup_Pose2Sim_Blazepose.xml``. How they are
driven follows its ``kinematics.py``: each segment scaled by the ratio of its length in the markers
(a trimmed mean over the frames where hips and knees bend less than 90 degrees) to the model's
(:mod:`fastpose.ik.scaling`), then OpenSim's inverse kinematics on the scaled model
(:mod:`fastpose.ik.solve`). OpenSim is imported only when IK runs.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fastpose.errors import FastposeError

#: What ``--ik`` says where OpenSim is not installed.
IK_MISSING = (
    "--ik needs OpenSim: pip install 'fastpose[opensim]' (the opensim wheel: CPython 3.11, "
    "Linux x86-64, macOS, Windows)"
)


def opensim_missing() -> str | None:
    """:data:`IK_MISSING` if the ``opensim`` package can't be found, else None (cheap: nothing
    is imported)."""
    try:
        found = importlib.util.find_spec("opensim") is not None
    except (ImportError, ValueError):  # a broken install, or a placeholder in sys.modules
        found = False
    return None if found else IK_MISSING


class NothingToSolve(FastposeError, ValueError):
    """A track with too few frames with markers for scaling and IK (a passer-by): skipped."""


@dataclass(frozen=True)
class IkResult:
    """One track's inverse kinematics: the model's coordinates at each of the TRC's frames
    (``values`` (n, k): degrees for the rotations, metres for the pelvis' translations, as
    ``units`` says), the markers' RMS error per frame (metres), and the files written (final
    names)."""

    frame_idx: NDArray[np.int64]
    coordinates: tuple[str, ...]
    units: tuple[str, ...]
    time_s: NDArray[np.float64]
    values: NDArray[np.float64]
    marker_rms: NDArray[np.float64]
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, k = len(self.frame_idx), len(self.coordinates)
        if self.values.shape != (n, k):
            raise ValueError(f"IkResult.values: expected shape {(n, k)}, got {self.values.shape}")
        if len(self.units) != k or self.marker_rms.shape != (n,) or self.time_s.shape != (n,):
            raise ValueError(
                f"IkResult: expected {k} units, {n} errors and times, got {len(self.units)}, "
                f"{self.marker_rms.shape} and {self.time_s.shape}"
            )


def solve_track(trc: Path, final: Path, markers: NDArray[np.float64], staging) -> IkResult:
    """Scale the model to ``markers`` (n, 25, 3: a sample of the TRC's rows) and solve the IK of
    the TRC at ``trc``, whose final name is ``final``: ``FINAL_ik.mot``, ``FINAL_ik_marker_errors
    .sto`` and ``FINAL_scaled.osim`` claimed from ``staging``."""
    from fastpose.ik.solve import solve  # OpenSim: imported here

    return solve(trc, final, markers, staging)


__all__ = ["IK_MISSING", "IkResult", "NothingToSolve", "opensim_missing", "solve_track"]

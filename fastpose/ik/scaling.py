"""Pose2Sim's scaling without a static trial, in NumPy: each segment of the model is scaled by
the ratio of its length between two markers in the footage to the model's, as Pose2Sim's
``kinematics.py`` does (``dict_segment_ratio``): lengths are a 50% trimmed mean over the frames
where hips and knees bend less than 90 degrees (crouched poses are the least precise), the left
and right sides averaged; which marker pairs scale which body, and on which axes, is read from the
scaling set-up (``Measurement`` elements).

Two measurements are fastpose's (:data:`OWN_MEASUREMENTS`): Pose2Sim's set-up scales the head
and the torso's width by the trunk's length, and MediaPipe's people differ from the model there
(the walker of sports2d_demo: shoulders 0.76 of the model's width where the trunk is 0.89 of its
length, eyes 0.99 of its height above the shoulders); the head is scaled by the shoulders-to-eyes
distances and the torso's width (Z) by the shoulders' instead. The markers' RMS error of IK
dropped from 35.0 to 32.3 mm on that walker and from 30.9 to 30.0 mm on pose2sim_single_cam01
(docs/opensim.md)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: Frames whose hips and knees bend (on average) less than this, in degrees, are measured.
LARGE_HIP_KNEE = 90.0
#: Percent of the most extreme lengths left out of each segment's mean (half at each end).
TRIMMED_PERCENT = 50.0


@dataclass(frozen=True)
class Measurement:
    """A scaling set-up's measurement: marker pairs, and the (body, axes) they scale."""

    name: str
    pairs: tuple[tuple[str, str], ...]
    bodies: tuple[tuple[str, tuple[str, ...]], ...]
    #: Its bodies' axes are scaled by this measurement alone (not with the set-up's).
    replaces: bool = False


#: fastpose's measurements, replacing the set-up's on their bodies' axes (see the module's doc).
OWN_MEASUREMENTS = (
    Measurement(
        "head_height",
        (("LShoulder", "LEye"), ("RShoulder", "REye")),
        (("head", ("X", "Y", "Z")),),
        replaces=True,
    ),
    Measurement(
        "shoulder_width", (("LShoulder", "RShoulder"),), (("torso", ("Z",)),), replaces=True
    ),
)


def read_measurements(setup: Path) -> list[Measurement]:
    """The measurements of an OpenSim scaling set-up file, then :data:`OWN_MEASUREMENTS`."""
    root = ET.parse(setup).getroot()
    out = []
    for m in root.iter("Measurement"):
        pairs = []
        for pair in m.iter("MarkerPair"):
            a, b = pair.findtext("markers", "").split()
            pairs.append((a, b))
        bodies = [
            (b.get("name", ""), tuple(b.findtext("axes", "").split())) for b in m.iter("BodyScale")
        ]
        out.append(Measurement(m.get("name", ""), tuple(pairs), tuple(bodies)))
    return out + list(OWN_MEASUREMENTS)


def trimmed_mean(values: NDArray[np.float64], percent: float = TRIMMED_PERCENT) -> float:
    """The mean of ``values`` (NaN left out) without the ``percent`` most extreme."""
    v = np.sort(values[np.isfinite(values)])
    if not len(v):
        return float("nan")
    cut = percent / 200.0
    kept = v[int(len(v) * cut) : int(len(v) * (1 - cut))]
    return float(kept.mean() if len(kept) else v.mean())


def _bend(a, b, c) -> NDArray[np.float64]:
    """Degrees the chain a-b-c bends at b (0: straight)."""
    u, w = a - b, c - b
    with np.errstate(invalid="ignore"):
        cos = (u * w).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(w, axis=-1)
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def measured_frames(markers: NDArray[np.float64], names: list[str]) -> NDArray[np.bool_]:
    """Frames of ``markers`` (n, M, 3) to measure: hips and knees bending less than
    :data:`LARGE_HIP_KNEE` on average; the 50 least bent if fewer are."""
    p = {n: markers[:, names.index(n)] for n in names}
    bends = []
    for s in "LR":
        bends.append(_bend(p[f"{s}Hip"], p[f"{s}Knee"], p[f"{s}Ankle"]))
        bends.append(_bend(p[f"{s}Shoulder"], p[f"{s}Hip"], p[f"{s}Knee"]))
    stacked = np.stack(bends)
    counted = np.isfinite(stacked).sum(0)
    mean = np.where(counted > 0, np.nansum(stacked, axis=0) / np.maximum(counted, 1), np.inf)
    chosen = mean < LARGE_HIP_KNEE
    if chosen.sum() < 50:
        chosen = np.zeros(len(mean), bool)
        chosen[np.argsort(mean)[:50]] = True
        chosen &= np.isfinite(mean)
    return chosen


def segment_scales(
    measurements: list[Measurement],
    markers: NDArray[np.float64],
    names: list[str],
    model_markers: dict[str, NDArray[np.float64]],
) -> dict[str, tuple[float, float, float]]:
    """Body -> (X, Y, Z) scale factors: per marker pair, its length in ``markers`` (n, M, 3;
    frames from :func:`measured_frames`, trimmed mean) over its length in the model
    (``model_markers``: name -> position in the default pose); per body and axis, the mean over
    the pairs of the measurements scaling it (of a ``replaces`` one alone). An axis or body no
    pair measures stays 1."""
    frames = markers[measured_frames(markers, names)]
    ratio: dict[tuple[str, str], float] = {}
    for m in measurements:
        for a, b in m.pairs:
            if a in names and b in names and a in model_markers and b in model_markers:
                data = np.linalg.norm(frames[:, names.index(a)] - frames[:, names.index(b)], axis=1)
                model = float(np.linalg.norm(model_markers[a] - model_markers[b]))
                ratio[(a, b)] = trimmed_mean(data) / model
    axes: dict[str, dict[str, list[float]]] = {}
    for m in measurements:
        found = [ratio[p] for p in m.pairs if p in ratio and np.isfinite(ratio[p])]
        for body, body_axes in m.bodies:
            for axis in body_axes:
                by_axis = axes.setdefault(body, {})
                if m.replaces and found:
                    by_axis[axis] = []
                by_axis.setdefault(axis, []).extend(found)
    return {
        body: tuple(float(np.mean(by_axis[a])) if by_axis.get(a) else 1.0 for a in ("X", "Y", "Z"))
        for body, by_axis in axes.items()
    }

"""OpenSim's scaling and inverse kinematics on one TRC (see fastpose.ik): the set-ups of
``data/`` edited for the file (paths, time range, the scale factors), the tools run in a temporary
folder, their results copied to the staging's working paths and read back."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import opensim
from numpy.typing import NDArray

from fastpose.errors import OutputError
from fastpose.ik import IkResult, NothingToSolve
from fastpose.ik.scaling import read_measurements, segment_scales
from fastpose.measures.definitions import OPENSIM_MARKERS

DATA = Path(__file__).parent / "data"
MODEL = DATA / "Model_Pose2Sim_simple.osim"
MARKERS = DATA / "Markers_BlazePose.xml"
SCALING = DATA / "Scaling_Setup_Pose2Sim_Blazepose.xml"
IK = DATA / "IK_Setup_Pose2Sim_Blazepose.xml"
#: OpenSim prints to descriptor 1 (its log, and each tool's model summary whatever the log level):
#: while a tool runs, that descriptor points at a file, one tool at a time (the descriptor is the
#: process's own).
_STDOUT = threading.Lock()
#: The fewest frames with markers a track needs for scaling and IK.
MIN_FRAMES = 2
#: The subject's mass in the scaled model (kg): Pose2Sim's default; IK does not depend on it.
MASS_KG = 70.0


@contextlib.contextmanager
def _stdout_to(path: Path):
    """Descriptor 1 into ``path`` (appended) meanwhile."""
    with _STDOUT, open(path, "ab") as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _tail(log: Path, lines: int = 3) -> str:
    """The last lines of OpenSim's log that say something (not the per-frame progress)."""
    text = log.read_text(errors="replace").splitlines() if log.is_file() else []
    said = [line.strip() for line in text if line.strip() and "] Frame " not in line]
    return " | ".join(said[-lines:]) or "no message"


def _model_with_markers(path: Path) -> dict[str, NDArray[np.float64]]:
    """Write the unscaled model with the BlazePose markers to ``path``; their positions in its
    default pose."""
    with _stdout_to(path.with_name("opensim.log")):
        model = opensim.Model(str(MODEL))
        model.set_MarkerSet(opensim.MarkerSet(str(MARKERS)))
        state = model.initSystem()
        model.printToXML(str(path))
    markers = model.getMarkerSet()
    return {
        markers.get(i).getName(): markers.get(i).getLocationInGround(state).to_numpy()
        for i in range(markers.getSize())
    }


def _scale(folder: Path, markers: NDArray[np.float64]) -> Path:
    """The model scaled to ``markers`` (n, 25, 3), written in ``folder``."""
    unscaled, scaled = folder / "unscaled.osim", folder / "scaled.osim"
    model_markers = _model_with_markers(unscaled)
    measurements = read_measurements(SCALING)
    scales = segment_scales(measurements, markers, list(OPENSIM_MARKERS), model_markers)
    tree = ET.parse(SCALING)
    tool = tree.getroot().find("ScaleTool")
    tool.find("mass").text = f"{MASS_KG:g}"
    tool.find("GenericModelMaker/model_file").text = str(unscaled)
    scaler = tool.find("ModelScaler")
    scaler.find("scaling_order").text = " manualScale"
    for apply in scaler.findall("MeasurementSet/objects/Measurement/apply"):
        apply.text = "false"
    scale_set = scaler.find("ScaleSet/objects")
    for old in list(scale_set):
        scale_set.remove(old)
    for body, (x, y, z) in scales.items():
        scale = ET.SubElement(scale_set, "Scale")
        ET.SubElement(scale, "scales").text = f"{x:.6f} {y:.6f} {z:.6f}"
        ET.SubElement(scale, "segment").text = body
        ET.SubElement(scale, "apply").text = "true"
    for marker_file in tool.iter("marker_file"):
        marker_file.text = "Unassigned"
    scaler.find("output_model_file").text = str(scaled)
    placer = tool.find("MarkerPlacer")
    if placer is not None:
        placer.find("apply").text = "false"
    setup = folder / "scaling_setup.xml"
    tree.write(setup, xml_declaration=True, encoding="utf-8")
    try:
        with _stdout_to(folder / "opensim.log"):
            opensim.ScaleTool(str(setup)).run()  # False when the marker placer does not run
    except RuntimeError:  # OpenSim's exceptions: what it logged says why
        pass
    if not scaled.is_file():
        raise OutputError(f"OpenSim's scaling failed: {_tail(folder / 'opensim.log')}")
    return scaled


def trc_rows(trc: Path) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
    """A TRC's frame numbers, times, and which rows hold a marker."""
    frames, times, seen = [], [], []
    with open(trc) as f:
        for i, line in enumerate(f):
            if i >= 5 and line.strip():
                frame, time, cells = line.rstrip("\n").split("\t", 2)
                frames.append(int(frame))
                times.append(float(time))
                seen.append(any(c not in ("", "NaN") for c in cells.split("\t")))
    return np.array(frames, dtype=np.int64), np.array(times), np.array(seen, dtype=bool)


def runs(seen: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(first, last) row of each run of rows with markers."""
    edges = np.diff(np.concatenate([[0], seen.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def _inverse_kinematics(
    folder: Path, model: Path, trc: Path, name: str, start: float, end: float
) -> tuple[Path, Path]:
    """The IK's motion and marker errors from ``start`` to ``end`` (s), written in ``folder``
    as ``NAME.mot`` and ``NAME_ik_marker_errors.sto``."""
    tree = ET.parse(IK)
    tool = tree.getroot().find("InverseKinematicsTool")
    tool.set("name", name)
    motion, errors = folder / f"{name}.mot", folder / f"{name}_ik_marker_errors.sto"
    tool.find("results_directory").text = str(folder)
    tool.find("model_file").text = str(model)
    tool.find("time_range").text = f"{float(start)!r} {float(end)!r}"
    tool.find("output_motion_file").text = str(motion)
    tool.find("marker_file").text = str(trc.resolve())
    tool.find("report_errors").text = "true"
    setup = folder / f"{name}_setup.xml"
    tree.write(setup, xml_declaration=True, encoding="utf-8")
    log = folder / "opensim.log"
    try:
        with _stdout_to(log):
            done = opensim.InverseKinematicsTool(str(setup)).run()
    except RuntimeError:  # OpenSim's exceptions: what it logged says why
        done = False
    if not done or not motion.is_file():
        raise OutputError(f"{trc}: OpenSim's inverse kinematics failed: {_tail(log)}")
    return motion, errors


def _joined(parts: list[Path], target: Path) -> None:
    """OpenSim storage files of consecutive time ranges written as one (``nRows`` summed)."""
    heads, bodies = [], []
    for part in parts:
        lines = part.read_text().split("\n")
        end = next(i for i, line in enumerate(lines) if line.strip() == "endheader")
        heads.append(lines[: end + 2])
        bodies.append([line for line in lines[end + 2 :] if line.strip()])
    rows = sum(map(len, bodies))
    head = [f"nRows={rows}" if line.startswith("nRows=") else line for line in heads[0]]
    with open(target, "w", newline="\n") as out:
        out.write("\n".join(head) + "\n")
        for body in bodies:
            out.write("\n".join(body) + "\n")


def read_storage(path: Path) -> tuple[list[str], NDArray[np.float64], bool]:
    """An OpenSim ``.mot``/``.sto`` file: its columns, values (rows x columns) and whether its
    header says ``inDegrees=yes``."""
    lines = path.read_text().split("\n")
    end = next(i for i, line in enumerate(lines) if line.strip() == "endheader")
    degrees = any(line.strip().lower() == "indegrees=yes" for line in lines[:end])
    columns = lines[end + 1].strip().split("\t")
    rows = [line.split("\t") for line in lines[end + 2 :] if line.strip()]
    return columns, np.array(rows, dtype=np.float64).reshape(-1, len(columns)), degrees


def solve(trc: Path, final: Path, markers: NDArray[np.float64], staging) -> IkResult:
    """See fastpose.ik.solve_track. Frames with no marker (a person away longer than the gaps the
    TRC fills) split the IK into runs: OpenSim's IK fails on such a frame, and their rows are left
    out of the motion (OpenSim reads its times as they are)."""
    opensim.Logger.removeFileSink()  # OpenSim's default: opensim.log in the current folder
    opensim.Logger.setLevelString("Warn")  # at Info, every frame's IK
    stem = final.with_suffix("")
    frames, times, seen = trc_rows(trc)
    if seen.sum() < MIN_FRAMES:
        raise NothingToSolve(
            f"{final}: no inverse kinematics: {seen.sum()} frames with markers, expected "
            f"{MIN_FRAMES} or more"
        )
    with tempfile.TemporaryDirectory(prefix="fastpose-ik-") as tmp:
        folder = Path(tmp)
        try:
            model = _scale(folder, markers)
        except OutputError as exc:
            raise OutputError(f"{trc}: {exc}") from exc
        motions, errors = [], []
        for k, (first, last) in enumerate(runs(seen)):
            made = _inverse_kinematics(folder, model, trc, f"ik{k}", times[first], times[last])
            motions.append(made[0])
            errors.append(made[1])
        motion, error = folder / "ik.mot", folder / "ik_marker_errors.sto"
        _joined(motions, motion)
        _joined(errors, error)
        files = []
        for made, name in (
            (motion, f"{stem.name}_ik.mot"),
            (error, f"{stem.name}_ik_marker_errors.sto"),
            (model, f"{stem.name}_scaled.osim"),
        ):
            target = final.with_name(name)
            shutil.copyfile(made, staging.claim(target))
            files.append(target)
        columns, values, degrees = read_storage(motion)
        error_columns, error_values, _ = read_storage(error)
    coordinates = columns[1:]
    if len(values) != seen.sum():
        raise OutputError(
            f"{trc}: OpenSim's inverse kinematics: expected {seen.sum()} frames, got {len(values)}"
        )
    translations = {"pelvis_tx", "pelvis_ty", "pelvis_tz"}
    units = tuple("m" if c in translations else ("deg" if degrees else "rad") for c in coordinates)
    return IkResult(
        frames[seen],
        tuple(coordinates),
        units,
        values[:, 0],
        values[:, 1:],
        error_values[:, error_columns.index("marker_error_RMS")],
        files,
    )

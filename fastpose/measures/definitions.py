"""The measures as data: which points each angle and speed takes, its offset, sign, wrap and unit.

The 2D angles are Pose2Sim's (``angle_dict`` in Pose2Sim's ``common.py``, the table Sports2D
computes from), so values compare one to one with Sports2D's: the same points, offsets, signs and
wraps, on pixel coordinates of the original frame (y down). Their points are Pose2Sim's marker
names, each made of MediaPipe landmarks (:data:`POINTS`): ``Hip`` is the mid-hips, ``Neck`` the
mid-shoulders (as Sports2D adds them) and ``Head`` the mid-ears (BlazePose has no head-top point).
Pose2Sim lists the left wrist's points in another order than the right's (``LElbow, LIndex,
LWrist`` against ``RElbow, RWrist, RIndex``), which measures another angle; the left wrist here
takes the right one's order, mirrored.

The 3D angles are flexions on MediaPipe's world landmarks (metres): the angle between two
segments' directions, 0 for a straight limb, unsigned (one camera gives no body frame to sign
them reliably), the ankle's taken from 90 (foot square to the shank) as the 2D ankle's is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastpose.skeleton import LANDMARK_NAMES

#: The units of measures, as the tables write them.
DEG, PX_S, M_S = "deg", "px/s", "m/s"
UNITS = (DEG, PX_S, M_S)

#: Pose2Sim's marker names for BlazePose, each as the MediaPipe landmarks it is the mean of.
POINTS: dict[str, tuple[str, ...]] = {
    "Nose": ("nose",),
    "LEye": ("left_eye",),
    "REye": ("right_eye",),
    "LShoulder": ("left_shoulder",),
    "RShoulder": ("right_shoulder",),
    "LElbow": ("left_elbow",),
    "RElbow": ("right_elbow",),
    "LWrist": ("left_wrist",),
    "RWrist": ("right_wrist",),
    "LPinky": ("left_pinky",),
    "RPinky": ("right_pinky",),
    "LIndex": ("left_index",),
    "RIndex": ("right_index",),
    "LThumb": ("left_thumb",),
    "RThumb": ("right_thumb",),
    "LHip": ("left_hip",),
    "RHip": ("right_hip",),
    "LKnee": ("left_knee",),
    "RKnee": ("right_knee",),
    "LAnkle": ("left_ankle",),
    "RAnkle": ("right_ankle",),
    "LHeel": ("left_heel",),
    "RHeel": ("right_heel",),
    "LBigToe": ("left_foot_index",),
    "RBigToe": ("right_foot_index",),
    "Hip": ("left_hip", "right_hip"),
    "Neck": ("left_shoulder", "right_shoulder"),
    "Head": ("left_ear", "right_ear"),
}

#: The markers of Pose2Sim's OpenSim set-up for BlazePose (``Markers_BlazePose.xml``), in its order.
OPENSIM_MARKERS: tuple[str, ...] = (
    "Nose", "LEye", "REye", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
    "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "LBigToe", "LHeel", "RBigToe", "RHeel",
    "RThumb", "RPinky", "RIndex", "LThumb", "LPinky", "LIndex",
)  # fmt: skip


@dataclass(frozen=True)
class Angle2D:
    """One of Pose2Sim's angles: ``points`` (2: a segment from horizontal; 3: the angle at the
    middle point; 4: between the segments p0->p1 and p2->p3), then ``(angle + offset) * sign``
    wrapped to [-180, 180), or to [-90, 90) for the ``half_turn`` ones (pelvis, shoulders: a line
    with no direction)."""

    name: str
    points: tuple[str, ...]
    offset: float
    sign: int
    kind: Literal["joint", "segment"]
    half_turn: bool = False

    @property
    def period(self) -> float:
        return 180.0 if self.half_turn else 360.0


def _side(name: str, points: tuple[str, ...], offset: float, sign: int, kind: str) -> tuple:
    """The right and left versions of an angle given with the right's points."""
    left = tuple("L" + p[1:] if p[0] == "R" and p in POINTS else p for p in points)
    return (
        Angle2D(f"right {name}", points, offset, sign, kind),
        Angle2D(f"left {name}", left, offset, sign, kind),
    )


ANGLES_2D: tuple[Angle2D, ...] = (
    # joint angles
    *_side("ankle", ("RKnee", "RAnkle", "RBigToe", "RHeel"), 90, 1, "joint"),
    *_side("knee", ("RAnkle", "RKnee", "RHip"), -180, 1, "joint"),
    *_side("hip", ("RKnee", "RHip", "Hip", "Neck"), 0, -1, "joint"),
    *_side("shoulder", ("RElbow", "RShoulder", "Hip", "Neck"), 0, -1, "joint"),
    *_side("elbow", ("RWrist", "RElbow", "RShoulder"), 180, -1, "joint"),
    *_side("wrist", ("RElbow", "RWrist", "RIndex"), -180, 1, "joint"),
    # segment angles
    *_side("foot", ("RBigToe", "RHeel"), 0, -1, "segment"),
    *_side("shank", ("RAnkle", "RKnee"), 0, -1, "segment"),
    *_side("thigh", ("RKnee", "RHip"), 0, -1, "segment"),
    Angle2D("pelvis", ("LHip", "RHip"), 0, -1, "segment", half_turn=True),
    Angle2D("trunk", ("Neck", "Hip"), 0, -1, "segment"),
    Angle2D("shoulders", ("LShoulder", "RShoulder"), 0, -1, "segment", half_turn=True),
    Angle2D("head", ("Head", "Neck"), 0, -1, "segment"),
    *_side("arm", ("RElbow", "RShoulder"), 0, -1, "segment"),
    *_side("forearm", ("RWrist", "RElbow"), 0, -1, "segment"),
    *_side("hand", ("RIndex", "RWrist"), 0, -1, "segment"),
)

#: The points Sports2D's ``auto`` visible side looks at: toes and heels, left then right.
SIDE_POINTS = ("LBigToe", "LHeel", "RBigToe", "RHeel")


@dataclass(frozen=True)
class Angle3D:
    """A flexion on world landmarks: ``offset + sign * angle(u, v)`` in degrees, where ``u`` and
    ``v`` are segments (from, to) of :data:`POINTS`, ``v`` None meaning straight up."""

    name: str
    u: tuple[str, str]
    v: tuple[str, str] | None
    offset: float = 0.0
    sign: int = 1


def _side3d(name: str, u: tuple[str, str], v: tuple[str, str] | None, **kw) -> tuple:
    def left(seg):
        return None if seg is None else tuple("L" + p[1:] if p[0] == "R" else p for p in seg)

    return (
        Angle3D(f"right {name} 3d", u, v, **kw),
        Angle3D(f"left {name} 3d", left(u), left(v), **kw),
    )


ANGLES_3D: tuple[Angle3D, ...] = (
    # knee: thigh (hip -> knee) against shank (knee -> ankle)
    *_side3d("knee", ("RHip", "RKnee"), ("RKnee", "RAnkle")),
    # hip: trunk downwards (neck -> mid-hip) against thigh (hip -> knee)
    *_side3d("hip", ("Neck", "Hip"), ("RHip", "RKnee")),
    # shoulder: trunk downwards against arm (shoulder -> elbow)
    *_side3d("shoulder", ("Neck", "Hip"), ("RShoulder", "RElbow")),
    # elbow: arm against forearm (elbow -> wrist)
    *_side3d("elbow", ("RShoulder", "RElbow"), ("RElbow", "RWrist")),
    # ankle: 90 - (shank against foot, heel -> toe): 0 foot square to the shank, > 0 dorsiflexion
    *_side3d("ankle", ("RKnee", "RAnkle"), ("RHeel", "RBigToe"), offset=90.0, sign=-1),
    # trunk: lean of mid-hip -> mid-shoulders from vertical (the camera's up)
    Angle3D("trunk 3d", ("Hip", "Neck"), None),
)

#: Speeds: measure name -> the point whose path it is the speed of.
SPEEDS: dict[str, str] = {
    "hips speed": "Hip",
    "right wrist speed": "RWrist",
    "left wrist speed": "LWrist",
    "right ankle speed": "RAnkle",
    "left ankle speed": "LAnkle",
}


def landmark_groups() -> dict[str, tuple[int, ...]]:
    """:data:`POINTS` as indices into MediaPipe's 33 landmarks."""
    index = {name: i for i, name in enumerate(LANDMARK_NAMES)}
    return {point: tuple(index[lm] for lm in lms) for point, lms in POINTS.items()}


def period(name: str, unit: str) -> float:
    """The period a measure's values wrap with (360 or 180 degrees), 0 for one that doesn't wrap
    (3D flexions lie in [0, 180], speeds are magnitudes)."""
    if unit != DEG:
        return 0.0
    return next((a.period for a in ANGLES_2D if a.name == name), 0.0)

"""Start-up: what loads before the first frame, and MediaPipe imported in part and then whole."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mediapipe", "numba", "rerun", "cv2", "av", "pyarrow", "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_and_help_load_nothing_heavy() -> None:
    """`import fastpose` and the CLI's parser load none of MediaPipe, Numba, Rerun, PyAV, OpenCV."""
    loaded = _modules_after(
        "import fastpose, fastpose.cli; fastpose.cli.build_parser().parse_args(['run'])"
    )
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_pose_api_alone_then_whole_mediapipe() -> None:
    """The pose API loads without MediaPipe's other tasks (no matplotlib, no audio); a later
    `import mediapipe` still gets the whole package."""
    loaded = _modules_after(
        "from fastpose.mediapipe_api import pose_api; api = pose_api(); "
        "assert len(api.PoseLandmark) == 33"
    )
    assert "mediapipe.tasks.python.vision.pose_landmarker" in loaded
    assert "matplotlib" not in loaded and "mediapipe.tasks.python.audio" not in loaded
    loaded = _modules_after(
        "from fastpose.mediapipe_api import pose_api; api = pose_api()\n"
        "import mediapipe as mp\n"
        "assert mp.tasks.vision.PoseLandmarker is api.PoseLandmarker\n"
        "assert mp.Image is api.Image and mp.ImageFormat is api.ImageFormat\n"
        "assert mp.tasks.BaseOptions is api.BaseOptions\n"
        "assert mp.tasks.vision.HandLandmarker is not None"
    )
    assert "mediapipe.tasks.python.audio" in loaded


def test_skeleton_matches_mediapipe() -> None:
    import mediapipe as mp

    from fastpose.skeleton import CONNECTIONS, LANDMARK_NAMES, NUM_LANDMARKS

    vision = mp.tasks.vision
    assert NUM_LANDMARKS == 33 == len(LANDMARK_NAMES)
    assert LANDMARK_NAMES[0] == "nose" and LANDMARK_NAMES[32] == "right_foot_index"
    expected = {(c.start, c.end) for c in vision.PoseLandmarksConnections.POSE_LANDMARKS}
    assert set(CONNECTIONS) == expected

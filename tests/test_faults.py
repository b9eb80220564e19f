"""Faults: MediaPipe's import under threads and when its private paths fail, crash reports, bad
input paths, the viewer's port and lifetime, and a batch stopped by SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
from conftest import ROOT, data_file, reference_image_landmarks


def _python(code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (a fresh import state), run from the repository."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_mediapipe_completes_once_for_concurrent_threads() -> None:
    """After pose_api(), 6 threads touching mediapipe.tasks.vision at the same instant all get
    it, in each of 8 fresh processes (before the fix: 3 of 4 threads failed, every trial)."""
    code = """
        import threading
        from fastpose.mediapipe_api import pose_api
        api = pose_api()
        import mediapipe
        gate, got = threading.Barrier(6), []
        def touch():
            gate.wait()
            try:
                got.append(mediapipe.tasks.vision.PoseLandmarker is api.PoseLandmarker)
            except Exception as exc:
                got.append(repr(exc))
        threads = [threading.Thread(target=touch) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(got)
    """
    for trial in range(8):
        proc = _python(code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == str([True] * 6), f"trial {trial}: {proc.stdout}"


def test_pose_api_falls_back_to_plain_import(model_path) -> None:
    """When MediaPipe's private module paths fail (a finder refuses every mediapipe submodule
    that fastpose asks for itself), pose_api says so in a debug line, imports mediapipe whole,
    and its landmarker still finds the reference pose of mediapipe_pose.jpg."""
    image = data_file("mediapipe_pose.jpg")
    code = f"""
        import json, logging, sys

        class RefusePrivatePaths:
            def find_spec(self, name, path=None, target=None):
                if not name.startswith("mediapipe."):
                    return None
                frame = sys._getframe(1)
                while frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen")):
                    frame = frame.f_back
                if frame.f_globals.get("__name__") == "fastpose.mediapipe_api":
                    raise ModuleNotFoundError(f"refused: {{name}}", name=name)
                return None

        sys.meta_path.insert(0, RefusePrivatePaths())
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(message)s")
        from fastpose.mediapipe_api import pose_api
        api = pose_api()
        assert "mediapipe.tasks.python.audio" in sys.modules  # the whole package
        options = api.PoseLandmarkerOptions(
            base_options=api.BaseOptions(model_asset_path={str(model_path)!r}),
            running_mode=api.RunningMode.IMAGE,
        )
        with api.PoseLandmarker.create_from_options(options) as landmarker:
            result = landmarker.detect(api.Image.create_from_file({str(image)!r}))
        print(json.dumps([[p.x, p.y] for p in result.pose_landmarks[0]]))
    """
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    debug, *_, landmarks = proc.stdout.strip().splitlines()
    assert "private module paths failed" in debug and "refused: mediapipe." in debug, debug
    err = np.abs(np.asarray(json.loads(landmarks)) - reference_image_landmarks())
    assert err.max() < 0.03, f"worst landmark error {err.max():.4f}"

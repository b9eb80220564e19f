"""Regenerate the viewer images of docs/ (docs/images/*.png) from the test clips.

Usage: ``python docs/make_images.py [OUT_DIR]`` (needs ffmpeg and a graphics adapter, a software
one will do). Each recording is opened in a headless Rerun viewer driven through its control API:
the time cursor is set (paused) and the views get a few seconds to fetch their chunks before the
screenshot. ``rerun FILE.rrd --screenshot-to`` does not wait for that: Rerun 0.41 loads a file's
chunk index first and fetches chunks on demand, so a busy recording (a hundred series entities)
is captured with some skeletons not fetched yet.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from rerun.experimental import ViewerClient

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
WIDTH = 1400
MENU_BAR = 36  # pixels of the viewer's top bar, cut off
SETTLE_S = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record(clip: Path, rrd: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "fastpose", "run", str(clip), "--save", str(rrd)]
    subprocess.run([*cmd, "--overwrite", "-q", *args], check=True)


def _shoot(rrd: Path, t: float, png: Path) -> None:
    """The whole viewer at ``t`` seconds, the menu bar cut off, ``WIDTH`` wide, 256 colours."""
    viewer = ViewerClient.spawn(headless=True, port=_free_port(), hide_welcome_screen=True)
    try:
        for _ in range(60):  # the viewer's control server takes a moment to start
            try:
                viewer.open(str(rrd))
                break
            except RuntimeError:
                time.sleep(1)
        viewer.set_time("time", duration=t, play_state="paused")
        time.sleep(SETTLE_S)
        raw = png.with_suffix(".raw.png")
        viewer.save_screenshot(str(raw))
    finally:
        viewer.quit()
    im = Image.open(raw).convert("RGB")
    im = im.crop((0, MENU_BAR, im.width, im.height))
    im = im.resize((WIDTH, round(WIDTH * im.height / im.width)), Image.LANCZOS)
    im.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    raw.unlink()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _record(DATA / "pose_squats.mp4", tmp / "squats.rrd")
        _shoot(tmp / "squats.rrd", 2.0, out / "angles_pose_squats.png")
        cut = tmp / "two_people.mp4"  # from 2 s on: both people in view
        src = str(DATA / "sports2d_demo.mp4")
        encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(cut)]
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-ss", "2.0", "-i", src, *encode]
        subprocess.run(cmd, check=True)
        _record(cut, tmp / "two.rrd", "--num-poses", "2")
        _shoot(tmp / "two.rrd", 4.3, out / "two_people.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images")

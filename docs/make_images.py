"""Regenerate the viewer images of docs/ (docs/images/*.png) from the test clips.

Usage: ``python docs/make_images.py [OUT_DIR]`` (needs a graphics adapter, a software one will
do; the frames are recorded as the AV1 stream, which the viewer decodes without FFmpeg). Each
recording is opened in a headless Rerun viewer driven through its control API: the time cursor
is set (paused) and the views get a few seconds to fetch their chunks before the screenshot.
``rerun FILE.rrd --screenshot-to`` does not wait for that: Rerun 0.41 loads a file's chunk index
first and fetches chunks on demand, so a busy recording is captured with some skeletons not
fetched yet.
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
    subprocess.run([*cmd, "--overwrite", "-q", "--video-mode", "stream", *args], check=True)


def _cut(src: Path, dst: Path, start_s: float) -> None:
    """``src`` from ``start_s`` seconds on, as H.264 (PyAV's own encoder: no ffmpeg needed)."""
    from fractions import Fraction

    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=stream.average_rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        period = 1 / Fraction(stream.average_rate)
        kept = 0
        for frame in inp.decode(stream):
            if frame.time is not None and frame.time >= start_s:
                frame = frame.reformat(format="yuv420p")
                frame.pts, frame.time_base = kept, period
                kept += 1
                out.mux(enc.encode(frame))
        out.mux(enc.encode())


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
        _cut(DATA / "sports2d_demo.mp4", cut, 2.0)
        _record(cut, tmp / "two.rrd", "--num-poses", "2")
        _shoot(tmp / "two.rrd", 4.3, out / "two_people.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images")

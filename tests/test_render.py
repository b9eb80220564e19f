"""The rendered video (VideoRenderer): the source's frames, size, rate and count, H.264 4:2:0,
the skeletons drawn at the landmarks' pixels in their track's colour, the rest untouched; an
interrupted run's file plays to its last frame."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import raw_h264, remux_mpegts, turned_mp4
from conftest import ROOT, data_file, scaled, tracked

from fastpose.colors import track_color
from fastpose.errors import OutputError
from fastpose.poses import PoseBatch
from fastpose.render.draw import MIN_VISIBILITY, RgbCanvas, Style, YuvCanvas, draw_people
from fastpose.render.frames import planes
from fastpose.sinks.base import SinkContext, Tracked
from fastpose.sinks.render import VideoRenderer
from fastpose.video import VideoInfo, VideoLayout

CLIP = "pose2sim_single_cam01.mp4"  # 1080x1920 portrait H.264, 60 fps, 100 frames, one man
#: Largest RGB distance from the track's colour at a joint's centre, after H.264 at CRF 23.
COLOR_TOLERANCE = 60
#: Pixels this far from every drawn pixel are the source's (mean absolute difference, 0-255),
#: within what re-encoding costs.
BACKGROUND_MEAN_DIFF = 3.0
SETTINGS = {"model": "full", "num_poses": "1"}


@dataclass
class Tracked_:
    """A clip tracked once: its VideoInfo, the hooks' frame size and the smoothed batches."""

    path: Path
    info: VideoInfo
    frame_size: tuple[int, int]
    batches: list[PoseBatch]
    layout: VideoLayout | None

    @property
    def poses(self) -> PoseBatch:
        return PoseBatch.concat(self.batches)


def track(path: Path) -> Tracked_:
    """``path`` tracked with `fastpose run`'s defaults (the session's run: conftest.tracked)."""
    run = tracked(path)
    return Tracked_(path, run.info, run.frame_size, run.batches, run.layout)


class TmpStaging:
    """Claims ``NAME.partial.mp4`` beside the final path; renames nothing (the test looks)."""

    def __init__(self) -> None:
        self.claimed: list[Path] = []

    def claim(self, final: Path) -> Path:
        work = final.with_name(f"{final.stem}.partial{final.suffix}")
        work.touch()
        self.claimed.append(work)
        return work


def render(
    tracked: Tracked_, out: Path, frames: int | None = None, with_layout: bool = True
) -> Path:
    """Drives the sink as the pipeline will: open, write every batch (or the first ``frames``
    frames, then close as an interrupted run), close. Returns the working file. Without the
    tracker's layout, the sink counts the frames it decodes."""
    sink = VideoRenderer(out)
    staging = TmpStaging()
    sink.open(
        SinkContext(
            tracked.info,
            tracked.frame_size,
            tracked.batches[0].max_persons,
            settings=SETTINGS,
            layout=tracked.layout if with_layout else None,
        ),
        staging,
    )
    written = 0
    for batch in tracked.batches:
        if frames is not None:
            batch = batch.take(slice(0, frames - written))
        if len(batch):
            sink.write(Tracked(poses=batch))
            written += len(batch)
    sink.close(complete=frames is None)
    if frames is not None:
        assert sink.frames_written == written == frames
    return staging.claimed[0]


@pytest.fixture(scope="module")
def pose2sim() -> Tracked_:
    return track(data_file(CLIP))


@pytest.fixture(scope="module")
def rendered(pose2sim: Tracked_, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(pose2sim, tmp_path_factory.mktemp("render") / "clip.mp4")


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def source_frames(path: Path, rotation: int) -> list[np.ndarray]:
    """The source's frames, upright, as the user sees them."""
    k = (rotation // 90) % 4
    return [np.ascontiguousarray(np.rot90(f, k)) for f in rgb_frames(path)]


def stream_facts(path: Path) -> dict[str, object]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = [float(f.pts * f.time_base) for f in c.decode(s)]
        return {
            "codec": s.codec_context.name,
            "pix_fmt": s.codec_context.pix_fmt,
            "size": (s.codec_context.width, s.codec_context.height),
            "rate": s.average_rate,
            "frames": len(times),
            "tags": dict(c.metadata),
            "times": np.array(times) - times[0],
        }


def drawn_mask(
    poses: PoseBatch, t: int, size: tuple[int, int], labels: list | None = None
) -> np.ndarray:
    """Where frame ``t``'s drawing may have touched (what draw_people draws on black, widened
    by the encoder's reach, 16 pixels)."""
    w, h = size
    canvas = np.zeros((h, w, 3), np.uint8)
    lm = poses.landmarks[t]
    visible = (lm[..., 3] >= MIN_VISIBILITY) & ~np.isnan(lm[..., 0])
    pixels = poses.pixels(w, h)[t]
    draw_people(RgbCanvas(canvas), pixels, visible, poses.ids[t], Style.for_size(w, h), labels)
    return cv2.dilate((canvas.max(axis=2) > 0).astype(np.uint8), np.ones((33, 33), np.uint8)) > 0


def check_drawing(out: Path, tracked: Tracked_, step: int = 2) -> None:
    """The skeleton's colour at the visible landmarks in >= 90% of the frames with a person,
    and away from the drawing, the source's pixels: in every ``step``-th frame (each frame costs
    ~0.2 s at 1080x1920; the frames between are written the same way)."""
    poses = tracked.poses
    info = tracked.info
    drawn, with_person, diffs = 0, 0, []
    output = rgb_frames(out)
    source = source_frames(tracked.path, info.rotation)
    assert len(output) == len(source) == len(poses)
    w, h = info.width, info.height
    visible_all = (poses.landmarks[..., 3] >= MIN_VISIBILITY) & poses.detected[..., None]
    pixels_all = poses.pixels(w, h)
    moving, in_place = 0, 0
    sampled = range(0, len(source), step)
    for t in sampled:
        got, src = output[t], source[t]
        mask = drawn_mask(poses, t, (w, h))
        diffs.append(float(np.abs(got.astype(int) - src)[~mask].mean()))
        if t + 1 < len(source):  # frame t, not its neighbour: where they differ, it is t's
            after = source[t + 1]
            motion = (np.abs(src.astype(int) - after).max(axis=2) > 20) & ~mask
            if motion.sum() >= 8:
                moving += 1
                same = np.abs(got.astype(int) - src)[motion].mean()
                in_place += same < np.abs(got.astype(int) - after)[motion].mean()
        if not visible_all[t].any():
            assert not mask.any()
            continue
        with_person += 1
        hits, total = 0, 0
        for k, track_id in enumerate(poses.ids[t].tolist()):
            if track_id < 0:
                continue
            color = np.array(track_color(track_id))
            xy = np.clip(pixels_all[t, k][visible_all[t, k]].astype(int), 0, [w - 1, h - 1])
            seen = got[xy[:, 1], xy[:, 0]].astype(int)
            hits += int((np.linalg.norm(seen - color, axis=1) <= COLOR_TOLERANCE).sum())
            total += len(xy)
        drawn += hits >= 0.9 * total
    assert with_person > 0.5 * len(sampled), "the clip shows its person in most frames"
    assert drawn >= 0.9 * with_person, f"skeleton drawn in {drawn} of {with_person} frames"
    assert moving > 0.1 * len(sampled) and in_place == moving, f"{in_place} of {moving} in place"
    assert max(diffs) <= BACKGROUND_MEAN_DIFF, f"away from the drawing: mean diff {max(diffs)}"


def test_rendered_video_keeps_the_source_frames_size_and_rate(
    rendered: Path, pose2sim: Tracked_
) -> None:
    got, src = stream_facts(rendered), stream_facts(pose2sim.path)
    assert got["codec"] == "h264"
    assert got["pix_fmt"] == "yuv420p"
    assert got["size"] == (pose2sim.info.width, pose2sim.info.height) == src["size"]
    assert got["frames"] == src["frames"] == pose2sim.info.num_frames
    assert got["rate"] == src["rate"]
    np.testing.assert_allclose(got["times"], src["times"], atol=1e-3)
    assert {f"fastpose.{k}": v for k, v in SETTINGS.items()}.items() <= got["tags"].items()


def test_skeletons_drawn_at_the_landmarks_and_nothing_else(
    rendered: Path, pose2sim: Tracked_
) -> None:
    check_drawing(rendered, pose2sim, step=4)


def test_rotated_source_rendered_upright(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("turned")
    turned = turned_mp4(data_file(CLIP), folder / "turned90.mp4", 90, long_side=640)
    turned_run = track(turned)
    assert turned_run.info.rotation == 90
    out = render(turned_run, folder / "turned.mp4", with_layout=False)
    facts = stream_facts(out)
    assert facts["size"] == (turned_run.info.width, turned_run.info.height)
    assert facts["size"][0] < facts["size"][1], "portrait, as the source is shown"
    check_drawing(out, turned_run)


def test_interrupted_run_plays_to_its_last_frame(pose2sim: Tracked_, tmp_path: Path) -> None:
    out = render(pose2sim, tmp_path / "cut.mp4", frames=37)
    assert out.name == "cut.partial.mp4"
    facts = stream_facts(out)
    assert facts["frames"] == 37
    assert facts["codec"] == "h264"


@pytest.mark.e2e
def test_killed_run_plays_to_its_last_fragment(tmp_path: Path) -> None:
    """SIGKILL while writing: the fragmented MP4 decodes up to its last fragment (<= 1 s lost)."""
    out = tmp_path / "killed.mp4"
    script = textwrap.dedent(
        f"""
        import os, signal, time
        from pathlib import Path
        from fastpose.render.encoder import H264Writer
        from fastpose.render.frames import NativeFrames
        src = Path({str(data_file(CLIP))!r})
        frames = NativeFrames(src, 0)
        w = H264Writer(Path({str(out)!r}), frames.size, frames.timing.time_base, frames.timing.rate)
        for i, pts, frame in frames:
            out = w.frame()
            frames.upright_into(frame, out)
            out.pts = pts
            w.write(out)
            if i == 89:
                break
        while w.frames < 90:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, timeout=scaled(120)
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    decoded = 0
    with av.open(str(out)) as c:  # as a player reads it: up to where the data is cut
        try:
            for packet in c.demux(video=0):
                decoded += len(packet.decode())
        except av.error.InvalidDataError:
            pass
    assert 90 - 60 - 1 <= decoded <= 90, decoded  # 60 fps: at most a fragment (1 s) lost


def test_yuv_drawing_matches_rgb_drawing(pose2sim: Tracked_) -> None:
    """Drawing on the YUV planes shows what drawing on RGB (the plain reference) shows, labels
    beside the joints (angles, later) included."""
    poses, info = pose2sim.poses, pose2sim.info
    t = int(np.flatnonzero(poses.detected.any(axis=1))[len(poses) // 2])
    with av.open(str(pose2sim.path)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == t)
    source = frame.to_ndarray(format="rgb24")
    rgb, plain = source.copy(), source.copy()
    frame.make_writable()
    w, h = info.width, info.height
    lm = poses.landmarks[t]
    visible = (lm[..., 3] >= MIN_VISIBILITY) & ~np.isnan(lm[..., 0])
    pixels, ids, style = poses.pixels(w, h)[t], poses.ids[t], Style.for_size(w, h)
    elbows = [(13, "93.5"), (14, "120.0")]
    assert visible[0, 13] and visible[0, 14]
    labels = [elbows] * len(ids)
    draw_people(RgbCanvas(rgb), pixels, visible, ids, style, labels)
    draw_people(RgbCanvas(plain), pixels, visible, ids, style)
    draw_people(YuvCanvas(*planes(frame)), pixels, visible, ids, style, labels)
    from_yuv = frame.to_ndarray(format="rgb24").astype(int)
    mask = drawn_mask(poses, t, (w, h), labels)
    diff = np.abs(from_yuv - rgb)[mask]
    # the same picture, up to chroma at half size along the drawing's edges
    assert np.median(diff) <= 3, np.median(diff)
    assert np.mean(diff) <= 8, np.mean(diff)
    assert np.array_equal(rgb[~mask], source[~mask]), "nothing drawn outside the mask"
    x, y = pixels[0, 13].astype(int)
    beside = (slice(y - 30, y + 10), slice(x + 8, x + 120))
    assert (rgb[beside] != plain[beside]).any(axis=2).sum() > 100, "the label is drawn"


def test_unusable_outputs_fail_before_any_frame(tmp_path: Path) -> None:
    from fastpose.video import VideoSource

    with pytest.raises(OutputError, match=r"expected a \.mp4 file"):
        VideoRenderer(tmp_path / "out.avi")
    path = data_file(CLIP)
    with VideoSource(path) as source:
        info = source.info
    sink = VideoRenderer(path)  # the source itself
    with pytest.raises(OutputError, match="would replace its source"):
        sink.open(SinkContext(info, (360, 640), 1), TmpStaging())
    camera = replace(info, uri="0", num_frames=None, backend="opencv")
    with pytest.raises(OutputError, match="needs a video file, not a camera or stream"):
        VideoRenderer(tmp_path / "cam.mp4").open(SinkContext(camera, (640, 480), 1), TmpStaging())
    assert not list(tmp_path.iterdir())
    bad = VideoRenderer(tmp_path / "bad.mp4", preset="nonsense")
    with pytest.raises(OutputError, match="cannot write the video"):
        bad.open(SinkContext(info, (360, 640), 1), TmpStaging())
    bad.close(complete=False)


@pytest.mark.parametrize("kind", ["mpegts", "raw h264"])
def test_containers_without_an_index_keep_every_frame(kind: str, tmp_path: Path) -> None:
    """MPEG-TS (no index) and a raw H.264 stream (no times): every frame, in order, at the
    stream's rate; poses with nobody in them leave the frames as they are."""
    from fastpose.video import VideoSource

    src = data_file(CLIP)
    if kind == "mpegts":
        path = remux_mpegts(src, tmp_path / "clip.ts", 100)
    else:
        path = raw_h264(src, tmp_path / "clip.h264")
    with VideoSource(path) as source:
        info, layout = source.info, source.layout
        idx = [b.frame_idx for b in source]
    sink = VideoRenderer(tmp_path / "out.mp4")
    sink.open(SinkContext(info, (360, 640), 1, layout=layout), TmpStaging())
    for frame_idx in idx:
        sink.write(Tracked(poses=_nobody(frame_idx, info.fps)))
    sink.close(complete=True)
    out = tmp_path / "out.partial.mp4"
    facts = stream_facts(out)
    assert facts["frames"] == info.num_frames == sum(len(i) for i in idx)
    np.testing.assert_allclose(np.diff(facts["times"]), 1 / info.fps, atol=1e-3)
    output, source = rgb_frames(out), source_frames(src, 0)
    assert len(output) <= len(source)
    for got, want in zip(output[::10], source[::10], strict=False):
        assert np.abs(got.astype(int) - want).mean() <= BACKGROUND_MEAN_DIFF


def _nobody(frame_idx: np.ndarray, fps: float) -> PoseBatch:
    n, times = len(frame_idx), frame_idx / fps
    return PoseBatch(
        frame_idx,
        times,
        times.copy(),
        np.full((n, 1, 33, 5), np.nan, np.float32),
        np.full((n, 1, 33, 3), np.nan, np.float32),
        track_ids=np.full((n, 1), -1, np.int32),
    )


def test_odd_sized_444_source_rendered_420_cropped_to_even(tmp_path: Path) -> None:
    """A 4:4:4 source of odd size: converted to 4:2:0, the last column and row dropped."""
    from fastpose.video import VideoSource

    source_rgb = [f[:641, :361] for f in rgb_frames(data_file(CLIP))[:12]]
    src = tmp_path / "odd444.mp4"
    with av.open(str(src), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 361, 641, "yuv444p"
        for image in source_rgb:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    with VideoSource(src) as source:
        info, layout = source.info, source.layout
        batches = [_nobody(b.frame_idx, info.fps) for b in source]
    sink = VideoRenderer(tmp_path / "out.mp4")
    sink.open(SinkContext(info, (361, 641), 1, layout=layout), TmpStaging())
    for batch in batches:
        sink.write(Tracked(poses=batch))
    sink.close(complete=True)
    out = tmp_path / "out.partial.mp4"
    facts = stream_facts(out)
    assert (facts["size"], facts["pix_fmt"], facts["frames"]) == ((360, 640), "yuv420p", 12)
    for got, want in zip(rgb_frames(out), rgb_frames(src), strict=True):
        assert np.abs(got.astype(int) - want[:640, :360]).mean() <= BACKGROUND_MEAN_DIFF


def test_frames_without_poses_copied_as_they_are(pose2sim: Tracked_, tmp_path: Path) -> None:
    """Frames the tracker has no poses for (it failed to decode them) are still in the video,
    as the source shows them; the frames around them have their skeletons."""
    poses = pose2sim.poses
    gap = [20, 21, 22]
    assert poses.detected[gap].all() and poses.detected[23]
    keep = np.setdiff1d(np.arange(len(poses)), gap)
    holed = PoseBatch(
        poses.frame_idx[keep],
        poses.time_s[keep],
        poses.pts_s[keep],
        poses.landmarks[keep],
        poses.world[keep],
        None,
        poses.track_ids[keep],
    )
    tracked = replace(pose2sim, batches=[holed.take(slice(a, a + 16)) for a in range(0, 97, 16)])
    out = render(tracked, tmp_path / "holed.mp4")
    output = rgb_frames(out)
    source = source_frames(pose2sim.path, 0)
    assert len(output) == len(source)
    for t in gap:
        assert np.abs(output[t].astype(int) - source[t]).mean() <= BACKGROUND_MEAN_DIFF
    drawn = drawn_mask(poses, 23, (pose2sim.info.width, pose2sim.info.height))
    assert np.abs(output[23].astype(int) - source[23])[drawn].mean() > 10

"""Faults of batches and outputs, with real clips, processes, signals and a real full disk: two
batches on one folder, a disk that fills up (``fastpose run`` and ``fastpose batch``), batches
killed with SIGKILL and resumed, and a staged file gone when it should be moved into place."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from clips import transcode
from conftest import ROOT, data_file, read_rrd, run_cli

FAST = ("--no-segment", "--no-progress", "--workers", "1")
CLIP_FRAMES = 10  # frames of each small clip


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    """pose_squats re-encoded at 180x320, 10 frames: quick to track, a person in every frame."""
    folder = tmp_path_factory.mktemp("small")
    return transcode(data_file("pose_squats.mp4"), folder / "squats.mp4", (180, 320), CLIP_FRAMES)


def _clips(folder: Path, src: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        shutil.copyfile(src, folder / f"v{i:02d}.mp4")
    return folder


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "summary.csv").open(newline="") as f:
        return {Path(r["video"]).stem: r for r in csv.DictReader(f)}


def _verify(out: Path, names: list[str], frames: int) -> None:
    """Every video's recording passes ``rerun rrd verify`` and, as its table, holds every frame."""
    rrds = [out / f"{n}.rrd" for n in names]
    verify = subprocess.run(
        [shutil.which("rerun") or "rerun", "rrd", "verify", *map(str, rrds)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for name, rrd in zip(names, rrds, strict=True):
        assert read_rrd(rrd).frames["video/pose/points"] == set(range(frames)), name
        table = pq.read_table(out / f"{name}.parquet", columns=["frame_idx"])
        assert set(table.column(0).to_pylist()) == set(range(frames)), name


def _batch(clips: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fastpose", "batch", str(clips), "--out", str(out), *FAST,
            "--max-frames", str(CLIP_FRAMES), *extra]  # fmt: skip


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "re_sdk" not in stderr and "re_log_encoding" not in stderr, stderr  # Rerun's own log


# --- two batches on one folder ------------------------------------------------------------------


@pytest.mark.e2e
def test_two_batches_on_one_folder_never_corrupt_an_output(tmp_path, small_clip):
    """Two `fastpose batch` processes on one folder, three rounds (a new folder, both at once; a
    new folder, the second 2 s late; that folder again, both with --overwrite, redoing finished
    outputs under each other's feet): every output verifies and holds every frame, each video is
    done once (but with --overwrite) while the other batch says it skipped it, the summary lists
    every video done, and a third run finds all complete."""
    clips = _clips(tmp_path / "clips", small_clip, 12)
    names = [f"v{i:02d}" for i in range(12)]
    rounds = [("out1", (), 0.0), ("out2", (), 2.0), ("out2", ("--overwrite",), 1.0)]
    for folder, extra, delay in rounds:
        out = tmp_path / folder
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = []
        for i, log in enumerate(logs):
            time.sleep(delay if i else 0)
            with log.open("w") as err:
                procs.append(subprocess.Popen(_batch(clips, out, *extra), cwd=ROOT, stderr=err))
        codes = [p.wait(timeout=600) for p in procs]
        stderr = [log.read_text() for log in logs]
        assert codes == [0, 0], stderr
        for text in stderr:
            _no_traceback(text)
        _verify(out, names, CLIP_FRAMES)
        rows = _summary(out)
        assert {n: rows[n]["status"] for n in names} == dict.fromkeys(names, "done"), rows
        for name in names:  # each video done by one batch at least; the other said why not
            said = [t for t in stderr if f"{name}.mp4: done" in t]
            assert said, stderr
            if not extra:
                assert len(said) == 1, stderr
    third = run_cli("batch", clips, "--out", out, *FAST, "--max-frames", CLIP_FRAMES)
    assert third.returncode == 0, third.stderr
    assert "12 of 12 videos already have their outputs" in third.stderr, third.stderr
    assert not (out / ".incomplete").exists(), list((out / ".incomplete").iterdir())


def test_batches_starting_together_both_find_the_folder_writable(tmp_path):
    """The race the test above lost in CI (2026-12-07): two batches probing a new --out folder at
    once, one removing the probe the other had made ("cannot write there (No such file...)").
    Here 8 threads probe one folder 200 times each: every probe passes, none is left behind."""
    from concurrent.futures import ThreadPoolExecutor

    from fastpose.batching.driver import _output_folder

    out = tmp_path / "out"

    def probe_many(_: int) -> None:
        for _ in range(200):
            _output_folder(out)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(probe_many, range(8)))
    assert list(out.iterdir()) == []


def test_a_skip_never_replaces_the_row_another_batch_wrote_meanwhile(tmp_path):
    """The race the test above once lost (2026-12-06, 1 run of 6): batch B reads the summary,
    then finds v00's outputs, which batch A had just made, and skips it; A writes its ``done``
    row, then B writes: A's row stands. v01, whose row B had read (an earlier run's), gets B's
    ``skipped`` row, as a resumed batch's does; v02, which no summary listed, gets it too."""
    from fastpose.batching.summary import SUMMARY_NAME, SummaryRow, read_summary, write_summary

    path = tmp_path / SUMMARY_NAME
    write_summary(path, [SummaryRow("v01.mp4", "done", frames=10, seconds=2.5)])
    seen_by_b = read_summary(path)
    done_by_a = SummaryRow("v00.mp4", "done", frames=10, frames_with_person=10, seconds=1.25)
    write_summary(path, [done_by_a], seen=read_summary(path))
    skip = {"status": "skipped", "frames": 10, "message": "outputs exist"}
    names = ("v00.mp4", "v01.mp4", "v02.mp4")
    write_summary(path, [SummaryRow(n, **skip) for n in names], seen=seen_by_b)
    rows = read_summary(path)
    assert rows["v00.mp4"] == done_by_a, rows
    assert [rows[n].status for n in names[1:]] == ["skipped", "skipped"], rows
    write_summary(path, [SummaryRow("v00.mp4", **skip)], seen=read_summary(path))  # resumed
    assert read_summary(path)["v00.mp4"].status == "skipped"


def test_a_video_done_by_another_batch_meanwhile_is_not_redone(tmp_path, small_clip):
    """A batch that finds a video's outputs made by another batch since it started skips it and
    says so (no work redone, the finished files left as they are)."""
    clips = _clips(tmp_path / "clips", small_clip, 3)
    out = tmp_path / "out"
    first = run_cli("batch", clips / "v01.mp4", "--out", out, *FAST, "--max-frames", CLIP_FRAMES)
    assert first.returncode == 0, first.stderr
    before = (out / "v01.rrd").stat()
    from fastpose.batching.job import Job, track_job
    from fastpose.options import TrackOptions

    job = Job(clips / "v01.mp4", out / "v01.rrd", out / "v01.parquet")
    row = track_job(job, TrackOptions.create(workers=1, segment=False, max_frames=CLIP_FRAMES))
    assert row.status == "skipped" and "another batch" in row.message, row
    after = (out / "v01.rrd").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_staged_file_gone_at_rename_time_is_one_line(tmp_path):
    """A working file removed before the run ends (by hand, a cleaner): an OutputError naming
    it, the other files not moved into place half."""
    from fastpose.errors import OutputError
    from fastpose.transaction import Transaction

    staging = tmp_path / ".incomplete"
    staging.mkdir()
    t = Transaction(lambda final: staging / final.name, numbered=False, last=tmp_path / "x.rrd")
    table = t.claim(tmp_path / "x.parquet")
    rrd = t.claim(tmp_path / "x.rrd")
    table.write_bytes(b"table")
    rrd.unlink()
    with pytest.raises(OutputError) as caught:
        t.finish(complete=True, frames=3)
    message = str(caught.value)
    assert "\n" not in message and "x.rrd" in message and "is gone" in message, message
    assert not (tmp_path / "x.rrd").exists()


# --- a full disk --------------------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(path: Path, size: str = "3m") -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``path``; the test is skipped, saying why, where none can be
    mounted (not root, no mount permission)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk needs a tmpfs: mounting one needs root (not root here)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.e2e
@pytest.mark.parametrize("outputs", [("--save",), ("--save", "--export")], ids=["save", "both"])
def test_run_on_a_full_disk_stops_early_in_one_line(tmp_path, outputs):
    """`fastpose run` to a 3 MB tmpfs: one line on stderr (-q) saying "no space left on device"
    and naming what it kept, exit 1, stopped at the first failed write (long before the clip's
    end), no file under a final name."""
    with _tmpfs(tmp_path / "small") as small:
        args = ["run", data_file("sports2d_demo.mp4"), "--video-mode", "jpeg", "-q", *FAST[:2]]
        args += ["--max-frames", "200", "--workers", "1"]
        if "--save" in outputs:
            args += ["--save", small / "x.rrd"]
        if "--export" in outputs:
            args += ["--export", small / "x.parquet"]
        started = time.monotonic()
        result = run_cli(*args)
        elapsed = time.monotonic() - started
        _no_traceback(result.stderr)
        lines = _error_lines(result.stderr)
        assert result.returncode == 1, result.stderr
        assert len(lines) == 1, result.stderr
        line = lines[0]
        assert "no space left on device" in line, line
        assert str(small / "x.partial.rrd") in line, line
        frames = int(line.split(" frames")[0].rsplit(" ", 1)[1])
        assert 0 < frames < 150, (line, elapsed)  # stopped early, not at the 200th frame
        assert not (small / "x.rrd").exists() and not (small / "x.parquet").exists()
        kept = subprocess.run(
            [shutil.which("rerun") or "rerun", "rrd", "print", str(small / "x.partial.rrd")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Chunk" in kept.stdout, kept.stderr  # the kept part reads back


def _fill(folder: Path) -> None:
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as f:
        while True:  # to the last byte
            f.write(b"\0" * 65536)
            f.flush()


@pytest.mark.e2e
def test_run_on_a_disk_already_full_says_nothing_was_kept(tmp_path):
    """`fastpose run --save` to a full tmpfs: the recording's first bytes fail; one line, exit 1,
    no file left, and none of Rerun's own lines (it logs the blueprint's data as lost)."""
    with _tmpfs(tmp_path / "small") as small:
        _fill(small)
        result = run_cli(
            "run", data_file("pose_squats.mp4"), "--save", small / "x.rrd", "-q", *FAST,
            "--max-frames", "5",
        )  # fmt: skip
        _no_traceback(result.stderr)
        assert result.returncode == 1, result.stderr
        assert _error_lines(result.stderr) == [
            f"fastpose: {small / 'x.rrd'}: no space left on device; nothing kept"
        ], result.stderr
        assert sorted(p.name for p in small.iterdir()) == ["filler"]


@pytest.mark.e2e
def test_batch_on_a_full_disk_fails_each_video_in_one_line_and_reports_the_summary(
    tmp_path, small_clip
):
    """`fastpose batch --out` a full 3 MB tmpfs: each video fails in one line saying so, the
    summary, which can't be written, is printed instead, exit 1, no traceback."""
    clips = _clips(tmp_path / "clips", small_clip, 3)
    with _tmpfs(tmp_path / "small") as small:
        out = small / "out"
        out.mkdir()
        _fill(small)
        proc = subprocess.run(
            _batch(clips, out, "--video-mode", "jpeg"), cwd=ROOT, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        _no_traceback(proc.stderr)
        assert proc.returncode == 1, proc.stderr
        lines = _error_lines(proc.stderr)
        for name in ("v00", "v01", "v02"):
            said = [ln for ln in lines if ln.startswith(f"fastpose: {name}.mp4: failed")]
            assert len(said) == 1, proc.stderr
            assert "no space left on device" in said[0], said
            assert any(ln == f"  {clips / name}.mp4: failed {said[0].split(': failed: ')[1]}"
                       for ln in lines), proc.stderr  # fmt: skip
        assert not (out / "summary.csv").exists()
        assert "cannot write the summary (no space left on device)" in proc.stderr, proc.stderr
        assert "3 videos: 3 failed" in lines[-1], proc.stderr
        assert not [p for p in out.rglob("*") if p.is_file()], list(out.rglob("*"))


# --- killed, then resumed -----------------------------------------------------------------------


def _kill_mid_video(cmd: list[str], out: Path, log: Path, done_before: int) -> None:
    """Start ``cmd`` in its own process group and SIGKILL the group once a video is staged
    (written under .incomplete) after ``done_before`` recordings are complete."""
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            done = len(list(out.glob("*.rrd")))
            staged = [p for p in (out / ".incomplete").glob("*.rrd") if p.stat().st_size > 0] if (
                out / ".incomplete").is_dir() else []  # fmt: skip
            if done >= done_before and staged:
                break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.e2e
def test_killed_twice_then_resumed_leaves_nothing_staged(tmp_path):
    """SIGKILL during a video, twice (the second run resuming the first's folder), then a full
    run: every video done and complete, `.incomplete/` gone (a completed video leaves nothing)."""
    src = transcode(data_file("pose_squats.mp4"), tmp_path / "squats.mp4", (180, 320), 40)
    clips = _clips(tmp_path / "clips", src, 4)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fastpose", "batch", str(clips), "--out", str(out), *FAST]
    _kill_mid_video(cmd, out, tmp_path / "1.log", done_before=0)
    assert list((out / ".incomplete").iterdir())  # the killed run left its staged files
    _kill_mid_video(cmd, out, tmp_path / "2.log", done_before=1)
    final = run_cli(*cmd[3:])
    assert final.returncode == 0, final.stderr
    _no_traceback(final.stderr)
    names = [f"v{i:02d}" for i in range(4)]
    _verify(out, names, 40)
    assert {r["status"] for r in _summary(out).values()} <= {"done", "skipped"}
    assert not (out / ".incomplete").exists(), list((out / ".incomplete").iterdir())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{n}.rrd" for n in names), *(f"{n}.parquet" for n in names), "summary.csv"]
    )


def test_what_a_run_killed_after_its_video_completed_left_is_cleared(tmp_path, small_clip):
    """The files a batch killed between completing a video and releasing it leaves (its lock
    file, a staged table of an earlier try, a summary's temporary file): the next batch, which
    finds the video complete and skips it, removes them."""
    clips = _clips(tmp_path / "clips", small_clip, 1)
    out = tmp_path / "out"
    cmd = ["batch", clips, "--out", out, *FAST, "--max-frames", CLIP_FRAMES]
    first = run_cli(*cmd)
    assert first.returncode == 0, first.stderr
    staging = out / ".incomplete"
    staging.mkdir()
    (staging / "v00.lock").touch()  # the kernel released a dead holder's lock, not its file
    (staging / "v00.parquet").write_bytes(b"PAR1 cut short")
    (out / ".summary.csv.999999.partial").write_text("video,status\n")
    again = run_cli(*cmd)
    assert again.returncode == 0, again.stderr
    assert "1 of 1 videos already have their outputs" in again.stderr, again.stderr
    assert not staging.exists(), list(staging.iterdir())
    assert not (out / ".summary.csv.999999.partial").exists()
    _verify(out, ["v00"], CLIP_FRAMES)

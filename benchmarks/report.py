"""The benchmark session's results: one row per measurement, the figures issue 11 sets targets for,
and both as a markdown report."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.measure import ROOT, cpu_model
from fastpose.tracker import default_workers

BASELINE, DECODE, LANDMARKER, PIPELINE = "a baseline", "b decode", "c landmarker", "d fastpose run"
DECODE_DECORD = "b decode with decord"  # the decoder the design first chose, for comparison
#: Issue 11's targets, per clip: speed-up of `fastpose run` (all workers, whole process, launch to
#: exit) over the baseline's whole process.
SPEEDUP_TARGETS = {"1080x1920": 3.5, "480x854": 2.5}
#: On this clip the first frame must reach the outputs this soon after launch (seconds).
FIRST_FRAME_CLIP, FIRST_FRAME_TARGET = "1080x1920", 1.5
CORES_BUSY_TARGET = 1.7  # N landmarkers on N = 2 cores
PER_BUSY_CORE_TARGET = 0.95  # frames per busy core, N landmarkers / 1
OVERHEAD_TARGET = 1.15  # CPU per frame / (decode + scale + inference, each measured alone)
#: From this many frames on, frames/s must reach this share of cores / (decode + infer CPU/frame).
CEILING_FRAMES, CEILING_TARGET = 3000, 0.85
MEMORY_CLIP, MEMORY_TARGET = "1080x1920", 1024 * 1024 * 1024  # all processes of an N-landmarker run
#: On this clip the recording must take at most this fraction of the baseline's bytes per frame.
RRD_TARGET_CLIP, RRD_TARGET = "1080x1920", 0.5
MB = 1024 * 1024


@dataclass(frozen=True)
class Measurement:
    """One benchmark: the best of its rounds for time, the worst for memory."""

    clip: str  # "1080x1920" or "480x854"
    kind: str  # BASELINE, DECODE, LANDMARKER or PIPELINE
    frames: int
    seconds: float  # wall time of the fastest round
    rounds: int
    cpu_s: float | None = None  # CPU seconds (all threads and processes) of that round
    requested_workers: int | None = None  # `fastpose run --workers N`
    workers: int | None = None  # landmarkers `fastpose run` actually used
    with_person: int | None = None  # frames in which a person was found
    rrd_bytes: int | None = None
    peak_rss: int | None = None  # bytes: a process and its workers together (in_process: growth)
    peak_process_rss: int | None = None  # bytes: the largest single process
    first_frame_s: float | None = None  # launch to first logged frame
    steady_cpu_s: float | None = None  # CPU seconds from the first logged frame to the end
    reported_fps: float | None = None  # fastpose's summary line (time inside the tracker)
    in_process: bool = False  # measured inside pytest: peak_rss is how far pytest's RSS grew
    round_seconds: tuple[float, ...] = ()  # every round's wall time, in the order run

    def __post_init__(self) -> None:
        if self.frames < 1 or self.seconds <= 0:
            raise ValueError(f"Measurement: expected frames >= 1 and seconds > 0, got {self}")

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    @property
    def ms_per_frame(self) -> float:
        return 1000 * self.seconds / self.frames

    @property
    def cores_busy(self) -> float | None:
        """Average cores kept busy: CPU time over wall time."""
        return None if self.cpu_s is None else self.cpu_s / self.seconds

    @property
    def cpu_ms_per_frame(self) -> float | None:
        return None if self.cpu_s is None else 1000 * self.cpu_s / self.frames

    @property
    def steady_cpu_ms_per_frame(self) -> float | None:
        """CPU per frame from the first logged frame on (start-up left out)."""
        return None if self.steady_cpu_s is None else 1000 * self.steady_cpu_s / self.frames

    @property
    def rrd_bytes_per_frame(self) -> float | None:
        return None if self.rrd_bytes is None else self.rrd_bytes / self.frames

    @property
    def label(self) -> str:
        if self.kind != PIPELINE:
            return self.kind
        used = "" if self.workers == self.requested_workers else f" (used {self.workers})"
        return f"{self.kind} --workers {self.requested_workers}{used}"

    def info(self) -> dict[str, object]:
        """The row as ``benchmark.extra_info`` keeps it."""
        return {**asdict(self), "fps": self.fps, "rrd_bytes_per_frame": self.rrd_bytes_per_frame}


@dataclass(frozen=True)
class Figure:
    """A derived figure, with the target it is held to (if any)."""

    clip: str
    name: str
    value: float
    target: str = ""
    met: bool | None = None
    percent: bool = False  # shown as a percentage


@dataclass
class Results:
    """Everything measured in one session, in the order it was measured."""

    frames: int
    rounds: int
    load_before: tuple[float, float, float] = field(default_factory=os.getloadavg)
    started: float = field(default_factory=time.time)
    rows: list[Measurement] = field(default_factory=list)

    def add(self, row: Measurement) -> Measurement:
        self.rows.append(row)
        return row

    def find(self, clip: str, kind: str, *, workers: int | None = None) -> Measurement | None:
        """The row of ``clip`` and ``kind``; for the pipeline, the one run with ``--workers``."""
        for row in self.rows:
            if row.clip == clip and row.kind == kind and workers in (None, row.requested_workers):
                return row
        return None

    def _parallel(self, clip: str) -> Measurement | None:
        """The pipeline run with the most workers asked for, if more than one."""
        runs = [r for r in self.rows if r.clip == clip and r.kind == PIPELINE]
        best = max(runs, key=lambda r: r.requested_workers or 0, default=None)
        return best if best is not None and (best.requested_workers or 0) > 1 else None

    def figures(self, clip: str) -> list[Figure]:
        """Issue 11's figures for ``clip``, from whatever has been measured so far."""
        base = self.find(clip, BASELINE)
        one = self.find(clip, PIPELINE, workers=1)
        many = self._parallel(clip)
        out: list[Figure] = []
        if base and many:
            n, target = many.requested_workers, SPEEDUP_TARGETS.get(clip)
            ratio = many.fps / base.fps
            met = None if target is None else ratio >= target
            wanted = f">= {target}x" if target else ""
            name = f"speed-up, whole process: fastpose run --workers {n} / baseline"
            out.append(Figure(clip, name, ratio, wanted, met))
        if base and one:
            name = "speed-up, whole process: fastpose run --workers 1 / baseline"
            out.append(Figure(clip, name, one.fps / base.fps))
        if many and many.first_frame_s is not None:
            name = f"s from launch to the first logged frame (--workers {many.requested_workers})"
            if clip == FIRST_FRAME_CLIP:
                wanted, met = f"<= {FIRST_FRAME_TARGET}", many.first_frame_s <= FIRST_FRAME_TARGET
                out.append(Figure(clip, name, many.first_frame_s, wanted, met))
            else:
                out.append(Figure(clip, name, many.first_frame_s))
        if one and many:
            out += self._cores(clip, one, many)
        out += self._cpu(clip, many or one)
        out += self._memory(clip, many)
        out += self._shares(clip, one)
        out += self._rrd(clip, base, many or one)
        return out

    def _cores(self, clip: str, one: Measurement, many: Measurement) -> list[Figure]:
        """Cores kept busy by N landmarkers, and the frames each busy core makes against one's."""
        out = []
        n = many.requested_workers or 1
        if many.cores_busy:
            met = many.cores_busy >= CORES_BUSY_TARGET if n == 2 else None
            wanted = f">= {CORES_BUSY_TARGET}" if n == 2 else ""
            name = f"cores busy, --workers {n}"
            out.append(Figure(clip, name, many.cores_busy, wanted, met))
        if one.cores_busy and many.cores_busy:
            ratio = (many.fps / many.cores_busy) / (one.fps / one.cores_busy)
            name = f"frames/s per busy core: --workers {n} / --workers 1"
            wanted = f">= {PER_BUSY_CORE_TARGET:.0%}"
            out.append(Figure(clip, name, ratio, wanted, ratio >= PER_BUSY_CORE_TARGET, True))
        paired = [a / b for a, b in zip(one.round_seconds, many.round_seconds, strict=False)]
        if len(paired) > 1:  # the 1- and N-landmarker runs of a round ran back to back
            each = ", ".join(f"{e:.2f}" for e in paired)
            name = f"speed-up --workers {n} / --workers 1, round by round ({each}): median"
            out.append(Figure(clip, name, statistics.median(paired)))
        return out

    def _cpu(self, clip: str, run: Measurement | None) -> list[Figure]:
        """CPU per frame against decode + scale + inference measured alone, and frames/s against
        what the cores could do at that CPU per frame."""
        decode, infer = self.find(clip, DECODE), self.find(clip, LANDMARKER)
        if not (run and decode and infer and decode.cpu_ms_per_frame and infer.cpu_ms_per_frame):
            return []
        alone = decode.cpu_ms_per_frame + infer.cpu_ms_per_frame
        n = run.requested_workers
        out = [Figure(clip, "CPU ms/frame of decode + scale + inference, each alone", alone)]
        if run.cpu_ms_per_frame:
            name = f"CPU per frame, whole process (--workers {n}) / decode + scale + inference"
            out.append(Figure(clip, name, run.cpu_ms_per_frame / alone, percent=True))
        if run.steady_cpu_ms_per_frame:
            ratio = run.steady_cpu_ms_per_frame / alone
            name = (
                f"CPU per frame after the first frame (--workers {n}) / decode + scale + inference"
            )
            wanted = f"<= {OVERHEAD_TARGET:.0%}"
            out.append(Figure(clip, name, ratio, wanted, ratio <= OVERHEAD_TARGET, True))
        ceiling = min(n or 1, default_workers()) * 1000 / alone
        ratio = run.fps / ceiling
        name = f"frames/s (--workers {n}) / (cores / CPU per frame of decode + scale + inference)"
        if run.frames >= CEILING_FRAMES:
            wanted = f">= {CEILING_TARGET:.0%}"
            out.append(Figure(clip, name, ratio, wanted, ratio >= CEILING_TARGET, True))
        else:
            out.append(Figure(clip, f"{name} (target from {CEILING_FRAMES} frames)", ratio,
                              percent=True))  # fmt: skip
        return out

    def _memory(self, clip: str, many: Measurement | None) -> list[Figure]:
        if many is None or many.peak_rss is None:
            return []
        name = f"peak RSS MB, all processes (--workers {many.requested_workers})"
        value = many.peak_rss / MB
        if clip == MEMORY_CLIP:
            wanted, met = f"<= {MEMORY_TARGET // MB}", many.peak_rss <= MEMORY_TARGET
            return [Figure(clip, name, value, wanted, met)]
        return [Figure(clip, name, value)]

    def _shares(self, clip: str, one: Measurement | None) -> list[Figure]:
        """Decode and inference ms/frame as shares of the 1-worker pipeline's ms/frame."""
        if one is None:
            return []
        out = []
        for kind in (DECODE, LANDMARKER):
            row = self.find(clip, kind)
            if row is not None:
                name = f"{kind[2:]} share of the 1-worker time per frame"
                out.append(Figure(clip, name, row.ms_per_frame / one.ms_per_frame, percent=True))
        rest = 1 - sum(f.value for f in out)
        if len(out) == 2 and rest >= 0:  # below 0 when decoding overlaps inference
            name = "rest of it (start-up, smoothing, logging)"
            out.append(Figure(clip, name, rest, percent=True))
        return out

    def _rrd(self, clip: str, base: Measurement | None, ours: Measurement | None) -> list[Figure]:
        if not (base and ours and base.rrd_bytes and ours.rrd_bytes):
            return []
        ratio = ours.rrd_bytes_per_frame / base.rrd_bytes_per_frame
        name = ".rrd bytes/frame: fastpose / baseline"
        if clip == RRD_TARGET_CLIP:
            return [Figure(clip, name, ratio, f"<= {RRD_TARGET}", ratio <= RRD_TARGET)]
        return [Figure(clip, name, ratio)]

    def markdown(self) -> str:
        clips = list(dict.fromkeys(r.clip for r in self.rows))
        lines = [*self._header(), "", "## Measurements", "", *_rows_table(self.rows), ""]
        figures = [f for c in clips for f in self.figures(c)]
        lines += ["## Against the targets of issue 11", "", *_figures_table(figures)]
        return "\n".join(lines) + "\n"

    def _header(self) -> list[str]:
        load_after, started = os.getloadavg(), time.localtime(self.started)
        return [
            "# fastpose benchmarks",
            "",
            f"- machine: {cpu_model()}, {os.cpu_count()} cores, {platform.machine()}, no GPU; "
            f"Python {platform.python_version()}, {_versions()}",
            f"- fastpose: {_revision()}; run {time.strftime('%Y-%m-%d %H:%M', started)}",
            f"- {self.frames} frames per clip, best of {self.rounds} round(s); "
            f"load average (1 min) {self.load_before[0]:.2f} before, {load_after[0]:.2f} after",
            "- other jobs may share this machine (see the load average): the figures are noisy",
        ]


def _versions() -> str:
    parts = []
    for name in ("mediapipe", "rerun-sdk", "decord", "opencv-contrib-python"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts)


def _revision() -> str:
    """The commit measured, flagged when the working tree differs from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "fastpose")
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{head}{' + uncommitted changes in fastpose/' if dirty else ''}"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _mb(value: int | None) -> str:
    return "–" if value is None else f"{value / MB:.0f}"


def _rows_table(rows: list[Measurement]) -> list[str]:
    columns = [
        "clip", "measure", "frames", "s", "frames/s", "ms/frame", "cores busy",
        "frames with a person", ".rrd bytes/frame", "peak RSS MB (all processes)",
        "largest process MB", "s to first logged frame", "CPU ms/frame",
        "CPU ms/frame after the first frame", "fastpose's own frames/s",
    ]  # fmt: skip
    out = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for r in rows:
        cells = [
            r.clip, r.label, str(r.frames),
            f"{r.seconds:.1f}", f"{r.fps:.1f}", f"{r.ms_per_frame:.1f}", _num(r.cores_busy, ".2f"),
            _num(r.with_person, "d"), _num(r.rrd_bytes_per_frame, ",.0f"),
            f"+{_mb(r.peak_rss)} in pytest" if r.in_process else _mb(r.peak_rss),
            _mb(r.peak_process_rss),
            _num(r.first_frame_s, ".2f"), _num(r.cpu_ms_per_frame, ".1f"),
            _num(r.steady_cpu_ms_per_frame, ".1f"), _num(r.reported_fps, ".1f"),
        ]  # fmt: skip
        out.append("| " + " | ".join(cells) + " |")
    return out


def _figures_table(figures: list[Figure]) -> list[str]:
    out = ["| clip | figure | value | target | met |", "| --- | --- | --- | --- | --- |"]
    for f in figures:
        value = f"{f.value:.0%}" if f.percent else f"{f.value:.2f}"
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        out.append(f"| {f.clip} | {f.name} | {value} | {f.target} | {met} |")
    return out


def write(results: Results, path: Path) -> str:
    """Write the report to ``path``; returns its text."""
    text = results.markdown()
    path.write_text(text)
    return text

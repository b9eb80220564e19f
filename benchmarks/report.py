"""The benchmark session's report: a row per benchmark, each clip's ratio to the baseline loop,
the figures issues 11, 13, 18 and 19 set targets for, as markdown with the date and the machine.

pytest-benchmark times each benchmark and prints its own table (grouped per clip, so the baseline
and fastpose stand side by side); a :class:`Row` adds what it doesn't know (frames, CPU, memory,
start-up) and its best time, so the ratios can be taken. The report is printed at the end of the
session and written only where ``--fastpose-report PATH`` says.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.measure import ROOT, cpu_model

MB = 1024 * 1024
#: Issue 11's targets: speed-up of `fastpose run` (all landmarkers, whole process) over the
#: baseline's whole process, per clip.
SPEEDUP_TARGETS = {"1080x1920": 3.5, "480x854": 2.5}
#: On this clip the first frame must reach the outputs this soon after launch (seconds).
FIRST_FRAME_CLIP, FIRST_FRAME_TARGET = "1080x1920", 1.5
CORES_BUSY_TARGET = 1.7  # N landmarkers on N = 2 cores
OVERHEAD_TARGET = 1.15  # CPU per frame after the first / (decode + inference, each alone)
#: From this many frames on, frames/s must reach this share of cores / (decode + infer CPU/frame).
CEILING_FRAMES, CEILING_TARGET = 3000, 0.85
MEMORY_CLIP, MEMORY_TARGET = "1080x1920", 1024 * MB  # all processes of an N-landmarker run
RRD_TARGET_CLIP, RRD_TARGET = "1080x1920", 0.5  # .rrd bytes per frame, fastpose / baseline
RENDER_TARGET = 1.3  # `run --render` wall / the same run's without it
BATCH_TARGET = 1.8  # `fastpose run` on each of six clips / `fastpose batch` over them, wall
MEASURES_TARGET = 0.05  # angles and speeds: CPU per frame / the tracking run's

# What a row is, for the figures; a group's BASELINE row is what its ratios are taken against.
BASELINE, FASTPOSE, PART = "baseline", "fastpose", "part"


@dataclass(frozen=True)
class Row:
    """One benchmark: its fastest round's wall time and what else was measured in that round
    (memory: the largest round)."""

    group: str  # the pytest-benchmark group it is shown in
    clip: str  # "1080x1920", "480x854", "six clips"...
    name: str  # the command or the part measured
    role: str  # BASELINE, FASTPOSE or PART
    frames: int
    seconds: float
    rounds: int
    cpu_s: float | None = None  # CPU seconds of every thread and process it waited for
    peak_rss: int | None = None  # bytes, the whole process tree
    first_frame_s: float | None = None  # launch to the first logged frame
    steady_cpu_s: float | None = None  # CPU seconds from the first logged frame to the end
    rrd_bytes: int | None = None
    with_person: int | None = None  # frames in which a person was found
    workers: int | None = None  # landmarkers fastpose used
    requested_workers: int | None = None  # `--workers N`

    def __post_init__(self) -> None:
        if self.role not in (BASELINE, FASTPOSE, PART):
            raise ValueError(f"Row.role: expected one of baseline/fastpose/part, got {self.role!r}")
        if self.frames < 1 or self.seconds <= 0 or self.rounds < 1:
            raise ValueError(
                "Row: expected frames >= 1, seconds > 0 and rounds >= 1, got "
                f"{self.frames}, {self.seconds}, {self.rounds}"
            )

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    @property
    def cores_busy(self) -> float | None:
        return None if self.cpu_s is None else self.cpu_s / self.seconds

    @property
    def cpu_ms_per_frame(self) -> float | None:
        return None if self.cpu_s is None else 1000 * self.cpu_s / self.frames

    @property
    def steady_cpu_ms_per_frame(self) -> float | None:
        return None if self.steady_cpu_s is None else 1000 * self.steady_cpu_s / self.frames

    @property
    def rrd_bytes_per_frame(self) -> float | None:
        return None if self.rrd_bytes is None else self.rrd_bytes / self.frames

    def info(self) -> dict[str, object]:
        """The row as ``benchmark.extra_info`` keeps it (and ``--benchmark-json`` writes it)."""
        return {k: v for k, v in {**asdict(self), "fps": self.fps}.items() if v is not None}


@dataclass(frozen=True)
class Figure:
    """A derived figure, with the target it is held to (if any)."""

    clip: str
    name: str
    value: float
    target: str = ""
    met: bool | None = None
    fmt: str = ".2f"


def best_seconds(benchmark, measured: list[float]) -> tuple[float, int]:
    """The fastest round and the number of rounds, as pytest-benchmark timed them; with
    ``--benchmark-disable`` (no stats) as the benchmark measured them itself."""
    stats = getattr(benchmark, "stats", None)
    if stats:
        return stats.stats.min, stats.stats.rounds
    if not measured:
        raise ValueError("best_seconds: expected at least one measured round, got none")
    return min(measured), len(measured)


@dataclass
class Results:
    """Everything measured in one session, in the order it was measured."""

    frames: int
    rounds: int
    load_before: tuple[float, float, float] = field(default_factory=os.getloadavg)
    started: float = field(default_factory=time.time)
    rows: list[Row] = field(default_factory=list)
    extra: list[Figure] = field(default_factory=list)

    def add(self, benchmark, row: Row) -> Row:
        """Keep ``row`` and hand it to pytest-benchmark as the benchmark's extra_info."""
        self.rows.append(row)
        benchmark.extra_info.update(row.info())
        return row

    def find(self, clip: str, name: str) -> Row | None:
        return next((r for r in self.rows if r.clip == clip and r.name == name), None)

    def baseline(self, group: str) -> Row | None:
        return next((r for r in self.rows if r.group == group and r.role == BASELINE), None)

    # -- figures ---------------------------------------------------------------------------
    def figures(self) -> list[Figure]:
        out: list[Figure] = []
        for clip in dict.fromkeys(r.clip for r in self.rows):
            out += self._clip_figures(clip)
        return out + self._batch_figures() + self.extra

    def _runs(self, clip: str) -> list[Row]:
        """`fastpose run` rows of ``clip`` (plain: no --render), fewest workers first."""
        runs = [r for r in self.rows if r.clip == clip and r.role == FASTPOSE]
        runs = [r for r in runs if r.requested_workers and "--render" not in r.name]
        return sorted(runs, key=lambda r: r.requested_workers or 0)

    def _clip_figures(self, clip: str) -> list[Figure]:
        runs = self._runs(clip)
        if not runs:
            return []
        many = runs[-1]
        n = many.requested_workers
        base = next((r for r in self.rows if r.clip == clip and r.role == BASELINE), None)
        out: list[Figure] = []
        if base is not None:
            for run in runs:
                target = SPEEDUP_TARGETS.get(clip) if run is many and n and n > 1 else None
                out.append(figure(
                    clip, f"speed-up, whole process: {run.name} / baseline", run.fps / base.fps,
                    target, ">=", "x",
                ))  # fmt: skip
        if many.first_frame_s is not None:
            target = FIRST_FRAME_TARGET if clip == FIRST_FRAME_CLIP else None
            name = f"s from launch to the first logged frame ({many.name})"
            out.append(figure(clip, name, many.first_frame_s, target, "<="))
        if many.cores_busy is not None:
            target = CORES_BUSY_TARGET if n == 2 else None
            out.append(figure(clip, f"cores busy ({many.name})", many.cores_busy, target, ">="))
        out += self._cpu_figures(clip, many)
        if many.peak_rss is not None:
            target = MEMORY_TARGET / MB if clip == MEMORY_CLIP else None
            name = f"peak RSS MB, all processes ({many.name})"
            out.append(figure(clip, name, many.peak_rss / MB, target, "<=", fmt=".0f"))
        if base and base.rrd_bytes and many.rrd_bytes:
            ratio = many.rrd_bytes_per_frame / base.rrd_bytes_per_frame
            target = RRD_TARGET if clip == RRD_TARGET_CLIP else None
            out.append(figure(clip, ".rrd bytes/frame: fastpose / baseline", ratio, target, "<="))
        renders = [r for r in self.rows if r.clip == clip and "--render" in r.name]
        rendered = renders[0] if renders else None
        plain = self.find(clip, rendered.name.split(" --render")[0]) if rendered else None
        if rendered and plain:
            name = f"wall: {rendered.name} / {plain.name}"
            out.append(figure(clip, name, rendered.seconds / plain.seconds, RENDER_TARGET, "<="))
            if rendered.cpu_s and plain.cpu_s:
                out.append(Figure(clip, "CPU: the same two", rendered.cpu_s / plain.cpu_s))
        return out

    def _cpu_figures(self, clip: str, run: Row) -> list[Figure]:
        """CPU per frame against decode + inference measured alone, and frames/s against what
        the cores could do at that CPU per frame."""
        parts = [r for r in self.rows if r.clip == clip and r.role == PART and r.cpu_ms_per_frame]
        decode = next((r for r in parts if r.name == DECODE), None)
        infer = next((r for r in parts if r.name == LANDMARKER), None)
        if decode is None or infer is None:
            return []
        alone = decode.cpu_ms_per_frame + infer.cpu_ms_per_frame
        out = [Figure(clip, "CPU ms/frame of decode + inference, each alone", alone, fmt=".1f")]
        if run.steady_cpu_ms_per_frame:
            name = f"CPU per frame after the first frame ({run.name}) / decode + inference"
            ratio = run.steady_cpu_ms_per_frame / alone
            out.append(figure(clip, name, ratio, OVERHEAD_TARGET, "<=", "%"))
        cores = min(run.workers or 1, os.cpu_count() or 1)
        ratio = run.fps / (cores * 1000 / alone)
        name = f"frames/s ({run.name}) / (cores / CPU per frame of decode + inference)"
        if run.frames >= CEILING_FRAMES:
            out.append(figure(clip, name, ratio, CEILING_TARGET, ">=", "%"))
        else:
            out.append(figure(clip, f"{name} (target from {CEILING_FRAMES} frames)", ratio,
                               unit="%"))  # fmt: skip
        return out

    def _batch_figures(self) -> list[Figure]:
        out: list[Figure] = []
        for base in [r for r in self.rows if r.role == BASELINE and r.name == RUN_EACH]:
            batch = self.find(base.clip, BATCH)
            if batch is None:
                continue
            name = f"speed-up: {base.name} / {batch.name}"
            target = BATCH_TARGET if base.clip == BATCH_CLIPS else None  # set for six clips
            ratio = base.seconds / batch.seconds
            out.append(figure(base.clip, name, ratio, target, ">=", "x"))
            if base.cpu_s and batch.cpu_s:
                name = "CPU: the same two (start-up paid once, not six times)"
                out.append(Figure(base.clip, name, base.cpu_s / batch.cpu_s))
            ray = self.find(base.clip, BATCH_RAY)
            if ray is not None:
                name = f"Ray's overhead: {ray.name} - {batch.name}, s"
                out.append(Figure(base.clip, name, ray.seconds - batch.seconds, fmt="+.1f"))
        return out

    # -- markdown --------------------------------------------------------------------------
    def markdown(self) -> str:
        lines = [*self._header()]
        for group in sorted(dict.fromkeys(r.group for r in self.rows), key=self._group_order):
            lines += ["", f"## {group}", "", *self._table(group)]
        figures = self.figures()
        if figures:
            lines += ["", "## Figures and their targets (issues 11, 13, 18, 19, 27)", ""]
            lines += _figures_table(figures)
        return "\n".join(lines) + "\n"

    def _header(self) -> list[str]:
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.started))
        return [
            "# fastpose benchmarks",
            "",
            f"- date: {started}; fastpose {_revision()}",
            f"- machine: {cpu_model()} (/proc/cpuinfo), {os.cpu_count()} cores, "
            f"{platform.machine()}, no GPU; Python {platform.python_version()}, {_versions()}",
            f"- {self.frames} frames per clip; time: the fastest of {self.rounds} round(s) "
            "(pytest-benchmark's min), whole processes from launch to exit unless marked 'alone'",
            f"- load average (1 min) {self.load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} "
            "after: other jobs on this machine make the figures noisy",
        ]

    def _group_order(self, group: str) -> int:
        """The clips' groups first (as measured), then the others."""
        clip = next(r.clip for r in self.rows if r.group == group)
        return 0 if clip.split("x")[0].isdigit() else 1

    def _table(self, group: str) -> list[str]:
        base = self.baseline(group)
        columns = [
            "benchmark", "frames", "best s", "frames/s", "frames/s / baseline's", "CPU s",
            "cores busy", "peak RSS MB", "s to first logged frame",
            "CPU ms/frame after the first", ".rrd bytes/frame", "landmarkers", "with a person",
        ]  # fmt: skip
        out = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        rows = [r for r in self.rows if r.group == group]
        for r in sorted(rows, key=lambda r: (r.role != BASELINE, r.name)):
            ratio = "–" if base is None else f"{r.fps / base.fps:.2f}x"
            cells = [
                r.name, str(r.frames), f"{r.seconds:.2f}", f"{r.fps:.1f}", ratio,
                _num(r.cpu_s, ".1f"), _num(r.cores_busy, ".2f"),
                _num(None if r.peak_rss is None else r.peak_rss / MB, ".0f"),
                _num(r.first_frame_s, ".2f"), _num(r.steady_cpu_ms_per_frame, ".1f"),
                _num(r.rrd_bytes_per_frame, ",.0f"), _num(r.workers, "d"),
                _num(r.with_person, "d"),
            ]  # fmt: skip
            out.append("| " + " | ".join(cells) + " |")
        return out


# The rows' names the figures look for.
DECODE, DECODE_DECORD = "decode (alone)", "decode with decord (alone)"
LANDMARKER = "landmarker (alone)"
RUN_EACH, BATCH_CLIPS = "fastpose run on each in turn", "6 clips"
BATCH, BATCH_RAY = "fastpose batch", "fastpose batch --ray"


def figure(
    clip: str,
    name: str,
    value: float,
    target: float | None = None,
    op: str = ">=",
    unit: str = "",
    fmt: str = ".2f",
) -> Figure:
    """A figure held to ``value OP target`` when there is a target; ``unit`` "%" shows it as a
    percentage, "x" as a factor."""
    fmt = (".2%" if value < 0.1 else ".0%") if unit == "%" else fmt
    if target is None:
        return Figure(clip, name, value, fmt=fmt)
    shown = f"{target:.0%}" if unit == "%" else f"{target:g}{unit}"
    met = value >= target if op == ">=" else value <= target
    return Figure(clip, name, value, f"{op} {shown}", met, fmt)


def _figures_table(figures: list[Figure]) -> list[str]:
    out = ["| clip | figure | value | target | met |", "| --- | --- | --- | --- | --- |"]
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        out.append(f"| {f.clip} | {f.name} | {format(f.value, f.fmt)} | {f.target} | {met} |")
    return out


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _versions() -> str:
    parts = []
    for name in ("mediapipe", "rerun-sdk", "opencv-contrib-python", "pytest-benchmark"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts)


def _revision() -> str:
    """The commit measured, flagged when fastpose/ differs from it."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return run.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "fastpose")
    except (OSError, subprocess.CalledProcessError):
        return "(unknown revision)"
    return f"{head}{' + uncommitted changes in fastpose/' if dirty else ''}"


def write(results: Results, path: Path) -> str:
    """Write the report to ``path`` (its folder made if need be); returns its text."""
    text = results.markdown()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text

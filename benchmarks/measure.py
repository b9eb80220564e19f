"""Measuring a run: wall and CPU time, peak RSS of a process tree, time to first logged frame."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

ROOT = Path(__file__).resolve().parents[1]
#: Seconds between RSS samples; workers live for seconds, so none is missed.
SAMPLE_INTERVAL_S = 0.05
#: fastpose's summary: "600 frames, 0 without a person; 41.2 frames/s on 2 worker(s), cpu -> ..."
SUMMARY = re.compile(
    r"(\d+) frames, (\d+) without a person.*?; ([\d.]+) frames/s on (\d+) worker\(s\)"
)


class RssSampler:
    """Samples the RSS of a process and all its descendants until closed.

    ``peak_tree`` is the largest sum over the tree at one instant, ``peak_process`` the largest
    single process, ``first_tree`` the first sample's sum; all in bytes.
    """

    def __init__(self, pid: int, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._root = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.first_tree: int | None = None
        self.peak_tree = 0
        self.peak_process = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        sizes = []
        for proc in procs:
            try:
                sizes.append(proc.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        if sizes:
            if self.first_tree is None:
                self.first_tree = sum(sizes)
            self.peak_tree = max(self.peak_tree, sum(sizes))
            self.peak_process = max(self.peak_process, max(sizes))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval_s)

    @property
    def growth(self) -> int:
        """How far the tree's RSS rose above its first sample."""
        return self.peak_tree - (self.first_tree or 0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> RssSampler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class ProcessRun:
    """One measured subprocess: wall time from launch to exit, CPU time, peak RSS, its output."""

    wall_s: float
    cpu_s: float  # user + system seconds of the process and every process it started
    peak_tree_rss: int  # bytes: the process and its workers together
    peak_process_rss: int  # bytes: the largest single process
    first_frame_s: float | None  # seconds from launch to the first logged frame
    steady_cpu_s: float | None  # CPU seconds from the first logged frame to the end (cli_probe)
    stdout: str
    stderr: str


def run_process(args: list[str], timeout_s: float = 3600) -> ProcessRun:
    """Run ``python ARGS`` from the project root and measure it.

    The program prints a JSON line with ``first_frame_at`` (``time.time()`` of its first logged
    frame) as its last stdout line. Raises RuntimeError if it exits with an error.
    """
    launched, start, cpu_before = time.time(), time.perf_counter(), children_cpu_s()
    with subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        with RssSampler(proc.pid) as rss:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}\n{stderr[-3000:]}")
    lines = stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {}
    stamp = report.get("first_frame_at")
    first = None if stamp is None else stamp - launched
    steady = None
    if report.get("cpu_at_first_frame_s") is not None:
        steady = report["cpu_s"] - report["cpu_at_first_frame_s"]
    cpu = children_cpu_s() - cpu_before
    return ProcessRun(wall, cpu, rss.peak_tree, rss.peak_process, first, steady, stdout, stderr)


def children_cpu_s() -> float:
    """CPU seconds of every finished child process (and the children they waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu_s() -> float:
    """CPU seconds of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Summary:
    """fastpose's summary: frames, frames without a person, frames/s (tracker), workers."""

    frames: int
    without_person: int
    fps: float
    workers: int


def parse_summary(stderr: str) -> Summary:
    match = SUMMARY.search(stderr)
    if match is None:
        raise ValueError(f"no fastpose summary line in the output:\n{stderr[-2000:]}")
    return Summary(int(match[1]), int(match[2]), float(match[3]), int(match[4]))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


@dataclass
class InProcessRun:
    """A block measured in this process; filled in when the block ends."""

    wall_s: float = 0.0
    cpu_s: float = 0.0  # every thread of this process
    rss_growth: int = 0  # bytes this process's RSS rose above where it started


@contextmanager
def in_process() -> Iterator[InProcessRun]:
    """Measure the ``with`` block: wall time, this process's CPU time and RSS growth."""
    run = InProcessRun()
    with RssSampler(os.getpid()) as rss:
        start, cpu = time.perf_counter(), own_cpu_s()
        yield run
        run.wall_s, run.cpu_s = time.perf_counter() - start, own_cpu_s() - cpu
    run.rss_growth = rss.growth

"""Measuring one process as a user runs it: wall and CPU time, peak RSS of its process tree, and
(through :mod:`benchmarks.cli_probe`) the time to its first logged frame.

pytest-benchmark times the rounds; this adds what it doesn't see: CPU, memory, start-up.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from fastpose.closing import Closing

ROOT = Path(__file__).resolve().parents[1]
#: Seconds between RSS samples; workers live for seconds, so none is missed.
SAMPLE_INTERVAL_S = 0.05
#: fastpose's summary: "600 frames, 0 without a person; 41.2 frames/s on 2 worker(s), cpu -> ..."
SUMMARY = re.compile(
    r"(\d+) frames, (\d+) without a person.*?; ([\d.]+) frames/s on (\d+) worker\(s\)"
)


class RssSampler(Closing):
    """Samples the RSS of a process and all its descendants until closed: ``peak_tree`` is the
    largest sum over the tree at one instant, in bytes."""

    def __init__(self, pid: int, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._root = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak_tree = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        self.peak_tree = max(self.peak_tree, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class ProcessRun:
    """One measured process: wall time from launch to exit, CPU time, peak RSS, its output."""

    wall_s: float
    cpu_s: float  # user + system seconds of the process and every process it waited for
    peak_rss: int  # bytes: the process and its workers together
    first_frame_s: float | None  # seconds from launch to the first logged frame (cli_probe)
    steady_cpu_s: float | None  # CPU seconds from the first logged frame to the end (cli_probe)
    stdout: str
    stderr: str


def run_process(args: list[str], timeout_s: float = 3600) -> ProcessRun:
    """Run ``python ARGS`` from the project root and measure it; raise RuntimeError if it fails.

    A program that prints a JSON object as its last stdout line (``benchmarks.cli_probe``,
    ``benchmarks.baseline``) may give ``first_frame_at`` (the ``time.time()`` of its first logged
    frame), ``cpu_at_first_frame_s`` and ``cpu_s`` (its CPU seconds then and at the end).
    """
    launched, start, cpu_before = time.time(), time.perf_counter(), _children_cpu_s()
    with subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        with RssSampler(proc.pid) as rss:
            try:
                stdout, stderr = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)}: exit {proc.returncode}\n{stderr[-3000:]}")
    report = last_json(stdout)
    stamp = report.get("first_frame_at")
    first = None if stamp is None else stamp - launched
    steady = None
    if report.get("cpu_at_first_frame_s") is not None and report.get("cpu_s") is not None:
        steady = report["cpu_s"] - report["cpu_at_first_frame_s"]
    cpu = _children_cpu_s() - cpu_before
    return ProcessRun(wall, cpu, rss.peak_tree, first, steady, stdout, stderr)


def last_json(stdout: str) -> dict:
    """The JSON object on the last line of ``stdout``, or {} if there is none."""
    lines = stdout.strip().splitlines()
    if not lines:
        return {}
    try:
        value = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _children_cpu_s() -> float:
    """CPU seconds of every finished child process (and the children they waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Summary:
    """fastpose's summary line: frames, frames without a person, frames/s, landmarkers used."""

    frames: int
    without_person: int
    fps: float
    workers: int


def parse_summary(stderr: str) -> Summary:
    """The summary ``fastpose run`` logs at the end; ValueError if there is none."""
    match = SUMMARY.search(stderr)
    if match is None:
        raise ValueError(f"expected fastpose's summary line in its output, got:\n{stderr[-2000:]}")
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

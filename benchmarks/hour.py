"""Memory over a long video: one run of ``fastpose.track`` (``fastpose run``'s defaults, the
allocators set as the CLI sets them) with the outputs asked for, its RSS sampled as it goes.

    python benchmarks/hour.py VIDEO OUT_DIR [--outputs all] [--no-trim]

``--outputs``: ``api`` (tracking alone, results dropped), ``tables`` (+ the landmark table),
``angles`` (+ the angles table and the OpenSim markers), ``all`` (+ the recording: ``--save
--export --angles --trc``). The last stdout line is a JSON object: frames, seconds, frames/s, the
RSS slope per frame (fitted after the first :data:`WARM_UP` of the frames), peak RSS once 1/6,
1/2 and all of the video is done (after 10, 30 and 60 minutes of an hour's video: keyed by the
minutes of video reached), each output's bytes and the recording's bytes per hour of video.
``--no-trim`` stops the run giving freed memory back (``AllocatorTrim``), for an A/B pair.
Standalone (fastpose, psutil and the standard library only) so it can measure any
checkout: ``PYTHONPATH=CHECKOUT python benchmarks/hour.py ...``. ``benchmarks/test_hour.py`` runs
it on an hour of looped 360p video.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

import fastpose
from fastpose.sinks.base import Sink, Tracked

OUTPUTS = ("api", "tables", "angles", "all")
SHARES = (1 / 6, 1 / 2, 1)  # of the video: peak RSS once this far (10, 30, 60 min of an hour)
WARM_UP = 0.1  # the slope is fitted on the frames after this share of them
SAMPLE_S = 0.25


class MemoryProbe(Sink):
    """Counts the frames written; a thread samples the process's RSS every ``SAMPLE_S``, noting
    (seconds, frames, RSS) and the peak so far when the run reaches each of ``milestones``
    (frames -> a label)."""

    name = "memory-probe"

    def __init__(self, milestones: dict[int, str]) -> None:
        self.frames = 0
        self.samples: list[tuple[float, int, int]] = []
        self.peak = 0
        self.at: dict[str, int] = {}  # label -> peak RSS when reached
        self._milestones = milestones
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="memory-probe", daemon=True)
        self._thread.start()

    def write(self, batch: Tracked) -> None:
        self.frames += len(batch)
        for frames, label in self._milestones.items():
            if label not in self.at and self.frames >= frames:
                self.at[label] = max(self.peak, self._rss())

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            rss = self._rss()
            self.peak = max(self.peak, rss)
            self.samples.append((time.monotonic() - self._start, self.frames, rss))

    def close(self, *, complete: bool) -> None:
        self._stop.set()
        self._thread.join()

    def slope(self) -> float:
        """RSS bytes per frame, least squares over the samples past the warm-up."""
        s = np.array(self.samples, dtype=np.float64)
        if len(s) < 3:
            return float("nan")
        s = s[s[:, 1] >= WARM_UP * self.frames]
        if len(s) < 3 or np.ptp(s[:, 1]) == 0:
            return float("nan")
        return float(np.polyfit(s[:, 1], s[:, 2], 1)[0])


def outputs(level: str, out: Path) -> dict[str, object]:
    """``fastpose.track``'s keywords for the outputs of ``level`` (see the module's doc)."""
    chosen: dict[str, object] = {}
    if level in ("tables", "angles", "all"):
        chosen["export"] = out / "hour.parquet"
    if level in ("angles", "all"):
        chosen["angles"] = out / "hour.angles.parquet"
        chosen["trc"] = out / "hour.trc"
    if level == "all":
        chosen["save"] = out / "hour.rrd"
    return chosen


def measure(video: Path, out: Path, level: str, trim: bool = True) -> dict[str, object]:
    """One run (see the module's doc); its figures as a dict."""
    import av

    fastpose.limit_malloc_arenas()
    fastpose.purge_mimalloc_at_once()  # as the CLI does, before Rerun and pyarrow load
    if not trim:
        import fastpose.pipeline as pipeline

        if hasattr(pipeline, "AllocatorTrim"):
            pipeline.AllocatorTrim = lambda: lambda: False
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        fps, frames = float(stream.average_rate), stream.frames
    out.mkdir(parents=True, exist_ok=True)
    marks = {max(1, round(share * frames)): share * frames / fps / 60 for share in SHARES}
    probe = MemoryProbe({n: f"{minutes:.3g}" for n, minutes in marks.items()})
    chosen = outputs(level, out)
    start = time.monotonic()
    fastpose.track(video, [probe], **chosen)
    seconds = time.monotonic() - start
    files = {k: _size(Path(v)) for k, v in chosen.items()}
    video_hours = probe.frames / fps / 3600
    return {
        "outputs": level,
        "trim": trim,
        "frames": probe.frames,
        "fps": fps,
        "seconds": round(seconds, 1),
        "frames_per_s": round(probe.frames / seconds, 2),
        "slope_kb_per_frame": round(probe.slope() / 1e3, 3),
        "peak_rss_mb": round(probe.peak / 1e6, 1),
        "peak_rss_mb_at_minutes": {m: round(v / 1e6, 1) for m, v in probe.at.items()},
        "bytes": files,
        "recording_bytes_per_hour": (
            round(files["save"] / video_hours) if "save" in files and video_hours else None
        ),
        "samples": [(round(t, 2), f, r) for t, f, r in probe.samples],
    }


def _size(path: Path) -> int:
    """Bytes of ``path``, or of every ``STEM_<id>SUFFIX`` beside it (a TRC per track)."""
    if path.exists():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.parent.glob(f"{path.stem}_*{path.suffix}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("out", type=Path, help="a folder for the outputs")
    parser.add_argument("--outputs", choices=OUTPUTS, default="all")
    parser.add_argument("--no-trim", action="store_true", help="no AllocatorTrim (A/B)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.video, args.out, args.outputs, trim=not args.no_trim)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

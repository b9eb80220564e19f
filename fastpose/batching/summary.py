"""``summary.csv``: one row per video of a batch, written whole (through a temporary file) and
merged with what another batch on the same folder wrote meanwhile."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from fastpose.batching.claims import VideoClaim

Status = Literal["done", "skipped", "failed", "interrupted"]
STATUSES: tuple[Status, ...] = ("done", "skipped", "failed", "interrupted")
SUMMARY_NAME = "summary.csv"
#: The message of a video skipped because another batch holds it: its row never replaces the
#: row the batch doing it writes.
BUSY = "another batch is tracking it now"
#: The message of a video another batch completed since this one started: as :data:`BUSY`.
DONE_ELSEWHERE = "another batch tracked it meanwhile"


@dataclass(frozen=True)
class SummaryRow:
    """What became of one video.

    ``frames`` and ``frames_with_person`` are those that reached the outputs (for ``skipped``,
    those the earlier run's summary recorded, if any); ``seconds`` is this run's wall time on it;
    ``message`` is one line (why it failed, or a warning); ``rrd`` and ``landmarks`` name its
    outputs under their final names; ``settings`` are those its outputs were made with (see
    TrackOptions.settings; a resumed batch compares them)."""

    video: str
    status: Status
    frames: int | None = None
    frames_with_person: int | None = None
    seconds: float = 0.0
    message: str = ""
    rrd: str = ""
    landmarks: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {self.status!r}")
        if "\n" in self.message:
            raise ValueError(f"message: expected one line, got {self.message!r}")


COLUMNS = tuple(f.name for f in fields(SummaryRow))


def write_summary(
    path: Path, rows: list[SummaryRow], seen: Mapping[str, SummaryRow] | None = None
) -> list[SummaryRow]:
    """Write ``rows`` to ``path`` as CSV, merged with the rows already there (another batch's on
    the same folder): a video's new row replaces its old one, except that a skipped video keeps
    a row another batch writes: one skipped as another batch's (:data:`BUSY`,
    :data:`DONE_ELSEWHERE`), or one whose row changed since this batch read the summary into
    ``seen`` (it found outputs another batch had just made: that batch's ``done`` row stands).
    The file is replaced only once complete, under a lock, so two batches never lose each
    other's rows (a temporary file a killed batch left is removed). Returns the rows written."""
    with _locked(path):
        merged = read_summary(path)
        for row in rows:
            old = merged.get(row.video)
            if old is not None and row.status == "skipped":
                if row.message in (BUSY, DONE_ELSEWHERE):
                    continue
                if seen is not None and old != seen.get(row.video):  # written meanwhile
                    continue
            merged[row.video] = row
        order = [r.video for r in rows]
        ordered = [merged[v] for v in order] + [r for v, r in merged.items() if v not in order]
        for stale in path.parent.glob(f".{path.name}.*.partial"):  # a killed batch's
            with contextlib.suppress(OSError):
                stale.unlink()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, COLUMNS)
                writer.writeheader()
                for row in ordered:
                    record = asdict(row)
                    record["seconds"] = f"{row.seconds:.2f}"
                    record["settings"] = json.dumps(dict(row.settings), sort_keys=True)
                    writer.writerow(record)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return ordered


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path`` while it is read, merged and replaced."""
    with VideoClaim(path.parent, f".{path.name}") as lock:
        lock.acquire(wait=True)
        yield


def read_summary(path: Path) -> dict[str, SummaryRow]:
    """The rows of an earlier ``summary.csv`` by video; empty if it is missing or unreadable."""
    try:
        with path.open(newline="") as f:
            records = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    rows = {}
    for r in records:
        try:
            rows[r["video"]] = SummaryRow(
                video=r["video"],
                status=r["status"],  # type: ignore[arg-type]
                frames=_int(r.get("frames")),
                frames_with_person=_int(r.get("frames_with_person")),
                seconds=float(r.get("seconds") or 0),
                message=r.get("message") or "",
                rrd=r.get("rrd") or "",
                landmarks=r.get("landmarks") or "",
                settings=json.loads(r.get("settings") or "{}"),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def _int(text: str | None) -> int | None:
    return int(text) if text else None

"""``summary.csv``: one row per video of a batch, written whole (through a temporary file)."""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

Status = Literal["done", "skipped", "failed", "interrupted"]
STATUSES: tuple[Status, ...] = ("done", "skipped", "failed", "interrupted")
SUMMARY_NAME = "summary.csv"


@dataclass(frozen=True)
class SummaryRow:
    """What became of one video.

    ``frames`` and ``frames_with_person`` are those that reached the outputs (for ``skipped``,
    those the earlier run's summary recorded, if any); ``seconds`` is this run's wall time on it;
    ``message`` is one line (why it failed, or a warning); ``rrd`` and ``landmarks`` name its
    outputs under their final names."""

    video: str
    status: Status
    frames: int | None = None
    frames_with_person: int | None = None
    seconds: float = 0.0
    message: str = ""
    rrd: str = ""
    landmarks: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {self.status!r}")
        if "\n" in self.message:
            raise ValueError(f"message: expected one line, got {self.message!r}")


COLUMNS = tuple(f.name for f in fields(SummaryRow))


def write_summary(path: Path, rows: list[SummaryRow]) -> None:
    """Write ``rows`` to ``path`` as CSV, replacing it only once complete."""
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            record["seconds"] = f"{row.seconds:.2f}"
            writer.writerow(record)
    os.replace(tmp, path)


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
            )
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def _int(text: str | None) -> int | None:
    return int(text) if text else None

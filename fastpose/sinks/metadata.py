"""A run's settings in a Parquet file's key-value metadata, under ``fastpose.*`` keys: written by
every Parquet output (the landmark table, the angles table) and read back (a resumed batch
compares them with what it would run)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Prefix of the settings' keys in a Parquet file's metadata.
METADATA_PREFIX = "fastpose."


def settings_metadata(settings: Mapping[str, str]) -> dict[bytes, bytes]:
    """A run's settings as Parquet key-value metadata."""
    return {f"{METADATA_PREFIX}{k}".encode(): str(v).encode() for k, v in settings.items()}


def read_settings(path: Path) -> dict[str, str]:
    """The settings a Parquet file of fastpose's records (empty if none, or not Parquet)."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return {}
    return {
        k.decode()[len(METADATA_PREFIX) :]: v.decode()
        for k, v in meta.items()
        if k.decode().startswith(METADATA_PREFIX)
    }

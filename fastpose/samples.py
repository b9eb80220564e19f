"""The sample clip ``fastpose run`` tracks when no VIDEO is given, cached like the models.

First choice is Rerun's pose example clip; where Google's storage can't be reached, the demo clip
that the ``sports2d`` wheel ships on PyPI (BSD-3-Clause) stands in.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path

import av

from fastpose.cache import cache_dir, download, pip_download, writable_dir, write_atomic
from fastpose.errors import InputNotFoundError, InvalidVideoError

logger = logging.getLogger(__name__)

SAMPLE_NAMES = ("backflip", "soccer")
SAMPLE_URL = "https://storage.googleapis.com/rerun-example-datasets/pose_movement/{name}.mp4"
SPORTS2D_VERSION = "0.8.34"
SPORTS2D_MEMBER = "Sports2D/Demo/demo.mp4"
SPORTS2D_FILE = "sports2d_demo.mp4"


def resolve_sample(
    name: str = "backflip", *, cache: Path | None = None, timeout: float = 3.0
) -> Path:
    """A playable sample clip: from the cache (no network), else downloaded, else from PyPI.

    ``timeout`` bounds each wait on Rerun's server. Logs which clip is used and where it came from.
    """
    if name not in SAMPLE_NAMES:
        raise InputNotFoundError(
            f"unknown sample {name!r}: expected one of {', '.join(SAMPLE_NAMES)}"
        )
    directory = cache_dir(cache)
    if found := _cached(directory, name):
        return found
    target = writable_dir(directory)
    if target != directory and (found := _cached(target, name)):
        return found
    return _provision(name, target, timeout)


def validate_clip(path: Path) -> None:
    """Raise InvalidVideoError unless ``path`` is a non-empty video whose first frame decodes."""
    if path.stat().st_size == 0:
        raise InvalidVideoError(f"{path} is empty, expected a video")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InvalidVideoError(f"{path} has no video stream")
            next(container.decode(video=0))
    except InvalidVideoError:
        raise
    except (av.FFmpegError, OSError, ValueError, StopIteration) as err:
        raise InvalidVideoError(f"{path} is not a playable video: {err or 'no frames'}") from err


def _cached(directory: Path, name: str) -> Path | None:
    for path in (directory / f"{name}.mp4", directory / SPORTS2D_FILE):
        if not path.exists():
            continue
        try:
            validate_clip(path)
        except InvalidVideoError as err:
            logger.warning("%s; replacing it", err)
            continue
        logger.info("sample clip: %s (cache)", path)
        return path
    return None


def _provision(name: str, directory: Path, timeout: float) -> Path:
    url = SAMPLE_URL.format(name=name)
    try:
        path = download(url, directory / f"{name}.mp4", validate_clip, timeout)
    except (ConnectionError, InvalidVideoError) as err:
        logger.info("%s; using the Sports2D demo clip from PyPI instead", err)
    else:
        logger.info("sample clip: %s (downloaded from %s)", path, url)
        return path
    return _from_sports2d(directory / SPORTS2D_FILE)


def _from_sports2d(dest: Path) -> Path:
    """Extract the demo clip of the sports2d wheel (pip download) to ``dest``."""
    requirement = f"sports2d=={SPORTS2D_VERSION}"
    with tempfile.TemporaryDirectory(prefix="fastpose-wheel-") as tmp:
        try:
            wheel = pip_download(requirement, Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(SPORTS2D_MEMBER)
        except (ConnectionError, zipfile.BadZipFile, KeyError) as err:
            raise InputNotFoundError(
                f"no VIDEO given and no sample clip could be fetched ({err}); pass a VIDEO"
            ) from err
    write_atomic(dest, data, validate_clip)
    logger.info(
        "sample clip: %s (%s from the %s wheel on PyPI, BSD-3-Clause)",
        dest,
        SPORTS2D_MEMBER,
        requirement,
    )
    return dest

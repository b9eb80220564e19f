"""What a batch tracks: INPUT arguments expanded into video files, and each video's output names.

An input is a video file, a folder (the videos in it; ``recursive`` descends), a glob pattern, or
``@FILE``: a text file of inputs, one a line (blank lines and ``#`` comments skipped; relative
paths are relative to the list's folder).
"""

from __future__ import annotations

import glob
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from fastpose.errors import InputNotFoundError

logger = logging.getLogger(__name__)

#: Suffixes a folder's files must have to count as videos.
VIDEO_SUFFIXES = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".ts",
        ".mts",
        ".m2ts",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
        ".h264",
        ".264",
        ".hevc",
        ".h265",
    ]
)
_GLOB_CHARS = frozenset("*?[")


def expand_inputs(
    inputs: Sequence[str | os.PathLike], *, recursive: bool = False, empty: list[str] | None = None
) -> list[Path]:
    """The videos ``inputs`` name, in order, each once.

    A path that does not exist is kept (its video fails with a clear row); a glob or folder that
    yields no video is added to ``empty`` (if given; else it gets a warning). Raises
    InputNotFoundError for a missing ``@FILE``.
    """

    def note(fmt: str, text: str) -> None:
        if empty is None:
            logger.warning(fmt, text)
        else:
            empty.append(text)

    seen: dict[Path, None] = {}
    for path in _expand(inputs, recursive, Path.cwd(), 0, note):
        seen.setdefault(path, None)
    return list(seen)


def _expand(
    inputs: Iterable[str | os.PathLike],
    recursive: bool,
    base: Path,
    depth: int,
    warn: Callable[[str, str], None],
) -> Iterable[Path]:
    for item in inputs:
        text = os.fspath(item)
        if text.startswith("@") and depth == 0:
            listing = base / Path(text[1:]).expanduser()
            yield from _expand(_read_list(listing), recursive, listing, depth + 1, warn)
            continue
        path = (base.parent if depth else base) / Path(text).expanduser()
        if path.is_dir():
            found = _videos_in(path, recursive)
            if not found:
                warn("%s: no videos in this folder", text)
            yield from found
        elif not path.exists() and _GLOB_CHARS & set(text):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=recursive))
            videos = [p for p in matches if p.is_file() and _is_video(p)]
            if not videos:
                warn("%s: matches no video", text)
            yield from (p.absolute() for p in videos)
        else:
            yield path.absolute()


def _read_list(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputNotFoundError(f"@{path}: no such list file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputNotFoundError(f"@{path}: cannot read this list: {exc}") from None
    return [s for line in lines if (s := line.strip()) and not s.startswith("#")]


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def _videos_in(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p.absolute() for p in folder.glob(pattern) if p.is_file() and _is_video(p))


def output_names(videos: Sequence[Path], reserved: Iterable[str] = ()) -> dict[Path, str]:
    """Each video's output name: its stem, or, where stems collide, its path from the colliding
    videos' common folder (``a/clip.mp4`` and ``b/clip.mp4``: ``a_clip``, ``b_clip``).

    A name depends only on the videos that share its stem, so a batch run again with the same
    inputs finds the same outputs. A name in ``reserved`` (another file of the batch's folder) or
    one that another rule made gets ``-2``, ``-3``..."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for video in videos:
        groups[video.stem or video.name].append(video)
    names: dict[Path, str] = {}
    for stem, group in groups.items():
        if len(group) == 1:
            names[group[0]] = stem
            continue
        common = Path(os.path.commonpath([p.parent for p in group]))
        relative = [p.relative_to(common) for p in group]
        plain = [str(r.with_suffix("")) for r in relative]
        keep_suffix = len(set(plain)) < len(plain)
        for video, rel, text in zip(group, relative, plain, strict=True):
            names[video] = (str(rel) if keep_suffix else text).replace(os.sep, "_")
    taken = {r.lower() for r in reserved}
    for video in videos:  # a made name may equal another video's stem: number the later one
        name, n = names[video], 1
        while name.lower() in taken:
            n += 1
            name = f"{names[video]}-{n}"
        names[video] = name
        taken.add(name.lower())
    return names

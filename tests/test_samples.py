"""The sample clip: Rerun's clip when it can be fetched, else the Sports2D demo from PyPI; cached.

SAMPLE_URL points at a local HTTP server (or a closed port) so both paths run wherever the tests do.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import data_file, scaled
from test_models import http_server, no_package_index

from fastpose import samples
from fastpose.errors import InputNotFoundError, InvalidVideoError
from fastpose.samples import SPORTS2D_FILE, resolve_sample, validate_clip

CLOSED_PORT_URL = "http://127.0.0.1:9/{name}.mp4"


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_sports2d_fallback_then_cache(tmp_path: Path, monkeypatch, caplog) -> None:
    """Rerun unreachable: the Sports2D demo (the bytes in tests/data), then from the cache."""
    monkeypatch.setattr(samples, "SAMPLE_URL", CLOSED_PORT_URL)
    with caplog.at_level("INFO", logger="fastpose.samples"):
        clip = resolve_sample(cache=tmp_path, timeout=1.0)
    assert clip == tmp_path / SPORTS2D_FILE
    assert clip.read_bytes() == data_file("sports2d_demo.mp4").read_bytes()
    assert _frames(clip) == 230
    assert "sports2d==" in caplog.text and "BSD-3-Clause" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == [SPORTS2D_FILE]

    caplog.clear()
    mtime = clip.stat().st_mtime_ns
    with http_server({}) as (base, requested), caplog.at_level("INFO", logger="fastpose.samples"):
        monkeypatch.setattr(samples, "SAMPLE_URL", base + "/{name}.mp4")
        start = time.monotonic()
        again = resolve_sample(cache=tmp_path, timeout=0.001)
        elapsed = time.monotonic() - start
    assert again == clip
    assert requested == []
    assert f"{clip} (cache)" in caplog.text
    assert clip.stat().st_mtime_ns == mtime
    assert elapsed < scaled(1.0)


def test_rerun_clip_is_preferred_and_cached(tmp_path: Path, monkeypatch, caplog) -> None:
    body = data_file("pose_squats.mp4").read_bytes()
    with http_server({"/soccer.mp4": body}) as (base, requested):
        monkeypatch.setattr(samples, "SAMPLE_URL", base + "/{name}.mp4")
        with caplog.at_level("INFO", logger="fastpose.samples"):
            clip = resolve_sample("soccer", cache=tmp_path)
            again = resolve_sample("soccer", cache=tmp_path)
    assert clip == again == tmp_path / "soccer.mp4"
    assert clip.read_bytes() == body
    assert _frames(clip) == 65
    assert requested == ["/soccer.mp4"]
    assert f"downloaded from {base}/soccer.mp4" in caplog.text


def test_corrupt_cached_clip_is_replaced(tmp_path: Path, monkeypatch, caplog) -> None:
    (tmp_path / "backflip.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    body = data_file("pose_squats.mp4").read_bytes()
    with http_server({"/backflip.mp4": body}) as (base, _):
        monkeypatch.setattr(samples, "SAMPLE_URL", base + "/{name}.mp4")
        with caplog.at_level("WARNING", logger="fastpose.samples"):
            clip = resolve_sample(cache=tmp_path)
    assert "not a playable video" in caplog.text and "replacing it" in caplog.text
    assert clip.read_bytes() == body


def test_broken_download_is_not_cached(tmp_path: Path, monkeypatch) -> None:
    """A download that isn't a video is dropped, and the Sports2D demo is used instead."""
    with http_server({"/backflip.mp4": b"<html>captive portal</html>"}) as (base, requested):
        monkeypatch.setattr(samples, "SAMPLE_URL", base + "/{name}.mp4")
        clip = resolve_sample(cache=tmp_path)
    assert requested == ["/backflip.mp4"]
    assert clip == tmp_path / SPORTS2D_FILE
    assert sorted(p.name for p in tmp_path.iterdir()) == [SPORTS2D_FILE]


def test_nothing_reachable_says_pass_a_video(tmp_path: Path, monkeypatch) -> None:
    """Neither Rerun nor a package index: one clear error, in seconds, and an untouched cache."""
    monkeypatch.setattr(samples, "SAMPLE_URL", CLOSED_PORT_URL)
    no_package_index(monkeypatch)
    start = time.monotonic()
    with pytest.raises(InputNotFoundError, match=r"pip download sports2d==.* failed.*pass a VIDEO"):
        resolve_sample(cache=tmp_path, timeout=1.0)
    assert time.monotonic() - start < scaled(30)
    assert list(tmp_path.iterdir()) == []


def test_unknown_sample() -> None:
    with pytest.raises(InputNotFoundError, match="expected one of backflip, soccer"):
        resolve_sample("nope")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"", "is empty"),
        (lambda: np.random.default_rng(1).bytes(5000), "not a playable video"),
        (lambda: data_file("pose_squats.mp4").read_bytes()[:2000], "not a playable video"),
    ],
    ids=["empty", "random", "truncated"],
)
def test_validate_clip_errors(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(make())
    with pytest.raises(InvalidVideoError, match=message):
        validate_clip(path)

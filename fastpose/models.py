"""MediaPipe Pose Landmarker model bundles (``.task`` files): resolve, validate, download, build.

A name (``lite``, ``full``, ``heavy``) resolves to a valid bundle in the cache, else MediaPipe's
published bundle, else, for ``full`` only, one built offline from the BlazePose TFLite files that
the ``mediapipe==0.10.21`` wheel ships (PyPI is reachable where Google's storage may not be).
Anything else is a path to a ``.task`` file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np

from fastpose.cache import cache_dir, download, pip_download, writable_dir, write_atomic
from fastpose.errors import ModelError, ModelUnavailableError, OutputError
from fastpose.model_names import MODEL_NAMES

logger = logging.getLogger(__name__)

MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
    "pose_landmarker_{name}/float16/latest/pose_landmarker_{name}.task"
)
DETECTOR = "pose_detector.tflite"
LANDMARKER = "pose_landmarks_detector.tflite"
MEMBERS = (DETECTOR, LANDMARKER)

WHEEL_VERSION = "0.10.21"
# Any platform's wheel holds the same model files; a fixed one makes the build work from any host.
WHEEL_OPTIONS = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11")
WHEEL_MEMBERS = {
    DETECTOR: "mediapipe/modules/pose_detection/pose_detection.tflite",
    LANDMARKER: "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
}
BUILT_SOURCE = f"built offline from the mediapipe {WHEEL_VERSION} wheel"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the build is byte-for-byte reproducible
_ALIGN_EXTRA_ID = 0xD935  # the extra-field id zipalign uses for padding


@dataclass(frozen=True)
class ResolvedModel:
    """A validated bundle on disk, its name, and where it came from (for logs and the CLI)."""

    path: Path
    name: str
    source: str  # "cache", "downloaded from URL", BUILT_SOURCE or "given path"

    def __post_init__(self) -> None:
        if not isinstance(self.path, Path):
            raise TypeError(f"path: expected a Path, got {type(self.path).__name__}")
        if not self.name or not self.source:
            raise ValueError(
                f"name and source must be non-empty, got {self.name!r}, {self.source!r}"
            )


@dataclass(frozen=True)
class CachedModel:
    """A bundle found in the cache (``fastpose models list``)."""

    name: str
    path: Path
    size: int  # bytes
    valid: bool


def bundle_filename(name: str) -> str:
    return f"pose_landmarker_{name}.task"


def resolve_model(
    spec: str = "full",
    *,
    cache: Path | None = None,
    allow_download: bool = True,
    timeout: float = 3.0,
) -> ResolvedModel:
    """A valid bundle for ``spec``: a model name or a path to a ``.task`` file.

    Names come from the cache, else are downloaded (``timeout`` bounds each network wait), else
    (``full``) built offline. ``allow_download=False`` uses the cache only, touching no network.
    A cache directory that is read-only gets a warning and a per-user temp directory instead.
    """
    if spec not in MODEL_NAMES:
        return _given_path(Path(spec).expanduser())
    directory = cache_dir(cache)
    if found := _cached(spec, directory):
        return found
    if not allow_download:
        raise ModelUnavailableError(
            f"model {spec!r} is not in the cache {directory} and downloads are disabled; "
            f"run `fastpose models fetch {spec}` where PyPI is reachable"
        )
    try:
        target = writable_dir(directory)
    except OutputError as err:
        raise ModelError(f"cannot provision model {spec!r}: {err}") from err
    if target != directory and (found := _cached(spec, target)):
        return found
    return _provision(spec, target / bundle_filename(spec), timeout)


def fetch(name: str, cache: Path | None = None) -> ResolvedModel:
    """Make sure model ``name`` is in the cache (``fastpose models fetch NAME``)."""
    if name not in MODEL_NAMES:
        raise ModelError(f"unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}")
    return resolve_model(name, cache=cache)


def list_cached(cache: Path | None = None) -> list[CachedModel]:
    """The bundles in the cache directory, validated (``fastpose models list``)."""
    directory = cache_dir(cache)
    found = []
    for path in sorted(directory.glob(bundle_filename("*"))):
        name = path.name.removeprefix("pose_landmarker_").removesuffix(".task")
        found.append(CachedModel(name, path, path.stat().st_size, _is_valid(path)))
    return found


def validate_bundle(path: Path) -> None:
    """Raise ModelError unless ``path`` is a Pose Landmarker bundle MediaPipe can load.

    That is: a zip holding non-empty, uncompressed pose_detector.tflite and
    pose_landmarks_detector.tflite, each a TFLite flatbuffer ("TFL3" at bytes 4..8) with a good CRC.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model bundle not found: {path}")
    with path.open("rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":
        raise ModelError(
            f"{path} is a bare TFLite model, expected a .task bundle (a zip of "
            f"{' and '.join(MEMBERS)}); pass a .task file or one of {', '.join(MODEL_NAMES)}"
        )
    if not zipfile.is_zipfile(path):
        what = "a truncated or corrupt zip" if head.startswith(b"PK") else f"bytes {head[:4]!r}"
        raise ModelError(f"{path} is not a valid .task bundle: expected a zip archive, got {what}")
    try:
        with zipfile.ZipFile(path) as bundle:
            for member in MEMBERS:
                _check_member(bundle, member, path)
    except ModelError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as err:
        raise ModelError(f"{path} is a corrupt or truncated .task bundle: {err}") from err


def _check_member(bundle: zipfile.ZipFile, member: str, path: Path) -> None:
    names = bundle.namelist()
    if member not in names:
        raise ModelError(
            f"{path} lacks {member}: expected {' and '.join(MEMBERS)}, got {names or 'no members'}"
        )
    info = bundle.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        raise ModelError(
            f"{path}: {member} is compressed (method {info.compress_type}); "
            "MediaPipe expects stored (uncompressed) members"
        )
    data = bundle.read(member)  # checks the CRC
    if not data:
        raise ModelError(f"{path}: {member} is empty, expected a TFLite model")
    if data[4:8] != b"TFL3":
        raise ModelError(
            f"{path}: {member} is not a TFLite model: "
            f"expected b'TFL3' at bytes 4..8, got {data[4:8]!r}"
        )


def _is_valid(path: Path) -> bool:
    try:
        validate_bundle(path)
    except ModelError:
        return False
    return True


def _given_path(path: Path) -> ResolvedModel:
    if not path.exists():
        raise ModelError(
            f"model file not found: {path} "
            f"(expected one of {', '.join(MODEL_NAMES)} or a path to a .task file)"
        )
    validate_bundle(path)
    return ResolvedModel(path, path.stem, "given path")


def _cached(name: str, directory: Path) -> ResolvedModel | None:
    path = directory / bundle_filename(name)
    if not path.exists():
        return None
    if _stamp(path) == _read_stamp(path):  # validated before, unchanged since
        return ResolvedModel(path, name, "cache")
    try:
        validate_bundle(path)
    except ModelError as err:
        logger.warning("%s; replacing it", err)
        return None
    _write_stamp(path)
    return ResolvedModel(path, name, "cache")


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.valid")


def _stamp(path: Path) -> str:
    """What a validated bundle looked like: size and modification time (nanoseconds)."""
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _read_stamp(path: Path) -> str | None:
    try:
        return _stamp_path(path).read_text()
    except OSError:
        return None


def _write_stamp(path: Path) -> None:
    """Remember that ``path`` is valid as it is, so the next run skips reading 9 MB (its CRCs)."""
    with contextlib.suppress(OSError):  # a read-only cache validates every time
        _stamp_path(path).write_text(_stamp(path))


def _provision(name: str, dest: Path, timeout: float) -> ResolvedModel:
    """Download ``name`` to ``dest``, else build it (``full``), else raise ModelUnavailableError."""
    url = MODEL_URL.format(name=name)
    try:
        download(url, dest, validate_bundle, timeout)
    except (ConnectionError, ModelError) as err:
        reason = err
    else:
        return ResolvedModel(dest, name, f"downloaded from {url}")
    if name != "full":
        raise ModelUnavailableError(
            f"model {name!r} is not cached in {dest.parent} and {reason}; only 'full' can be built "
            "offline: use --model full, or download that file elsewhere and pass its path"
        )
    logger.info("%s; building 'full' from the mediapipe %s wheel instead", reason, WHEEL_VERSION)
    return build_full(dest)


def build_full(dest: Path) -> ResolvedModel:
    """Build the ``full`` bundle from the mediapipe 0.10.21 wheel (pip download) into ``dest``."""
    with tempfile.TemporaryDirectory(prefix="fastpose-wheel-") as tmp:
        try:
            wheel = pip_download(f"mediapipe=={WHEEL_VERSION}", Path(tmp), WHEEL_OPTIONS)
        except ConnectionError as err:
            raise ModelUnavailableError(
                f"cannot download the 'full' model nor build it offline: {err}"
            ) from err
        data = bundle_from_wheel(wheel)
    write_atomic(dest, data, validate_bundle)
    logger.info("built %s from %s", dest, wheel.name)
    return ResolvedModel(dest, "full", BUILT_SOURCE)


def bundle_from_wheel(wheel: Path) -> bytes:
    """The ``full`` bundle's bytes, from the TFLite files in a mediapipe 0.10.21 wheel."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            detector, landmarks = (zf.read(WHEEL_MEMBERS[m]) for m in MEMBERS)
    except (zipfile.BadZipFile, KeyError) as err:
        raise ModelError(f"{wheel.name} does not hold the BlazePose models: {err}") from err
    return zip_bundle({DETECTOR: detector, LANDMARKER: add_landmark_metadata(landmarks)})


def zip_bundle(members: dict[str, bytes]) -> bytes:
    """A zip of ``members``, stored, each one's data aligned to 4 bytes (as zipalign does)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.create_system = 3  # unix, whatever the host: reproducible bytes
            info.external_attr = 0o644 << 16
            pad = -(out.tell() + 30 + len(name.encode())) % 4  # 30: the local header's fixed part
            if pad:
                info.extra = struct.pack("<HH", _ALIGN_EXTRA_ID, pad) + bytes(pad)
            zf.writestr(info, data)
    return out.getvalue()


class _AlignedBuilder(flatbuffers.Builder):
    """A flatbuffer builder that 16-byte aligns byte vectors (TFLite buffers), as TFLite does."""

    def StartVector(self, elemSize: int, numElems: int, alignment: int) -> int:
        if elemSize == 1 and numElems >= 16:
            alignment = max(alignment, 16)
        return super().StartVector(elemSize, numElems, alignment)


def add_landmark_metadata(model: bytes) -> bytes:
    """``model`` (TFLite flatbuffer) plus the metadata the Tasks API needs: input RGB in [0, 1]."""
    # MediaPipe's FlatBuffers schemas: only to build a model bundle, never when tracking
    from mediapipe.tasks.metadata import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(_landmark_metadata(), np.uint8)
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = "TFLITE_METADATA"
    entry.buffer = len(tree.buffers) - 1
    kept = [m for m in tree.metadata or [] if m.name != b"TFLITE_METADATA"]
    tree.metadata = [*kept, entry]
    builder = _AlignedBuilder(len(model) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _landmark_metadata() -> bytes:
    """TFLite model metadata: the image input is RGB, normalized as (x - 0) / 255."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta

    norm = meta.NormalizationOptionsT()
    norm.mean, norm.std = [0.0], [255.0]
    unit = meta.ProcessUnitT()
    unit.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    unit.options = norm
    props = meta.ImagePropertiesT()
    props.colorSpace = meta.ColorSpaceType.RGB
    content = meta.ContentT()
    content.contentPropertiesType = meta.ContentProperties.ImageProperties
    content.contentProperties = props
    tensor = meta.TensorMetadataT()
    tensor.name, tensor.content, tensor.processUnits = "image", content, [unit]
    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [tensor]
    model = meta.ModelMetadataT()
    model.name, model.subgraphMetadata = "pose_landmarks_detector", [subgraph]
    model.minParserVersion = "1.0.0"
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"M001")
    return bytes(builder.Output())

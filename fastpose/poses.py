"""Per-frame pose results as arrays: what inference hands to the kernels and the sinks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fastpose.skeleton import NUM_LANDMARKS


def _expect(ok: bool, what: str, expected: str, got: object) -> None:
    if not ok:
        raise ValueError(f"{what}: expected {expected}, got {got}")


@dataclass(frozen=True)
class PoseBatch:
    """Poses of consecutive frames.

    ``landmarks`` holds MediaPipe's normalized image coordinates (x, y in [0, 1] of the frame, z
    on the scale of x), visibility and presence; ``world`` holds metres around the hips. Person
    slots with no detection are NaN, so every array keeps a fixed shape. ``masks`` are class ids
    (uint8) at inference resolution: 0 background, k the pose in slot k - 1 (1 for any person where
    the poses' masks are united), or ``None`` when segmentation is off. ``track_ids`` say which
    person each slot holds, the same id for the same person in every frame (-1 where a slot is
    empty; see identities.py), or ``None`` before identities are assigned. ``appearance`` holds a
    descriptor of what each pose's person looks like (see appearance.py; NaN for empty slots), or
    ``None`` when it was not computed. ``replaced`` says which landmarks the outlier filter
    replaced (see outliers.py), or ``None`` where no filter ran.
    """

    frame_idx: NDArray[np.int64]  # (T,)
    time_s: NDArray[np.float64]  # (T,)
    pts_s: NDArray[np.float64]  # (T,)
    landmarks: NDArray[np.float32]  # (T, P, 33, 5)
    world: NDArray[np.float32]  # (T, P, 33, 3)
    masks: NDArray[np.uint8] | None = None  # (T, h, w)
    track_ids: NDArray[np.int32] | None = None  # (T, P)
    appearance: NDArray[np.float32] | None = None  # (T, P, K)
    replaced: NDArray[np.bool_] | None = None  # (T, P, 33)

    def __post_init__(self) -> None:
        t = len(self.frame_idx)
        _expect(self.frame_idx.ndim == 1, "frame_idx", "1-D", self.frame_idx.shape)
        _expect(self.frame_idx.dtype == np.int64, "frame_idx", "int64", self.frame_idx.dtype)
        for name in ("time_s", "pts_s"):
            arr = getattr(self, name)
            _expect(arr.shape == (t,), name, f"shape ({t},)", arr.shape)
            _expect(arr.dtype == np.float64, name, "float64", arr.dtype)
        lm, world = self.landmarks, self.world
        _expect(lm.dtype == np.float32, "landmarks", "float32", lm.dtype)
        _expect(
            lm.ndim == 4 and lm.shape[0] == t and lm.shape[2:] == (NUM_LANDMARKS, 5),
            "landmarks",
            f"shape ({t}, persons, {NUM_LANDMARKS}, 5)",
            lm.shape,
        )
        _expect(world.dtype == np.float32, "world", "float32", world.dtype)
        _expect(
            world.shape == (*lm.shape[:3], 3), "world", f"shape {(*lm.shape[:3], 3)}", world.shape
        )
        if self.masks is not None:
            m = self.masks
            _expect(m.dtype == np.uint8, "masks", "uint8", m.dtype)
            _expect(m.ndim == 3 and m.shape[0] == t, "masks", f"shape ({t}, h, w)", m.shape)
        if self.track_ids is not None:
            self._check_track_ids()
        if self.appearance is not None:
            a, shape = self.appearance, lm.shape[:2]
            _expect(a.dtype == np.float32, "appearance", "float32", a.dtype)
            _expect(
                a.ndim == 3 and a.shape[:2] == shape and a.shape[2] >= 1,
                "appearance",
                f"shape ({shape[0]}, {shape[1]}, K)",
                a.shape,
            )

        if self.replaced is not None:
            r, shape = self.replaced, lm.shape[:3]
            _expect(r.dtype == np.bool_, "replaced", "bool", r.dtype)
            _expect(r.shape == shape, "replaced", f"shape {shape}", r.shape)

    def _check_track_ids(self) -> None:
        ids, shape = self.track_ids, self.landmarks.shape[:2]
        _expect(ids.dtype == np.int32, "track_ids", "int32", ids.dtype)
        _expect(ids.shape == shape, "track_ids", f"shape {shape}", ids.shape)
        bad = np.argwhere(((ids >= 0) != self.detected) | (ids < -1))
        if len(bad):
            f, k = map(int, bad[0])
            pose = "a pose" if self.detected[f, k] else "no pose"
            raise ValueError(
                f"track_ids: expected ids >= 0 for poses, -1 for empty slots, "
                f"got {ids[f, k]} for {pose} in slot {k} of frame {f}"
            )
        if ids.shape[1] > 1:
            s = np.sort(ids, axis=1)
            twice = np.argwhere((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0))
            if len(twice):
                f, k = map(int, twice[0])
                raise ValueError(
                    f"track_ids: expected different ids in a frame's slots, "
                    f"got {s[f, k]} twice in frame {f}"
                )

    def __len__(self) -> int:
        return len(self.frame_idx)

    @property
    def max_persons(self) -> int:
        return self.landmarks.shape[1]

    @property
    def detected(self) -> NDArray[np.bool_]:
        """(T, P): which person slots hold a pose."""
        return ~np.isnan(self.landmarks[:, :, 0, 0])

    @property
    def ids(self) -> NDArray[np.int32]:
        """(T, P) person ids: ``track_ids``, or the slot index where they are not assigned."""
        if self.track_ids is not None:
            return self.track_ids
        slots = np.arange(self.max_persons, dtype=np.int32)
        return np.where(self.detected, slots, np.int32(-1)).astype(np.int32)

    def pixels(self, width: int, height: int) -> NDArray[np.float32]:
        """(T, P, 33, 2) image coordinates in pixels of a ``width`` x ``height`` frame."""
        return self.landmarks[..., :2] * np.array([width, height], dtype=np.float32)

    def take(self, sl: slice) -> PoseBatch:
        """The frames in ``sl`` (a view, no copy)."""
        masks = None if self.masks is None else self.masks[sl]
        return PoseBatch(
            self.frame_idx[sl],
            self.time_s[sl],
            self.pts_s[sl],
            self.landmarks[sl],
            self.world[sl],
            masks,
            None if self.track_ids is None else self.track_ids[sl],
            None if self.appearance is None else self.appearance[sl],
            None if self.replaced is None else self.replaced[sl],
        )

    @classmethod
    def empty(cls, num_poses: int, appearance: int | None = None) -> PoseBatch:
        """No frames, with ``num_poses`` person slots (and descriptors of ``appearance`` floats)."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.float64),
            np.zeros(0, np.float64),
            np.zeros((0, num_poses, NUM_LANDMARKS, 5), np.float32),
            np.zeros((0, num_poses, NUM_LANDMARKS, 3), np.float32),
            appearance=None
            if appearance is None
            else np.zeros((0, num_poses, appearance), np.float32),
        )

    @classmethod
    def concat(cls, batches: list[PoseBatch]) -> PoseBatch:
        """Frames of several batches, in order."""
        if len(batches) == 1:
            return batches[0]
        masks = None if batches[0].masks is None else np.concatenate([b.masks for b in batches])
        ids = None
        if batches[0].track_ids is not None:
            ids = np.concatenate([b.track_ids for b in batches])
        appearance = None
        if batches[0].appearance is not None:
            appearance = np.concatenate([b.appearance for b in batches])
        replaced = None
        if batches[0].replaced is not None:
            replaced = np.concatenate([b.replaced for b in batches])
        return cls(
            *(
                np.concatenate([getattr(b, f) for b in batches])
                for f in ("frame_idx", "time_s", "pts_s")
            ),
            np.concatenate([b.landmarks for b in batches]),
            np.concatenate([b.world for b in batches]),
            masks,
            ids,
            appearance,
            replaced,
        )

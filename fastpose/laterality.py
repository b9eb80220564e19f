"""Left and right kept apart: a limb chain (or the whole body) whose left and right labels
MediaPipe trades for a few frames is swapped back, per track, before smoothing.

The test is the crossing test on the track's motion (image coordinates, x scaled by the frame's
aspect ratio): at frame t, for a chain of left/right landmark pairs, trading the labels explains
the motion from the previous (corrected) frame far better than keeping them,
``d(L_t, R_t-1) + d(R_t, L_t-1) < ratio * (d(L_t, L_t-1) + d(R_t, R_t-1))`` summed over the
chain's pairs, the kept labels having moved more than ``min_motion`` of the person's size (the
diagonal of the box around their landmarks) on average. (Asking the world landmarks to agree as
well was tried: on sports2d_demo and its mirror image it kept 2 of 13 trades the image shows
uncorrected and removed no angle jump, so the image decides; the world landmarks are traded with
the image's.) When it fires, the chain's labels are traded from that frame on, until the test
fires again (MediaPipe trading them back): the state is one flag per chain and track, so a real
crossing of the legs (one foot still, the other passing it), which the triangle inequality keeps
from passing the test, never toggles it, and a single frame can't flicker it back and forth
without the motion saying so twice. A track away more than ``MAX_GAP`` frames comes back with
MediaPipe's labels.

MediaPipe also trades over two frames, through a transitional frame where each chain's left and
right points both lie in the middle (sports2d_demo's athlete, elbows at frames 66 -> 67 -> 68:
both steps fail the ratio, 66 -> 68 passes it by far). So when the track's last two corrected
frames are t-1 and t-2, the test also runs against t-2 with the same ``ratio`` and
``min_motion``: firing there fires (the frame between was a transition), and keeping explaining
the motion from t-2 as much better than trading (the mirror test) vetoes a one-frame firing (the
frame between was the glitch, half traded: firing would trade a right frame into a wrong one).
The triangle inequality holds between any two frames, so a real crossing (one foot still over
t-2 .. t) can't pass the test against t-2 either. The decision is the same on the labels it
puts out: run again on its own output, the correction finds nothing to trade.

Chains: ``arm`` (elbow, wrist, hand), ``leg`` (knee, ankle, heel, toe) and ``core`` (face,
shoulders, hips). The core's left and right points lie close together in a side view, too close
for its own motion to tell a trade from noise (toggled on its own, it could stay traded): it is
traded with the whole body, where the arms and the legs trade in the same frame and trading the
core explains its motion better than keeping it.

The motion gives only a relative labelling (which frames are traded against which); the labels a
track segment (a track's first frames, or its return after more than ``MAX_GAP`` frames away)
starts with choose the absolute one. MediaPipe's are right most of the time, but not always at a
segment's start: sports2d_demo's athlete, facing the camera, comes back at frame 13 with his whole
body traded for 5 frames; followed from there, the correction took MediaPipe's return to the right
labels for a trade and held his sides wrong (with the ratio below, 87 of 87 frames). So a short
look-ahead chooses: once a segment spans ``LOOKAHEAD_S`` (1 s, made a frame count by the video's
rate: 30 frames at 30 fps, 5 at 5 fps; or it ended sooner), a chain whose corrected labels differ
from MediaPipe's in more than half of the segment's frames so far, and at its last (the labels go
on from there: on the mirrored clip a chain traded in most of the second but not at its end made
the shoulders wrong in 67 frames of 87 instead of 20), is flipped over all of them, and in the
track's state (the relabelling is kept, and no jump appears: no frame comes before a segment's
first). The core flips only with both the arms and the legs, as it trades. A batch is handed on
once no segment starting in or before it is undecided: between calls, under ``LOOKAHEAD_S`` of
frames and one batch are held (a batch split changes nothing; the state is two frames per track
and the batches held). ``fired["start"]`` counts the segments flipped.

:data:`DECIDERS`: ``numpy`` (vectorized over chains) and ``python`` (the plain reference, one
chain and pair at a time with ``math``); ``none`` leaves the labels as they are.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from fastpose.poses import PoseBatch
from fastpose.skeleton import LANDMARK_NAMES

_AT = {name: k for k, name in enumerate(LANDMARK_NAMES)}


def _pairs(*parts: str) -> tuple[tuple[int, int], ...]:
    return tuple((_AT[f"left_{p}"], _AT[f"right_{p}"]) for p in parts)


#: The chains whose labels trade as one: name -> (left, right) landmark index pairs.
CHAINS: dict[str, tuple[tuple[int, int], ...]] = {
    "arm": _pairs("elbow", "wrist", "pinky", "index", "thumb"),
    "leg": _pairs("knee", "ankle", "heel", "foot_index"),
    "core": (
        *_pairs("eye_inner", "eye", "eye_outer", "ear", "shoulder", "hip"),
        (_AT["mouth_left"], _AT["mouth_right"]),
    ),
}
CHAIN_NAMES: tuple[str, ...] = tuple(CHAINS)
_LR = [np.array(CHAINS[name]).T for name in CHAIN_NAMES]  # each chain's (left, right) indices
#: The crossing test's bounds: trading must explain the motion 1 / 0.55 (1.8) times as well, the
#: kept labels having moved more than 5% of the person's size. (The issue measures trades at 0.5;
#: at 0.5 the correction missed MediaPipe trading sports2d_demo's athlete's arms back at frame 57,
#: 0.51 against frame 55, and held them wrong for 40 frames. Any ratio under 1 keeps a real
#: crossing, one foot still, from passing: the triangle inequality.)
RATIO, MIN_MOTION = 0.55, 0.05
#: A track away longer than this many frames starts afresh (its labels as MediaPipe gives them).
MAX_GAP = 2
#: The look-ahead at a segment's start (seconds): MediaPipe's majority over it chooses the labels.
LOOKAHEAD_S = 1.0
#: The correction as the outputs' settings name it (a checkpoint of another one is refused).
DESCRIPTION = (
    f"crossing test (arms, legs, whole body; ratio {RATIO:g}), {LOOKAHEAD_S:g} s look-ahead at a"
    " track's start"
)


@dataclass
class _Track:
    image: NDArray[np.float64]  # (33, 2) last corrected frame, aspect-scaled
    traded: NDArray[np.bool_]  # (chains,) labels traded from MediaPipe's
    seen: int  # frame counter
    #: the corrected frame before ``image``, if it came the frame before it
    before: NDArray[np.float64] | None = None


def swap_labels(
    landmarks: NDArray, world: NDArray, traded: NDArray[np.bool_]
) -> tuple[NDArray, NDArray]:
    """One pose's ``landmarks`` (33, C) and ``world`` (33, 3) with the labels of every chain
    ``traded[c]`` (in :data:`CHAIN_NAMES`' order) swapped (copies)."""
    return _swap_points(landmarks, traded), _swap_points(world, traded)


@dataclass
class _Segment:
    """A track's frames from its start (or return) until its labels are chosen."""

    start: int  # frame counter of its first frame
    where: list[tuple[int, int, int]]  # (batch number, row, slot) of its frames so far
    traded: NDArray[np.int64]  # (chains,) of those, the frames traded from MediaPipe's labels


def _swap_points(points: NDArray, chains: NDArray[np.bool_]) -> NDArray:
    """``points`` (33, ...) with the left and right points of ``chains`` swapped (a copy)."""
    out = points.copy()
    for c in np.flatnonzero(chains):
        left, right = _LR[c]
        out[left], out[right] = points[right], points[left]
    return out


def _size(image: NDArray[np.float64]) -> float:
    """The diagonal of the box around a pose's (aspect-scaled) landmarks."""
    span = np.nanmax(image, axis=0) - np.nanmin(image, axis=0)
    return float(np.hypot(*span))


class Decide(Protocol):
    """Which chains the crossing test says are traded at ``cur`` (image coordinates (33, 2),
    aspect-scaled, labels as they stand) against ``prev``, the track's last corrected frame, and
    ``before``, the corrected frame before it (None: not seen the frame before ``prev``): a chain
    fires where it fires against ``before``, or against ``prev`` unless keeping explains the
    motion from ``before`` as much better. (chains,) bool."""

    def __call__(
        self,
        prev: NDArray[np.float64],
        cur: NDArray[np.float64],
        before: NDArray[np.float64] | None = None,
    ) -> NDArray[np.bool_]: ...


_LEFT = [np.array([lr[0] for lr in CHAINS[c]]) for c in CHAIN_NAMES]
_RIGHT = [np.array([lr[1] for lr in CHAINS[c]]) for c in CHAIN_NAMES]
_FLAT_L = np.concatenate(_LEFT)
_FLAT_R = np.concatenate(_RIGHT)
_OWNER = np.concatenate([np.full(len(x), c) for c, x in enumerate(_LEFT)])
_COUNT = np.bincount(_OWNER).astype(np.float64)
_ARM, _LEG, _CORE = (CHAIN_NAMES.index(c) for c in ("arm", "leg", "core"))


def decide_numpy(
    prev: NDArray[np.float64],
    cur: NDArray[np.float64],
    before: NDArray[np.float64] | None = None,
) -> NDArray[np.bool_]:
    refs = np.stack([prev] if before is None else [prev, before])  # (R, 33, 2)
    keep = np.linalg.norm(cur[_FLAT_L] - refs[:, _FLAT_L], axis=-1)
    keep += np.linalg.norm(cur[_FLAT_R] - refs[:, _FLAT_R], axis=-1)
    swap = np.linalg.norm(cur[_FLAT_L] - refs[:, _FLAT_R], axis=-1)
    swap += np.linalg.norm(cur[_FLAT_R] - refs[:, _FLAT_L], axis=-1)
    n, owner = len(CHAIN_NAMES), np.arange(len(refs))[:, None] * len(CHAIN_NAMES) + _OWNER
    keep = np.bincount(owner.ravel(), keep.ravel(), n * len(refs)).reshape(-1, n)
    swap = np.bincount(owner.ravel(), swap.ravel(), n * len(refs)).reshape(-1, n)
    size = np.array([_size(r) for r in refs])[:, None]
    test = (swap < RATIO * keep) & (keep / (2 * _COUNT) > MIN_MOTION * size)
    test[:, _CORE] = swap[:, _CORE] < keep[:, _CORE]
    fire = test[0]
    if before is not None:  # the frame two back decides too (the frame between: a transition?)
        fire = (fire & ~(keep[1] < RATIO * swap[1])) | test[1]
    fire[_CORE] = fire[_CORE] and fire[_ARM] and fire[_LEG]
    return fire


def decide_python(
    prev: NDArray[np.float64],
    cur: NDArray[np.float64],
    before: NDArray[np.float64] | None = None,
) -> NDArray[np.bool_]:
    def size(ref: NDArray[np.float64]) -> float:
        xs = [float(v) for v in ref[:, 0] if v == v]
        ys = [float(v) for v in ref[:, 1] if v == v]
        return math.hypot(max(xs) - min(xs), max(ys) - min(ys)) if xs else math.nan

    def test(ref: NDArray[np.float64], name: str) -> tuple[bool, bool]:
        """(trading explains the motion from ``ref``, keeping explains it as much better)"""
        keep = swap = 0.0
        for left, right in CHAINS[name]:
            keep += math.dist(cur[left], ref[left]) + math.dist(cur[right], ref[right])
            swap += math.dist(cur[left], ref[right]) + math.dist(cur[right], ref[left])
        if name == "core":
            return swap < keep, keep < RATIO * swap
        moved = keep / (2 * len(CHAINS[name])) > MIN_MOTION * size(ref)
        return swap < RATIO * keep and moved, keep < RATIO * swap

    out = np.zeros(len(CHAIN_NAMES), dtype=bool)
    for c, name in enumerate(CHAIN_NAMES):
        out[c] = test(prev, name)[0]
        if before is not None:
            traded, kept = test(before, name)
            out[c] = traded or (out[c] and not kept)
    out[_CORE] = out[_CORE] and out[_ARM] and out[_LEG]
    return out


@dataclass
class Laterality:
    """Corrects traded left/right labels per track over the ordered stream (see the module's
    doc): call it with a batch to get the batches now final (earlier ones first; maybe none),
    :meth:`finish` at the stream's end. ``aspect``: the frame's width / height; ``fps``: the
    video's rate, which makes ``lookahead_s`` a frame count (0: one frame, no look-ahead).
    ``decide``: a :data:`DECIDERS` name. ``fired`` counts the frames where each chain's labels
    were traded or traded back, and under ``start`` the segments flipped by the look-ahead."""

    aspect: float = 1.0
    decide: str = "numpy"
    forget_frames: int = 300
    fps: float = 30.0
    lookahead_s: float = LOOKAHEAD_S
    tracks: dict[int, _Track] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*CHAIN_NAMES, "start"), 0))
    frames: int = 0
    _open: dict[int, _Segment] = field(default_factory=dict)  # segments not yet decided
    _pending: deque[PoseBatch] = field(default_factory=deque)  # corrected, not handed on
    _first: int = 0  # the batch number of _pending[0]

    def __post_init__(self) -> None:
        if not self.aspect > 0:
            raise ValueError(f"aspect: expected width / height > 0, got {self.aspect}")
        if self.decide not in DECIDERS:
            raise ValueError(f"decide: expected one of {sorted(DECIDERS)}, got {self.decide!r}")
        if not self.fps >= 0 or not self.lookahead_s >= 0:
            raise ValueError(
                f"fps, lookahead_s: expected >= 0, got {self.fps} and {self.lookahead_s}"
            )
        self._decide = DECIDERS[self.decide]
        self._scale = np.array([self.aspect, 1.0])
        #: a segment's labels are chosen once it spans this many frames
        self.window = max(1, round(self.lookahead_s * self.fps))

    def __call__(self, poses: PoseBatch) -> list[PoseBatch]:
        """The batches made final by ``poses`` (in order; ``poses`` itself maybe not yet)."""
        if self._decide is None:
            return [poses]
        landmarks, world = poses.landmarks.copy(), poses.world.copy()
        number = self._first + len(self._pending)
        self._pending.append(replace(poses, landmarks=landmarks, world=world))
        ids = poses.ids
        for f in range(len(poses)):
            self.frames += 1
            for track in [t for t in self._open if self._away(t)]:  # ended before the window
                self._choose(track)
            for k in np.flatnonzero(ids[f] >= 0):
                track = int(ids[f, k])
                landmarks[f, k], world[f, k], fresh = self._correct(
                    track, landmarks[f, k], world[f, k]
                )
                if fresh:
                    self._open[track] = _Segment(self.frames, [], np.zeros(len(CHAIN_NAMES), int))
                segment = self._open.get(track)
                if segment is not None:
                    segment.where.append((number, f, int(k)))
                    segment.traded += self.tracks[track].traded
            full = [t for t, s in self._open.items() if self.frames - s.start + 1 >= self.window]
            for track in full:  # the segment spans the window: its labels chosen
                self._choose(track)
        old = [t for t, s in self.tracks.items() if self.frames - s.seen > self.forget_frames]
        for track in old:
            self._open.pop(track, None)
            del self.tracks[track]
        return self._release()

    def finish(self) -> list[PoseBatch]:
        """Every batch still held, the segments still open decided on the frames they have."""
        for track in list(self._open):
            self._choose(track)
        return self._release()

    def _away(self, track: int) -> bool:
        state = self.tracks.get(track)
        return state is None or self.frames - state.seen > MAX_GAP

    def _release(self) -> list[PoseBatch]:
        """The held batches before the first one an undecided segment starts in."""
        stop = min((s.where[0][0] for s in self._open.values() if s.where), default=None)
        out = []
        while self._pending and (stop is None or self._first < stop):
            out.append(self._pending.popleft())
            self._first += 1
        return out

    def _choose(self, track: int) -> None:
        """The segment of ``track`` decided: each chain whose output is traded from MediaPipe's
        labels in more than half its frames, and at its last, flipped over them, and in the
        track's state."""
        segment = self._open.pop(track)
        state = self.tracks.get(track)
        flip = 2 * segment.traded > len(segment.where)
        if state is not None:  # and at its last frame: the labels go on from there
            flip &= state.traded
        flip[_CORE] = flip[_CORE] and flip[_ARM] and flip[_LEG]
        if not flip.any():
            return
        self.fired["start"] += 1
        for number, f, k in segment.where:
            batch = self._pending[number - self._first]
            lm, world = swap_labels(batch.landmarks[f, k], batch.world[f, k], flip)
            batch.landmarks[f, k], batch.world[f, k] = lm, world
        if state is not None:  # the frames it tests the next against relabelled alike
            state.traded = state.traded ^ flip
            state.image = _swap_points(state.image, flip)
            if state.before is not None:
                state.before = _swap_points(state.before, flip)

    def _correct(self, track: int, lm: NDArray, world: NDArray) -> tuple[NDArray, NDArray, bool]:
        """One pose corrected; and whether it starts a segment."""
        state = self.tracks.get(track)
        if state is not None and self.frames - state.seen > MAX_GAP:
            state = None  # away too long: MediaPipe's labels again
        traded = np.zeros(len(CHAIN_NAMES), dtype=bool) if state is None else state.traded
        lm, world = swap_labels(lm, world, traded)
        image = lm[:, :2].astype(np.float64) * self._scale
        if state is not None:
            # the frame two back, when the last one came the frame before this one
            before = state.before if self.frames - state.seen == 1 else None
            fire = self._decide(state.image, image, before)
            if fire.any():
                lm, world = swap_labels(lm, world, fire)
                image = lm[:, :2].astype(np.float64) * self._scale
                traded = traded ^ fire
                for c in np.flatnonzero(fire):
                    self.fired[CHAIN_NAMES[c]] += 1
        last = state is not None and self.frames - state.seen == 1
        self.tracks[track] = _Track(image, traded, self.frames, state.image if last else None)
        return lm, world, state is None


#: The crossing test's implementations by name; ``none``: no correction.
DECIDERS: dict[str, Decide | None] = {"numpy": decide_numpy, "python": decide_python, "none": None}

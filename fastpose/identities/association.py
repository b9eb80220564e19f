"""Person identities: which pose of each frame is which person, as track ids that never change.

MediaPipe's pose order is not an identity (with ``num_poses > 1`` poses swap places between
frames), so :class:`Identities` associates each frame's poses with the tracks so far:

- the cost of giving pose j to track i is the mean distance of the closer half of their
  landmarks, weighted by both visibilities, with the track moved ahead by its velocity (a
  constant-velocity prediction), in units of the track's size (the median of its last poses'
  larger box side, so near and far people alike); after a loss longer than ``short_gap_s`` the
  posture may have changed entirely, and the distance of the centroids alone counts;
- an assignment solver (:data:`SOLVERS`: SciPy's ``linear_sum_assignment``, the plain-NumPy
  exhaustive reference, or by default whichever suits the size) picks the pairs of least total
  cost; pairs past the gates are refused;
- a pose whose colours (its appearance descriptor, when the poses carry them) differ from a
  track's running average by more than ``max_appearance_change`` is refused by that track: someone
  else where a person was (a cut, a swap) however close they stand;
- a track lives through losses of up to ``max_age_s`` (crossings, occlusions); an unmatched pose
  the lost tracks do not re-identify (reid.py, for ``reid_s``) starts a new track; ids count up
  and are never reused;
- an unmatched pose within ``duplicate`` sizes of another pose of its frame is that person found
  twice (MediaPipe does this, measured on sports2d_demo: 0.03-0.5 sizes apart, against 1.1 or
  more for two people), and is dropped, its mask given to the pose it repeats.

The gates keep a track from jumping to someone else: a pose is refused if it is more than
``max_cost`` sizes from the track's prediction, or if its landmarks' centroid moved more than
``max_jump`` sizes from where the track was last seen (``max_jump_long`` after ``short_gap_s``,
in the smaller of the track's and the pose's sizes). These sit 20% under issue 12's teleport
limits (half a height within 0.25 s, one height after), as the size a gate sees (of the last 30
poses) is not the person's size over the whole clip the limits are measured with.

A landmarker restarted mid-video (parallel ranges) calls :meth:`Identities.restart` with the
poses its warm-up found on frames the stream already has: tracks are matched on those same
frames, and the tracks so matched continue from the new landmarker's view of them.

Coordinates are MediaPipe's normalized ones with x scaled by the frame's aspect ratio, so a
distance means the same along x and y.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from fastpose.appearance import distance
from fastpose.identities.reid import Candidate, Profile, reid_costs
from fastpose.identities.solvers import REFUSED, SOLVERS, Solver
from fastpose.poses import PoseBatch


@dataclass(frozen=True)
class IdentityOptions:
    """Gates and lifetimes of the association (distances in units of the person's size)."""

    max_age_s: float = 1.0  # a track unseen for longer ends
    max_cost: float = 1.0  # landmarks' distance from the track's prediction (short gaps)
    max_jump: float = 0.4  # centroid move since last seen, within short_gap_s
    max_jump_long: float = 0.8  # centroid move since last seen, after a longer gap
    short_gap_s: float = 0.25
    max_predict_s: float = 0.5  # the prediction extrapolates the velocity this long at most
    velocity_smoothing: float = 0.5  # weight of the newest velocity in its running average
    size_frames: int = 30  # a track's size is the median of its last poses' sizes
    partial: float = 0.6  # a pose smaller than this share of the person's size is partial
    duplicate: float = 0.6  # an unmatched pose this close to another of its frame repeats it
    history_frames: int = 30  # frames of the stream kept to match a restarted landmarker on
    # Re-identification (see reid.py); gates measured on the test clips (docs/reid.md).
    max_appearance_change: float = 0.75  # a track refuses a pose whose colours differ more
    reid_s: float = 5.0  # a lost track may take a returning pose this long (0: never)
    reid_appearance: float = 0.65  # at most this Hellinger distance of colour histograms
    reid_proportions: float = 0.9  # every limb's share within a factor exp(this)
    reid_speed: float = 3.0  # sizes a second a person may have moved while unseen
    reid_reach: float = 1.0  # sizes, plus the above (posture changes, landmark noise)
    reid_min_frames: int = 5  # a track seen in fewer frames has no appearance to match
    appearance_smoothing: float = 0.3  # weight of the newest descriptor in a track's average

    def __post_init__(self) -> None:
        for name in (
            "max_age_s",
            "max_cost",
            "max_jump",
            "max_jump_long",
            "short_gap_s",
            "max_predict_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")
        if self.size_frames < 1:
            raise ValueError(f"size_frames: expected >= 1, got {self.size_frames}")
        if not 0 < self.velocity_smoothing <= 1:
            raise ValueError(
                f"velocity_smoothing: expected in (0, 1], got {self.velocity_smoothing}"
            )


@dataclass(eq=False)  # compared by identity (lists of tracks are searched)
class _Track:
    id: int
    xy: NDArray[np.float64]  # (33, 2) last seen whole pose (the template shapes are matched to)
    vis: NDArray[np.float64]  # (33,) its visibility
    t: float  # when last seen
    sizes: deque[float]  # of its last poses (the median is robust to partial and odd poses)
    center: NDArray[np.float64] = field(init=False)  # (2,) last seen landmarks' centroid
    size: float = field(init=False)  # the median of ``sizes``
    velocity: NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))
    profile: Profile = field(default_factory=lambda: Profile(0.3))

    def __post_init__(self) -> None:
        self.center = self.xy.mean(axis=0)
        self.size = statistics.median(self.sizes)


@dataclass(frozen=True)
class _Frame:
    """A frame of the stream as associated: what a restarted landmarker is matched against."""

    frame_idx: int
    xy: NDArray[np.float64]  # (n, 33, 2)
    vis: NDArray[np.float64]  # (n, 33)
    ids: NDArray[np.int32]  # (n,)


def _without(
    poses: PoseBatch, repeats: list[tuple[int, int, int]], ids: NDArray[np.int32]
) -> PoseBatch:
    """``poses`` with ``ids``, without the repeated poses ``(frame, slot, slot it repeats)``;
    a repeated pose's mask pixels go to the pose it repeats."""
    if not repeats:
        return replace(poses, track_ids=ids)
    landmarks, world = poses.landmarks.copy(), poses.world.copy()
    masks = None if poses.masks is None else poses.masks.copy()
    looks = None if poses.appearance is None else poses.appearance.copy()
    for frame, slot, other in repeats:
        landmarks[frame, slot] = np.nan
        world[frame, slot] = np.nan
        if looks is not None:
            looks[frame, slot] = np.nan
        if masks is not None:
            masks[frame][masks[frame] == slot + 1] = other + 1
    return replace(
        poses, landmarks=landmarks, world=world, masks=masks, appearance=looks, track_ids=ids
    )


@dataclass(frozen=True)
class _Poses:
    """One frame's poses as the association sees them."""

    xy: NDArray[np.float64]  # (n, 33, 2) aspect-scaled normalized coordinates
    vis: NDArray[np.float64]  # (n, 33)
    world: NDArray[np.float32]  # (n, 33, 3)
    appearance: NDArray[np.float32] | None  # (n, K)


def _row(a: NDArray | None, j: int) -> NDArray | None:
    return None if a is None else a[j]


def _sizes(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """(..., 33, 2) -> (...): the larger side of the landmarks' bounding box."""
    extent = xy.max(axis=-2) - xy.min(axis=-2)
    return np.maximum(extent.max(axis=-1), 1e-6)


def _visibility(lm: NDArray[np.float32]) -> NDArray[np.float64]:
    vis = lm[..., 3].astype(np.float64)
    return np.where(np.isnan(vis), 1.0, np.clip(vis, 0.0, 1.0))


def pose_distance(
    a: NDArray[np.float64],
    va: NDArray[np.float64],
    b: NDArray[np.float64],
    vb: NDArray[np.float64],
) -> NDArray[np.float64]:
    """(N, M): mean distance of the closer half of the landmarks of poses ``a`` (N, 33, 2) and
    ``b`` (M, 33, 2), each weighted by the product of its visibilities ``va`` (N, 33) and ``vb``
    (M, 33). The closer half: a pose MediaPipe got half wrong (a limb flung wide, a partly
    hidden person) still matches its person."""
    d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(axis=-1))  # (N, M, 33)
    w = va[:, None] * vb[None] + 1e-3  # a landmark neither sees still counts a little
    half = d.shape[-1] // 2
    median = np.partition(d, half, axis=-1)[..., half : half + 1]
    w = np.where(d <= median, w, 0.0)  # the closer half: robust
    return (d * w).sum(axis=-1) / w.sum(axis=-1)


class Identities:
    """Track ids for the person slots of a stream of :class:`PoseBatch` es, in frame order.

    Call it on each batch for the batch with its ``track_ids`` (and duplicate poses dropped);
    call :meth:`restart` when the poses come from a landmarker restarted mid-video.
    """

    def __init__(
        self,
        aspect: float = 1.0,
        options: IdentityOptions | None = None,
        solver: Solver | str = "auto",
    ) -> None:
        if not aspect > 0:
            raise ValueError(f"aspect: expected width / height > 0, got {aspect}")
        if isinstance(solver, str):
            if solver not in SOLVERS:
                raise ValueError(f"solver: expected one of {sorted(SOLVERS)}, got {solver!r}")
            solver = SOLVERS[solver]
        self.aspect = aspect
        self.scale = np.array([aspect, 1.0])
        self.options = options or IdentityOptions()
        self.solver = solver
        self.tracks: list[_Track] = []
        self.lost: list[_Track] = []  # ended tracks a returning pose may still take (reid.py)
        self.next_id = 0
        self.history: deque[_Frame] = deque(maxlen=self.options.history_frames)

    def __call__(self, poses: PoseBatch) -> PoseBatch:
        """``poses`` with ``track_ids``; a pose that repeats another of its frame is dropped."""
        detected = poses.detected
        ids = np.full(detected.shape, -1, dtype=np.int32)
        xy_all = poses.landmarks[..., :2].astype(np.float64) * self.scale
        vis_all = _visibility(poses.landmarks)
        repeats: list[tuple[int, int, int]] = []  # (frame, dropped slot, slot it repeats)
        for i in range(len(poses)):
            slots = np.flatnonzero(detected[i])
            looks = None if poses.appearance is None else poses.appearance[i, slots]
            frame = _Poses(xy_all[i, slots], vis_all[i, slots], poses.world[i, slots], looks)
            found, twice = self._step(float(poses.time_s[i]), frame)
            ids[i, slots] = found
            repeats += [(i, slots[a], slots[b]) for a, b in twice.items()]
            kept = found >= 0
            self.history.append(
                _Frame(
                    int(poses.frame_idx[i]),
                    xy_all[i, slots[kept]],
                    vis_all[i, slots[kept]],
                    found[kept],
                )
            )
        return _without(replace(poses, track_ids=None), repeats, ids)

    def _step(self, t: float, poses: _Poses) -> tuple[NDArray[np.int32], dict[int, int]]:
        """Ids of one frame's poses, -1 for a repeated pose, and which pose each repeated one
        repeats; updates the tracks."""
        opts = self.options
        self._age(t)
        xy, vis = poses.xy, poses.vis
        ids = np.full(len(xy), -1, dtype=np.int32)
        if self.tracks and len(xy):
            cost = self._cost(t, xy, vis)
            cost[self._looks_different(poses)] = REFUSED
            rows, cols = self.solver(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] < REFUSED:
                    ids[c] = self.tracks[r].id
                    self._update(self.tracks[r], t, poses, c)
        twice: dict[int, int] = {}
        sizes = _sizes(xy)
        for j in np.flatnonzero(ids < 0)[np.argsort(-vis[ids < 0].mean(axis=1), kind="stable")]:
            kept = np.flatnonzero(ids >= 0)
            if len(kept):
                d = pose_distance(xy[j : j + 1], vis[j : j + 1], xy[kept], vis[kept])[0]
                d /= np.maximum(sizes[j], sizes[kept])
                if d.min() < opts.duplicate:
                    twice[int(j)] = int(kept[np.argmin(d)])
                    continue
            back = self._returning(t, poses, int(j), ids)
            if back is not None:
                ids[j] = back.id
                self._update(back, t, poses, int(j))
                continue
            ids[j] = self.next_id
            first = deque([float(sizes[j])], maxlen=opts.size_frames)
            track = _Track(self.next_id, xy[j], vis[j], t, first)
            track.profile = Profile(opts.appearance_smoothing)
            track.profile.update(_row(poses.appearance, j), poses.world[j])
            self.tracks.append(track)
            self.next_id += 1
        return ids, twice

    def _age(self, t: float) -> None:
        """Tracks unseen for longer than ``max_age_s`` end, remembered for ``reid_s``."""
        opts = self.options
        ended = [tr for tr in self.tracks if t - tr.t > opts.max_age_s]
        self.tracks = [tr for tr in self.tracks if t - tr.t <= opts.max_age_s]
        self.lost = [tr for tr in self.lost + ended if t - tr.t <= opts.reid_s]

    def _returning(self, t: float, poses: _Poses, j: int, ids: NDArray[np.int32]) -> _Track | None:
        """The track, unseen for longer than a short gap, that pose ``j`` re-identifies (see
        reid.py); revived if it had ended."""
        opts = self.options
        if opts.reid_s <= 0 or poses.appearance is None:
            return None
        taken = set(ids[ids >= 0].tolist())
        waiting = [tr for tr in self.tracks if tr.id not in taken and t - tr.t > opts.short_gap_s]
        candidates = waiting + self.lost
        if not candidates:
            return None
        costs = reid_costs(
            [Candidate(tr.t, tr.center, tr.size, tr.profile) for tr in candidates],
            t,
            poses.xy[j].mean(axis=0),
            poses.appearance[j],
            poses.world[j],
            max_appearance=opts.reid_appearance,
            max_proportions=opts.reid_proportions,
            speed=opts.reid_speed,
            reach=opts.reid_reach,
            min_frames=opts.reid_min_frames,
        )
        if not np.isfinite(costs).any():
            return None
        track = candidates[int(np.argmin(costs))]
        if track in self.lost:
            self.lost.remove(track)
            self.tracks.append(track)
        return track

    def _cost(self, t: float, xy: NDArray[np.float64], vis: NDArray[np.float64]) -> NDArray:
        """(tracks, poses) costs, :data:`REFUSED` past the gates."""
        opts = self.options
        tracks = self.tracks
        dt = np.array([t - tr.t for tr in tracks])
        size = np.array([tr.size for tr in tracks])
        ahead = (
            np.stack([tr.velocity for tr in tracks]) * np.minimum(dt, opts.max_predict_s)[:, None]
        )
        center = xy.mean(axis=1)  # (n, 2)
        last = np.stack([tr.center for tr in tracks])
        moved = np.linalg.norm((last + ahead)[:, None] - center[None], axis=-1) / size[:, None]
        template = np.stack([tr.xy for tr in tracks]) + ahead[:, None, :]
        shape = pose_distance(template, np.stack([tr.vis for tr in tracks]), xy, vis)
        shape /= size[:, None]
        short = (dt < opts.short_gap_s)[:, None]
        # After a longer loss the posture may have changed entirely: position alone matches.
        cost = np.where(short, shape, moved)
        jump = np.linalg.norm(last[:, None] - center[None], axis=-1)
        long_size = np.minimum(size[:, None], _sizes(xy)[None])
        limit = np.where(short, opts.max_jump * size[:, None], opts.max_jump_long * long_size)
        refused = (short & (shape > opts.max_cost)) | (jump > limit)
        return np.where(refused, REFUSED, cost)

    def _looks_different(self, poses: _Poses) -> NDArray[np.bool_]:
        """(tracks, poses): whose colours differ past ``max_appearance_change`` (two people
        where one ends as the other starts, at a cut or a swap of MediaPipe's slots)."""
        opts = self.options
        out = np.zeros((len(self.tracks), len(poses.xy)), bool)
        if poses.appearance is None:
            return out
        for r, tr in enumerate(self.tracks):
            p = tr.profile
            if p.appearance is not None and p.frames >= opts.reid_min_frames:
                with np.errstate(invalid="ignore"):
                    out[r] = distance(p.appearance, poses.appearance) > opts.max_appearance_change
        return out

    def _update(self, track: _Track, t: float, poses: _Poses, j: int) -> None:
        opts = self.options
        xy, vis = poses.xy[j], poses.vis[j]
        track.profile.update(_row(poses.appearance, j), poses.world[j])
        dt = t - track.t
        center = xy.mean(axis=0)
        if 0 < dt <= opts.short_gap_s:
            v = (center - track.center) / dt
            track.velocity += opts.velocity_smoothing * (v - track.velocity)
        elif dt > opts.short_gap_s:
            track.velocity = np.zeros(2)
        size = float(_sizes(xy))
        if size >= opts.partial * track.size:  # a whole pose: the template to match shapes with
            track.xy, track.vis = xy, vis
        track.sizes.append(size)
        track.size = statistics.median(track.sizes)
        track.center, track.t = center, t

    def restart(self, overlap: PoseBatch) -> None:
        """The next poses come from a landmarker restarted mid-video; ``overlap`` holds its poses
        of frames before them, which the stream already had from the previous landmarker.

        The overlap's poses are tracked on their own, each of those tracks is matched to the id
        its poses had in the stream on the same frames, and every matched track continues from
        the restarted landmarker's last view of it, so the next frames are matched against what
        the new landmarker sees.
        """
        if len(overlap) == 0 or not self.history:
            return
        local = Identities(self.aspect, self.options, self.solver)
        local_ids = local(overlap).track_ids
        seen = {f.frame_idx: f for f in self.history}
        xy_all = overlap.landmarks[..., :2].astype(np.float64) * self.scale
        vis_all = _visibility(overlap.landmarks)
        sums: dict[tuple[int, int], list[float]] = {}
        for i, frame in enumerate(overlap.frame_idx):
            past = seen.get(int(frame))
            slots = np.flatnonzero(local_ids[i] >= 0)
            if past is None or len(past.ids) == 0 or len(slots) == 0:
                continue
            d = pose_distance(xy_all[i, slots], vis_all[i, slots], past.xy, past.vis)
            d /= _sizes(past.xy)[None, :]
            for a, slot in enumerate(slots):
                for b, gid in enumerate(past.ids):
                    sums.setdefault((int(local_ids[i, slot]), int(gid)), []).append(d[a, b])
        if not sums:
            return
        lids = sorted({k[0] for k in sums})
        gids = sorted({k[1] for k in sums})
        cost = np.full((len(lids), len(gids)), REFUSED)
        for (lid, gid), ds in sums.items():
            mean = float(np.mean(ds))
            if mean <= self.options.max_cost / 2:
                cost[lids.index(lid), gids.index(gid)] = mean
        mine = {tr.id: tr for tr in self.tracks + self.lost}
        theirs = {tr.id: tr for tr in local.tracks}
        rows, cols = self.solver(cost)
        for r, c in zip(rows, cols, strict=True):
            a, b = mine.get(gids[c]), theirs.get(lids[r])
            if cost[r, c] < REFUSED and a is not None and b is not None:
                a.xy, a.vis, a.center, a.velocity, a.t = b.xy, b.vis, b.center, b.velocity, b.t
                if a in self.lost:  # ended here, seen to its end by the new landmarker
                    self.lost.remove(a)
                    self.tracks.append(a)

"""TrackRows over a long video of people coming and going: tracks long gone are forgotten (memory
and a frame's work stay flat), and every track still gets exactly its rows; one coming back after
longer than the frames remembered gets rows from its return on, one back sooner gets its gap.
The values are a real person's world landmarks (pose_squats, tracked once per session)."""

from __future__ import annotations

import numpy as np

from fastpose.sinks.track_rows import MAX_GAP, REMEMBER_FRAMES, TrackRows

STAY, PEOPLE = 50, 400  # each person is seen for 50 frames, one after the other: 20,000 frames


def test_gone_tracks_are_forgotten_and_rows_stay_exact(track_clip):
    world = track_clip("pose_squats.mp4", 1).poses.world[:, 0].reshape(65, -1).astype(np.float64)
    frames = STAY * PEOPLE
    total = frames + 120
    ids = np.full((total, 1), -1, np.int32)
    ids[:frames, 0] = np.arange(frames) // STAY
    early, late = 3, PEOPLE - 1
    ids[frames + 60, 0] = early  # back after ~19,800 frames: longer than remembered
    ids[frames + 100, 0] = late  # back after 100 frames
    frame_idx = np.arange(total, dtype=np.int64)
    values = world[frame_idx % 65][:, None]
    rows, out, held = TrackRows(np.zeros(world.shape[1])), [], []
    for start in range(0, total, 16):
        sl = slice(start, start + 16)
        out += rows.push(frame_idx[sl], frame_idx[sl] / 30.0, ids[sl], values[sl])
        held.append(len(rows.tracks))
    out += rows.finish()
    assert max(held) <= REMEMBER_FRAMES // STAY + 2, f"tracks held: up to {max(held)}"
    got: dict[int, list[int]] = {}
    for r in out:
        got.setdefault(r.track, []).extend(r.frame_idx.tolist())
        seen = ids[r.frame_idx, 0] == r.track
        np.testing.assert_array_equal(r.values[seen], values[r.frame_idx[seen], 0])
        assert np.isnan(r.values[~seen]).all(), "a gap longer than MAX_GAP stays NaN"
    for person in range(PEOPLE):
        expected = list(range(person * STAY, (person + 1) * STAY))
        if person == early:
            expected.append(frames + 60)  # rows from its return on
        if person == late:
            expected = list(range(person * STAY, frames + 101))  # its gap's rows too
        assert got[person] == expected, person
    assert MAX_GAP < 100

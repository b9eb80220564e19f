"""Person identities: which pose of each frame is which person, as track ids that never change.

MediaPipe's pose order is not an identity (with ``num_poses > 1`` poses swap places between
frames), so :class:`Identities` associates each frame's poses with the tracks so far
(association.py: landmark distances, gates, duplicates, restarted landmarkers), with an
assignment solver (solvers.py), and gives a person back after a loss of up to ``reid_s`` their
id when their appearance, body proportions and motion say so (reid.py).
"""

from fastpose.identities.association import Identities, IdentityOptions, pose_distance
from fastpose.identities.reid import proportion_distance, proportions
from fastpose.identities.solvers import (
    AUTO_EXHAUSTIVE,
    REFUSED,
    SOLVERS,
    Solver,
    solve_auto,
    solve_exhaustive,
    solve_scipy,
)

__all__ = [
    "AUTO_EXHAUSTIVE",
    "REFUSED",
    "SOLVERS",
    "Identities",
    "IdentityOptions",
    "Solver",
    "pose_distance",
    "proportion_distance",
    "proportions",
    "solve_auto",
    "solve_exhaustive",
    "solve_scipy",
]

"""Assignment solvers: the pairs of tracks and poses of least total cost.

A solver takes an (N, M) cost matrix and returns the rows and columns of the assignment of least
total cost that pairs min(N, M) rows and columns (each at most once).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

#: A solver takes an (N, M) cost matrix and returns the rows and columns of the assignment of
#: least total cost that pairs min(N, M) rows and columns (each at most once).
Solver = Callable[[NDArray[np.float64]], tuple[NDArray[np.intp], NDArray[np.intp]]]

#: Cost standing in for a refused pair, so solvers see finite matrices.
REFUSED = 1e6


def solve_scipy(cost: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """SciPy's Jonker-Volgenant solver (``linear_sum_assignment``)."""
    from scipy.optimize import linear_sum_assignment  # ~0.4 s to import: only when needed

    rows, cols = linear_sum_assignment(cost)
    return rows.astype(np.intp), cols.astype(np.intp)


def solve_exhaustive(cost: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The reference: every assignment tried, in plain NumPy (for the few poses of a frame)."""
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    if n > m:
        cols, rows = solve_exhaustive(cost.T)
        order = np.argsort(rows)
        return rows[order], cols[order]
    perms = _permutations(m, n)  # (K, n)
    totals = cost[np.arange(n), perms].sum(axis=1)
    return np.arange(n, dtype=np.intp), perms[int(np.argmin(totals))]


@functools.cache
def _permutations(m: int, n: int) -> NDArray[np.intp]:
    return np.array(list(itertools.permutations(range(m), n)), dtype=np.intp).reshape(-1, n)


def solve_auto(cost: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The exhaustive search while it is small (the few people of most videos: no SciPy to
    import, ~0.4 s, before the first frame), SciPy's solver past ``AUTO_EXHAUSTIVE``
    assignments."""
    n, m = sorted(cost.shape)
    if math.perm(m, n) <= AUTO_EXHAUSTIVE:
        return solve_exhaustive(cost)
    return solve_scipy(cost)


#: Assignments :func:`solve_auto` tries one by one at most (6 poses to 6 tracks: 720).
AUTO_EXHAUSTIVE = 720
#: The solvers by name; :class:`Identities` takes any of them.
SOLVERS: dict[str, Solver] = {
    "auto": solve_auto,
    "hungarian": solve_scipy,
    "exhaustive": solve_exhaustive,
}

"""The real ``opensim`` package for the tests that use it (test_ik.py, test_opensim.py): imported
once, quiet (no ``opensim.log`` in the current folder, errors only), ``needs_opensim`` skipping
with the reason where it is not installed (CI installs it through the test extra), and
:func:`storage`: a file as ``opensim.Storage`` (what OpenSim's GUI and many scripts read) reads
it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

try:
    import opensim

    opensim.Logger.removeFileSink()  # no opensim.log in the current folder from the tests
    opensim.Logger.setLevelString("Error")
except ImportError:  # the opensim extra (CI installs it)
    opensim = None

needs_opensim = pytest.mark.skipif(
    opensim is None, reason="OpenSim is not installed: pip install 'fastpose[opensim]'"
)


def storage(path: Path) -> tuple[list[str], np.ndarray]:
    """An OpenSim motion or storage file as ``opensim.Storage`` reads it: its column labels, and
    its rows (time first), every column read by name with ``getDataColumn``."""
    s = opensim.Storage(str(path))
    labels = s.getColumnLabels()
    columns = [labels.get(i) for i in range(labels.getSize())]
    values = np.full((s.getSize(), len(columns)), np.nan)
    times = opensim.ArrayDouble()
    s.getTimeColumn(times)
    values[:, 0] = [times.get(i) for i in range(times.getSize())]
    for c, name in enumerate(columns[1:], start=1):
        column = opensim.ArrayDouble()
        s.getDataColumn(name, column)
        assert column.getSize() == s.getSize(), f"{path}: {name}: {column.getSize()} rows"
        values[:, c] = [column.get(i) for i in range(column.getSize())]
    return columns, values

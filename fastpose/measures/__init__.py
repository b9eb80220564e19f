"""Numbers about the body: joint and segment angles, flexions, speeds (see definitions.py)."""

from fastpose.measures.batch import MeasureBatch
from fastpose.measures.measurer import Measurer

__all__ = ["MeasureBatch", "Measurer"]

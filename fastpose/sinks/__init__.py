"""Outputs of a run, each a :class:`~fastpose.sinks.base.Sink`: the Rerun recording
(:mod:`fastpose.sinks.rerun`), the landmark table (:mod:`fastpose.sinks.landmarks`), and more.

A new output is a new module here with its sink class; the CLI and ``fastpose batch`` build it
from their options. Modules load on use (Rerun, PyArrow are heavy)."""

"""Benchmarks: fastpose against the seed's per-frame loop (``tox -e bench``; see README.md)."""

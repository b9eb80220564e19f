"""Throughput benchmarks (issue 4): fastpose against the seed's loop (``tox -e bench``)."""

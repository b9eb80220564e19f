"""``python -m benchmarks.cli_probe ARGS``: ``fastpose ARGS``, noting its first logged frame.

``fastpose.pipeline._write`` (a batch to one output, in ``fastpose run`` and ``batch``) is wrapped
to note the ``time.time()`` of its first batch, once written, and the process's CPU seconds then;
those, with the CPU seconds at the end, are printed as a JSON line on stdout after the CLI returns.
CPU from the first frame to the end is the steady state, without start-up. The wrapper is put in
place when the CLI itself imports ``fastpose.pipeline`` (an import hook), so nothing is loaded here
before the CLI would load it: start-up is measured as a user meets it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import resource
import sys
import time
from types import ModuleType

from fastpose.cli import main

RECORD = "fastpose.pipeline"


class _Stamp:
    def __init__(self) -> None:
        self.first_at: float | None = None
        self.cpu_at_first: float | None = None

    def wrap(self, module: ModuleType) -> None:
        write = module._write

        def stamped(sink, batch, *args, **kwargs):
            write(sink, batch, *args, **kwargs)
            if self.first_at is None and len(batch.poses):
                self.first_at, self.cpu_at_first = time.time(), _cpu_s()

        module._write = stamped


class _Hook(importlib.abc.MetaPathFinder):
    """Wraps ``fastpose.pipeline`` once its module has run."""

    def __init__(self, stamp: _Stamp) -> None:
        self.stamp = stamp

    def find_spec(self, name, path, target=None):
        if name != RECORD:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader, stamp = spec.loader, self.stamp

        class Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module: ModuleType) -> None:
                loader.exec_module(module)
                stamp.wrap(module)

        spec.loader = Loader()
        return spec


def probe(argv: list[str] | None = None) -> int:
    """Run the CLI noting its first written batch; print that time (and CPU seconds) as JSON."""
    stamp = _Stamp()
    if RECORD in sys.modules:
        stamp.wrap(sys.modules[RECORD])
    else:
        sys.meta_path.insert(0, _Hook(stamp))
    code = main(argv)
    report = {"first_frame_at": stamp.first_at, "cpu_at_first_frame_s": stamp.cpu_at_first}
    report["cpu_s"] = _cpu_s()
    print(json.dumps(report))
    return code


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    raise SystemExit(probe())

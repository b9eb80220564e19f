"""``python -m benchmarks.cli_probe ARGS``: ``fastpose ARGS``, noting its first logged frame.

The recording's sink (:class:`fastpose.RerunRecording`, public API) has its ``write`` wrapped to
note the ``time.time()`` of its first batch holding frames, once written, and the process's CPU
seconds then; those, with the CPU seconds at the end, are printed as a JSON line on stdout after
the CLI returns. CPU from the first frame to the end is the steady state, without start-up.

The wrapper is put in place when the CLI itself imports the module that defines the class (an
import hook on ``fastpose.*``: whichever module that is), so nothing is loaded here before the CLI
would load it: start-up is measured as a user meets it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys
import time
from types import ModuleType

from fastpose.cli import main

#: The sink whose first write is "the first logged frame": `fastpose run --save` always has one.
SINK = "RerunRecording"


class _Stamp:
    def __init__(self) -> None:
        self.first_at: float | None = None
        self.cpu_at_first: float | None = None
        self.wrapped = False

    def wrap(self, module: ModuleType) -> None:
        cls = module.__dict__.get(SINK)
        if self.wrapped or not isinstance(cls, type) or cls.__module__ != module.__name__:
            return
        write, stamp = cls.write, self

        def stamped(sink, batch, *args, **kwargs):
            write(sink, batch, *args, **kwargs)
            if stamp.first_at is None and len(batch):
                stamp.first_at, stamp.cpu_at_first = time.time(), time.process_time()

        cls.write = stamped
        self.wrapped = True


class _Hook(importlib.abc.MetaPathFinder):
    """Hands every ``fastpose.*`` module to the stamp once it has run."""

    def __init__(self, stamp: _Stamp) -> None:
        self.stamp = stamp

    def find_spec(self, name, path, target=None):
        if not name.startswith("fastpose.") or self.stamp.wrapped:
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
    for module in list(sys.modules.values()):
        if isinstance(module, ModuleType) and module.__name__.startswith("fastpose."):
            stamp.wrap(module)
    hook = _Hook(stamp)
    sys.meta_path.insert(0, hook)
    try:
        code = main(argv)
    finally:
        sys.meta_path.remove(hook)
    report = {"first_frame_at": stamp.first_at, "cpu_at_first_frame_s": stamp.cpu_at_first}
    report["cpu_s"] = time.process_time()
    print(json.dumps(report))
    return code


if __name__ == "__main__":
    raise SystemExit(probe())

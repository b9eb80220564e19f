"""AllocatorTrim gives back the memory glibc keeps after it was freed, at most once an interval:
blocks below malloc's mmap threshold (as a run's Arrow tables, masks and Rerun chunks are) freed
behind one still in use stay in the process's RSS until trimmed."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys

import psutil
import pytest
from conftest import ROOT

from fastpose.memory import AllocatorTrim, limit_malloc_arenas

BLOCK, BLOCKS = 64 * 1024, 2048  # 128 MiB in blocks malloc serves from its heap


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_trims_once_an_interval():
    clock = Clock()
    trim = AllocatorTrim(2.0, clock)
    calls = []
    for now in (0.5, 1.9, 2.0, 2.1, 3.9, 4.0):
        clock.now = now
        calls.append(trim())
    on_glibc = sys.platform.startswith("linux")
    assert calls == [False, False, True, False, False, True] if on_glibc else not any(calls)
    assert trim.trims == (2 if on_glibc else 0)


def test_refuses_a_negative_interval():
    with pytest.raises(ValueError, match="expected >= 0, got -1"):
        AllocatorTrim(-1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_is_given_back():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    process = psutil.Process()
    blocks = []
    for _ in range(BLOCKS):
        block = libc.malloc(BLOCK)
        ctypes.memset(block, 1, BLOCK)  # touched: in RSS
        blocks.append(block)
    keep = libc.malloc(BLOCK)  # in use above the freed blocks: free() can't shrink the heap
    try:
        for block in blocks:
            libc.free(block)
        held = process.memory_info().rss
        assert AllocatorTrim(0)()
        given_back = held - process.memory_info().rss
    finally:
        libc.free(keep)
    assert given_back > BLOCK * BLOCKS / 2, f"{given_back / 2**20:.1f} MiB given back"


# A process that frees a 16 MiB block (as a run does at start), then frees every other one of
# 40 720p-frame blocks (those between stay in use), and prints the bytes given back untrimmed.
_FRAMES_FREED = """
import ctypes, sys
import psutil
from fastpose.memory import limit_malloc_arenas
if sys.argv[1] == "limited":
    limit_malloc_arenas()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
big = libc.malloc(16 * 2**20)
ctypes.memset(big, 1, 16 * 2**20)
libc.free(big)  # glibc's own rule: blocks up to 16 MiB now come from the heap
frames = []
for _ in range(40):
    frame = libc.malloc(1280 * 720 * 3)
    ctypes.memset(frame, 1, 1280 * 720 * 3)
    frames.append(frame)
held = psutil.Process().memory_info().rss
for frame in frames[::2]:
    libc.free(frame)
print(held - psutil.Process().memory_info().rss)
"""
FRAMES_BYTES = 20 * 1280 * 720 * 3  # freed


def _frames_given_back(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", _FRAMES_FREED, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_frames_are_given_back_with_the_threshold_held():
    """With glibc's rule, the frames freed stay in the heap (what the soak's RSS climbed on); with
    the threshold held by limit_malloc_arenas, each was a map of its own, given back when freed."""
    assert _frames_given_back("default") < FRAMES_BYTES / 4
    limited = _frames_given_back("limited")
    assert limited > FRAMES_BYTES * 0.9, f"{limited / 2**20:.1f} MiB given back"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arenas": 0}, "arenas: expected >= 1, got 0"),
        ({"mmap_threshold": 64 * 2**20}, "mmap_threshold: expected 0..32 MiB, got 67108864"),
    ],
)
def test_limit_malloc_arenas_refuses_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        limit_malloc_arenas(**kwargs)


@pytest.mark.parametrize("first", ["", "import pyarrow; "])
def test_mimalloc_gives_freed_pages_back_at_once_when_set_first(first):
    """Rerun's and pyarrow's mimalloc read MIMALLOC_PURGE_DELAY when they load (their verbose
    mode prints the value taken): set before they load, 0; after, too late, said, their 1 s."""
    code = (
        f"{first}from fastpose.memory import purge_mimalloc_at_once as purge; "
        "print('set', purge()); import pyarrow, rerun_bindings; pyarrow.array([1])"
    )
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    env["MIMALLOC_VERBOSE"] = "1"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    taken = re.findall(r"option 'purge_delay': (\d+)", run.stderr)
    assert len(taken) == 2, run.stderr[-2000:]  # the two copies
    if first:
        assert "set False" in run.stdout and set(taken) == {"1000"}
    else:
        assert "set True" in run.stdout and set(taken) == {"0"}

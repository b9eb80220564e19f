"""AllocatorTrim gives back the memory glibc keeps after it was freed, at most once an interval:
blocks below malloc's mmap threshold (as a run's Arrow tables, masks and Rerun chunks are) freed
behind one still in use stay in the process's RSS until trimmed."""

from __future__ import annotations

import ctypes
import sys

import psutil
import pytest

from fastpose.memory import AllocatorTrim

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

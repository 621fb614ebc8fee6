"""Memory freed after an explanation goes back to the operating system."""

from __future__ import annotations

import subprocess
import sys

import pytest

# In a fresh interpreter: fill 200 MB of heap with small blocks (below glibc's mmap
# threshold), free all but the topmost, which pins the heap's end so free() cannot
# shrink it. The freed pages stay resident until release_memory() trims them.
FRAGMENTED_HEAP = """
import ctypes, os
from bertsent.serve.memory import release_memory

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
blocks = [libc.malloc(4000) for _ in range(50_000)]
for block in blocks:
    ctypes.memset(block, 1, 4000)
for block in blocks[:-1]:
    libc.free(block)
freed = rss()
release_memory()
print(freed - rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_memory_returns_freed_heap_to_the_os() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FRAGMENTED_HEAP], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    returned_mb = int(result.stdout) / 2**20
    assert returned_mb > 100  # of the ~190 MB freed; without the trim, about 0

"""Allocator tuning for the batch engine (glibc only).

The engine computes on ``(accounts x slots)`` temporaries of a few hundred KiB each, hundreds
per chunk. glibc serves blocks that large with ``mmap`` and returns freed heap tops to the
kernel, so every temporary costs fresh page faults: on the benchmark book that is close to
half the sizing time. Raising the mmap and trim thresholds keeps those blocks in the heap and
reuses their pages. It is a process-wide setting, so the entry points that run batches (the
CLI's ``recommend``, the benchmarks) call :func:`tune_allocator`; the library never does it on
import, and the API (one household per call) does not need it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``mallopt`` parameters (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: A chunk's temporaries (4,096 accounts x up to 128 slots x 8 bytes = 4 MiB, plus glibc's
#: header) stay in the heap; the big frames of a run (the book, the trades) are still mapped
#: and returned when freed.
MMAP_THRESHOLD = 8 * 1024 * 1024
#: Free heap kept mapped for reuse (the temporaries of a chunk are a few dozen MiB at most).
TRIM_THRESHOLD = 128 * 1024 * 1024


def tune_allocator(
    *, mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD
) -> bool:
    """Keep blocks below ``mmap_threshold`` in the heap and up to ``trim_threshold`` of free
    heap mapped. Returns whether the allocator took the settings (False off glibc).

    Memory cost: up to ``trim_threshold`` bytes of freed heap stay with the process.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt  # glibc; musl has none
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, trim_threshold)
    )

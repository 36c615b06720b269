"""Keeping a long run's memory flat.

glibc keeps memory freed by threads (Dask's workers, zarr's codec pool) in
per-thread arenas instead of handing it back to the OS, so a run that reads
and decodes block after block grows by fragments.  After each tile and each
block of the map, :func:`release_memory` asks glibc to return what is free
(``malloc_trim``; a no-op elsewhere), at most every :data:`INTERVAL` seconds
(a trim walks the heap: tiny blocks in quick succession would pay for it
again and again).  Measured in ``benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import time

__all__ = ["release_memory"]

#: Least seconds between two trims.
INTERVAL = 0.5

_TRIM = None
_LAST = 0.0


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim(0)``); nothing elsewhere."""
    global _TRIM, _LAST
    now = time.monotonic()
    if now - _LAST < INTERVAL:
        return
    _LAST = now
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc
            _TRIM = False
    if _TRIM:
        _TRIM(0)

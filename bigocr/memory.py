"""Keeping a long run's memory flat.

glibc keeps memory freed by threads (Dask's workers, zarr's codec pool) in
per-thread arenas instead of handing it back to the OS, so a run that reads
and decodes block after block grows by fragments.  After each tile and each
block of the map, :func:`release_memory` asks glibc to return what is free
(``malloc_trim``; a no-op elsewhere), at most every :data:`INTERVAL` seconds
(a trim walks the heap: tiny blocks in quick succession would pay for it
again and again).  Measured in ``benchmarks/bench_memory.py``.

oneDNN, which runs PyTorch's convolutions and LSTMs on the CPU, keeps every
primitive it made for an input shape (up to 1 024 of them), and each holds
buffers of its own.  A reader meets a new shape with almost every batch (the
crops' width): over 600 batches of new widths the reader's process grew by
0.24 GB with oneDNN's default (``python benchmarks/activations.py``).
:func:`bound_primitive_cache`, run when ``bigocr`` is imported, caps the cache
at :data:`PRIMITIVE_CACHE` primitives (oneDNN reads
``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` when it first makes one; a value the user
set is kept, and child processes inherit it): 0.12 GB there, the same
numbers.
"""

from __future__ import annotations

import os
import time

__all__ = ["release_memory", "bound_primitive_cache", "PRIMITIVE_CACHE"]

#: Most oneDNN primitives kept for reuse (oneDNN's own default: 1 024).
PRIMITIVE_CACHE = 64

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


def bound_primitive_cache() -> None:
    """Cap oneDNN's primitive cache at :data:`PRIMITIVE_CACHE` unless ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` is set.

    Takes effect if no network has run in this process yet (oneDNN reads the variable once).
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(PRIMITIVE_CACHE))

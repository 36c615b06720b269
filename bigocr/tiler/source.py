"""The one protocol every scan source implements: what the engine asks of a scan.

:class:`~bigocr.tiler.scan.Scan` (TIFF, PNG, JPEG, JPEG 2000, arrays) and
:class:`~bigocr.tiler.scale.ScaledScan` (a scan seen at a scale) implement it;
a new input (a PDF page, a IIIF image) is a new class with these members, and
nothing else in the engine changes.  Sources pickle cheaply (a path, a URL)
unless :attr:`ScanSource.in_memory`, so tile tasks on Dask workers read their
own windows.

Coordinates: ``(y, x)`` for shapes and windows, pixels of the source, origin
at the top-left corner; every window comes back as ``(h, w, 3)`` uint8 RGB.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["ScanSource"]


@runtime_checkable
class ScanSource(Protocol):
    """A scan that hands out windows as RGB uint8.

    Attributes
    ----------
    height, width : int
        Size in pixels.
    path : str or None
        Where it comes from (a file or a URL), or None for an in-memory array.
    page, pages : int
        0-based page of a multi-page source, and how many it has.
    dpi : tuple of float, or None
        ``(x, y)`` pixels per inch, as the source records it.
    """

    height: int
    width: int
    path: str | None
    page: int
    pages: int
    dpi: tuple[float, float] | None

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""

    @property
    def name(self) -> str:
        """For messages: the path, or ``<array>``."""

    @property
    def in_memory(self) -> bool:
        """True when the pixels are held decoded: the engine then sends the source to a cluster once."""

    @property
    def needs_cache(self) -> bool:
        """True when windows are too dear to decode per tile: :meth:`cached` decodes once."""

    @property
    def band_rows(self) -> int:
        """Rows the source stores together (1 where any window is as cheap as any other)."""

    @property
    def segment_bytes(self) -> int:
        """Decoded bytes of one stored strip or tile (0 for decoded sources)."""

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels ``[y0, y1) x [x0, x1)`` as ``(h, w, 3)`` uint8 RGB."""

    def cached(self, store) -> "ScanSource":
        """The same source, decoded once into the zarr ``store``, reading from there."""

    def info(self) -> dict:
        """``{"path", "width", "height", "page", "pages", "dpi"}`` for ``words.json``."""

    def fingerprint(self) -> dict:
        """What tells a changed source (a file's size and time, an array's hash): part of a job's identity."""

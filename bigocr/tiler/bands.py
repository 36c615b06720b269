"""Many small windows of a scan served from bands of whole rows, each band decoded once.

The words and lines of a page ask for many narrow windows in the same TIFF
tiles or strips; reading them top to bottom through a :class:`BandReader`
decodes each tile once instead of once per window.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BandReader"]


class BandReader:
    """Reads of a scan's windows served from bands of whole rows, each decoded once.

    A tiled or striped scan decodes whole tiles for any window in them, and the
    lines of a page ask for many narrow windows in the same tiles.
    """

    #: Bytes of one band at most (its height is at least one window's).
    BYTES = 48 * 2**20

    def __init__(self, scan):
        self.scan, self.top, self.pixels = scan, 0, None
        self.rows = max(1, min(1024, self.BYTES // (3 * scan.width)))

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        if self.pixels is None or y0 < self.top or y1 > self.top + len(self.pixels):
            self.top = y0
            self.pixels = self.scan.read(y0, min(self.scan.height, max(y1, y0 + self.rows)), 0, self.scan.width)
        return self.pixels[y0 - self.top:y1 - self.top, x0:x1]

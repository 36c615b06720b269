"""What every file-backed scan source shares: readers kept open per process, the page and size checks, and
EXIF orientation (:mod:`bigocr.tiler.scan` and :mod:`bigocr.tiler.pdf` both use them)."""

from __future__ import annotations

import os
import threading

import numpy as np

from bigocr.errors import ScanError

__all__ = ["FileSource", "complete_cache", "shared_reader", "check_page", "check_size", "apply_orientation", "OPEN_FILES"]


_OPEN: dict = {}
_OPEN_LOCK = threading.Lock()
#: Files kept open per process; Dask hands every tile task its own copy of a Scan, and they share these.
OPEN_FILES = 8


class FileSource:
    """What the scan sources share: ``shape``, and pickling without the reader a process opened (``_zarr``,
    reopened where the source is unpickled)."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in scan pixels."""
        return (self.height, self.width)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_zarr"] = None
        return state

    def _with_cache(self, store):
        """A twin of this source reading from the zarr cache at ``store`` (sources that keep it in ``_cache``)."""
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__getstate__())
        twin._cache = store
        return twin


def complete_cache(store) -> bool:
    """Whether the zarr array at ``store`` is a scan cache an earlier run finished (its ``complete`` mark)."""
    import zarr

    try:
        return bool(zarr.open_array(store, mode="r").attrs.get("complete"))
    except Exception:  # missing, or torn
        return False


def shared_reader(key, opener):
    """One open reader per (file, page) and process, however many Scan copies read it (an LRU of OPEN_FILES)."""
    try:
        st = os.stat(key[1])
        key = (*key, st.st_size, st.st_mtime_ns)  # a rewritten file is opened afresh
    except OSError:
        pass
    with _OPEN_LOCK:
        if key in _OPEN:
            _OPEN[key] = _OPEN.pop(key)  # most recently used last
            return _OPEN[key]
    reader = opener()
    with _OPEN_LOCK:
        reader = _OPEN.setdefault(key, reader)
        while len(_OPEN) > OPEN_FILES:
            _OPEN.pop(next(iter(_OPEN)))
    return reader


def check_page(name: str, index: int, pages: int) -> None:
    if index >= pages:
        raise ScanError(f"{name}: has {pages} page(s); page {index + 1} does not exist")


def check_size(name: str, height: int, width: int, max_pixels: int) -> None:
    if height < 1 or width < 1:
        raise ScanError(f"{name}: image has zero size ({width}x{height} pixels)")
    if height * width > max_pixels:
        raise ScanError(
            f"{name}: {width}x{height} pixels is more than max_pixels={max_pixels}; "
            "raise --max-pixels if the scan is really that large"
        )


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image ``(h, w, ...)`` the way its EXIF ``orientation`` (1..8) says to show it."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.swapaxes(0, 1)
    if orientation == 6:
        return image.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return image[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return image.swapaxes(0, 1)[::-1]
    return image

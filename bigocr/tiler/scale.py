"""Running the detector at another scale than the scan's, window by window.

A network sees text best in a certain range of sizes; a 100-dpi form's 10 px
letters are too small for CRAFT and a 600-dpi headline's 150 px letters too
large.  :class:`ScaledScan` presents a scan resampled by a factor as if it were
a scan of that size: the tile plan, the detector, the stitched maps, the
labelling and the boxes all work in *working pixels*, and only the words are
mapped back to scan pixels at the end.  Nothing is decoded whole: each window
of working pixels is computed from the window of scan pixels under it.

Resampling is separable and defined by global coordinates: working pixel ``i``
of an axis of ``n`` scan pixels and ``m`` working pixels covers scan interval
``[i n / m, (i + 1) n / m)``.  Shrinking averages the scan pixels under that
interval, weighted by overlap (OpenCV's ``INTER_AREA``); enlarging interpolates
linearly between the two scan pixels nearest to its centre
(``INTER_LINEAR``).  Each working pixel is the same sum of the same scan pixels
with the same weights in the same order whichever window it is computed in, so
tiles still agree with each other and with the untiled scan bit for bit.
OpenCV's ``resize`` cannot be used per window for that: it derives its own
factor from the window's size and replicates the window's border.

Coordinates are ``(y, x)``; a factor above 1 enlarges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bigocr.errors import ParameterError

__all__ = ["ScaledScan", "scaled", "axis_taps", "resample", "read_halved", "scaled_length", "check_scale", "parse_scale", "MIN_SCALE", "halve",
           "MAX_SCALE"]

#: Accepted scale factors.
MIN_SCALE = 1 / 16
MAX_SCALE = 8.0


def scaled_length(length: int, scale: float) -> int:
    """Working pixels of an axis of ``length`` scan pixels at ``scale`` (at least 1)."""
    return max(1, int(round(length * scale)))


def check_scale(scale) -> float:
    """``scale`` as a float, or a ParameterError that says what is accepted."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ParameterError(f"scale must be a number or 'auto', got {scale!r}")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ParameterError(f"scale must be between {MIN_SCALE:g} and {MAX_SCALE:g}, got {scale!r}")
    return float(scale)


def parse_scale(text: str) -> float | str:
    """``"auto"`` or a factor from the command line; a ParameterError says what is accepted."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(f"expected a factor such as 0.5 or 1.5, or auto, got {text!r}") from None
    if not MIN_SCALE <= value <= MAX_SCALE:
        raise ParameterError(f"expected a factor between {MIN_SCALE:g} and {MAX_SCALE:g}, or auto, got {text}")
    return value


def axis_taps(start: int, stop: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Resampling taps of working pixels ``start:stop`` of an axis of ``n`` scan / ``m`` working pixels.

    Returns
    -------
    first : ndarray, shape (stop - start,), intp
        First scan pixel of each working pixel's taps.
    weights : ndarray, shape (stop - start, k), float32
        Weight of scan pixel ``first + t`` for tap ``t`` (0 beyond a pixel's taps).
    lo, hi : int
        The scan pixels ``lo:hi`` that the taps read.
    """
    i = np.arange(start, stop, dtype=np.float64)
    if m <= n:  # shrink: overlap-weighted average over [i n/m, (i+1) n/m)
        a, b = i * n / m, (i + 1) * n / m
        first = np.floor(a).astype(np.intp)
        last = np.minimum(np.ceil(b).astype(np.intp), n) - 1
        k = int((last - first).max()) + 1
        t = np.arange(k)
        left = first[:, None] + t
        overlap = np.minimum(left + 1, b[:, None]) - np.maximum(left, a[:, None])
        weights = np.clip(overlap, 0, None) * (m / n)
        weights[left > last[:, None]] = 0
    else:  # enlarge: linear between the scan pixels around the centre (i + 0.5) n/m - 0.5
        centre = (i + 0.5) * n / m - 0.5
        base = np.floor(centre)
        frac = centre - base
        first = np.clip(base, 0, n - 1).astype(np.intp)
        second = np.clip(base + 1, 0, n - 1).astype(np.intp)
        weights = np.stack([1 - frac, frac], axis=1)
        # at the borders both taps are the same edge pixel: one tap with all the weight
        same = second == first
        weights[same] = [1.0, 0.0]
        k = 2
    lo = int(first.min())
    hi = int(min(n, (first + k).max()))
    return first, weights.astype(np.float32), lo, hi


def _apply(pixels: np.ndarray, first: np.ndarray, weights: np.ndarray, lo: int, axis: int) -> np.ndarray:
    """Sum of taps along ``axis`` of ``pixels`` (which starts at scan pixel ``lo``), in float32.

    The taps as a sparse matrix (a few weights per row) times the pixels: each
    output pixel sums its taps in tap order, wherever the window starts, in
    one pass over the pixels (a seventh of the time of a ``take`` per tap, measured).
    """
    from scipy.sparse import csr_matrix

    n, k = pixels.shape[axis], weights.shape[1]
    columns = np.minimum(first[:, None] - lo + np.arange(k), n - 1)  # a zero-weight tap past the end: the last pixel
    taps = csr_matrix((weights.ravel(), columns.ravel(), np.arange(0, weights.size + 1, k)),
                      shape=(len(first), n), dtype=np.float32)
    moved = np.moveaxis(pixels, axis, 0)
    flat = moved.reshape(n, -1).astype(np.float32)
    out = (taps @ flat).reshape((len(first),) + moved.shape[1:])
    return np.moveaxis(out, 0, axis)


def resample(read, window: tuple[int, int, int, int], shape: tuple[int, int],
             scaled: tuple[int, int]) -> np.ndarray:
    """Working pixels ``window = (y0, y1, x0, x1)`` of a scan of ``shape`` resampled to ``scaled``.

    Parameters
    ----------
    read : callable
        ``read(y0, y1, x0, x1) -> (h, w, 3) uint8`` in scan pixels.
    window : tuple of int
        The window in working pixels.
    shape, scaled : tuple of int
        ``(height, width)`` of the scan and of the working image.

    Returns
    -------
    ndarray, shape (y1 - y0, x1 - x0, 3), uint8
    """
    y0, y1, x0, x1 = window
    fy, wy, _, _ = axis_taps(y0, y1, shape[0], scaled[0])
    fx, wx, xlo, xhi = axis_taps(x0, x1, shape[1], scaled[1])
    return _banded(read, fy, wy, fx, wx, xlo, xhi, shape[0])


#: Scan rows read at a time when resampling a window, and the columns of a band made float32 at once (a
#: headline-pass tile's band of a big scan is up to 18 432 columns wide: 113 MB as float32 whole, 25 MB this way;
#: `python benchmarks/resample_bands.py`).
BAND_ROWS = 512
BAND_COLUMNS = 4096


def _banded(read, fy, wy, fx, wx, xlo: int, xhi: int, height: int) -> np.ndarray:
    """The resampled window, band of output rows by band: each reads only the scan rows its taps need
    (about :data:`BAND_ROWS`), so memory follows the band, not the window (a headline-pass tile at a quarter
    scale is a 290 MP window of the scan: 3.4 GB as float32 when read whole).  Every output pixel sums the
    same taps as a whole-window pass, so the result is the same to the bit."""
    k = wy.shape[1]
    out = np.empty((len(fy), len(fx), 3), np.uint8)
    per_row = max(1e-9, (int(fy[-1]) - int(fy[0]) + k) / len(fy))  # scan rows per output row
    step = max(1, int(BAND_ROWS / per_row))
    for a in range(0, len(fy), step):
        b = min(len(fy), a + step)
        lo, hi = int(fy[a:b].min()), int(min(height, (fy[a:b] + k).max()))
        pixels = read(lo, hi, xlo, xhi)
        rows = np.empty((b - a,) + pixels.shape[1:], np.float32)
        for c in range(0, pixels.shape[1], BAND_COLUMNS):  # column by column: each column sums its own taps
            rows[:, c:c + BAND_COLUMNS] = _apply(pixels[:, c:c + BAND_COLUMNS], fy[a:b], wy[a:b], lo, axis=0)
        del pixels
        out[a:b] = np.clip(np.rint(_apply(rows, fx, wx, xlo, axis=1)), 0, 255).astype(np.uint8)
    return out


def _halved_taps(start: int, stop: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """:func:`axis_taps` of working pixels ``start:stop`` taken two by two: each pair's mean as one set of taps.

    An odd last pixel is paired with itself (as :func:`halve` repeats it).
    """
    first, weights, lo, hi = axis_taps(start, stop, n, m)
    count = (stop - start + 1) // 2
    even = np.arange(count) * 2
    odd = np.minimum(even + 1, stop - start - 1)
    shift = first[odd] - first[even]
    k = weights.shape[1]
    out = np.zeros((count, k + int(shift.max(initial=0))), np.float32)
    rows = np.arange(count)[:, None]
    out[rows, np.arange(k)] += 0.5 * weights[even]
    out[rows, np.arange(k) + shift[:, None]] += 0.5 * weights[odd]
    return first[even], out, lo, hi


def read_halved(scan, window: tuple[int, int, int, int]) -> np.ndarray:
    """Working pixels ``window = (y0, y1, x0, x1)`` of ``scan`` (a Scan or a ScaledScan) at half resolution.

    The same image as :func:`halve` of ``scan.read(*window)`` (to a gray level of
    rounding) for even ``y0`` and ``x0``, but a ScaledScan computes it from the scan pixels in one resampling:
    an enlarged scan's working pixels are never made (a 100 dpi form at x2 costs a quarter).
    """
    y0, y1, x0, x1 = window
    if not isinstance(scan, ScaledScan):

        return halve(scan.read(y0, y1, x0, x1))
    if y0 % 2 or x0 % 2:
        raise ValueError(f"window {window} must start on even pixels")
    shape, work = scan.scan.shape, scan.shape
    fy, wy, _, _ = _halved_taps(y0, y1, shape[0], work[0])
    fx, wx, xlo, xhi = _halved_taps(x0, x1, shape[1], work[1])
    return _banded(scan.scan.read, fy, wy, fx, wx, xlo, xhi, shape[0])


@dataclass(frozen=True)
class ScaledScan:
    """A :class:`~bigocr.tiler.scan.Scan` seen at ``scale``: the same interface, in working pixels.

    Parameters
    ----------
    scan : Scan
        The scan, read window by window.
    scale : float
        Working pixels per scan pixel (above 1 enlarges).

    Attributes
    ----------
    height, width : int
        Size in working pixels, ``round(scan size * scale)``.
    factors : tuple of float
        ``(height / scan.height, width / scan.width)``: the exact factors per axis,
        with which boxes are mapped back to scan pixels.
    """

    scan: object
    scale: float

    def __post_init__(self):
        check_scale(self.scale)

    @property
    def height(self) -> int:
        return scaled_length(self.scan.height, self.scale)

    @property
    def width(self) -> int:
        return scaled_length(self.scan.width, self.scale)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def factors(self) -> tuple[float, float]:
        return (self.height / self.scan.height, self.width / self.scan.width)

    @property
    def name(self) -> str:
        return self.scan.name

    @property
    def path(self) -> str | None:
        return self.scan.path

    @property
    def needs_cache(self) -> bool:
        return self.scan.needs_cache

    @property
    def in_memory(self) -> bool:
        return self.scan.in_memory

    def cached(self, store) -> "ScaledScan":
        return ScaledScan(self.scan.cached(store), self.scale)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Working pixels ``[y0, y1) x [x0, x1)`` as ``(h, w, 3)`` uint8 RGB."""
        if not (0 <= y0 < y1 <= self.height and 0 <= x0 < x1 <= self.width):
            raise IndexError(f"window {(y0, y1, x0, x1)} outside scaled scan {self.shape}")
        return resample(self.scan.read, (y0, y1, x0, x1), self.scan.shape, self.shape)

    def to_scan(self, points: np.ndarray) -> np.ndarray:
        """Points ``(..., 2)`` as ``(x, y)`` in working pixels, mapped to scan pixels."""
        fy, fx = self.factors
        return (np.asarray(points, np.float32) / np.array([fx, fy], np.float32)).astype(np.float32)


def scaled(scan, scale: float):
    """``scan`` seen at ``scale``: the scan itself at 1, else a :class:`ScaledScan`."""
    return scan if scale == 1 else ScaledScan(scan, scale)


def halve(tile: np.ndarray) -> np.ndarray:
    """A uint8 ``(h, w, c)`` image at half resolution: each pixel the rounded mean of a 2 x 2 block.

    Odd sizes repeat their last row or column, so the result has
    :func:`map_shape` and pixel ``(i, j)`` covers ``(2i, 2j)`` to ``(2i + 1, 2j + 1)``,
    as a map pixel does.  What a half-input CRAFT sees, in the pipeline and in training.
    """
    h, w = tile.shape[:2]
    if h % 2 or w % 2:
        tile = np.pad(tile, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (tile.ndim - 2), mode="edge")
    t = tile.astype(np.uint16)
    s = t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)

"""How tall a scan's text is, and the scale at which the detector sees it best.

:func:`text_height` reads a few windows of the scan at full resolution (never
the whole scan), binarises them (Otsu; white-on-black pages are flipped), and
takes the median height of the connected components of ink that look like
letters: not specks, not rules, not frames, and standing in a line beside
another of their size (dust on a big page does not).  On printed text that is about the
height of a lower-case letter with ascender (a word box is ~1.3x it).

:func:`auto_scale` turns that height into the factor that brings it into
:data:`BAND`, the letter heights at which the published CRAFT measured best on
the development scans (``docs/MODEL.md``): smaller letters are enlarged to the
band's bottom, larger ones shrunk to its top, letters in the band are left as
they are; the factor is kept within ``[MIN_AUTO, MAX_AUTO]`` and rounded to a
1/16 step.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["text_height", "auto_scale", "BAND", "MIN_AUTO", "MAX_AUTO"]

#: Letter heights (median ink component, working pixels) that ``scale="auto"`` brings the text into.
BAND = (18.0, 32.0)
#: Range of factors ``scale="auto"`` chooses from.
MIN_AUTO, MAX_AUTO = 0.25, 2.5
#: Side of the sample windows, in scan pixels, and how many per axis.
SAMPLE_SIDE = 1024
SAMPLE_GRID = 3
#: Fewer letter-like components than this: no reliable height (blank or pictorial page).
MIN_COMPONENTS = 30


def _windows(height: int, width: int, grid: int = SAMPLE_GRID) -> list[tuple[int, int, int, int]]:
    """Up to ``grid`` x ``grid`` windows ``(y0, y1, x0, x1)`` spread evenly over the scan."""
    hs, ws = min(SAMPLE_SIDE * (3 if grid == 1 else 1), height), min(SAMPLE_SIDE * (3 if grid == 1 else 1), width)
    if grid == 1:  # the middle of the page
        return [((height - hs) // 2, (height - hs) // 2 + hs, (width - ws) // 2, (width - ws) // 2 + ws)]
    ys = sorted({round(v) for v in np.linspace(0, height - hs, grid if height > hs else 1)})
    xs = sorted({round(v) for v in np.linspace(0, width - ws, grid if width > ws else 1)})
    return [(y, y + hs, x, x + ws) for y in ys for x in xs]


def letter_heights(rgb: np.ndarray) -> np.ndarray:
    """Heights (px) of the letter-like ink components of an RGB uint8 window.

    Returns
    -------
    ndarray of int, shape (k,)
    """
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if int(gray.max()) - int(gray.min()) < 32:  # no contrast: blank paper
        return np.zeros(0, int)
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:  # white text on black
        ink = 1 - ink
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    x, y = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    limit = min(rgb.shape[:2]) / 4
    letter = ((h >= 4) & (h <= limit) & (area >= 8) & (w <= 4 * h) & (h <= 8 * w)
              & (area >= 0.12 * w * h))
    keep = np.nonzero(letter)[0]
    return h[keep[_in_lines(x[keep], y[keep], w[keep], h[keep])]]


def _in_lines(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Which boxes have a neighbour in their line: letters stand in words, specks and dust alone.

    A neighbour is another box of 1/2-2x the height, at most one height apart
    sideways, whose vertical middle is within half the height.  Without this,
    on a big page whose text fills a small part (a receipt photographed on an
    A4 scan) the paper's specks outnumber the letters and halve the height.
    """
    if len(h) < 2:
        return np.zeros(len(h), bool)
    order = np.argsort(x, kind="stable")
    x, y, w, h = x[order], y[order], w[order], h[order]
    right, middle = x + w, y + h / 2
    found = np.zeros(len(h), bool)
    reach = int(h.max())
    for shift in range(1, len(h)):  # the boxes sorted by left edge: look ahead until none can be in reach
        a, b = slice(0, len(h) - shift), slice(shift, None)
        close = x[b] - right[a] <= np.maximum(h[a], h[b])
        near = (close & (np.abs(middle[a] - middle[b]) <= np.minimum(h[a], h[b]) / 2)
                & (h[b] <= 2 * h[a]) & (h[a] <= 2 * h[b]))
        found[a] |= near
        found[b] |= near
        if not (x[b] - x[a] <= w[a] + reach).any():
            break
    out = np.zeros(len(h), bool)
    out[order] = found
    return out


def text_height(scan) -> tuple[float | None, int]:
    """Median letter height of a scan in scan pixels, from a few sample windows.

    Parameters
    ----------
    scan : Scan
        Anything with ``height``, ``width`` and ``read(y0, y1, x0, x1)``.

    Returns
    -------
    (float or None, int)
        The height (None when fewer than :data:`MIN_COMPONENTS` letters were
        found) and the number of letters measured.
    """
    # A TIFF whose strips are huge decodes a whole strip per window read: one larger window there.
    grid = 1 if getattr(scan, "needs_cache", False) else SAMPLE_GRID
    heights = [letter_heights(scan.read(*w)) for w in _windows(scan.height, scan.width, grid)]
    heights = np.concatenate(heights) if heights else np.zeros(0, int)
    if len(heights) < MIN_COMPONENTS:
        return None, int(len(heights))
    return float(np.median(heights)), int(len(heights))


def band_scale(height: float) -> float:
    """The factor that brings letters of ``height`` px into :data:`BAND` (1 inside it), rounded to 1/16."""
    low, high = BAND
    scale = low / height if height < low else high / height if height > high else 1.0
    scale = min(MAX_AUTO, max(MIN_AUTO, scale))
    return math.floor(scale * 16 + 0.5) / 16


def auto_scale(scan) -> tuple[float, dict]:
    """The factor that brings ``scan``'s letters into :data:`BAND`.

    Returns
    -------
    (float, dict)
        The factor (1 when no letter height could be measured) and what it
        rests on: ``{"text_height", "letters", "band"}``.
    """
    height, letters = text_height(scan)
    info = {"text_height": None if height is None else round(height, 2), "letters": letters, "band": list(BAND)}
    return (1.0 if height is None else band_scale(height)), info

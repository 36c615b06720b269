"""Reading word images: crops rectified from the scan, batched by width, greedy CTC.

Pre- and post-processing are numpy/OpenCV beside the network file:

* :func:`word_crop` cuts a word out of scan pixels at full resolution: the
  box (any quadrilateral, rotated or not) grown by a margin, warped to an
  upright rectangle (``cv2.warpPerspective``) and made gray;
* :func:`to_height` resizes a gray crop to the network's height 64, keeping its
  aspect ratio (area averaging when shrinking, cubic when enlarging);
* :func:`batches` groups crops of similar width so the network runs on full
  batches with little padding (right padding repeats the last column, as
  EasyOCR's ``NormalizePAD``);
* :func:`ctc_greedy` decodes the network's scores: best class per column,
  repeats merged, blanks dropped; the confidence is EasyOCR's: the product of
  the kept columns' probabilities to the power ``2 / sqrt(n)``; spaces at the
  ends of a reading are dropped and runs of spaces made one.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["word_crop", "crop_window", "to_height", "batches", "to_batch", "ctc_greedy", "MARGIN", "WIDTH_STEP"]

#: A word box is grown by this fraction of its height on every side before it is cut out
#: (CRAFT's boxes hug the ink; the recognizer was trained on crops with some paper around).
MARGIN = 0.1


def quad_size(quad: np.ndarray) -> tuple[float, float]:
    """Width and height of a quadrilateral ``(4, 2)``, clockwise from the top-left: mean opposite sides."""
    q = np.asarray(quad, np.float64)
    width = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    return float(width), float(height)


def grown(quad: np.ndarray, margin: float | None = None) -> np.ndarray:
    """``quad`` grown by ``margin`` (default :data:`MARGIN`) times its height along both of its own axes."""
    margin = MARGIN if margin is None else margin
    q = np.asarray(quad, np.float64)
    _, height = quad_size(q)
    pad = margin * height
    across = (q[1] - q[0]) + (q[2] - q[3])
    down = (q[3] - q[0]) + (q[2] - q[1])
    across /= max(np.linalg.norm(across), 1e-9)
    down /= max(np.linalg.norm(down), 1e-9)
    sign = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    return q + pad * (sign[:, :1] * across + sign[:, 1:] * down)


def crop_window(quad: np.ndarray, shape: tuple[int, int], margin: float | None = None) -> tuple[int, int, int, int]:
    """The scan window ``(y0, y1, x0, x1)`` that :func:`word_crop` reads for ``quad`` (clipped to ``shape``)."""
    q = grown(quad, margin)
    x0, y0 = np.floor(q.min(0)).astype(int)
    x1, y1 = np.ceil(q.max(0)).astype(int) + 1
    return max(0, int(y0)), min(shape[0], int(y1)), max(0, int(x0)), min(shape[1], int(x1))


def word_crop(pixels: np.ndarray, quad: np.ndarray, origin: tuple[int, int] = (0, 0),
              margin: float | None = None) -> np.ndarray | None:
    """The word under ``quad`` as an upright gray image at scan resolution.

    Parameters
    ----------
    pixels : ndarray, shape (h, w, 3), uint8
        A window of the scan holding :func:`crop_window` of the word.
    quad : ndarray, shape (4, 2)
        Corners ``(x, y)`` in scan pixels, clockwise from the top-left.
    origin : (int, int)
        Scan pixel ``(y, x)`` of ``pixels[0, 0]``.

    Returns
    -------
    ndarray, shape (h, w), uint8, or None for a degenerate box.
    """
    import cv2

    q = grown(quad, margin) - [origin[1], origin[0]]
    width, height = quad_size(q)
    if not (width >= 2 and height >= 2):
        return None
    x0, y0 = np.floor(q.min(0)).astype(int)
    x1, y1 = np.ceil(q.max(0)).astype(int) + 1
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(pixels.shape[1], x1), min(pixels.shape[0], y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    window = cv2.cvtColor(np.ascontiguousarray(pixels[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    w, h = max(2, round(width)), max(2, round(height))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform((q - [x0, y0]).astype(np.float32), target)
    return cv2.warpPerspective(window, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_height(gray: np.ndarray, height: int = 64, max_width: int = 4096) -> np.ndarray:
    """``gray`` resized to ``height`` rows, its aspect kept (at most ``max_width`` columns)."""
    import cv2

    h, w = gray.shape
    width = min(max_width, max(1, math.ceil(height * w / h)))
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
    return cv2.resize(gray, (width, height), interpolation=interpolation)


def batches(widths: list[int], size: int = 32) -> list[list[int]]:
    """Indices grouped by similar width (sorted, then cut every ``size``): little padding per batch."""
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    return [order[i:i + size] for i in range(0, len(order), size)]


#: A batch's width is rounded up to a multiple of this many columns.  Each new input shape costs the CPU
#: backend (oneDNN) a cached kernel plan and its buffers, kept for the next call of that shape: with every
#: batch as wide as its widest crop, reading 15 000 crops of random widths grew one thread's memory from
#: 664 to 1 536 MB and it still grew; rounded to 64 columns it stayed at 531-567 MB, as fast
#: (benchmarks/RESULTS.md, 2026-12-04).
WIDTH_STEP = 64


def to_batch(images: list[np.ndarray]) -> np.ndarray:
    """Gray images of one height as a float32 batch ``(B, 1, H, W)`` in [-1, 1], padded on the right
    with each image's last column to a width of a multiple of :data:`WIDTH_STEP`."""
    height = images[0].shape[0]
    width = -(-max(im.shape[1] for im in images) // WIDTH_STEP) * WIDTH_STEP
    out = np.empty((len(images), 1, height, width), np.float32)
    for k, im in enumerate(images):
        out[k, 0, :, :im.shape[1]] = im
        out[k, 0, :, im.shape[1]:] = im[:, -1:]
    return out / 127.5 - 1.0


def ctc_greedy(probs: np.ndarray, charset: str) -> list[tuple[str, float]]:
    """Greedy CTC decoding of column probabilities ``(B, T, 1 + len(charset))``, blank first.

    Returns
    -------
    list of (text, confidence)
        Confidence in [0, 1]: the kept columns' probabilities multiplied, to the
        power ``2 / sqrt(n)`` (EasyOCR's), 0 for an empty reading.
    """
    best = probs.argmax(axis=2)
    top = probs.max(axis=2)
    out = []
    for row, p in zip(best, top):
        keep = np.ones(len(row), bool)
        keep[1:] = row[1:] != row[:-1]
        keep &= row != 0
        text = " ".join("".join(charset[c - 1] for c in row[keep]).split())  # no spaces at the ends, none doubled
        kept = p[row != 0]
        confidence = float(np.prod(kept) ** (2.0 / math.sqrt(len(kept)))) if len(kept) else 0.0
        out.append((text, confidence))
    return out

"""Fixtures for tests and benchmarks of tiling and merging: generated pages and a fake detector.

Nothing here detects text.  :class:`FakeDetector` turns dark pixels into
CRAFT-like maps with small integer box filters, so its maps are an exact,
pure function of a neighbourhood of pixels: the right stand-in for proving
that tiling and stitching change nothing, never for claiming detection works.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FakeDetector", "PooledFakeDetector", "ScriptedDetector", "ScriptedReader", "make_page"]


@dataclass(frozen=True)
class FakeDetector:
    """Maps from darkness: region from a 5x5 box sum, affinity from a horizontal 11x3 box sum.

    Deterministic and exact (integer sums), with a 5-pixel neighbourhood: a
    tile's maps equal the whole image's maps wherever the tile has that much
    context.
    """

    model_info = {"name": "fake-darkness", "sha256": None}

    def __call__(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dark = (255 - tile.min(axis=2)).astype(np.uint8)
        region = cv2.boxFilter(dark, cv2.CV_32S, (5, 5), normalize=False, borderType=cv2.BORDER_REPLICATE)
        link = cv2.boxFilter(dark, cv2.CV_32S, (11, 3), normalize=False, borderType=cv2.BORDER_REPLICATE)
        region = (region[::2, ::2] / np.float32(25 * 255)).astype(np.float32)
        affinity = (link[::2, ::2] / np.float32(33 * 255) * np.float32(0.8)).astype(np.float32)
        return region, affinity


@dataclass(frozen=True)
class PooledFakeDetector(FakeDetector):
    """:class:`FakeDetector` seen through a stride-16 max pool, as CRAFT's backbone sees a tile.

    Pooling windows start at the tile's origin, so, like a trained CNN, this
    detector is not shift invariant: a tile's maps equal the whole image's maps
    only where the tile starts on the 16 px grid (and has the context).
    """

    model_info = {"name": "fake-darkness-pooled", "sha256": None}

    def __call__(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(_pool8(m) for m in super().__call__(tile))


def _pool8(m: np.ndarray) -> np.ndarray:
    """8 x 8 max pool of a map (16 x 16 scan pixels) anchored at (0, 0), spread back over the map."""
    h, w = m.shape
    padded = np.zeros((-(-h // 8) * 8, -(-w // 8) * 8), m.dtype)
    padded[:h, :w] = m
    blocks = padded.reshape(padded.shape[0] // 8, 8, padded.shape[1] // 8, 8).max(axis=(1, 3))
    return np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:h, :w]


@dataclass(frozen=True)
class ScriptedDetector(FakeDetector):
    """:class:`FakeDetector` with faults and bookkeeping, for tests of resume and failures.

    Attributes
    ----------
    delay : float
        Seconds to sleep per tile (so a test can interrupt a run midway).
    calls : str, optional
        A folder; every call leaves one empty file there (counted across processes).
    crash_marker : str, optional
        A file path: the first call anywhere creates it and kills its own
        process with ``os._exit`` (a worker dying mid-tile); later calls run.
    """

    delay: float = 0.0
    calls: str | None = None
    crash_marker: str | None = None

    def __call__(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.crash_marker is not None:
            try:
                fd = os.open(self.crash_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(17)
        if self.calls is not None:
            open(os.path.join(self.calls, uuid.uuid4().hex), "wb").close()
        if self.delay:
            time.sleep(self.delay)
        return super().__call__(tile)


@dataclass(frozen=True)
class ScriptedReader:
    """A stand-in recognizer for tests of the reading stage's plumbing (grouping, resume, faults), never of
    reading: each word image becomes ``"w<width>x<height>:<ink>"``, a pure function of its pixels.

    Attributes
    ----------
    delay : float
        Seconds to sleep per call (a group of words).
    calls : str, optional
        A folder; every call leaves one empty file there (counted across processes).
    """

    delay: float = 0.0
    calls: str | None = None

    @property
    def model_info(self) -> dict:
        return {"name": "scripted-reader"}

    def __call__(self, images) -> list[tuple[str, float]]:
        if self.calls is not None:
            open(os.path.join(self.calls, uuid.uuid4().hex), "wb").close()
        if self.delay:
            time.sleep(self.delay)
        return [(f"w{im.shape[1]}x{im.shape[0]}:{int((np.asarray(im) < 128).sum())}", 1.0) for im in images]


def make_page(height: int, width: int, *, words: int = 200, seed: int = 0, letter: tuple[int, int] = (14, 9),
              rotate: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """A white page with dark word-like blocks in lines.

    Parameters
    ----------
    height, width : int
        Page size in pixels.
    words : int
        How many words to try to place (fewer fit on a small page).
    seed : int
    letter : (int, int)
        Letter height and width in pixels.
    rotate : bool
        Also place a few rotated words.

    Returns
    -------
    (page, boxes)
        ``page`` (height, width, 3) uint8 RGB; ``boxes`` each (4, 2) int corners
        ``(x, y)`` of a word, clockwise from the top-left.
    """
    rng = np.random.default_rng(seed)
    page = np.full((height, width, 3), 255, np.uint8)
    lh, lw = letter
    boxes = []
    line_pitch = int(lh * 2.2)
    y = int(rng.integers(lh, 3 * lh))
    placed = 0
    while y + lh < height - lh and placed < words:
        x = int(rng.integers(lw, 4 * lw))
        while placed < words:
            n = int(rng.integers(1, 9))
            wlen = n * lw + (n - 1) * 3
            if x + wlen >= width - lw:
                break
            ink = int(rng.integers(0, 70))  # dark enough for a peak region score >= 0.7
            for c in range(n):
                x0 = x + c * (lw + 3)
                top = y + int(rng.integers(0, 3))
                page[top:y + lh, x0:x0 + lw] = ink
            boxes.append(np.array([[x, y], [x + wlen - 1, y], [x + wlen - 1, y + lh - 1], [x, y + lh - 1]]))
            placed += 1
            x += wlen + int(rng.integers(2, 5)) * lw
        y += line_pitch + int(rng.integers(0, lh))
    if rotate and height > 200 and width > 200:
        for _ in range(max(1, words // 50)):
            cx, cy = int(rng.integers(100, width - 100)), int(rng.integers(100, height - 100))
            rect = ((cx, cy), (float(rng.integers(40, 90)), float(lh)), float(rng.uniform(-40, 40)))
            cv2.fillPoly(page, [cv2.boxPoints(rect).astype(np.int32)], (30, 30, 30))
    return page, boxes

"""CRAFT's character-level ground truth: region and affinity heat maps.

As in the CRAFT paper: an isotropic 2-D Gaussian is warped by a perspective
transform into every character box (region map), and into every affinity box,
the quadrilateral between the triangle centres of two neighbouring characters
of one word (affinity map).  Maps are at half the image's resolution, like the
network's output.

The Gaussians' widths follow the published CRAFT's own maps, measured on
training crops (real pages with pseudo character boxes, and synthetic pages):
with sigma a fifth of the box, as first written, the truth's region above 0.4
covered half the area the published network's does, and fine-tuning on it
shrank the network's blobs until words fell apart at CRAFT's thresholds (50
steps: VD-SBB H 0.924 -> 0.355).  Sigma 0.3 of the box for regions covers the
same area (0.043 / 0.039 of the pixels on real crops, 0.153 / 0.157 on
synthetic ones): 0.892 after 50 steps, short words still split at a letter gap
("mir" -> "m" + "ir").  Affinities at 0.3 too (their area above 0.4 is then
larger than the network's, 0.032 / 0.013, but only inside the boxes between two
letters of a word, where the link must hold): 0.932 after 50 steps.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["gaussian_template", "affinity_quads", "truth_maps"]

_TEMPLATE_SIZE = 64


def gaussian_template(size: int = _TEMPLATE_SIZE, sigma_ratio: float = 0.2) -> np.ndarray:
    """Isotropic 2-D Gaussian on a ``size`` x ``size`` square, peak 1 at the centre."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    sigma = sigma_ratio * size
    return np.exp(-((x - c) ** 2 + (y - c) ** 2) / (2 * sigma**2)).astype(np.float32)


#: The templates warped into character boxes (regions) and affinity boxes (sigma as a share of the box).
REGION_SIGMA, AFFINITY_SIGMA = 0.3, 0.3
_REGION = gaussian_template(sigma_ratio=REGION_SIGMA)
_AFFINITY = gaussian_template(sigma_ratio=AFFINITY_SIGMA)


def affinity_quads(chars: list[np.ndarray]) -> list[np.ndarray]:
    """Affinity boxes between neighbouring characters of one word.

    Each character quad ``(4, 2)`` (tl, tr, br, bl) is split by its diagonals;
    the centres of its upper and lower triangles, joined with the next
    character's, make the affinity box.
    """
    out = []
    for a, b in zip(chars, chars[1:]):
        ca, cb = a.mean(axis=0), b.mean(axis=0)
        top_a, bottom_a = (a[0] + a[1] + ca) / 3, (a[2] + a[3] + ca) / 3
        top_b, bottom_b = (b[0] + b[1] + cb) / 3, (b[2] + b[3] + cb) / 3
        out.append(np.array([top_a, top_b, bottom_b, bottom_a], np.float32))
    return out


def _splat(target: np.ndarray, quad: np.ndarray, template: np.ndarray) -> None:
    """Max-combine ``template`` (a Gaussian) warped into ``quad`` (map pixels) into ``target``."""
    h, w = target.shape
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    s = _TEMPLATE_SIZE - 1
    src = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
    local = (quad - np.float32([x0, y0])).astype(np.float32)
    try:
        m = cv2.getPerspectiveTransform(src, local)
    except cv2.error:
        return
    patch = cv2.warpPerspective(template, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    np.maximum(target[y0:y1, x0:x1], patch, out=target[y0:y1, x0:x1])


def truth_maps(shape: tuple[int, int], words: list[list[np.ndarray]], scale: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Region and affinity truth for an image of ``shape`` (h, w).

    Parameters
    ----------
    shape : (int, int)
        Image height and width in pixels.
    words : list of list of ndarray
        For each word, its character quads ``(4, 2)`` as ``(x, y)`` image pixels,
        clockwise from the top-left, in reading order.
    scale : float
        Map scale (0.5: half resolution, like CRAFT's output).

    Returns
    -------
    (region, affinity) : float32 arrays of shape ``(ceil(h*scale), ceil(w*scale))``
    """
    mh, mw = int(np.ceil(shape[0] * scale)), int(np.ceil(shape[1] * scale))
    region = np.zeros((mh, mw), np.float32)
    affinity = np.zeros((mh, mw), np.float32)
    for chars in words:
        scaled = [np.asarray(c, np.float32) * scale for c in chars]
        for quad in scaled:
            _splat(region, quad, _REGION)
        for quad in affinity_quads(scaled):
            _splat(affinity, quad, _AFFINITY)
    return region, affinity

"""Training samples: synthetic crops with character-level truth, made deterministically from an index.

Sample ``i`` of a run with seed ``s`` is always the same image, whatever the
worker, the batch size or the interruption: a resumed run sees exactly the
data an uninterrupted one would have seen.
"""

from __future__ import annotations

import numpy as np
import torch

from bigocr.detector.infer import MEAN, STD
from bigocr.synth import degrade, render_page, truth_maps

__all__ = ["SynthCrops", "normalise"]


def normalise(image: np.ndarray) -> torch.Tensor:
    """``(h, w, 3)`` uint8 RGB to the network's normalised ``(3, h, w)`` float32."""
    return torch.from_numpy(((image.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1).copy())


class SynthCrops(torch.utils.data.Dataset):
    """Random crops of freshly rendered, degraded synthetic pages.

    Parameters
    ----------
    seed : int
        Run seed; sample ``i`` is drawn from ``(seed, i)``.
    crop : int
        Crop side in pixels (a multiple of 32).
    length : int
        Nominal dataset length (samples are generated, never stored).
    page : (int, int)
        Range of page sides to render before cropping.
    """

    def __init__(self, seed: int = 0, crop: int = 512, length: int = 10**9, page: tuple[int, int] = (640, 1600)):
        if crop % 32:
            raise ValueError(f"crop must be a multiple of 32, got {crop}")
        self.seed, self.crop, self.length, self.page = seed, crop, length, page

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, int(index)])
        lo, hi = self.page
        h, w = int(rng.integers(max(lo, self.crop), hi + 1)), int(rng.integers(max(lo, self.crop), hi + 1))
        page = degrade(render_page(h, w, rng=rng), rng)
        region, affinity = truth_maps(page.image.shape[:2], [wd.chars for wd in page.words])
        c = self.crop
        y0 = int(rng.integers(0, h - c + 1)) & ~1
        x0 = int(rng.integers(0, w - c + 1)) & ~1
        image = page.image[y0:y0 + c, x0:x0 + c]
        region = region[y0 // 2:(y0 + c) // 2, x0 // 2:(x0 + c) // 2]
        affinity = affinity[y0 // 2:(y0 + c) // 2, x0 // 2:(x0 + c) // 2]
        confidence = np.ones_like(region)
        return normalise(image), torch.from_numpy(region.copy()), torch.from_numpy(affinity.copy()), \
            torch.from_numpy(confidence)

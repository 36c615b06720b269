"""Synthetic document scans with character-level truth, for training and demos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bigocr.dev.synth.degrade import degrade
from bigocr.dev.synth.page import LAYOUTS, SynthPage, SynthWord, find_fonts, render_page
from bigocr.dev.synth.truth import affinity_quads, truth_maps

__all__ = ["SynthPage", "SynthWord", "render_page", "degrade", "truth_maps", "affinity_quads", "find_fonts",
           "LAYOUTS", "write_sample"]


def write_sample(out: str | Path, height: int = 13483, width: int = 7256, *, seed: int = 0,
                 layout: str = "article", dpi: float = 400, strength: float = 0.5) -> tuple[Path, Path]:
    """Write a synthetic scan as a tiled, compressed TIFF with its word-level truth beside it.

    Returns
    -------
    (tif, gt) : the scan and ``<stem>.gt.json`` (word boxes, clockwise from top-left, scan pixels).
    """
    import tifffile

    out = Path(out)
    rng = np.random.default_rng(seed)
    page = degrade(render_page(height, width, rng=rng, layout=layout, dpi=dpi), rng, strength)
    out.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(out, page.image, photometric="rgb", tile=(512, 512), compression="zlib",
                     resolution=(dpi, dpi), resolutionunit="inch")
    gt_path = out.with_name(out.stem + ".gt.json")
    doc = {"image": out.name, **page.gt()}
    doc["meta"].update({"seed": seed, "strength": strength})
    gt_path.write_text(json.dumps(doc) + "\n")
    return out, gt_path

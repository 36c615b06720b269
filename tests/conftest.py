"""Fixtures shared by the test modules."""

import os

import pytest
import tifffile
import torch

import bigocr
from bigocr.detector import CRAFT, save_weights
from bigocr.testing import FakeDetector, make_page


@pytest.fixture(autouse=True, scope="session")
def own_cache(tmp_path_factory):
    """bigocr's cache (downloaded weights, measured margins) in a folder of the test session, for the
    tests and the commands they start: the user's ``~/.cache/bigocr`` is neither read nor written."""
    path = tmp_path_factory.mktemp("bigocr-cache")
    before = os.environ.get("BIGOCR_CACHE")
    os.environ["BIGOCR_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("BIGOCR_CACHE", None)
    else:
        os.environ["BIGOCR_CACHE"] = before


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A CRAFT a quarter as wide as the published one, with seeded random weights, saved as bigocr safetensors.

    For tests of plumbing (loading, tiling, the CLI, jobs), never of detection
    quality.  Slim, because its every run is work thrown away: the full-width
    network took 38 s to measure its context margin on two cores (5 min in
    bfloat16 where the CPU has no AMX), this one 3 s, and the full width's
    shapes are tested on their own (``test_detector.py``).
    """
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random-init.safetensors"
    return save_weights(CRAFT(width=0.25), path, name="random-init").path


@pytest.fixture(scope="session")
def tiled_scan(tmp_path_factory):
    """A tiled TIFF page and its clean, uninterrupted synchronous run (fake detector, cap 512).

    The reference that runs on clusters, killed workers and resumed jobs must reproduce exactly.
    """
    tmp = tmp_path_factory.mktemp("tiled-scan")
    page, _ = make_page(1500, 1100, words=300, seed=3, rotate=True)
    tifffile.imwrite(tmp / "scan.tif", page, tile=(256, 256), compression="zlib")
    clean = bigocr.detect(tmp / "scan.tif", max_side=512, detector=FakeDetector(), scheduler="synchronous",
                          out=tmp / "clean", formats="json,alto")
    return tmp / "scan.tif", clean

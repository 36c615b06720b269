"""Fixtures shared by the test modules."""

import pytest
import torch

from bigocr.detector import CRAFT, save_weights


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A full-size CRAFT with seeded random weights, saved as bigocr safetensors.

    For tests of plumbing (loading, tiling, the CLI), never of detection quality.
    """
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random-init.safetensors"
    return save_weights(CRAFT(), path, name="random-init").path

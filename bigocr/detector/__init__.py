"""The CRAFT network, its weights, and tile inference."""

from pathlib import Path

from bigocr.models.craft import CRAFT, RefineNet
from bigocr.detector.infer import CraftDetector, InvertBoth, preprocess
from bigocr.models.weights import Weights, read_weights, save_weights

__all__ = ["CRAFT", "RefineNet", "CraftDetector", "InvertBoth", "preprocess", "Weights", "read_weights",
           "save_weights", "default_weights"]


def default_weights(refiner: bool = False) -> Path:
    """The default detector's weights file: bigocr's ``craft-fast``, sha256-checked.

    With ``refiner=True`` the published CRAFT (``craft-mlt-25k``, md5-checked),
    the full-width network a LinkRefiner needs.

    Raises
    ------
    WeightsError
        The file is missing or fails its check (for the published CRAFT: the
        weights package is not installed and nothing is cached).
    """
    from bigocr.models.registry import DEFAULT_DETECTOR, REFINER_DETECTOR, resolve_named

    return resolve_named(REFINER_DETECTOR if refiner else DEFAULT_DETECTOR)

"""The CRAFT network, its weights, and tile inference."""

from pathlib import Path

from bigocr.detector.craft import CRAFT, RefineNet
from bigocr.detector.infer import CraftDetector, InvertBoth, preprocess
from bigocr.detector.weights import Weights, read_weights, save_weights

__all__ = ["CRAFT", "RefineNet", "CraftDetector", "InvertBoth", "preprocess", "Weights", "read_weights",
           "save_weights", "default_weights"]


def default_weights() -> Path:
    """The default detector's weights file: the published CRAFT (``craft-mlt-25k``), md5-checked.

    Raises
    ------
    WeightsError
        The weights package is not installed and nothing is cached, or the file fails its check.
    """
    from bigocr.detector.download import DEFAULT_DETECTOR, resolve_named

    return resolve_named(DEFAULT_DETECTOR)

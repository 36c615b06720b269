"""The CRAFT network, its weights, and tile inference."""

from pathlib import Path

from bigocr.detector.craft import CRAFT, RefineNet
from bigocr.detector.infer import CraftDetector, InvertBoth, preprocess
from bigocr.detector.weights import Weights, read_weights, save_weights
from bigocr.errors import WeightsError

__all__ = ["CRAFT", "RefineNet", "CraftDetector", "InvertBoth", "preprocess", "Weights", "read_weights",
           "save_weights", "default_weights", "DEFAULT_WEIGHTS"]

#: Where the package's own default weights live once they are trained and shipped.
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "bigocr-craft.safetensors"


def default_weights() -> Path:
    """The packaged default weights.

    Raises
    ------
    WeightsError
        This build ships no default weights.
    """
    if not DEFAULT_WEIGHTS.is_file():
        raise WeightsError(
            f"no default weights: {DEFAULT_WEIGHTS} is not in this build of bigocr; "
            "pass --weights PATH (a CRAFT checkpoint such as craft_mlt_25k.pth, or bigocr .safetensors)"
        )
    return DEFAULT_WEIGHTS

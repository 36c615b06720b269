"""argparse types shared by the front ends (``bigocr``'s commands and the development commands): each
turns a word of the command line into a value or a one-line error that says what is accepted."""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "pixel_count", "formats_arg", "scale_arg", "threshold_arg", "coarse_arg", "dpi_arg"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def pixel_count(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels such as 4e9, got {text!r}") from None
    if not value >= 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a positive whole number of pixels, got {text}")
    return int(value)


def formats_arg(text: str) -> tuple[str, ...]:
    from bigocr.writers import parse_formats

    try:
        return parse_formats(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scale_arg(text: str) -> float | str:
    """``--scale``'s argparse type (also ``bigocr eval``'s)."""
    from bigocr.tiler.scale import parse_scale

    try:
        return parse_scale(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def threshold_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:  # nan too
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (the maps score from 0 to 1), "
                                         f"got {text}")
    return value


def coarse_arg(text: str) -> float:
    """``--coarse``'s argparse type (also ``bigocr eval``'s)."""
    from bigocr.config import check_coarse

    try:
        return check_coarse(float(text))
    except ValueError:  # not a number, or ParameterError (a ValueError) out of range
        raise argparse.ArgumentTypeError(f"expected a factor from 0 (no headline pass) to below 1, got {text!r}") \
            from None


def dpi_arg(text: str) -> float:
    """``--dpi``'s argparse type: the resolution PDF pages are rendered at."""
    from bigocr.tiler.pdf import MAX_DPI

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected dots per inch, a number, got {text!r}") from None
    if not 0 < value <= MAX_DPI:  # nan too
        raise argparse.ArgumentTypeError(f"expected dots per inch in (0, {MAX_DPI:g}], got {text}")
    return value

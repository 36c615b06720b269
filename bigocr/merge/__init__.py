"""Stitching per-tile maps, one global labeling, and word boxes."""

from bigocr.merge.boxes import extract_words
from bigocr.merge.label import Components, label_components
from bigocr.merge.stitch import create_maps, open_maps, write_tile

__all__ = ["extract_words", "Components", "label_components", "create_maps", "open_maps", "write_tile"]

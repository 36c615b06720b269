"""Scan reading and tile planning."""

from bigocr.tiler.plan import Tile, TilePlan, plan_tiles
from bigocr.tiler.scan import Scan, open_scan

__all__ = ["Tile", "TilePlan", "plan_tiles", "Scan", "open_scan"]

"""bigocr: find every word in huge document scans, at full resolution.

>>> import bigocr
>>> result = bigocr.detect("scan.tif", detector="craft_mlt_25k.pth")  # doctest: +SKIP
>>> result.words[0].box  # (4, 2) corners (x, y) in scan pixels  # doctest: +SKIP
"""

from bigocr.memory import bound_primitive_cache

bound_primitive_cache()  # before anything else: oneDNN reads it when the first network runs

from bigocr.api import detect, detect_batch, recognize
from bigocr.document import Result, Word
from bigocr.errors import BigOCRError, ClusterError, OutputError, ParameterError, ScanError, WeightsError
from bigocr.tiler.plan import plan_tiles
from bigocr.tiler.scan import open_scan
from bigocr.version import __version__

__all__ = ["detect", "recognize", "detect_batch", "Result", "Word", "plan_tiles", "open_scan", "BigOCRError",
           "ParameterError", "ScanError", "WeightsError", "OutputError", "ClusterError", "__version__"]

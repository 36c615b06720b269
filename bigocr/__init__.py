"""bigocr: find every word in huge document scans, at full resolution.

>>> import bigocr
>>> result = bigocr.detect("scan.tif", detector="craft_mlt_25k.pth")  # doctest: +SKIP
>>> result.words[0].box  # (4, 2) corners (x, y) in scan pixels  # doctest: +SKIP
"""

from bigocr.batch import detect_batch
from bigocr.errors import BigOCRError, ClusterError, OutputError, ParameterError, ScanError, WeightsError
from bigocr.merge.boxes import Word
from bigocr.pipeline import detect, recognize
from bigocr.result import Result
from bigocr.tiler.plan import plan_tiles
from bigocr.tiler.scan import open_scan

__version__ = "0.1.0"

__all__ = ["detect", "recognize", "detect_batch", "Result", "Word", "plan_tiles", "open_scan", "BigOCRError",
           "ParameterError",
           "ScanError", "WeightsError", "OutputError", "ClusterError", "__version__"]

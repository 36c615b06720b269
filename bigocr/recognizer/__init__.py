"""Reading the words: a CRNN + CTC recognizer beside the detector.

``crnn.py`` holds the network; ``read.py`` the crops, batches and CTC decoding
(numpy/OpenCV); ``recognize.py`` the callable the pipeline runs on Dask workers.
"""

from bigocr.models.crnn import CRNN, ENGLISH_G2_CHARSET
from bigocr.recognizer.recognize import CrnnRecognizer, resolve_recognizer

__all__ = ["CRNN", "ENGLISH_G2_CHARSET", "CrnnRecognizer", "resolve_recognizer"]

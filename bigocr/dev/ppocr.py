"""PP-OCR as an evaluation-only peer: the RapidOCR wheel's PP-OCRv6 small detector and recogniser.

Never imported by ``bigocr run``: ``bigocr eval --ppocr`` and the benchmarks
measure it beside bigocr and Tesseract on the same pages.  The models ship in
the ``rapidocr`` wheel (Apache-2.0, ONNX, run by ONNX Runtime); nothing is
downloaded.  It runs with the wheel's defaults, as a user would run it (the
long side capped at 2 000 px for detection, the angle classifier on), and
reports its own text lines, or their words (``return_word_box``: the line
split at the recogniser's spaces) where the truth is word-level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bigocr.errors import BigOCRError

__all__ = ["PPOCR"]


class PPOCR:
    """One RapidOCR engine; ``lines(path)`` and ``words(path)`` give ``(quad, text)`` pairs."""

    def __init__(self, threads: int | None = None):
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise BigOCRError("PP-OCR (the evaluation peer) needs the RapidOCR wheel: pip install rapidocr "
                              "onnxruntime") from exc
        params = {"Global.log_level": "error", "Global.return_word_box": True}
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
        self.engine = RapidOCR(params=params)
        self._last: tuple[str, object] | None = None

    def _run(self, path: Path):
        key = str(path)
        if self._last is None or self._last[0] != key:
            import cv2

            # errors only: libtiff's warnings on unknown tags are not the reader's business
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            image = cv2.imread(key, cv2.IMREAD_COLOR)
            if image is None:
                raise BigOCRError(f"{path}: PP-OCR could not read the image")
            self._last = (key, self.engine(image))
        return self._last[1]

    def lines(self, path: Path) -> list[tuple[np.ndarray, str]]:
        """The text lines PP-OCR finds, with their text."""
        out = self._run(path)
        if out.boxes is None:
            return []
        return [(np.asarray(box, np.float64), str(text)) for box, text in zip(out.boxes, out.txts)]

    def read(self, crops: list[np.ndarray]) -> list[str]:
        """Its recogniser alone on gray crops (one word or line each), as ``bigocr eval --read`` gives them."""
        return [text for text, _ in self.readings(crops)]

    def readings(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """``(text, confidence)`` of each gray crop by its recogniser alone (the mean of its pieces' scores)."""
        import cv2

        out = []
        for crop in crops:
            got = self.engine(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR), use_det=False, use_cls=False, use_rec=True)
            texts, scores = list(got.txts or ()), [float(s) for s in (got.scores or ())]
            out.append((" ".join(str(t) for t in texts).strip(), float(np.mean(scores)) if scores else 0.0))
        return out

    def words(self, path: Path) -> list[tuple[np.ndarray, str]]:
        """Its lines cut into words at the recogniser's spaces (RapidOCR's ``return_word_box``)."""
        out = self._run(path)
        if out.boxes is None:
            return []
        words = []
        for line in out.word_results or ():
            for text, _score, box in line:
                if str(text).strip():
                    words.append((np.asarray(box, np.float64), str(text)))
        return words

"""bigocr as an OCR engine for OCRmyPDF: ``ocrmypdf --plugin bigocr.ocrmypdf in.pdf out.pdf``.

OCRmyPDF does the PDF work (rasterising each page, PDF/A, optimisation,
``--skip-text``, ``--redo-ocr``, sidecar text); bigocr finds and reads the
words of each page image it is handed.  The engine answers both of
OCRmyPDF's renderers: the default (fpdf2) lays out the hOCR bigocr writes,
``--pdf-renderer sandwich`` grafts bigocr's own text-only PDF
(:func:`bigocr.writers.pdf.text_only_pdf`).  The plugin blocks OCRmyPDF's
Tesseract plugin, so Tesseract need not be installed; Ghostscript still is
(OCRmyPDF's PDF/A).  Install with ``pip install "bigocr[ocrmypdf]"``.

Models load once per process (OCRmyPDF's page workers, threads by default,
share them) and each page gets its share of the cores (``--jobs``): the
engine adds no parallelism of its own.
``-l`` is accepted for the Latin-script languages bigocr's readers know and
otherwise ignored: the reader is chosen per word (``auto``).

Options (``ocrmypdf --plugin bigocr.ocrmypdf --help``): ``--bigocr-recognizer``
and ``--bigocr-device``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ocrmypdf import hookimpl
from ocrmypdf.pluginspec import OcrEngine, OrientationConfidence

from bigocr.version import __version__

__all__ = ["BigocrEngine", "get_ocr_engine", "initialize", "add_options", "register_options", "read_image"]

log = logging.getLogger("bigocr")

#: What ``-l`` may name (ISO 639-2 and Tesseract's names for Latin-script languages, Fraktur included).
LANGUAGES = frozenset({"eng", "deu", "frk", "fra", "ita", "spa", "por", "nld", "lat", "dan", "swe", "nor", "fin",
                       "pol", "ces", "slk", "hun", "ron", "hrv", "slv", "est", "lav", "lit", "cat", "eus", "glg",
                       "isl", "gle", "cym", "deu_latf", "enm", "frm", "ita_old", "spa_old"})

_SETUPS: dict = {}
_LOCK = threading.Lock()


def _setup(recognizer: str | None, device: str):
    """The models, loaded once per process and choice."""
    from bigocr.config import Params
    from bigocr.engine.setup import prepare

    key = (recognizer, device)
    with _LOCK:
        if key not in _SETUPS:
            # scale and headline pass left to the detector's defaults (auto scale: OCRmyPDF rasterises some
            # pages at 72 dpi)
            _SETUPS[key] = prepare(Params(scale=None, coarse=None), device=device, scheduler="synchronous",
                                   text=True, recognizer=recognizer)
        return _SETUPS[key]


def _options(options) -> tuple[str | None, str]:
    """The engine's options; bigocr's own log (each page's tiles, words) only with ``ocrmypdf -v``."""
    log.setLevel(logging.INFO if (getattr(options, "verbose", 0) or 0) >= 1 else logging.WARNING)
    return getattr(options, "bigocr_recognizer", None), getattr(options, "bigocr_device", None) or "cpu"


def read_image(input_file, options):
    """The Result of one page image (the words found and read, in reading order)."""
    import contextlib

    from bigocr.engine.job import open_job
    from bigocr.engine.runner import open_runner
    from bigocr.engine.stages import execute
    from bigocr.tiler.scan import DEFAULT_MAX_PIXELS

    setup = _setup(*_options(options))
    _share_cores(options)
    with contextlib.ExitStack() as hold, \
            open_runner(setup.detector, "synchronous", None, None, setup.reader) as runner:
        job = open_job(str(input_file), params=setup.params, detector_info=(setup.model, setup.run_device),
                       out=None, force=False, max_pixels=DEFAULT_MAX_PIXELS, page=0, formats=("json",),
                       preview=False, heatmap=False, read=True, hold=hold)
        return execute(job, runner)


def _page_points(result) -> tuple[float, float]:
    """The page the image fills, in points, from the image's own resolution (as OCRmyPDF wrote it; 72 dpi
    where it wrote none)."""
    dpi = result.scan.get("dpi") or (72.0, 72.0)
    return result.scan["width"] / float(dpi[0]) * 72.0, result.scan["height"] / float(dpi[1]) * 72.0


def _share_cores(options) -> None:
    """OCRmyPDF runs ``--jobs`` pages at once (threads by default): each gets its share of the cores."""
    import torch

    jobs = int(getattr(options, "jobs", 0) or os.cpu_count() or 1)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, jobs)))


_SAID: set = set()


def _once(message: str) -> None:
    with _LOCK:
        if message in _SAID:
            return
        _SAID.add(message)
    log.warning("%s", message)


class BigocrEngine(OcrEngine):
    """bigocr behind OCRmyPDF's engine interface."""

    @staticmethod
    def version() -> str:
        return __version__

    @staticmethod
    def creator_tag(options) -> str:
        return f"bigocr {__version__}"

    def __str__(self) -> str:
        return f"bigocr {__version__}"

    @staticmethod
    def languages(options) -> set[str]:
        return set(LANGUAGES)

    @staticmethod
    def get_orientation(input_file: Path, options) -> OrientationConfidence:
        _once("bigocr does not guess page orientation: --rotate-pages leaves the pages as they are")
        return OrientationConfidence(angle=0, confidence=0.0)

    @staticmethod
    def get_deskew(input_file: Path, options) -> float:
        _once("bigocr does not measure skew for OCRmyPDF: --deskew leaves the pages as they are (bigocr reads "
              "skewed lines as they are)")
        return 0.0

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options) -> None:
        from bigocr.writers import plain_text, render

        result = read_image(input_file, options)
        Path(output_hocr).write_bytes(render(result, "hocr"))
        Path(output_text).write_text(plain_text(result), encoding="utf-8")

    @staticmethod
    def generate_pdf(input_file: Path, output_pdf: Path, output_text: Path, options) -> None:
        from bigocr.writers import plain_text
        from bigocr.writers.pdf import text_only_pdf

        result = read_image(input_file, options)
        width, height = _page_points(result)
        Path(output_pdf).write_bytes(text_only_pdf(result, width, height))
        Path(output_text).write_text(plain_text(result), encoding="utf-8")


@hookimpl
def initialize(plugin_manager) -> None:
    """bigocr replaces Tesseract: OCRmyPDF's Tesseract plugin (and its check for a tesseract binary) is off."""
    plugin_manager.set_blocked("ocrmypdf.builtin_plugins.tesseract_ocr")


@hookimpl
def register_options():
    """OCRmyPDF's own code reads the Tesseract option model (``options.tesseract``) whatever the engine: kept,
    with the Tesseract plugin's options, but without its check for a tesseract binary."""
    from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOptions

    return {"tesseract": TesseractOptions}


@hookimpl
def add_options(parser) -> None:
    from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOptions

    TesseractOptions.add_arguments_to_parser(parser)
    group = parser.add_argument_group("bigocr", "Options of the bigocr OCR engine")
    group.add_argument("--bigocr-recognizer", metavar="NAME|PATH", default=None,
                       help="auto (default), documents, historical, english-g2 or a bigocr .safetensors recognizer")
    group.add_argument("--bigocr-device", metavar="DEVICE", default="cpu",
                       help="cpu (default), cuda or cuda:N")


@hookimpl
def get_ocr_engine(options):
    if options is not None and getattr(options, "ocr_engine", "auto") not in ("auto", "bigocr"):
        return None
    return BigocrEngine()

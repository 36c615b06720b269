"""``ocrd-bigocr-recognize``: bigocr as an OCR-D processor (``-m mets.xml -I IN -O OUT -P key value``).

For each page of the input file group the processor takes the page image (an
image file of the group, or the ``imageFilename`` of its PAGE), reads it
through bigocr's own windowed reader (never ``workspace.image_from_page``,
which decodes the page whole), finds and reads the words on the engine set
up once for all pages (:func:`bigocr.engine.setup.prepare`, the models loaded
once, tiles run in this process), and writes PAGE-XML into the output file
group through the OCR-D framework (``Processor``), which updates the METS:
``TextRegion > TextLine > Word`` with ``Coords``, each line's ``Baseline``,
``TextEquiv`` with ``@conf``, and the reading order.  The PAGE document is
bigocr's own PAGE writer's (:mod:`bigocr.writers.page`), parsed into the
framework's object model.

Modes (``-P mode ...``): ``detect`` (default: find and read), ``segment``
(find only) and ``recognize`` (read the words, or the lines, of the input
PAGE's segmentation, as ``bigocr recognize --boxes``).

Install with ``pip install bigocr[ocrd]``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from typing import Optional

import click
from ocrd import Processor
from ocrd.decorators import ocrd_cli_options, ocrd_cli_wrap_processor
from ocrd.processor.ocrd_page_result import OcrdPageResult
from ocrd_modelfactory import page_from_file
from ocrd_models.ocrd_page import OcrdPage, to_xml
from ocrd_utils import config

from bigocr.api import recognize
from bigocr.config import Params
from bigocr.engine.job import open_job
from bigocr.engine.runner import open_runner
from bigocr.engine.setup import prepare
from bigocr.engine.stages import execute
from bigocr.errors import BigOCRError
from bigocr.options import scale_arg
from bigocr.tiler.scan import DEFAULT_MAX_PIXELS, open_scan
from bigocr.writers import render

__all__ = ["BigocrRecognize", "cli"]


class BigocrRecognize(Processor):
    """bigocr's words, lines and text for each page of a METS workspace."""

    @property
    def executable(self) -> str:
        return "ocrd-bigocr-recognize"

    @property
    def metadata_filename(self) -> str:
        return "ocrd/ocrd-tool.json"

    def setup(self) -> None:
        """Load the models once for every page."""
        _one_line_errors()
        self._scans = {}
        p = self.parameter
        mode = p["mode"]
        try:
            scale = scale_arg(str(p["scale"]))
        except Exception as exc:
            raise BigOCRError(f"-P scale {p['scale']!r}: {exc}") from None
        params = Params(int(p["max_side"]), scale=scale, coarse=float(p["coarse"]))
        self._hold = contextlib.ExitStack()
        if mode == "recognize":
            from bigocr.recognizer import resolve_recognizer

            self._setup = None
            self._reader = resolve_recognizer(None if p["recognizer"] == "auto" else p["recognizer"], p["device"])[0]
            return
        self._setup = prepare(params, detector=p["weights"], device=p["device"], scheduler="synchronous",
                              text=mode == "detect", recognizer=None if p["recognizer"] == "auto" else p["recognizer"])
        self._runner = self._hold.enter_context(
            open_runner(self._setup.detector, "synchronous", None, None, self._setup.reader))

    def shutdown(self) -> None:
        hold = getattr(self, "_hold", None)
        if hold is not None:
            hold.close()

    def process_page_file(self, *input_files) -> None:
        """Open a page image with bigocr's reader first: a missing or damaged image is a one-line error for its
        page (:class:`~bigocr.errors.ScanError`), and the scan is opened once."""
        found = input_files[0]
        path = None
        if found is not None and found.local_filename and str(found.mimetype).startswith("image/"):
            path = self._path(found.local_filename)
            self._scans[path] = open_scan(path)
        try:
            super().process_page_file(*input_files)
        finally:
            self._scans.pop(path, None)

    def process_workspace_handle_page_task(self, page_id, input_files, task):
        """A page that fails on bigocr's account (its image, its segmentation) is said in one line, no
        traceback; the framework's policies (OCRD_MISSING_OUTPUT, OCRD_MAX_MISSING_OUTPUTS) apply as ever."""
        try:
            failure = task.exception()
        except BaseException:
            failure = None
        if not isinstance(failure, BigOCRError):
            return super().process_workspace_handle_page_task(page_id, input_files, task)
        self._base_logger.error(f"Failure on page {page_id}: {failure}")
        if config.OCRD_MISSING_OUTPUT == "ABORT":
            raise failure
        if config.OCRD_MISSING_OUTPUT == "COPY":
            self._copy_page_file(input_files[0])
        return failure

    def _path(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.workspace.directory, name)

    def process_page_pcgts(self, *input_pcgts: Optional[OcrdPage], page_id: Optional[str] = None) -> OcrdPageResult:
        pcgts = input_pcgts[0]
        page = pcgts.get_Page()
        image = page.get_imageFilename()
        path = self._path(image)
        if self.parameter["mode"] == "recognize":
            result = self._recognize(path, pcgts)
        else:
            setup = self._setup
            with contextlib.ExitStack() as hold:
                job = open_job(path, params=setup.params, detector_info=(setup.model, setup.run_device), out=None,
                               force=False, max_pixels=DEFAULT_MAX_PIXELS, page=0, formats=("json",),
                               preview=False, heatmap=False, read=setup.reader is not None, hold=hold,
                               scan=self._scans.pop(path, None))
                result = execute(job, self._runner)
        self.logger.info("page %s: %d words in %d lines (%s)", page_id, len(result.words), len(result.layout.lines),
                         image)
        out = _as_page(render(result, "page"))
        out_page = out.get_Page()
        out_page.set_imageFilename(image)  # as the METS has it, relative to the workspace
        for name in ("imageXResolution", "imageYResolution", "imageResolutionUnit"):
            if getattr(page, name, None) is not None and getattr(out_page, name, None) is None:
                getattr(out_page, f"set_{name}")(getattr(page, name))
        out.get_Metadata().set_MetadataItem(pcgts.get_Metadata().get_MetadataItem()
                                            + out.get_Metadata().get_MetadataItem())
        return OcrdPageResult(out)

    def _recognize(self, path: str, pcgts: OcrdPage):
        """Read the words of the input PAGE's segmentation (bigocr recognize --boxes)."""
        with tempfile.TemporaryDirectory(prefix="bigocr-ocrd-") as tmp:
            boxes = os.path.join(tmp, "input.page.xml")
            with open(boxes, "w", encoding="utf-8") as fh:
                fh.write(to_xml(pcgts))
            p = self.parameter
            return recognize(path, boxes, recognizer=self._reader, scheduler="synchronous", device=p["device"])


class _NoTraceback(logging.Filter):
    """Log records of errors as their one line: the traceback only where the log level is DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not logging.getLogger("ocrd").isEnabledFor(logging.DEBUG):
            record.exc_info, record.exc_text = None, None
        return True


#: The framework's loggers that report a page's or a run's failure with its traceback.
_REPORTERS = ("ocrd.processor.base", "ocrd.processor.helpers.run_processor")


def _one_line_errors() -> None:
    """Failures as one line each (tracebacks with ``-l DEBUG``); tifffile's notes on odd headers kept out."""
    for name in _REPORTERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTraceback) for f in logger.filters):
            logger.addFilter(_NoTraceback())
    if not logging.getLogger("ocrd").isEnabledFor(logging.DEBUG):
        logging.getLogger("tifffile").setLevel(logging.CRITICAL)


def _as_page(data: bytes) -> OcrdPage:
    """PAGE bytes as the framework's object model (its own parser, by way of a file)."""
    with tempfile.TemporaryDirectory(prefix="bigocr-ocrd-") as tmp:
        path = os.path.join(tmp, "page.xml")
        with open(path, "wb") as fh:
            fh.write(data)
        return page_from_file(path)


@click.command()
@ocrd_cli_options
def cli(*args, **kwargs):
    """ocrd-bigocr-recognize: see ``--help`` (OCR-D's processor options) and ``--dump-json``."""
    _one_line_errors()
    try:
        return ocrd_cli_wrap_processor(BigocrRecognize, *args, **kwargs)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BigOCRError as exc:
        _fail(str(exc), exc.exit_code)
    except Exception as exc:  # the framework's own refusals (a file group not in the METS, pages that failed)
        text = " ".join(str(exc).split()) or type(exc).__name__
        _fail(text if type(exc) is Exception else f"{type(exc).__name__}: {text}", 1)


def _fail(message: str, code: int):
    """One line on stderr, after the framework's log, and the exit code."""
    click.echo(f"ocrd-bigocr-recognize: error: {message}", err=True)
    sys.exit(code)

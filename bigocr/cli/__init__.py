"""The ``bigocr`` command line (:mod:`bigocr.cli.main`: ``main(argv) -> int``)."""

from bigocr.cli.main import entry, main

__all__ = ["main", "entry"]

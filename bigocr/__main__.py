"""``python -m bigocr``: the same as the ``bigocr`` command."""

from bigocr.cli import entry

entry()

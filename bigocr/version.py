"""The version of bigocr (one place: the package, the outputs' producer fields and --version read it)."""

__version__ = "0.1.0"

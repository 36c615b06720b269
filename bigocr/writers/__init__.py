"""Output writers: words.json, ALTO 4, PAGE 2019, hOCR 1.2, GeoJSON, plain text, searchable PDF and IIIF
annotations.

Every writer takes a finished :class:`bigocr.document.Result` (words in reading
order, with their lines and blocks) and returns the file's bytes; XML and HTML
are built with lxml.  :func:`write_outputs` writes the chosen formats into an
output folder, each file atomically (a reader never sees half a file).

Coordinates everywhere are scan pixels: x to the right, y down, origin at the
top-left corner of the top-left pixel.
"""

from __future__ import annotations

from bigocr.errors import ParameterError

__all__ = ["FORMATS", "parse_formats", "render", "write_outputs"]

#: Format name -> file name in the output folder.
FORMATS = {
    "json": "words.json",
    "alto": "alto.xml",
    "page": "page.xml",
    "hocr": "hocr.html",
    "geojson": "words.geojson",
    "txt": "text.txt",
    "pdf": "text.pdf",
    "iiif": "annotations.json",
}


def parse_formats(formats) -> tuple[str, ...]:
    """Validate ``"json,alto"`` or ``["json", "alto"]``; returns unique names in the given order."""
    if isinstance(formats, str):
        formats = formats.split(",")
    names = []
    for name in formats:
        name = str(name).strip().lower()
        if not name:
            continue
        if name not in FORMATS:
            raise ParameterError(f"unknown output format {name!r}; choose from {', '.join(FORMATS)}")
        if name not in names:
            names.append(name)
    if not names:
        raise ParameterError(f"no output format given; choose from {', '.join(FORMATS)}")
    return tuple(names)


def plain_text(result) -> str:
    """The page's text in reading order: one line of text per line, a blank line between blocks."""
    from bigocr.writers._geometry import line_text, numbered

    blocks = ["\n".join(line_text(line, words) for _, line, words in lines) for _, _, lines in numbered(result)]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def render(result, fmt: str, scan=None) -> bytes:
    """The bytes of one output format for ``result``.

    Parameters
    ----------
    result : bigocr.Result
        A finished run: ``words`` (boxes ``(4, 2)`` float32, ``(x, y)`` scan
        pixels) and ``layout`` (their lines and blocks, in reading order).
    fmt : {"json", "alto", "page", "hocr", "geojson", "txt", "pdf", "iiif"}
    scan : ScanSource, optional
        The scan itself, for ``"pdf"`` (its page image is embedded; reopened from ``result.scan`` if not given).

    Returns
    -------
    bytes
        UTF-8 text of the file (the PDF's bytes for ``"pdf"``).
    """
    if fmt == "json":
        return result.to_json()
    if fmt == "txt":
        return plain_text(result).encode()
    if fmt == "pdf":
        from bigocr.writers.pdf import pdf_bytes

        return pdf_bytes(result, scan)
    if fmt == "iiif":
        from bigocr.writers.iiif import annotation_page

        return annotation_page(result)
    if fmt == "alto":
        from bigocr.writers.alto import alto_bytes as make
    elif fmt == "page":
        from bigocr.writers.page import page_bytes as make
    elif fmt == "hocr":
        from bigocr.writers.hocr import hocr_bytes as make
    elif fmt == "geojson":
        from bigocr.writers.geojson import geojson_bytes as make
    else:
        raise ParameterError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    return make(result)


def write_outputs(result, out, formats=("json",), scan=None) -> list[str]:
    """Write ``result`` into folder ``out`` in each of ``formats``.

    Parameters
    ----------
    result : bigocr.Result
    out : str, Path or OutDir
        An existing folder (a path or an fsspec URL).
    formats : str or sequence of str
        ``"json,alto"`` or ``["json", "alto"]``; see :data:`FORMATS`.
    scan : ScanSource, optional
        The scan, for the searchable PDF (see :func:`render`).

    Returns
    -------
    list of str
        Where the files were written, ``words.json`` last, so its presence means every
        other output is complete.
    """
    from bigocr.outdir import OutDir

    out = out if isinstance(out, OutDir) else OutDir(out)
    names = sorted(parse_formats(formats), key=lambda f: f == "json")
    return [out.write_bytes(FORMATS[fmt], render(result, fmt, scan)) for fmt in names]

"""hOCR 1.2: XHTML with ``ocr_page > ocr_carea > ocr_par > ocr_line > ocrx_word``.

Every element's ``title`` carries ``bbox x0 y0 x1 y1`` in whole scan pixels
(x1, y1 exclusive); words add ``x_wconf`` (the recognizer's confidence x 100, the
detection score where the words were not read) and, where there is one,
``poly``.  A word's span holds its text (empty when not read).
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from bigocr.writers._geometry import (baseline_points, extent, model_settings, numbered, outline, root, sub,
                                     word_confidence, word_outline)

__all__ = ["hocr_tree", "hocr_bytes"]

XHTML_NS = "http://www.w3.org/1999/xhtml"
XML_NS = "http://www.w3.org/XML/1998/namespace"
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf ocrp_poly ocrp_baseline"


def _el(parent, tag: str, **attrs):
    return sub(parent, XHTML_NS, tag, **attrs)


def _bbox(points, width: int, height: int) -> str:
    x, y, w, h = extent(points, width, height)
    return f"bbox {x} {y} {x + w} {y + h}"


def hocr_tree(result) -> etree._ElementTree:
    """The hOCR document of ``result`` as an lxml tree."""
    from bigocr.version import __version__

    width, height = int(result.scan["width"]), int(result.scan["height"])
    name = Path(result.scan.get("path") or "array").name
    html = root(XHTML_NS, "html")
    html.set(f"{{{XML_NS}}}lang", "en")
    html.set("lang", "en")
    head = _el(html, "head")
    _el(head, "title").text = name
    _el(head, "meta", **{"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"})
    _el(head, "meta", name="ocr-system", content=f"bigocr {__version__}")
    _el(head, "meta", name="ocr-capabilities", content=CAPABILITIES)
    _el(head, "meta", name="bigocr-model", content=model_settings(result))
    _el(head, "meta", name="ocr-number-of-pages", content="1")
    body = _el(html, "body")
    title = f'image "{name}"; bbox 0 0 {width} {height}; ppageno {int(result.scan.get("page", 0))}'
    dpi = result.scan.get("dpi")
    if dpi:
        title += f"; scan_res {round(float(dpi[0]))} {round(float(dpi[1]))}"
    page = _el(body, "div", class_="ocr_page", id="page_1", title=title)
    for b, block, lines in numbered(result):
        bbox = _bbox(block.box, width, height)
        area = _el(page, "div", class_="ocr_carea", id=f"block_{b}", title=bbox)
        par = _el(area, "p", class_="ocr_par", id=f"par_{b}", title=bbox)
        for n_line, line, words in lines:
            title = _bbox(line.box, width, height)
            baseline = baseline_points(line, width, height)
            if baseline is not None:  # hOCR: slope, and offset from the box's bottom-left corner
                x, y, w, h = extent(line.box, width, height)
                (bx0, by0), (bx1, by1) = baseline[0], baseline[-1]
                slope = (by1 - by0) / (bx1 - bx0) if bx1 != bx0 else 0.0
                offset = by0 + slope * (x - bx0) - (y + h)
                title += f"; baseline {slope:.4f} {offset:.0f}"
            line_el = _el(par, "span", class_="ocr_line", id=f"line_{n_line}", title=title)
            for k, (n_word, word) in enumerate(words):
                props = [_bbox(word.box, width, height), f"x_wconf {round(100 * word_confidence(word))}"]
                shape = word_outline(word)
                if shape is not None:
                    props.append("poly " + " ".join(f"{x} {y}" for x, y in outline(shape, width, height)))
                span = _el(line_el, "span", class_="ocrx_word", id=f"word_{n_word}", title="; ".join(props))
                span.text = word.text
                if k < len(words) - 1:
                    span.tail = " "
    return etree.ElementTree(html)


def hocr_bytes(result) -> bytes:
    """``hocr.html`` as UTF-8 bytes (XHTML, with its doctype)."""
    return etree.tostring(hocr_tree(result), xml_declaration=True, encoding="UTF-8", pretty_print=True,
                          doctype="<!DOCTYPE html>")

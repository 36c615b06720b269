"""How a line's text is made, rule against rule, on line-level truth (issue 26; bigocr/recognizer/linetext.py).

Each page is detected and read once with bigocr's defaults; each line is then read as one crop
(``--reader``: ``fast``, the default's choice, or ``auto``), and every rule's text of every line is
matched against the truth's lines (IoU >= 0.5, one to one, the same text case-folded):

- ``words``: the words' readings joined with spaces (before the line reading);
- ``line``: the line's reading alone;
- ``marks``: the words' text with the marks the line shows between the same letters (``punctuate``);
- ``digits apart``: ``default`` without joining the digits of a number the detector cut in two;
- ``default``: :func:`bigocr.recognizer.linetext.line_text` (marks; else the line's reading where the reader
  is surer of it than of the least sure word);
- ``PP-OCR reads`` (with ``--ppocr``): the same line crops read by PP-OCR's recogniser (the RapidOCR wheel, an
  evaluation-only peer), to tell what a stronger reader of modern print would give on bigocr's lines;
  ``PP-OCR marks``: ``default`` with PP-OCR's reading and confidence as the line's.

Choose on ``--split eval`` or the training pool (``--data ../shared/data/train --split train``), never on test.

    python benchmarks/linetext.py --sources sroie,vdsbb --split eval
    python benchmarks/linetext.py --data ../shared/data/train --sources sroie --split train --limit 40
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import bigocr
from bigocr.config import Params
from bigocr.dev.evaluate import match, normalize_historical, truth_pages
from bigocr.dev.ppocr import PPOCR
from bigocr.engine.setup import prepare
from bigocr.recognizer.read import word_crop
from bigocr.tiler.scan import open_scan
from bigocr.recognizer.linetext import line_quad, line_text, punctuate

RULES = ("words", "line", "marks", "digits apart", "default")


def texts(words: list, reading: str, confidence: float) -> dict:
    joined = " ".join(t for t, _ in words if t)
    marked = punctuate(joined, " ".join(reading.split()))
    return {"words": joined, "line": " ".join(reading.split()), "marks": joined if marked is None else marked,
            "digits apart": line_text(words, reading, confidence, join_digits=False),
            "default": line_text(words, reading, confidence)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/real")
    p.add_argument("--sources", default="sroie,vdsbb")
    p.add_argument("--split", default="eval")
    p.add_argument("--limit", type=int)
    p.add_argument("--reader", default="fast", help="the recognizer that reads the lines (default: fast)")
    p.add_argument("--ppocr", action="store_true", help="also read the line crops with PP-OCR's recogniser")
    args = p.parse_args(argv)
    reader = prepare(Params(), recognizer=args.reader, text=True, scheduler="synchronous").reader
    peer = PPOCR(threads=1) if args.ppocr else None
    rules = RULES + (("PP-OCR reads", "PP-OCR marks") if peer else ())
    for source in args.sources.split(","):
        totals = {rule: [0, 0, 0] for rule in rules}
        pages = 0
        for _, image, doc in truth_pages(Path(args.data) / source, args.split, args.limit,
                                         keep=lambda doc: doc.get("lines") or doc.get("granularity") == "line"):
            result = bigocr.detect(image, scheduler="synchronous", text=True)
            lines = result.layout.lines
            quads = [line_quad(line.box) for line in lines]
            scan = open_scan(image)
            pixels = scan.read(0, scan.height, 0, scan.width)
            crops = [word_crop(pixels, q) for q in quads]
            readings = reader(crops) if quads else []
            said_by_words = [[(result.words[i].text, result.words[i].confidence) for i in line.words] for line in lines]
            made = [texts(words, *reading) for words, reading in zip(said_by_words, readings)]
            if peer:
                blank = np.full((8, 8), 255, np.uint8)
                for words, texts_of, (text, score) in zip(said_by_words, made,
                                                          peer.readings([blank if c is None else c for c in crops])):
                    texts_of["PP-OCR reads"] = " ".join(text.split())
                    texts_of["PP-OCR marks"] = line_text(words, text, score)
            truth = doc.get("lines") or doc["words"]
            boxes = [np.asarray(t["box"], np.float64) for t in truth]
            said = [normalize_historical(t.get("text") or "").casefold() for t in truth]
            ignore = [bool(t.get("ignore")) for t in truth]
            for rule in rules:
                c = match([line.box for line in lines], boxes, ignore,
                          same=lambda j, i: made[j][rule].casefold() == said[i])
                totals[rule][0] += c.matched
                totals[rule][1] += c.detections
                totals[rule][2] += c.truth
            pages += 1
        cells = "  ".join(f"{rule} {2 * m / max(1, d + t):.3f}" for rule, (m, d, t) in totals.items())
        print(f"{source} ({pages} pages, {args.split}, lines read by {args.reader}): lines read right  {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Lines on the VD-SBB historical prints: line H against the truth's lines, and how close the baselines lie.

    python benchmarks/lines.py [--data ../shared/data/real] [--split test|eval|all] [--json out.json]

The truth (OCR-D GT, VD-SBB) has lines and word polygons but no baselines.  So a baseline is measured
against the words that stand on it: in each truth line matched to one of bigocr's lines (IoU >= 0.5, one
to one), every truth word whose text holds no letter that reaches below the line (g j p q y, and in
Fraktur also the long s, f, h, z, ß; no comma, no bracket) stands on the baseline, and the bottom of its
polygon is where the baseline should be.  The distance from there to bigocr's baseline (at the word's
centre) is counted in x-heights; a line's x-height is the median height of its truth words made of
x-height letters only (a c e m n o r s u v w x z, with umlauts), else half its words' median height.
Nothing in bigocr's line code was chosen on these pages (its constants were set on a rendered page).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DESCENDING = set("gjpqyſfhzßçʒ,;()[]/")
XHEIGHT = set("acemnorsuvwxzäöüõ")


def _iou(a, b) -> float:
    from shapely.geometry import Polygon

    pa, pb = Polygon(a), Polygon(b)
    if not (pa.is_valid and pb.is_valid):
        pa, pb = pa.buffer(0), pb.buffer(0)
    inter = pa.intersection(pb).area
    union = pa.union(pb).area
    return inter / union if union else 0.0


def _pairs(ours: list, truth: list, threshold: float = 0.5) -> list[tuple[int, int]]:
    """One-to-one matches at IoU >= threshold, best first."""
    scores = [(_iou(o, t), i, j) for i, o in enumerate(ours) for j, t in enumerate(truth)
              if _overlap(o, t)]
    used_i, used_j, pairs = set(), set(), []
    for s, i, j in sorted(scores, reverse=True):
        if s < threshold:
            break
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            pairs.append((i, j))
    return pairs


def _overlap(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return not (a[:, 0].max() < b[:, 0].min() or b[:, 0].max() < a[:, 0].min()
                or a[:, 1].max() < b[:, 1].min() or b[:, 1].max() < a[:, 1].min())


def measure_page(image: Path, doc: dict) -> dict:
    import bigocr

    result = bigocr.detect(image, scheduler="synchronous")
    lines = result.layout.lines
    truth_lines = [np.asarray(line["box"], np.float64) for line in doc.get("lines", [])]
    pairs = _pairs([line.box for line in lines], truth_lines)
    words = [w for w in doc["words"] if w.get("text") and not w.get("ignore")]
    errors = []
    for i, j in pairs:
        tl = truth_lines[j]
        x0, y0 = tl.min(axis=0)
        x1, y1 = tl.max(axis=0)
        inside = []
        for w in words:
            poly = np.asarray(w.get("poly") or w["box"], np.float64)
            cx, cy = poly.mean(axis=0)
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                inside.append((w["text"], poly))
        if not inside:
            continue
        small = [p[:, 1].max() - p[:, 1].min() for t, p in inside if set(t.lower()) <= XHEIGHT]
        xheight = float(np.median(small)) if small else 0.5 * float(np.median(
            [p[:, 1].max() - p[:, 1].min() for _, p in inside]))
        base = lines[i].baseline
        order = np.argsort(base[:, 0])
        for text, poly in inside:
            if set(text) & DESCENDING:
                continue
            cx = float(poly[:, 0].mean())
            bottom = float(poly[:, 1].max())
            ours = float(np.interp(cx, base[order, 0], base[order, 1]))
            errors.append(abs(bottom - ours) / max(1.0, xheight))
    return {"lines": len(lines), "truth_lines": len(truth_lines), "matched": len(pairs), "errors": errors}


def main(argv=None) -> int:
    from bigocr.dev.evaluate import truth_pages

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"))
    p.add_argument("--split", default="test", choices=("test", "eval", "all"))
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    pages, t0 = [], time.perf_counter()
    for stem, image, doc in truth_pages(Path(args.data) / "vdsbb", split=args.split):
        pages.append({"page": stem, **measure_page(image, doc)})
        m = pages[-1]
        share = np.mean(np.asarray(m["errors"]) <= 0.1) if m["errors"] else float("nan")
        print(f"{stem}: {m['lines']} lines, {m['matched']} of {m['truth_lines']} truth lines matched, "
              f"{len(m['errors'])} words on a baseline, {share:.3f} within 0.1 x-height", flush=True)
    ours = sum(m["lines"] for m in pages)
    truth = sum(m["truth_lines"] for m in pages)
    matched = sum(m["matched"] for m in pages)
    precision, recall = matched / max(1, ours), matched / max(1, truth)
    h = 2 * precision * recall / max(1e-9, precision + recall)
    errors = np.asarray([e for m in pages for e in m["errors"]])
    summary = {"pages": len(pages), "split": args.split, "line_P": round(precision, 3), "line_R": round(recall, 3),
               "line_H": round(h, 3), "baseline_words": int(len(errors)),
               "within_0.1_xheight": round(float(np.mean(errors <= 0.1)), 3),
               "within_0.2_xheight": round(float(np.mean(errors <= 0.2)), 3),
               "median_error_xheight": round(float(np.median(errors)), 3), "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "pages": pages}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

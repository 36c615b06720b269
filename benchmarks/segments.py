"""Lines with and without the segment model, from the same words: line H and lines read right.

    python benchmarks/segments.py [--split test|eval] [--data ../shared/data/real] [--json out.json]

Per page of the receipts (SROIE, line truth) and the prints (VD-SBB, their lines), bigocr finds and
reads the words once (defaults); the words are then grouped into lines twice, by
``analyse_layout(segments=False)`` (whole lines, as before the model) and with the segment model
(the default), and both are matched against the truth's lines (IoU >= 0.5, one to one; end to end
also the same text, case-folded, the line's text being its words' in reading order).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    import bigocr
    from bigocr.dev.evaluate import Counts, bootstrap_hmean, match, truth_pages
    from bigocr.recognizer.charset import normalize_historical
    from bigocr.words.layout import analyse_layout

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", default="test", choices=("test", "eval"))
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    report = {"split": args.split, "sources": {}}
    for source in ("sroie", "vdsbb"):
        runs = {"whole": ([], []), "segments": ([], [])}
        pages = 0
        for stem, image, doc in truth_pages(args.data / source, args.split,
                                            keep=lambda d: d.get("lines") or d.get("granularity") == "line"):
            items = doc.get("lines") or doc["words"]
            truth = [np.asarray(t["box"], np.float64) for t in items]
            said = [normalize_historical(t.get("text") or "").casefold() for t in items]
            result = bigocr.detect(image, scheduler="synchronous", text=True)
            boxes, texts = [w.box for w in result.words], [w.text or "" for w in result.words]
            for key, segments in (("whole", False), ("segments", True)):
                lines = analyse_layout(boxes, segments=segments).lines
                quads = [line.box for line in lines]
                read = [" ".join(t for t in (texts[i] for i in line.words) if t).casefold() for line in lines]
                c = match(quads, truth)
                e = match(quads, truth, same=lambda j, i: read[j] == said[i])
                runs[key][0].append((c.matched, c.detections, c.truth))
                runs[key][1].append((e.matched, e.detections, e.truth))
            pages += 1
        out = {"pages": pages}
        if not pages:
            print(f"{source}: no pages with line truth in the {args.split} split")
            continue
        for key, (det, e2e) in runs.items():
            d, e = Counts(*np.sum(det, axis=0)), Counts(*np.sum(e2e, axis=0))
            out[key] = {"line_h": round(d.hmean, 4), "line_h_95": [round(v, 4) for v in bootstrap_hmean(det)],
                        "end_to_end": round(e.hmean, 4), "end_to_end_95": [round(v, 4) for v in bootstrap_hmean(e2e)]}
            print(f"{source} ({pages} pages, {args.split}) {key:9}: line H {d.hmean:.3f} "
                  f"[{out[key]['line_h_95'][0]:.3f}, {out[key]['line_h_95'][1]:.3f}], lines read right "
                  f"{e.hmean:.3f} [{out[key]['end_to_end_95'][0]:.3f}, {out[key]['end_to_end_95'][1]:.3f}]",
                  flush=True)
        report["sources"][source] = out
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

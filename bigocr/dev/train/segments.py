"""``bigocr train-segments``: fit the segment model of :mod:`bigocr.words.segments` on pages with line truth.

1. **Words, once.** bigocr's default detector runs on every training page with
   line truth (``--data``: the training pool's receipts and prints; test works
   and shops never, :mod:`bigocr.dev.split`) and on the eval pages
   (``--eval-data``); the words are kept in ``OUT/words/`` and reused.
2. **Gaps and their truth.** The words are chained into lines as
   :func:`bigocr.words.layout.analyse_layout` does; each gap between
   neighbouring words gets :func:`bigocr.words.segments.gap_features` and a
   label: 1 where the two words lie in different truth lines (a word belongs to
   the truth line holding most of its area, at least half), 0 in the same one,
   none otherwise (the gap is left out).
3. **Fit.** Boosted regression trees (scikit-learn's gradient boosting, the
   ``train`` extra) on the gaps of at least
   :data:`bigocr.words.segments.SHORTEST` heights, each source weighted to the
   same total (prints have more gaps).
4. **Threshold.** For thresholds 0.3 … 0.9, the line H-mean (the mean over
   receipts and prints) of the eval pages, and of each half of the training
   pages (by a hash of the work or the shop: a work's pages, a shop's
   receipts in the same half) with the model fitted on the other half; the
   threshold with the best sum is kept (three receipts in the eval split are
   too few to choose on alone).

The model, with the figures it was chosen on, is written to ``OUT/model.json``,
the file to copy to ``bigocr/words/segments.json`` (what bigocr ships).  Nothing is
measured on test pages here: ``bigocr eval --lines --split test`` does that.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from bigocr.errors import ParameterError

__all__ = ["collect", "fit", "main"]

DEFAULT_DATA = "../shared/data/train/sroie,../shared/data/train/vdsbb"
DEFAULT_EVAL = "../shared/data/real/sroie,../shared/data/real/vdsbb"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The boosted trees: how many, how deep, the learning rate (tried 2026-12-04 beside logistic regression on the
#: same score as the threshold: docs/TRAINING.md).
TREES, DEPTH, RATE = 100, 3, 0.1


def _unit(source: str, stem: str, truth: list) -> str:
    """What a page shares fonts and layout with: its work (VD-SBB), its shop's top line (receipts)."""
    from bigocr.dev.split import work_of

    if source == "vdsbb":
        return work_of(stem)
    if truth:
        top = min(truth, key=lambda t: min(p[1] for p in t["box"]))
        return " ".join(str(top.get("text") or stem).upper().split())
    return stem


def _fold(unit: str) -> int:
    """The half of the training pages a page's work or shop falls in (all its pages in the same half)."""
    return int(hashlib.sha256(unit.encode()).hexdigest()[:2], 16) % 2


def _truth_lines(doc: dict) -> list:
    return doc.get("lines") or (doc["words"] if doc.get("granularity") == "line" else [])


def _words(out: Path, folder: Path, stem: str, image: Path) -> np.ndarray:
    """The default detector's word quads on one page, found once and kept in ``OUT/words``."""
    import bigocr

    file = out / "words" / f"{folder.name}-{folder.parent.name}-{stem}.json"
    if file.is_file():
        return np.asarray(json.loads(file.read_text()), np.float64).reshape(-1, 4, 2)
    result = bigocr.detect(image, scheduler="synchronous")
    quads = [np.asarray(w.box, np.float64).tolist() for w in result.words]
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".part")
    tmp.write_text(json.dumps(quads))
    tmp.replace(file)
    return np.asarray(quads, np.float64).reshape(-1, 4, 2)


def _chained(quads: np.ndarray):
    """What analyse_layout has when it cuts segments: upright rects, the lines of word ids in x order, the rows."""
    from bigocr.words.layout import chained_lines

    _, rects, lines, rows = chained_lines(quads)
    return rects, [sorted(line, key=lambda i: rects[i, 0]) for line in lines], rows


def _owners(quads: np.ndarray, truth: list) -> np.ndarray:
    """Per word, the truth line holding at least half its area (the most), else -1."""
    from shapely import STRtree

    from bigocr.dev.evaluate import polygon

    polys = [polygon(t["box"]) for t in truth]
    tree = STRtree(polys)
    owner = np.full(len(quads), -1)
    for k, quad in enumerate(quads):
        word = polygon(quad)
        if word.area <= 0:
            continue
        best = 0.5 * word.area
        for j in tree.query(word):
            inter = word.intersection(polys[j]).area
            if inter >= best:
                best, owner[k] = inter, j
    return owner


def collect(out: Path, spec: str, purpose: str, log=print) -> list[dict]:
    """Per page with line truth: its source, stem, words, truth lines, and each labelled gap's features and label
    (1: a segment break)."""
    from bigocr.dev.evaluate import truth_pages
    from bigocr.dev.train.data import folders
    from bigocr.words.segments import FEATURES, gap_features, page_gap

    pages = []
    for folder, split in folders(spec, purpose=purpose):
        t0, n = time.perf_counter(), 0
        for stem, image, doc in truth_pages(folder, split, keep=_truth_lines):
            quads = _words(out, folder, stem, image)
            truth = _truth_lines(doc)
            page = {"source": folder.name, "stem": stem, "unit": _unit(folder.name, stem, truth), "quads": quads,
                    "truth": truth, "x": np.zeros((0, len(FEATURES))), "y": np.zeros(0)}
            pages.append(page)  # every page counts in line_h, with or without gaps to learn from
            n += 1
            if len(quads) < 2:
                continue
            owner = _owners(quads, truth)
            rects, lines, rows = _chained(quads)
            page_median = page_gap(rects, lines)
            x, y = [], []
            for line in lines:
                if len(line) < 2:
                    continue
                feats = gap_features(rects, line, rows, page_median)
                a, b = owner[line[:-1]], owner[line[1:]]
                known = (a >= 0) & (b >= 0)
                x.append(feats[known])
                y.append((a[known] != b[known]).astype(np.float64))
            if x:
                page["x"], page["y"] = np.concatenate(x), np.concatenate(y)
        log(f"{folder} ({split}): {n} pages in {time.perf_counter() - t0:.0f} s")
    if not pages:
        raise ParameterError(f"{spec}: no pages with line truth there")
    return pages


def _by_source(pages: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    sources = sorted({p["source"] for p in pages})
    return {s: (np.concatenate([p["x"] for p in pages if p["source"] == s]),
                np.concatenate([p["y"] for p in pages if p["source"] == s])) for s in sources}


def line_h(pages: list[dict], model: dict) -> dict[str, float]:
    """Line H-mean per source of ``pages`` with ``model`` (their kept words; nothing detected here)."""
    from bigocr.dev.evaluate import Counts, match
    from bigocr.words.layout import analyse_layout

    counts: dict[str, Counts] = {}
    for p in pages:
        lines = [line.box for line in analyse_layout(list(p["quads"]), segments=model).lines]
        counts.setdefault(p["source"], Counts())
        counts[p["source"]] += match(lines, [np.asarray(t["box"], np.float64) for t in p["truth"]],
                                     [bool(t.get("ignore")) for t in p["truth"]])
    return {s: c.hmean for s, c in counts.items()}


def fit(data: dict[str, tuple[np.ndarray, np.ndarray]], trees: int = TREES, depth: int = DEPTH,
        rate: float = RATE) -> dict:
    """Boosted regression trees (scikit-learn's gradient boosting, log loss) on the gaps of at least
    :data:`~bigocr.words.segments.SHORTEST` heights, each source weighing the same in all; returned as the
    plain arrays :func:`bigocr.words.segments.split_probability` walks."""
    try:
        from sklearn.ensemble import GradientBoostingClassifier
    except ImportError:
        raise ParameterError("bigocr train-segments needs scikit-learn: pip install 'bigocr[train]'") from None
    from bigocr.words.segments import FEATURES, SHORTEST

    data = {k: (x[x[:, 0] >= SHORTEST], y[x[:, 0] >= SHORTEST]) for k, (x, y) in data.items()}
    x = np.concatenate([f for f, _ in data.values()])
    y = np.concatenate([t for _, t in data.values()])
    w = np.concatenate([np.full(len(t), len(y) / (len(data) * max(len(t), 1))) for _, t in data.values()])
    clf = GradientBoostingClassifier(n_estimators=trees, max_depth=depth, learning_rate=rate, random_state=0)
    clf.fit(x, y, sample_weight=w)
    prior = float(np.average(y, weights=w))
    model = {"features": list(FEATURES), "base": round(float(np.log(prior / (1 - prior))), 8), "rate": rate,
             "trees": [], "threshold": None}
    for (est,) in clf.estimators_:
        t = est.tree_
        model["trees"].append({"feature": t.feature.tolist(), "threshold": [round(float(v), 8) for v in t.threshold],
                               "left": t.children_left.tolist(), "right": t.children_right.tolist(),
                               "value": [round(float(v), 8) for v in t.value[:, 0, 0]]})
    return model


def main(argv=None) -> int:
    """``bigocr train-segments``: see ``--help``."""
    import argparse

    p = argparse.ArgumentParser(prog="bigocr train-segments",
                                description="Fit the model that cuts lines into segments (bigocr.words.segments).")
    p.add_argument("--out", required=True, type=Path, help="folder for the kept words and model.json")
    p.add_argument("--data", default=DEFAULT_DATA, help="training pages with line truth, comma-separated")
    p.add_argument("--eval-data", default=DEFAULT_EVAL, help="pages whose line H chooses the threshold")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    train = collect(args.out, args.data, "train")
    evals = collect(args.out, args.eval_data, "eval")
    for src, (x, y) in _by_source(train).items():
        print(f"{src}: {len(y)} gaps, {int(y.sum())} segment breaks")
    model = fit(_by_source(train))
    # the threshold: line H (mean over sources) of the eval pages and of each half of the training pages
    # with the model fitted on the other half, summed
    halves = [[p for p in train if _fold(p["unit"]) == k] for k in (0, 1)]
    trials = [(evals, model)] + [(halves[k], fit(_by_source(halves[1 - k]))) for k in (0, 1)]
    rows = []
    for threshold in (None,) + THRESHOLDS:
        figures = [line_h(pages, {**m, "threshold": threshold} if threshold is not None else {**m, "trees": None})
                   for pages, m in trials]
        score = float(np.mean([np.mean(list(f.values())) for f in figures]))
        rows.append((score, threshold, figures))
        said = [", ".join(f"{k} {v:.4f}" for k, v in f.items()) for f in figures]
        print(f"threshold {threshold}: score {score:.4f}; eval {said[0]}; training halves {'; '.join(said[1:])}",
              flush=True)
    best = max((r for r in rows if r[1] is not None), key=lambda r: r[0])
    model["threshold"] = best[1]
    model["chosen"] = {"threshold": best[1], "score": round(best[0], 4), "without": round(rows[0][0], 4),
                       "eval_line_h": {k: round(v, 4) for k, v in best[2][0].items()},
                       "eval_line_h_without": {k: round(v, 4) for k, v in rows[0][2][0].items()}}
    (args.out / "model.json").write_text(json.dumps(model, indent=1) + "\n")
    print(f"threshold {best[1]}: written to {args.out / 'model.json'}; copy it to bigocr/words/segments.json to ship it")
    return 0

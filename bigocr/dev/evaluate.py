"""Measuring detection: precision, recall and H-mean on scans with ground truth.

The usual protocol for text detection: one-to-one matching of detections to
ground-truth boxes at IoU >= 0.5 (greedy, highest IoU first).  As in ICDAR,
ground-truth boxes marked ``ignore`` count neither as hits nor as misses, and a
detection lying mostly (> 50 % of its area) inside an ignored box is dropped
instead of counted as a false positive.  Figures are summed over the images
of a source (micro averages).

Line-level truth (SROIE) is met by grouping word detections into lines first
(:func:`group_lines`), the same way for every detector compared.

Text is compared after :func:`bigocr.recognizer.charset.normalize_historical`
on the truth: the VD-SBB transcriptions' private-use MUFI characters (ligatures,
abbreviations, old umlauts) spelled out as a reader expects them.

``bigocr eval`` runs bigocr (default weights or ``--weights``, at ``--scale``),
the published CRAFT the way its demo runs it (``--demo``: the whole image
resized so that its long side is 1.5x, at most 1280 px, one pass), or Tesseract
(``--tesseract``) over ``shared/data/real`` and prints the figures per source,
with the speed in scan megapixels per second.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shapely.geometry import Polygon

from bigocr.dev.split import is_development, split_of
from bigocr.errors import BigOCRError, ParameterError
from bigocr.recognizer.charset import normalize_historical

__all__ = ["Counts", "bootstrap_hmean", "polygon", "match", "group_lines", "split_of", "load_truth", "truth_pages",
           "truth_crops", "tesseract_words", "evaluate_source", "main"]


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass
class Counts:
    """Matched detections, counted detections, counted truth boxes."""

    matched: int = 0
    detections: int = 0
    truth: int = 0

    def __iadd__(self, other: "Counts") -> "Counts":
        self.matched += other.matched
        self.detections += other.detections
        self.truth += other.truth
        return self

    @property
    def precision(self) -> float:
        return _ratio(self.matched, self.detections)

    @property
    def recall(self) -> float:
        return _ratio(self.matched, self.truth)

    @property
    def hmean(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "hmean": round(self.hmean, 4),
                "matched": self.matched, "detections": self.detections, "truth": self.truth}


def bootstrap_hmean(pages: list[tuple[int, int, int]], *, rounds: int = 2000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float]:
    """A ``level`` interval of the H-mean by the bootstrap over pages.

    ``pages`` holds each page's ``(matched, detections, truth)``; each round
    draws as many pages with replacement and sums their counts (micro H, as
    the figure itself).  A fixed seed: the same pages give the same interval.
    """
    if not pages:
        return 0.0, 0.0
    counts = np.asarray(pages, np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(counts), size=(rounds, len(counts)))
    m, d, t = (counts[:, k][picks].sum(axis=1) for k in range(3))
    h = np.where(d + t > 0, 2 * m / np.maximum(d + t, 1e-12), 0.0)  # 2PR/(P+R) = 2m/(d+t)
    lo, hi = np.quantile(h, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def polygon(quad) -> Polygon:
    """A valid shapely polygon of a quad (a self-crossing one mended by ``buffer(0)``)."""
    poly = Polygon(np.asarray(quad, dtype=np.float64))
    return poly if poly.is_valid else poly.buffer(0)


def match(detections: list, truth: list, ignore: list[bool] | None = None, threshold: float = 0.5,
          same=None) -> Counts:
    """Count one-to-one matches at IoU >= ``threshold``.

    Parameters
    ----------
    detections, truth : list of array-like, shape (k, 2)
        Polygons ``(x, y)`` in image pixels.
    ignore : list of bool, optional
        Truth boxes to ignore (ICDAR's "don't care").
    same : callable, optional
        ``same(j, i)``: whether detection ``j`` may match truth ``i`` at all
        (end-to-end: its text equals the truth's).
    """
    ignore = ignore or [False] * len(truth)
    det_polys = [polygon(d) for d in detections]
    gt_polys = [polygon(g) for g in truth]
    cared = [i for i, ig in enumerate(ignore) if not ig]
    dropped = set()
    for j, dp in enumerate(det_polys):
        area = dp.area
        if area > 0 and any(ignore[i] and dp.intersection(gt_polys[i]).area > 0.5 * area for i in range(len(truth))):
            dropped.add(j)
    kept = [j for j in range(len(detections)) if j not in dropped]
    pairs = []
    for j in kept:
        dp = det_polys[j]
        for i in cared:
            gp = gt_polys[i]
            if not dp.intersects(gp):
                continue
            inter = dp.intersection(gp).area
            union = dp.area + gp.area - inter
            if union > 0 and inter / union >= threshold and (same is None or same(j, i)):
                pairs.append((inter / union, j, i))
    used_d, used_g = set(), set()
    for _, j, i in sorted(pairs, reverse=True):
        if j not in used_d and i not in used_g:
            used_d.add(j)
            used_g.add(i)
    return Counts(len(used_d), len(kept), len(cared))


def group_lines(boxes: list) -> list[np.ndarray]:
    """Group word boxes into text lines with :func:`bigocr.words.layout.analyse_layout`.

    Returns the line quads ``(4, 2)``, clockwise from the top-left, in reading order.
    """
    from bigocr.words.layout import analyse_layout

    return [line.box for line in analyse_layout(boxes).lines]


def group_lines_text(boxes: list, texts: list[str]) -> tuple[list[np.ndarray], list[str]]:
    """:func:`group_lines`, with each line's text: its words' text in reading order, one space between."""
    from bigocr.words.layout import analyse_layout

    lines = analyse_layout(boxes).lines
    return [line.box for line in lines], [" ".join(t for t in (texts[i] for i in line.words) if t) for line in lines]


def load_truth(gt_path: Path) -> tuple[Path, dict]:
    doc = json.loads(Path(gt_path).read_text())
    return Path(gt_path).with_name(doc["image"]), doc


def tesseract_words(image_path: Path, psm: int = 3, lang: str = "eng", with_text: bool = False) -> list:
    """Word boxes from Tesseract's TSV output (level 5 rows with text); ``(box, text)`` pairs with ``with_text``."""
    exe = shutil.which("tesseract")
    if exe is None:
        raise BigOCRError("tesseract is not installed (Debian: apt-get install tesseract-ocr)")
    run = subprocess.run([exe, str(image_path), "stdout", "--psm", str(psm), "-l", lang, "tsv"], capture_output=True,
                         text=True)
    if run.returncode:
        raise BigOCRError(f"{image_path}: tesseract failed: {run.stderr.strip()[:200]}")
    boxes = []
    for row in run.stdout.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) == 12 and cols[0] == "5" and cols[11].strip():
            x, y, w, h = (int(v) for v in cols[6:10])
            box = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
            boxes.append((box, cols[11].strip()) if with_text else box)
    return boxes


#: CRAFT's demo (test.py): canvas_size 1280, mag_ratio 1.5, linear interpolation.
DEMO_CANVAS, DEMO_MAG = 1280, 1.5


def demo_words(image: np.ndarray, detector, *, text_threshold: float = 0.7, link_threshold: float = 0.4,
               low_text: float = 0.4) -> list[np.ndarray]:
    """Word boxes the way CRAFT-pytorch's demo finds them: the whole image resized, one pass.

    The long side is magnified 1.5x, but to at most 1280 px (``resize_aspect_ratio``
    with the demo's defaults: linear interpolation, then black padding to a
    multiple of 32 px); the boxes are scaled back by the same ratio.

    Parameters
    ----------
    image : ndarray, shape (h, w, 3), uint8 RGB
    detector : callable
        A tile detector (:class:`bigocr.detector.infer.CraftDetector`).

    Returns
    -------
    list of ndarray, shape (4, 2)
        Boxes ``(x, y)`` in image pixels.
    """
    import cv2

    from bigocr.detector.infer import check_maps
    from bigocr.merge.reference import reference_words

    h, w = image.shape[:2]
    ratio = min(DEMO_MAG * max(h, w), DEMO_CANVAS) / max(h, w)
    th, tw = int(h * ratio), int(w * ratio)
    canvas = np.zeros((-(-th // 32) * 32, -(-tw // 32) * 32, 3), np.uint8)
    canvas[:th, :tw] = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
    region, affinity = check_maps(canvas, detector(canvas))
    words = reference_words(region, affinity, text_threshold=text_threshold, link_threshold=link_threshold,
                            low_text=low_text)
    return [np.asarray(word.box, np.float64) / ratio for word in words]


def truth_pages(folder: Path, split: str = "eval", limit: int | None = None, keep=None):
    """``(stem, image_path, doc)`` of the pages of ``folder`` in ``split`` (``"all"``: every page).

    The split is :func:`bigocr.dev.split.split_of`'s: ``train``, ``eval`` or
    ``test`` in the development scans (``…/real/<source>``); ``train`` in the
    training pool or any other folder is every page but those of a test work or
    shop.  Pages for which ``keep(doc)`` is false are skipped and not counted
    towards ``limit``.
    """
    folder = Path(folder)
    development = is_development(folder)
    found = 0
    for gt_path in sorted(folder.glob("*.gt.json")):
        if limit is not None and found >= limit:
            return
        stem = gt_path.name[: -len(".gt.json")]
        image, doc = load_truth(gt_path)
        if split != "all" and split_of(stem, doc.get("source", folder.name), doc, development=development) != split:
            continue
        if keep is not None and not keep(doc):
            continue
        found += 1
        yield stem, image, doc


def truth_crops(folder: Path, split: str = "eval", limit: int | None = None, lines: bool = False,
                margin: float = 0.0):
    """Per page, ``(doc, [(gray crop, text), ...])``: the truth's words (or lines) with text, cut out at
    their own boxes (:func:`bigocr.recognizer.read.word_crop`; no margin unless asked), text normalised by
    :func:`~bigocr.recognizer.charset.normalize_historical`."""
    from bigocr.recognizer.read import word_crop
    from bigocr.tiler.scan import open_scan

    def items(doc):
        return [(w["box"], normalize_historical(w["text"])) for w in doc.get("lines" if lines else "words") or []
                if w.get("text") and not w.get("ignore") and normalize_historical(w["text"])]

    for _, image_path, doc in truth_pages(folder, split, limit, keep=items):
        scan = open_scan(image_path)
        pixels = scan.read(0, scan.height, 0, scan.width)
        pairs = [(word_crop(pixels, np.asarray(box, np.float64), margin=margin), text) for box, text in items(doc)]
        yield doc, [(c, t) for c, t in pairs if c is not None]


def evaluate_source(folder: Path, detect_words, *, split: str = "eval", limit: int | None = None,
                    log=None, lines: bool = False, per_image: dict | None = None,
                    text: dict | None = None, detect_lines=None) -> tuple[Counts, float, int, int]:
    """Evaluate ``detect_words(image_path, truth) -> list of quads`` on one source folder.

    With ``lines=True`` the words are grouped into lines and matched against the
    truth's ``lines`` (images without them are skipped). Returns the summed
    counts, the seconds spent detecting, the number of images and their pixels;
    ``per_image``, if given, gets each image's counts and seconds by stem.

    End to end: with ``text`` (a dict), ``detect_words`` returns ``(quad, text)``
    pairs, and ``text["exact"]`` / ``text["folded"]`` sum the matches whose text
    also equals the truth's (as written / case-folded).

    ``detect_lines(image_path, truth)``, if given, is called instead where the
    truth is line-level: a detector that finds lines of its own (PP-OCR) is
    measured on them, not on its words grouped by bigocr.
    """
    counts, seconds, images, pixels = Counts(), 0.0, 0, 0
    for stem, image, doc in truth_pages(folder, split, limit, keep=lambda doc: not lines or doc.get("lines")):
        line_level = lines or doc.get("granularity") == "line"
        own_lines = line_level and detect_lines is not None
        t0 = time.perf_counter()
        words = (detect_lines if own_lines else detect_words)(image, doc)
        spent = time.perf_counter() - t0
        seconds += spent
        items = doc["lines" if lines else "words"]
        truth = [np.asarray(w["box"], np.float64) for w in items]
        ignore = [bool(w.get("ignore")) for w in items]
        said = None
        if text is not None:
            words, said = [b for b, _ in words], [t for _, t in words]
        if line_level and not own_lines:
            if said is None:
                words = group_lines(words)
            else:
                words, said = group_lines_text(words, said)
        c = match(words, truth, ignore)
        page_text = {}
        if said is not None:
            truth_text = [normalize_historical(w.get("text") or "") for w in items]
            for key, norm in (("exact", str), ("folded", str.casefold)):
                text.setdefault(key, Counts())
                page_text[key] = match(words, truth, ignore, same=lambda j, i: norm(said[j]) == norm(truth_text[i]))
                text[key] += page_text[key]
        if per_image is not None:
            per_image[stem] = {"matched": c.matched, "detections": c.detections, "truth": c.truth,
                               "seconds": round(spent, 2)}
            if page_text:
                per_image[stem]["folded"] = page_text["folded"].matched
        counts += c
        images += 1
        pixels += int(doc["width"]) * int(doc["height"])
        if log:
            log(f"{doc.get('source', folder.name)}/{stem}: P {c.precision:.3f} R {c.recall:.3f} H {c.hmean:.3f}")
    return counts, seconds, images, pixels


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (insertions, deletions, substitutions cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


@dataclass
class ReadCounts:
    """Character errors and exact words of readings against the truth."""

    errors: int = 0
    chars: int = 0
    words: int = 0
    exact: int = 0
    exact_folded: int = 0

    def add(self, reading: str, truth: str) -> None:
        self.errors += edit_distance(reading, truth)
        self.chars += len(truth)
        self.words += 1
        self.exact += reading == truth
        self.exact_folded += reading.casefold() == truth.casefold()

    @property
    def cer(self) -> float:
        return _ratio(self.errors, self.chars)

    @property
    def accuracy(self) -> float:
        return _ratio(self.exact, self.words)

    def to_dict(self) -> dict:
        return {"cer": round(self.cer, 4), "word_accuracy": round(self.accuracy, 4),
                "word_accuracy_folded": round(_ratio(self.exact_folded, self.words), 4),
                "errors": self.errors, "chars": self.chars, "words": self.words}


#: Tesseract's language per source for ``--read``: the German prints get Fraktur.
TESSERACT_LANG = {"vdsbb": "frk"}


def tesseract_read(crops: list[np.ndarray], psm: int = 8, lang: str = "eng") -> list[str]:
    """Tesseract's reading of each gray crop, all in one process (a file list), ``--psm 8`` words / 7 lines."""
    import tempfile

    import cv2

    exe = shutil.which("tesseract")
    if exe is None:
        raise BigOCRError("tesseract is not installed (Debian: apt-get install tesseract-ocr tesseract-ocr-frk)")
    if not crops:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for k, crop in enumerate(crops):
            names.append(f"{tmp}/{k:06d}.png")
            cv2.imwrite(names[-1], crop)
        Path(tmp, "list.txt").write_text("\n".join(names) + "\n")
        run = subprocess.run([exe, f"{tmp}/list.txt", "stdout", "--psm", str(psm), "-l", lang],
                             capture_output=True, text=True)
    if run.returncode:
        raise BigOCRError(f"tesseract failed: {run.stderr.strip()[:200]}")
    pages = run.stdout.split("\f")
    return [" ".join(page.split()) for page in pages[:len(crops)]] + [""] * max(0, len(crops) - len(pages))


def read_source(folder: Path, read_crops, *, charset: str | None, split: str = "eval", limit: int | None = None,
                lines: bool = False) -> tuple[ReadCounts, ReadCounts, float, int]:
    """Recognition alone on the truth's crops of one source.

    ``read_crops(crops, source) -> list of str`` reads gray crops cut from the
    image at the truth's boxes (:func:`bigocr.recognizer.read.word_crop`, no
    margin: the truth's boxes are already the words').  Returns the counts on
    words whose every character is in ``charset`` (all words when None), the
    counts on the others, the seconds spent reading and the number of crops.
    """
    inside, outside, seconds, crops_read = ReadCounts(), ReadCounts(), 0.0, 0
    for doc, pairs in truth_crops(folder, split, limit, lines):
        t0 = time.perf_counter()
        readings = read_crops([c for c, _ in pairs], doc.get("source", Path(folder).name))
        seconds += time.perf_counter() - t0
        crops_read += len(pairs)
        for reading, (_, truth) in zip(readings, pairs):
            (inside if charset is None or set(truth) <= set(charset) else outside).add(reading, truth)
    return inside, outside, seconds, crops_read


def _boxes_key(args, model: dict, path: Path) -> tuple[Path, dict]:
    identity = {"image": Path(path).name, "weights": model.get("sha256"), "scale": str(args.scale),
                "coarse": args.coarse,
                "tiling": args.tiling, "max_side": args.max_side, "precision": model.get("precision")}
    return Path(args.boxes_cache) / Path(path).parent.name / f"{Path(path).stem}.json", identity


def _cached_boxes(args, model: dict, path: Path) -> list | None:
    """The boxes an earlier ``--boxes-cache`` run found on ``path`` with the same settings, or None."""
    if not (args.text and getattr(args, "boxes_cache", None)):
        return None
    file, identity = _boxes_key(args, model, path)
    if not file.is_file():
        return None
    stored = json.loads(file.read_text())
    if stored.get("identity") != identity:
        return None
    return [np.asarray(q, np.float64) for q in stored["boxes"]]


def _keep_boxes(args, model: dict, path: Path, words) -> None:
    if not (args.text and getattr(args, "boxes_cache", None)):
        return
    file, identity = _boxes_key(args, model, path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".part")
    tmp.write_text(json.dumps({"identity": identity, "boxes": [np.asarray(w.box).tolist() for w in words]}))
    tmp.replace(file)


def _main_read(args, data: Path) -> int:
    """``bigocr eval --read``: CER and word accuracy of the recognizer (or Tesseract) on the truth's crops."""
    from bigocr.recognizer import resolve_recognizer

    recognizer, info = resolve_recognizer(args.recognizer, args.device, args.precision)
    charset = info.get("charset")
    if args.tesseract:
        name = "tesseract (" + ", ".join(f"{s}: {TESSERACT_LANG.get(s, 'eng')}" for s in args.sources.split(",")) + ")"

        def read_crops(crops, source):
            return tesseract_read(crops, psm=7 if args.lines else 8, lang=TESSERACT_LANG.get(source, "eng"))
    elif args.ppocr:
        from bigocr.dev.ppocr import PPOCR

        name, peer = "PP-OCRv6 small rec (RapidOCR)", PPOCR()

        def read_crops(crops, source):
            return peer.read(crops)
    else:
        name = f"{info.get('name')} ({info.get('precision')})"

        def read_crops(crops, source):
            return [text for text, _ in recognizer(crops)]

    level = "lines" if args.lines else "words"
    report = {"reader": name, "split": args.split, "level": level, "charset_of": info.get("name"), "sources": {}}
    print(f"{'source':8} {'crops':>6} {'CER':>7} {'words ok':>8} {'folded':>7} {'other':>6} {'CER':>7} "
          f"{'crops/s':>8}   "
          f"({name}; 'other': truth with characters outside {info.get('name')}'s charset)")
    for source in args.sources.split(","):
        inside, outside, seconds, crops = read_source(data / source, read_crops, charset=charset, split=args.split,
                                                      limit=args.limit, lines=args.lines)
        report["sources"][source] = {"in_charset": inside.to_dict(), "other": outside.to_dict(),
                                     "seconds": round(seconds, 1),
                                     "crops_per_s": round(crops / seconds, 2) if seconds else 0}
        print(f"{source:8} {inside.words:>6} {inside.cer:>7.4f} {inside.accuracy:>8.3f} "
              f"{inside.exact_folded / max(1, inside.words):>7.3f} {outside.words:>6} {outside.cer:>7.4f} "
              f"{crops / seconds if seconds else 0:>8.1f}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def main(argv=None) -> int:
    """``bigocr eval``: see ``bigocr eval --help``."""
    import argparse

    from bigocr.options import coarse_arg, scale_arg

    p = argparse.ArgumentParser(prog="bigocr eval", description="Precision, recall and H-mean on real scans.")
    p.add_argument("--data", default="../shared/data/real", help="folder with one subfolder per source")
    p.add_argument("--sources", default="funsd,sroie,vdsbb")
    p.add_argument("--split", default="eval", choices=("eval", "test", "train", "all"),
                   help="eval (default: what choices are made on), test (reported figures only: nothing is chosen "
                        "on them), train, all (bigocr.dev.split: VD-SBB by work, SROIE by shop)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--weights", help="evaluate bigocr with these weights (default: bigocr's default, craft-fast)")
    who.add_argument("--tesseract", action="store_true", help="evaluate Tesseract's word boxes (the baseline)")
    who.add_argument("--ppocr", action="store_true",
                     help="evaluate PP-OCR (PP-OCRv6 small det + rec from the RapidOCR wheel, its defaults; an "
                          "evaluation-only peer): its own lines where the truth is line-level, their words otherwise")
    who.add_argument("--truth-words", action="store_true",
                     help="use the true word boxes (with --lines: measures the line grouping alone)")
    p.add_argument("--lines", action="store_true",
                   help="group the words into lines and match them against the truth's lines (with --read: read "
                        "the truth's line crops)")
    p.add_argument("--read", action="store_true",
                   help="recognition alone: read the truth's word crops (CER, word accuracy), with --tesseract "
                        "Tesseract on the same crops (--psm 8, or 7 for --lines; frk for vdsbb)")
    p.add_argument("--recognizer", metavar="NAME|PATH",
                   help="auto (default, as bigocr run), documents, historical, english-g2 or a weights file")
    p.add_argument("--text", action="store_true",
                   help="end to end: a word counts when it matches at IoU >= 0.5 and its text equals the truth's "
                        "(bigocr reads the words; Tesseract's own boxes and text, frk for vdsbb)")
    p.add_argument("--demo", action="store_true",
                   help="run the weights as CRAFT's demo does: the whole image resized to 1.5x, at most 1280 px, "
                        "in one pass (the baseline that shrinks)")
    p.add_argument("--scale", type=scale_arg, default="auto", metavar="FACTOR|auto",
                   help="bigocr's --scale (default: auto, as bigocr run)")
    p.add_argument("--coarse", type=coarse_arg, metavar="FACTOR",
                   help="bigocr's --coarse, the headline pass (default: as bigocr run; 0: off)")
    p.add_argument("--tiling", choices=("thirds", "grid"), default=None,
                   help="as bigocr run (default: grid for CRAFT weights)")
    p.add_argument("--max-side", type=int, default=2560)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="auto")
    p.add_argument("--limit", type=int, help="at most this many images per source")
    p.add_argument("--boxes-cache", type=Path, metavar="DIR",
                   help="with --text: keep each image's detected boxes here and reuse them on a later run with the "
                        "same weights, scale and tiling (only reading is redone and timed: compares recognizers)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("-v", "--verbose", action="store_true", help="figures per image")
    args = p.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        raise ParameterError(f"--data {data}: no such folder (the real scans live in shared/data/real)")
    if args.read:
        return _main_read(args, data)
    own_lines = None  # a system's own lines, for line-level truth
    last: dict = {}  # bigocr's last result (its lines)
    if args.ppocr:
        from bigocr.dev.ppocr import PPOCR

        ppocr = PPOCR()

        def detect_words(path, doc):
            return ppocr.words(path) if args.text else [b for b, _ in ppocr.words(path)]

        own_lines = (lambda path, doc: ppocr.lines(path)) if args.text else (  # noqa: E731
            lambda path, doc: [b for b, _ in ppocr.lines(path)])
        name = "PP-OCRv6 small det + rec (RapidOCR, its defaults)"
    elif args.tesseract:
        def detect_words(path, doc):
            lang = TESSERACT_LANG.get(doc.get("source"), "eng") if args.text else "eng"
            return tesseract_words(path, lang=lang, with_text=args.text)
        name = "tesseract" + (" (eng; frk for vdsbb)" if args.text else "")
    elif args.truth_words:
        def detect_words(path, doc):
            return [np.asarray(w["box"], np.float64) for w in doc["words"]]
        name = "truth words"
    else:
        import bigocr

        from bigocr.config import Params
        from bigocr.engine.setup import prepare
        from bigocr.tiler.scan import open_scan

        scale = args.scale
        setup = prepare(Params(args.max_side, tiling=args.tiling), detector=args.weights, device=args.device,
                        precision=args.precision, scheduler="synchronous", text=args.text,
                        recognizer=args.recognizer)
        detector, reader = setup.detector, setup.reader
        model = {k: v for k, v in setup.model.items() if k != "recognizer"}
        margin = None
        if not args.demo:  # the tiling as bigocr run chooses it, the margin measured once
            args.tiling, margin = setup.params.tiling, setup.params.margin
        name = f"{model['name']} ({model['precision']}, " + (
            "demo: whole image to 1.5x, at most 1280 px)" if args.demo else f"scale {scale}, {args.tiling})")

        if args.demo:
            def detect_words(path, doc):
                scan = open_scan(path)
                return demo_words(scan.read(0, scan.height, 0, scan.width), detector)
        else:
            def detect_words(path, doc):
                cached = _cached_boxes(args, model, path)
                if cached is not None:  # the same detection as before: read only
                    t0 = time.perf_counter()
                    result = bigocr.recognize(path, cached, recognizer=reader, scheduler="synchronous")
                    reading["seconds"] += time.perf_counter() - t0
                else:
                    result = bigocr.detect(path, detector=detector, max_side=args.max_side,
                                           scheduler="synchronous", scale=scale, coarse=args.coarse,
                                           tiling=args.tiling, margin=margin, text=args.text, recognizer=reader)
                    reading["seconds"] += result.timings.get("recognize", 0.0) + result.timings.get("read lines", 0.0)
                    _keep_boxes(args, model, path, result.words)
                reading["words"] += len(result.words) if args.text else 0
                last["result"] = result
                return [(w.box, w.text) if args.text else w.box for w in result.words]

            def own_lines(path, doc):  # bigocr's own lines, with their text (line.text: the marks between words)
                detect_words(path, doc)
                result = last.pop("result")
                lines = result.layout.lines
                return [(line.box, line.text) if args.text else line.box for line in lines]  # read: text set

    report = {"detector": name, "split": args.split, "level": "lines" if args.lines else "words", "sources": {}}
    reading = {"seconds": 0.0, "words": 0}  # time bigocr spent reading (with --text), kept out of the MP/s
    print(f"{'source':8} {'images':>6} {'precision':>9} {'recall':>7} {'H-mean':>7} {'s/image':>8} {'MP/s':>6}   "
          f"95 % (pages)   ({name}{', lines' if args.lines else ''}; {args.split} split)")
    for source in args.sources.split(","):
        per_image: dict = {}
        text: dict | None = {} if args.text else None
        reading.update(seconds=0.0, words=0)
        counts, seconds, images, pixels = evaluate_source(data / source, detect_words, split=args.split,
                                                          limit=args.limit, log=print if args.verbose else None,
                                                          lines=args.lines, per_image=per_image, text=text,
                                                          detect_lines=own_lines)
        seconds -= reading["seconds"]  # detection alone
        mps = pixels / 1e6 / seconds if seconds else 0.0
        pages = [(v["matched"], v["detections"], v["truth"]) for v in per_image.values()]
        interval = bootstrap_hmean(pages)
        report["sources"][source] = {**counts.to_dict(), "hmean_95": [round(v, 4) for v in interval],
                                     "images": images, "seconds": round(seconds, 1),
                                     "megapixels": round(pixels / 1e6, 2), "mp_per_s": round(mps, 3),
                                     "per_image": per_image}
        line = (f"{source:8} {images:>6} {counts.precision:>9.3f} {counts.recall:>7.3f} {counts.hmean:>7.3f} "
                f"{seconds / max(1, images):>8.2f} {mps:>6.3f}   [{interval[0]:.3f}, {interval[1]:.3f}]")
        if text:
            exact, folded = text.get("exact", Counts()), text.get("folded", Counts())
            folded_95 = bootstrap_hmean([(v.get("folded", 0), v["detections"], v["truth"]) for v in per_image.values()])
            report["sources"][source]["end_to_end"] = {"exact": exact.to_dict(), "folded": folded.to_dict(),
                                                       "folded_hmean_95": [round(v, 4) for v in folded_95]}
            if reading["words"]:
                per_s = reading["words"] / max(reading["seconds"], 1e-9)
                report["sources"][source]["reading"] = {"seconds": round(reading["seconds"], 1),
                                                        "words": reading["words"], "words_per_s": round(per_s, 1)}
            line += (f"   text: P {exact.precision:.3f} R {exact.recall:.3f} H {exact.hmean:.3f} "
                     f"(case-folded H {folded.hmean:.3f} [{folded_95[0]:.3f}, {folded_95[1]:.3f}])")
        print(line, flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

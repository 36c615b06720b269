"""Measuring detection: precision, recall and H-mean on scans with ground truth.

The usual protocol for text detection: one-to-one matching of detections to
ground-truth boxes at IoU >= 0.5 (greedy, highest IoU first).  As in ICDAR,
ground-truth boxes marked ``ignore`` count neither as hits nor as misses, and a
detection lying mostly (> 50 % of its area) inside an ignored box is dropped
instead of counted as a false positive.  Figures are summed over the images
of a source (micro averages).

Line-level truth (SROIE) is met by grouping word detections into lines first
(:func:`group_lines`), the same way for every detector compared.

``bigocr eval`` runs bigocr (default weights or ``--weights``, at ``--scale``),
the published CRAFT the way its demo runs it (``--demo``: the whole image
resized so that its long side is 1.5x, at most 1280 px, one pass), or Tesseract
(``--tesseract``) over ``shared/data/real`` and prints the figures per source,
with the speed in scan megapixels per second.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shapely.geometry import Polygon

from bigocr.errors import BigOCRError, ParameterError

__all__ = ["Counts", "match", "group_lines", "split_of", "load_truth", "tesseract_words", "evaluate_source", "main"]


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
        return self.matched / self.detections if self.detections else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 0.0

    @property
    def hmean(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "hmean": round(self.hmean, 4),
                "matched": self.matched, "detections": self.detections, "truth": self.truth}


def _polygon(quad) -> Polygon:
    poly = Polygon(np.asarray(quad, dtype=np.float64))
    return poly if poly.is_valid else poly.buffer(0)


def match(detections: list, truth: list, ignore: list[bool] | None = None, threshold: float = 0.5) -> Counts:
    """Count one-to-one matches at IoU >= ``threshold``.

    Parameters
    ----------
    detections, truth : list of array-like, shape (k, 2)
        Polygons ``(x, y)`` in image pixels.
    ignore : list of bool, optional
        Truth boxes to ignore (ICDAR's "don't care").
    """
    ignore = ignore or [False] * len(truth)
    det_polys = [_polygon(d) for d in detections]
    gt_polys = [_polygon(g) for g in truth]
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
            if union > 0 and inter / union >= threshold:
                pairs.append((inter / union, j, i))
    used_d, used_g = set(), set()
    for _, j, i in sorted(pairs, reverse=True):
        if j not in used_d and i not in used_g:
            used_d.add(j)
            used_g.add(i)
    return Counts(len(used_d), len(kept), len(cared))


def group_lines(boxes: list) -> list[np.ndarray]:
    """Group word boxes into text lines with :func:`bigocr.layout.analyse_layout`.

    Returns the line quads ``(4, 2)``, clockwise from the top-left, in reading order.
    """
    from bigocr.layout import analyse_layout

    return [line.box for line in analyse_layout(boxes).lines]


def split_of(stem: str, train_fraction: float = 1 / 3) -> str:
    """``"train"`` or ``"eval"``: a fixed split of the real scans by a hash of the file stem.

    Word-level scans whose split is ``"train"`` may feed weak supervision;
    only ``"eval"`` scans are used for the figures.
    """
    h = int(hashlib.sha256(stem.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if h < train_fraction else "eval"


def load_truth(gt_path: Path) -> tuple[Path, dict]:
    doc = json.loads(Path(gt_path).read_text())
    return Path(gt_path).with_name(doc["image"]), doc


def tesseract_words(image_path: Path, psm: int = 3) -> list[np.ndarray]:
    """Word boxes from Tesseract's TSV output (level 5 rows with text)."""
    exe = shutil.which("tesseract")
    if exe is None:
        raise BigOCRError("tesseract is not installed (Debian: apt-get install tesseract-ocr)")
    run = subprocess.run([exe, str(image_path), "stdout", "--psm", str(psm), "tsv"], capture_output=True, text=True)
    if run.returncode:
        raise BigOCRError(f"{image_path}: tesseract failed: {run.stderr.strip()[:200]}")
    boxes = []
    for row in run.stdout.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) == 12 and cols[0] == "5" and cols[11].strip():
            x, y, w, h = (int(v) for v in cols[6:10])
            boxes.append(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64))
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


def evaluate_source(folder: Path, detect_words, *, split: str = "eval", limit: int | None = None,
                    log=None, lines: bool = False) -> tuple[Counts, float, int]:
    """Evaluate ``detect_words(image_path, truth) -> list of quads`` on one source folder.

    With ``lines=True`` the words are grouped into lines and matched against the
    truth's ``lines`` (images without them are skipped). Returns the summed
    counts, the seconds spent detecting, the number of images and their pixels.
    """
    counts, seconds, images, pixels = Counts(), 0.0, 0, 0
    for gt_path in sorted(Path(folder).glob("*.gt.json")):
        stem = gt_path.name[: -len(".gt.json")]
        if split != "all" and split_of(stem) != split:
            continue
        if limit is not None and images >= limit:
            break
        image, doc = load_truth(gt_path)
        if lines and not doc.get("lines"):
            continue
        t0 = time.perf_counter()
        words = detect_words(image, doc)
        seconds += time.perf_counter() - t0
        truth = [np.asarray(w["box"], np.float64) for w in doc["lines" if lines else "words"]]
        ignore = [bool(w.get("ignore")) for w in doc["lines" if lines else "words"]]
        if lines or doc.get("granularity") == "line":
            words = group_lines(words)
        c = match(words, truth, ignore)
        counts += c
        images += 1
        pixels += int(doc["width"]) * int(doc["height"])
        if log:
            log(f"{doc.get('source', folder.name)}/{stem}: P {c.precision:.3f} R {c.recall:.3f} H {c.hmean:.3f}")
    return counts, seconds, images, pixels


def _scale_arg(text: str):
    import argparse

    from bigocr.tiler.scale import parse_scale

    try:
        return parse_scale(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv=None) -> int:
    """``bigocr eval``: see ``bigocr eval --help``."""
    import argparse

    p = argparse.ArgumentParser(prog="bigocr eval", description="Precision, recall and H-mean on real scans.")
    p.add_argument("--data", default="../shared/data/real", help="folder with one subfolder per source")
    p.add_argument("--sources", default="funsd,sroie,vdsbb")
    p.add_argument("--split", default="eval", choices=("eval", "train", "all"))
    who = p.add_mutually_exclusive_group()
    who.add_argument("--weights", help="evaluate bigocr with these weights (default: bigocr's default, craft-mlt-25k)")
    who.add_argument("--tesseract", action="store_true", help="evaluate Tesseract's word boxes (the baseline)")
    who.add_argument("--truth-words", action="store_true",
                     help="use the true word boxes (with --lines: measures the line grouping alone)")
    p.add_argument("--lines", action="store_true",
                   help="group the words into lines and match them against the truth's lines")
    p.add_argument("--demo", action="store_true",
                   help="run the weights as CRAFT's demo does: the whole image resized to 1.5x, at most 1280 px, "
                        "in one pass (the baseline that shrinks)")
    p.add_argument("--scale", type=_scale_arg, default=1.0, metavar="FACTOR|auto", help="bigocr's --scale (default: 1)")
    p.add_argument("--tiling", choices=("thirds", "grid"), default="thirds")
    p.add_argument("--max-side", type=int, default=2560)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--limit", type=int, help="at most this many images per source")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("-v", "--verbose", action="store_true", help="figures per image")
    args = p.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        raise ParameterError(f"--data {data}: no such folder (the real scans live in shared/data/real)")
    if args.tesseract:
        def detect_words(path, doc):
            return tesseract_words(path)
        name = "tesseract"
    elif args.truth_words:
        def detect_words(path, doc):
            return [np.asarray(w["box"], np.float64) for w in doc["words"]]
        name = "truth words"
    else:
        import bigocr

        from bigocr.pipeline import resolve_detector
        from bigocr.tiler.scan import open_scan

        scale = args.scale
        detector, model = resolve_detector(args.weights, device=args.device, precision=args.precision)
        name = f"{model['name']} ({model['precision']}, " + (
            "demo: whole image to 1.5x, at most 1280 px)" if args.demo else f"scale {scale}, {args.tiling})")

        if args.demo:
            def detect_words(path, doc):
                scan = open_scan(path)
                return demo_words(scan.read(0, scan.height, 0, scan.width), detector)
        else:
            def detect_words(path, doc):
                result = bigocr.detect(path, detector=detector, max_side=args.max_side, scheduler="synchronous",
                                       scale=scale, tiling=args.tiling, margin=margin)
                return [w.box for w in result.words]

            margin = None
            if args.tiling == "grid":
                from bigocr.detector.infer import context_margin

                margin = -(-context_margin(detector) // 32) * 32  # measured once, not per image

    report = {"detector": name, "split": args.split, "level": "lines" if args.lines else "words", "sources": {}}
    print(f"{'source':8} {'images':>6} {'precision':>9} {'recall':>7} {'H-mean':>7} {'s/image':>8} {'MP/s':>6}   "
          f"({name}{', lines' if args.lines else ''})")
    for source in args.sources.split(","):
        counts, seconds, images, pixels = evaluate_source(data / source, detect_words, split=args.split,
                                                          limit=args.limit, log=print if args.verbose else None,
                                                          lines=args.lines)
        mps = pixels / 1e6 / seconds if seconds else 0.0
        report["sources"][source] = {**counts.to_dict(), "images": images, "seconds": round(seconds, 1),
                                     "megapixels": round(pixels / 1e6, 2), "mp_per_s": round(mps, 3)}
        print(f"{source:8} {images:>6} {counts.precision:>9.3f} {counts.recall:>7.3f} {counts.hmean:>7.3f} "
              f"{seconds / max(1, images):>8.2f} {mps:>6.3f}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training samples: synthetic crops with character-level truth, made deterministically from an index.

Sample ``i`` of a run with seed ``s`` is always the same image, whatever the
worker, the batch size or the interruption: a resumed run sees exactly the
data an uninterrupted one would have seen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bigocr.detector.infer import MEAN, STD
from bigocr.errors import ParameterError
from bigocr.dev.synth import degrade, render_page, truth_maps

__all__ = ["SynthCrops", "WeakCrops", "MixedCrops", "normalise", "prepare_weak", "folders"]


def normalise(image: np.ndarray) -> torch.Tensor:
    """``(h, w, 3)`` uint8 RGB to the network's normalised ``(3, h, w)`` float32."""
    return torch.from_numpy(((image.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1).copy())


class SynthCrops(torch.utils.data.Dataset):
    """Random crops of freshly rendered, degraded synthetic pages.

    Parameters
    ----------
    seed : int
        Run seed; sample ``i`` is drawn from ``(seed, i)``.
    crop : int
        Crop side in pixels (a multiple of 32).
    length : int
        Nominal dataset length (samples are generated, never stored).
    page : (int, int)
        Range of page sides to render before cropping.
    """

    def __init__(self, seed: int = 0, crop: int = 512, length: int = 10**9, page: tuple[int, int] = (640, 1600)):
        if crop % 32:
            raise ValueError(f"crop must be a multiple of 32, got {crop}")
        self.seed, self.crop, self.length, self.page = seed, crop, length, page

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, int(index)])
        lo, hi = self.page
        h, w = int(rng.integers(max(lo, self.crop), hi + 1)), int(rng.integers(max(lo, self.crop), hi + 1))
        page = degrade(render_page(h, w, rng=rng), rng)
        region, affinity = truth_maps(page.image.shape[:2], [wd.chars for wd in page.words])
        c = self.crop
        y0 = int(rng.integers(0, h - c + 1)) & ~1
        x0 = int(rng.integers(0, w - c + 1)) & ~1
        image = page.image[y0:y0 + c, x0:x0 + c]
        region = region[y0 // 2:(y0 + c) // 2, x0 // 2:(x0 + c) // 2]
        affinity = affinity[y0 // 2:(y0 + c) // 2, x0 // 2:(x0 + c) // 2]
        confidence = np.ones_like(region)
        return normalise(image), torch.from_numpy(region.copy()), torch.from_numpy(affinity.copy()), \
            torch.from_numpy(confidence)


def folders(spec: str, purpose: str = "train") -> list[tuple[Path, str]]:
    """``"a,b:train"`` -> ``[(Path("a"), "train"), (Path("b"), "train")]``: folders of pages and the split to take.

    ``purpose="train"`` (``--data``, ``--real``): a folder of the training pool
    (or any folder outside the development scans) gives its ``train`` pages
    (every page but those of a test work or shop, :mod:`bigocr.dev.split`); a
    development source (``…/real/<source>``) must say ``:train``, and
    ``:eval``, ``:test`` or ``:all`` are refused there.  ``purpose="eval"``
    (``--eval-data``, what picks a checkpoint): a development source gives its
    ``eval`` pages (``:test``, ``:all`` and ``:train`` are refused), a folder
    of the training pool its training pages (never a held-out one).
    """
    from bigocr.dev.split import is_development

    out = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        folder, _, split = item.partition(":")
        folder = Path(folder)
        if split not in ("", "all", "train", "eval", "test"):
            raise ParameterError(f"{item}: the split after ':' must be train, eval, test or all")
        if split == "test":
            raise ParameterError(f"{item}: test pages are for reported figures only, never for training or choices")
        development = is_development(folder)
        if purpose == "train":
            if development and split != "train":
                raise ParameterError(f"{item}: {folder} holds development scans: name their training pages as "
                                     f"{folder}:train (their eval and test pages never train)")
            if split == "eval":
                raise ParameterError(f"{item}: eval pages choose checkpoints; they do not train")
            out.append((folder, "train"))
        elif development:
            if split in ("all", "train"):
                raise ParameterError(f"{item}: choices are made on eval pages: name {folder} or {folder}:eval")
            out.append((folder, "eval"))
        else:  # a folder of the training pool: its training pages (never a held-out one)
            out.append((folder, "train"))
    return out


def prepare_weak(pages: list[tuple[str, Path, dict]], folder: Path, detector, log=print) -> list[Path]:
    """Pseudo character truth of real pages, once: ``folder/<stem>.json`` per page (made now or found).

    ``pages`` are :func:`bigocr.dev.evaluate.truth_pages` triples; ``detector`` is
    the interim model (a tile detector: RGB crop -> (region, affinity)).  Each
    file holds the page's image path, the scale the pipeline runs it at
    (:func:`bigocr.tiler.textsize.auto_scale`) and
    :func:`bigocr.dev.train.weak.page_characters`.
    """
    import json
    import time

    from bigocr.tiler.scan import open_scan
    from bigocr.tiler.textsize import auto_scale
    from bigocr.dev.train.weak import page_characters

    folder.mkdir(parents=True, exist_ok=True)
    files, t0 = [], time.perf_counter()
    for stem, image, doc in pages:
        file = folder / f"{doc.get('source', 'page')}-{stem}.json"
        files.append(file)
        if file.is_file():
            continue
        scan = open_scan(image)
        factor, _ = auto_scale(scan)
        words = page_characters(scan.read(0, scan.height, 0, scan.width), doc["words"], lambda c: detector(c)[0])
        tmp = file.with_suffix(".part")
        tmp.write_text(json.dumps({"image": str(image), "scale": factor, "words": words}))
        tmp.replace(file)
        confident = [w["conf"] for w in words if w["conf"] > 0]
        log(json.dumps({"weak_page": file.name, "words": len(words), "scale": factor,
                        "mean_s_conf": round(float(np.mean(confident)), 3) if confident else None,
                        "seconds": round(time.perf_counter() - t0, 1)}))
    return files


class WeakCrops(torch.utils.data.Dataset):
    """Crops of real pages with pseudo character truth (:func:`prepare_weak`) at the pipeline's scale.

    The region and affinity truth are made from the pseudo character boxes
    (as for synthetic pages); the confidence map holds each word's ``s_conf``
    inside its box, 0 inside unreadable words, 1 elsewhere.  Sample ``i`` is a
    pure function of ``(seed, i)``.
    """

    def __init__(self, files: list[Path], seed: int = 0, crop: int = 512):
        import json

        if crop % 32:
            raise ValueError(f"crop must be a multiple of 32, got {crop}")
        self.pages = [json.loads(Path(f).read_text()) for f in files]
        self.seed, self.crop = seed, crop

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, index: int):
        from bigocr.dev.synth import truth_maps
        from bigocr.tiler.scale import scaled
        from bigocr.tiler.scan import open_scan
        from bigocr.dev.train.weak import confidence_map

        rng = np.random.default_rng([self.seed, int(index), 1])
        page = self.pages[int(rng.integers(len(self.pages)))]
        scan = open_scan(page["image"])
        work = scaled(scan, page["scale"])
        c = self.crop
        fy, fx = (work.height / scan.height, work.width / scan.width)
        y0 = int(rng.integers(0, max(1, work.height - c + 1))) & ~1
        x0 = int(rng.integers(0, max(1, work.width - c + 1))) & ~1
        image = np.full((c, c, 3), 255, np.uint8)  # pages smaller than a crop: white paper around
        window = work.read(y0, min(work.height, y0 + c), x0, min(work.width, x0 + c))
        image[:window.shape[0], :window.shape[1]] = window

        def moved(quad):
            return np.asarray(quad, np.float32) * [fx, fy] - [x0, y0]

        chars = [[moved(q) for q in w["chars"]] for w in page["words"] if w.get("chars")]
        region, affinity = truth_maps((c, c), chars)
        confidence = confidence_map((c, c), [(moved(w["box"]), w["conf"]) for w in page["words"]])
        return normalise(image), torch.from_numpy(region), torch.from_numpy(affinity), torch.from_numpy(confidence)


class MixedCrops(torch.utils.data.Dataset):
    """Sample ``i`` from ``real`` with probability ``share`` (decided by ``(seed, i)``), else from ``synthetic``."""

    def __init__(self, synthetic, real, share: float, seed: int = 0):
        self.synthetic, self.real, self.share, self.seed = synthetic, real, share, seed

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, index: int):
        pick_real = np.random.default_rng([self.seed, int(index), 2]).random() < self.share
        return (self.real if pick_real else self.synthetic)[index]

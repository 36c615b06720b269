"""The recognizer as a callable: word crops in, ``(text, confidence)`` out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bigocr.models.weights import Weights, load_network, read_weights
from bigocr.models.crnn import IMAGE_HEIGHT
from bigocr.recognizer.read import batches, ctc_greedy, to_batch, to_height

__all__ = ["CrnnRecognizer", "ChooseRecognizer", "CascadeRecognizer", "read_images", "resolve_recognizer", "BATCH",
           "AUTO", "COLUMNS", "FIRST", "REREAD_BELOW", "SAMPLE", "SAMPLE_BATCH"]

#: Word images per batch (cut from the crops sorted by width: each is padded to its batch's widest).
BATCH = 32

#: Most image columns one network call takes (batch size times padded width): a batch of wide crops (whole
#: lines, 3 000 px at the network's height) runs a few crops at a time, the same padding and the same
#: numbers, so its activations stay those of a batch of words (32 crops of 256 px), not 12 times more.
COLUMNS = 8192

#: ``recognizer="auto"``: the models it chooses from, for each group of words it rereads.
AUTO = ("documents", "historical")

#: ``recognizer="auto"``: the model that reads every word first.
FIRST = "fast"

#: ``recognizer="auto"``: words :data:`FIRST` reads with less confidence than this are read again.
REREAD_BELOW = 0.8

#: Words of a group every candidate reads before one is chosen.
SAMPLE = 24

#: The sample is read in batches of this many words of like width (one batch would pad all to the widest).
SAMPLE_BATCH = 8


@dataclass(frozen=True)
class CrnnRecognizer:
    """A CRNN + CTC recognizer (:class:`bigocr.models.crnn.CRNN`).

    Pickles as the weights' identity; each process loads the network once and
    reuses it (as :class:`bigocr.detector.infer.CraftDetector`).
    """

    weights: Weights
    device: str = "cpu"
    precision: str = "fp32"

    @classmethod
    def from_files(cls, weights: str | Path, device: str = "cpu", precision: str = "auto") -> "CrnnRecognizer":
        """Check the weights file now (a bad file fails here) and return the recognizer.

        ``precision="auto"`` is bfloat16 autocast where it is fast (as for the
        detector: :func:`bigocr.detector.infer.fast_bf16`), float32 elsewhere.
        """
        from bigocr.models.device import resolve_device, resolve_precision

        info, _ = read_weights(weights, "crnn")
        device = resolve_device(device)
        return cls(info, device, resolve_precision(precision, device))

    @property
    def charset(self) -> str:
        return self.weights.charset

    @property
    def model_info(self) -> dict:
        """Name, sha256 and charset of the weights, as recorded in ``words.json``."""
        return {"name": self.weights.name, "sha256": self.weights.sha256, "network": "CRNN-CTC",
                "precision": self.precision, "charset": self.weights.charset}

    def warm(self) -> None:
        load_network(self.weights, self.device)

    def __call__(self, crops: list[np.ndarray | None]) -> list[tuple[str, float]]:
        """Read gray word images (any size; None for a word that could not be cut out: empty text).

        Returns
        -------
        list of (text, confidence), one per crop, in order.
        """
        net = load_network(self.weights, self.device)
        keys = _readable(crops)
        images = [to_height(crops[i], IMAGE_HEIGHT) for i in keys]
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        readings = read_images(net, images, self.charset, device=self.device, bf16=self.precision == "bf16")
        for i, reading in zip(keys, readings):
            out[i] = reading
        return out


def _readable(crops: list[np.ndarray | None]) -> list[int]:
    """Indices of the crops that hold pixels (None: a word that could not be cut out)."""
    return [i for i, c in enumerate(crops) if c is not None and c.size]


@dataclass(frozen=True)
class ChooseRecognizer:
    """Several recognizers; each call's words are read by the one most confident on a sample of them.

    Each candidate reads the same :data:`SAMPLE` words, spread over the call
    (in batches of :data:`SAMPLE_BATCH` of like width: little padding); the
    one with the highest mean confidence keeps its readings of them and reads
    the rest.  Where every candidate reading every word costs about as
    much (up to 2 x :data:`SAMPLE` words for two candidates), they do, and
    the choice rests on all of them.  The pipeline calls a recognizer
    once per group of words (a band of lines), so an English form and a
    Fraktur page, or an English caption on a German page, each get their
    model.  Costs ``SAMPLE`` words per extra candidate and group.
    """

    candidates: tuple

    @property
    def charset(self) -> str:
        return "".join(dict.fromkeys("".join(c.charset for c in self.candidates)))

    @property
    def model_info(self) -> dict:
        return {"name": "auto (" + ", ".join(c.weights.name for c in self.candidates) + ")",
                "network": "CRNN-CTC", "choose": "highest mean confidence on a sample of each group",
                "precision": self.candidates[0].precision, "charset": self.charset,
                "candidates": [{k: v for k, v in c.model_info.items() if k != "charset"} for c in self.candidates]}

    def warm(self) -> None:
        for c in self.candidates:
            c.warm()

    def choose(self, crops: list[np.ndarray | None]) -> int:
        """Index of the candidate most confident on a sample of ``crops``."""
        return self._choose(crops)[0]

    def _choose(self, crops: list[np.ndarray | None]) -> tuple[int, dict]:
        """The chosen candidate and its readings of the sample ``{crop index: (text, confidence)}``."""
        keys = _readable(crops)
        k = len(self.candidates)
        if k == 1 or not keys:
            return 0, {}
        pick, parts = keys, [keys]
        if len(keys) * (k - 1) > k * SAMPLE:  # else every candidate reading every word costs about as much
            spread = [keys[j] for j in np.linspace(0, len(keys) - 1, SAMPLE).round().astype(int)]
            # words spread over the call differ in width: read in small batches of like width
            pick = sorted(spread, key=lambda i: crops[i].shape[1] / crops[i].shape[0])
            parts = [pick[j:j + SAMPLE_BATCH] for j in range(0, len(pick), SAMPLE_BATCH)]
        readings = [[r for part in parts for r in c([crops[i] for i in part])] for c in self.candidates]
        best = int(np.argmax([np.mean([conf for _, conf in r]) for r in readings]))
        return best, dict(zip(pick, readings[best]))

    def __call__(self, crops: list[np.ndarray | None]) -> list[tuple[str, float]]:
        best, out = self._choose(crops)
        rest = [i for i in range(len(crops)) if i not in out]
        if rest:
            out.update(zip(rest, self.candidates[best]([crops[i] for i in rest])))
        return [out[i] for i in range(len(crops))]


@dataclass(frozen=True)
class CascadeRecognizer:
    """One fast recognizer reads every word; the words it is unsure of are read again by another.

    ``first`` reads all crops; those it reads with confidence below ``below``
    are read by ``then`` (a :class:`ChooseRecognizer`: it chooses its model on
    those words), whose reading replaces the first.  With bigocr's models
    (``fast``, then ``documents`` or ``historical``) this reads with a lower
    character error rate than the chooser alone on forms, receipts and
    historical print, rereading 16-50 % of the words (docs/MODEL.md).
    """

    first: CrnnRecognizer
    then: ChooseRecognizer
    below: float = REREAD_BELOW

    @property
    def candidates(self) -> tuple:
        return (self.first, *self.then.candidates)

    @property
    def charset(self) -> str:
        return "".join(dict.fromkeys("".join(c.charset for c in self.candidates)))

    @property
    def model_info(self) -> dict:
        names = " or ".join(c.model_info["name"] for c in self.then.candidates)
        return {"name": f"auto ({self.first.model_info['name']}; below {self.below:g}: {names})",
                "network": "CRNN-CTC",
                "choose": f"{self.first.model_info['name']} reads every word; words it reads with confidence below "
                          f"{self.below:g} are read again by the model more confident on a sample of them",
                "reread_below": self.below, "precision": self.first.model_info.get("precision"),
                "charset": self.charset,
                "candidates": [{k: v for k, v in c.model_info.items() if k != "charset"} for c in self.candidates]}

    def warm(self) -> None:
        for c in self.candidates:
            c.warm()

    def read_lines(self, crops: list[np.ndarray | None]) -> list[tuple[str, float]]:
        """Whole lines, read by ``first`` alone (their readings only add marks to the words',
        :mod:`bigocr.recognizer.linetext`; rereading them would triple the cost of reading)."""
        return self.first(crops)

    def __call__(self, crops: list[np.ndarray | None]) -> list[tuple[str, float]]:
        out = list(self.first(crops))
        unsure = [i for i in _readable(crops) if out[i][1] < self.below]
        if unsure:
            for i, reading in zip(unsure, self.then([crops[i] for i in unsure])):
                out[i] = reading
        return out


def read_images(net, images: list[np.ndarray], charset: str, *, device: str = "cpu", bf16: bool = False,
                batch: int = BATCH) -> list[tuple[str, float]]:
    """``(text, confidence)`` of gray images of the network's height, run in batches of similar width
    (at most :data:`COLUMNS` columns per network call)."""
    out: list[tuple[str, float]] = [("", 0.0)] * len(images)
    with torch.inference_mode(), torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16):
        for group in batches([im.shape[1] for im in images], batch):
            x = torch.from_numpy(to_batch([images[i] for i in group])).to(device)
            step = max(1, COLUMNS // x.shape[3])
            for k in range(0, len(group), step):
                probs = torch.softmax(net(x[k:k + step]).float(), dim=2).cpu().numpy()
                for i, reading in zip(group[k:k + step], ctc_greedy(probs, charset)):
                    out[i] = reading
    return out


def resolve_recognizer(recognizer=None, device: str = "cpu", precision: str = "auto"):
    """None (the default, ``"auto"``), a name, a weights path, or a callable -> ``(callable, model_info)``.

    ``"auto"``: :class:`CascadeRecognizer`: :data:`FIRST` reads every word, and
    the words it reads with confidence below :data:`REREAD_BELOW` are read
    again by a :class:`ChooseRecognizer` over :data:`AUTO` (``documents`` for
    modern print, ``historical`` for print of 1500-1850), the more confident
    of the two on a sample of them.
    """
    from bigocr.models.registry import DEFAULT_RECOGNIZER, resolve_named, resolve_weights

    if recognizer is None:
        recognizer = DEFAULT_RECOGNIZER
    if recognizer == "auto":
        first, *candidates = (CrnnRecognizer.from_files(resolve_named(name), device=device, precision=precision)
                              for name in (FIRST, *AUTO))
        rec = CascadeRecognizer(first, ChooseRecognizer(tuple(candidates)))
        return rec, rec.model_info
    recognizer = resolve_weights(recognizer)
    if isinstance(recognizer, (str, Path)):
        rec = CrnnRecognizer.from_files(recognizer, device=device, precision=precision)
        return rec, rec.model_info
    if not callable(recognizer):
        from bigocr.errors import ParameterError

        raise ParameterError(f"recognizer must be None, a name, a weights path or a callable, "
                             f"got {type(recognizer).__name__}")
    info = getattr(recognizer, "model_info", None) or {"name": getattr(recognizer, "__name__", "recognizer")}
    return recognizer, dict(info)

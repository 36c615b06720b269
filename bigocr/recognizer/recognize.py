"""The recognizer as a callable: word crops in, ``(text, confidence)`` out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bigocr.detector.weights import Weights, load_network, read_weights
from bigocr.recognizer.crnn import IMAGE_HEIGHT
from bigocr.recognizer.read import batches, ctc_greedy, to_batch, to_height

__all__ = ["CrnnRecognizer", "ChooseRecognizer", "read_images", "resolve_recognizer", "BATCH", "AUTO", "SAMPLE"]

#: Word images per network call.
BATCH = 32

#: ``recognizer="auto"``: the models it chooses from, for each group of words.
AUTO = ("documents", "historical")

#: Words of a group every candidate reads before one is chosen.
SAMPLE = 24


@dataclass(frozen=True)
class CrnnRecognizer:
    """A CRNN + CTC recognizer (:class:`bigocr.recognizer.crnn.CRNN`).

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
        from bigocr.detector.infer import resolve_device, resolve_precision

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

    Each candidate reads up to :data:`SAMPLE` of the words (spread over the
    call), the one with the highest mean confidence reads them all.  The
    pipeline calls a recognizer once per group of words (a band of lines), so
    an English form and a Fraktur page, or an English caption on a German
    page, each get their model.  Costs ``SAMPLE`` words per extra candidate
    and group (about 10 % on full groups of two candidates).
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
        keys = _readable(crops)
        if len(self.candidates) == 1 or not keys:
            return 0
        pick = [keys[k] for k in np.linspace(0, len(keys) - 1, min(SAMPLE, len(keys))).round().astype(int)]
        scores = [np.mean([conf for _, conf in c([crops[i] for i in pick])]) for c in self.candidates]
        return int(np.argmax(scores))

    def __call__(self, crops: list[np.ndarray | None]) -> list[tuple[str, float]]:
        return self.candidates[self.choose(crops)](crops)


def read_images(net, images: list[np.ndarray], charset: str, *, device: str = "cpu", bf16: bool = False,
                batch: int = BATCH) -> list[tuple[str, float]]:
    """``(text, confidence)`` of gray images of the network's height, run in batches of similar width."""
    out: list[tuple[str, float]] = [("", 0.0)] * len(images)
    with torch.inference_mode(), torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16):
        for group in batches([im.shape[1] for im in images], batch):
            x = torch.from_numpy(to_batch([images[i] for i in group])).to(device)
            probs = torch.softmax(net(x).float(), dim=2).cpu().numpy()
            for i, reading in zip(group, ctc_greedy(probs, charset)):
                out[i] = reading
    return out


def resolve_recognizer(recognizer=None, device: str = "cpu", precision: str = "auto"):
    """None (the default, ``"auto"``), a name, a weights path, or a callable -> ``(callable, model_info)``.

    ``"auto"``: :class:`ChooseRecognizer` over :data:`AUTO` (``documents`` for
    modern print, ``historical`` for print of 1500-1850), the more confident
    one reading each group of words.
    """
    from bigocr.detector.download import DEFAULT_RECOGNIZER, resolve_named, resolve_weights

    if recognizer is None:
        recognizer = DEFAULT_RECOGNIZER
    if recognizer == "auto":
        candidates = tuple(CrnnRecognizer.from_files(resolve_named(name), device=device, precision=precision)
                           for name in AUTO)
        rec = ChooseRecognizer(candidates)
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

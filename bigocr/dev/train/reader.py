"""Fine-tuning the recognizer: ``bigocr train-reader``.

Starts from ``english_g2`` and extends its charset with the letters the
training transcriptions need after :func:`~bigocr.recognizer.charset.normalize_historical`
(for historical print: ``ſ``, ``ä``, ``ö``, ``ü``, ``ß``, ``æ``, ``œ``, ``ꝛ``, accents,
a few signs).  A new class starts as a copy of the head's row for the letter it
looks most like (``ä`` from ``a``, ``ſ`` from ``f``), so the first steps already
read it roughly.

Data: the word (or, for SROIE, line) crops of one or more folders of pages
with text (``--data``, default ``../shared/data/train/vdsbb``; ``folder:train``
takes only the training third of a ``../shared/data/real`` source, which must say so; test works'
and shops' pages never train, :mod:`bigocr.dev.split`), cut once at
height 64 and cached in ``OUT/crops.npz`` so the steps never wait on image
decoding.  With ``--margin M`` the crops are cut with ``M`` times the word's
height of paper around them and each step trims a random part of it, so the
model learns crops as loose as a detector's; ``--degrade P`` shrinks a share
``P`` of the crops to 13–32 px high and back, like the small print of forms.
Loss: CTC (blank 0); with ``--teacher`` also the KL divergence from the
teachers' column probabilities (:class:`Teachers`), for a slim reader
(``--width``, :func:`prune`) learning from the full ones.  Checkpoints are the CRAFT trainer's
(:mod:`bigocr.dev.train.checkpoint`): resumable, sharded; every ``--eval-every``
steps the character error rate on the eval pages of each ``--eval-data``
folder is logged and the checkpoint with the lowest mean CER exported as
``OUT/best.safetensors`` under ``--name``.
"""

from __future__ import annotations

import json
import math
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from bigocr.errors import ParameterError
from bigocr.dev.train.data import folders

__all__ = ["ReaderConfig", "historical_charset", "extend_head", "prune", "Teachers", "word_crops", "train_reader",
           "main"]

#: Letters a new class is initialised from, where the decomposition does not say.
LOOKS_LIKE = {"ſ": "f", "ß": "B", "æ": "a", "œ": "o", "ꝛ": "r", "ĳ": "y", "—": "-", "―": "-", "„": ",", "§": "S",
              "½": "2", "�": "?"}


@dataclass(frozen=True)
class ReaderConfig:
    """Settings of a recognizer fine-tuning run (those that shape the run must match to resume)."""

    out: str
    data: str = "../shared/data/train/vdsbb"
    eval_data: str = "../shared/data/real/vdsbb"
    steps: int = 4000
    batch: int = 32
    lr: float = 3e-4
    warmup: int = 100
    base: str = "english-g2"
    min_count: int = 5
    seed: int = 0
    checkpoint_every: int = 200
    eval_every: int = 400
    max_minutes: float | None = None
    precision: str = "auto"
    limit_pages: int | None = None  # tests: a few pages only
    name: str = "bigocr-historical"
    eval_limit: int | None = None  # eval pages per source
    margin: float = 0.0
    degrade: float = 0.0
    width: float = 1.0  # below 1: a slim reader, pruned from the base (:func:`prune`)
    teacher: str = ""  # distil from these recognizers' column probabilities too ("auto": documents, historical)
    kd_weight: float = 1.0

    def resumable_fields(self) -> dict:
        fields = ("steps", "batch", "lr", "warmup", "base", "min_count", "seed", "margin", "degrade", "width",
                  "teacher", "kd_weight")
        # left out at their defaults: older runs resume
        defaults = {"margin": 0.0, "degrade": 0.0, "width": 1.0, "teacher": "", "kd_weight": 1.0}
        return {k: v for k, v in asdict(self).items() if k in fields and (k not in defaults or v != defaults[k])}


def historical_charset(texts: list[str], base: str, min_count: int = 5) -> str:
    """``base`` followed by the characters of ``texts`` it lacks that occur at least ``min_count`` times."""
    counts = Counter(ch for t in texts for ch in t)
    extra = [ch for ch, n in counts.most_common() if ch not in base and n >= min_count and not ch.isspace()]
    return base + "".join(extra)


def _looks_like(ch: str, base: str) -> str | None:
    if ch in LOOKS_LIKE and LOOKS_LIKE[ch] in base:
        return LOOKS_LIKE[ch]
    stripped = unicodedata.normalize("NFD", ch)[0]
    return stripped if stripped in base else None


def extend_head(net: torch.nn.Module, base: str, charset: str) -> torch.nn.Module:
    """A CRNN for ``charset`` with ``net``'s weights; new classes copy the row of the letter they look like."""
    from bigocr.models.crnn import CRNN

    wider = CRNN(len(charset) + 1, width=getattr(net, "width", 1.0))
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("Prediction.")}
    wider.load_state_dict(state, strict=False)
    old_w, old_b = net.Prediction.weight.data, net.Prediction.bias.data
    with torch.no_grad():
        wider.Prediction.weight[: len(base) + 1] = old_w
        wider.Prediction.bias[: len(base) + 1] = old_b
        for k, ch in enumerate(charset[len(base):], len(base) + 1):
            like = _looks_like(ch, base)
            row = base.index(like) + 1 if like else None
            wider.Prediction.weight[k] = old_w[row] if row else old_w[1:].mean(0)
            wider.Prediction.bias[k] = (old_b[row] if row else old_b[1:].mean()) - 1.0  # a little less likely
    wider.charset = charset
    return wider


def prune(net: torch.nn.Module, width: float) -> torch.nn.Module:
    """A CRNN of width multiplier ``width`` holding the strongest units of ``net`` (a full-width CRNN).

    Convolutions keep the output channels with the largest filters (L1, scaled
    by a following batch norm, as :func:`bigocr.dev.train.distill.slim_from` does for
    CRAFT); each LSTM keeps the hidden units its output layer weighs most (the
    same units in both directions); each linear layer keeps the outputs its
    consumer weighs most.  A starting point that already reads a little:
    training (``bigocr train-reader --width``) does the rest.
    """
    from torch import nn

    from bigocr.models.crnn import CRNN
    from bigocr.dev.train.common import copy_bn, copy_conv, importance, top

    slim = CRNN(net.num_classes, width=width)
    layers, slim_layers = list(net.FeatureExtraction.ConvNet), list(slim.FeatureExtraction.ConvNet)
    kept = torch.arange(1)  # the gray input channel
    for i, (conv, thin) in enumerate(zip(layers, slim_layers)):
        if not isinstance(conv, nn.Conv2d):
            continue
        norm = layers[i + 1] if isinstance(layers[i + 1], nn.BatchNorm2d) else None
        keep = top(importance(conv, norm), thin.out_channels)
        copy_conv(thin, conv, keep, kept)
        if norm is not None:
            copy_bn(slim_layers[i + 1], norm, keep)
            slim_layers[i + 1].num_batches_tracked.copy_(norm.num_batches_tracked)
        kept = keep
    big, small = net.state_dict(), slim.state_dict()
    out = {}
    for n in range(2):
        pre = f"SequenceModeling.{n}"
        hidden = big[f"{pre}.rnn.weight_hh_l0"].shape[1]
        linear = big[f"{pre}.linear.weight"]  # (out, 2 * hidden)
        units = top(linear[:, :hidden].abs().sum(0) + linear[:, hidden:].abs().sum(0),
                      small[f"{pre}.rnn.weight_hh_l0"].shape[1])
        rows = torch.cat([g * hidden + units for g in range(4)])  # the input, forget, cell and output gates
        for suffix in ("l0", "l0_reverse"):
            out[f"{pre}.rnn.weight_ih_{suffix}"] = big[f"{pre}.rnn.weight_ih_{suffix}"][rows][:, kept]
            out[f"{pre}.rnn.weight_hh_{suffix}"] = big[f"{pre}.rnn.weight_hh_{suffix}"][rows][:, units]
            out[f"{pre}.rnn.bias_ih_{suffix}"] = big[f"{pre}.rnn.bias_ih_{suffix}"][rows]
            out[f"{pre}.rnn.bias_hh_{suffix}"] = big[f"{pre}.rnn.bias_hh_{suffix}"][rows]
        consumer = big["SequenceModeling.1.rnn.weight_ih_l0"].abs().sum(0) + big[
            "SequenceModeling.1.rnn.weight_ih_l0_reverse"].abs().sum(0) if n == 0 else big["Prediction.weight"].abs().sum(0)
        outputs = top(consumer, small[f"{pre}.linear.weight"].shape[0])
        out[f"{pre}.linear.weight"] = linear[outputs][:, torch.cat([units, hidden + units])]
        out[f"{pre}.linear.bias"] = big[f"{pre}.linear.bias"][outputs]
        kept = outputs
    out["Prediction.weight"] = big["Prediction.weight"][:, kept]
    out["Prediction.bias"] = big["Prediction.bias"]
    slim.load_state_dict({**small, **out}, strict=True)
    if getattr(net, "charset", None):
        slim.charset = net.charset
    return slim


def word_crops(folder: Path, split: str | None = None, limit_pages: int | None = None, margin: float = 0.0):
    """Word crops at height 64 and their normalized text from the pages of ``folder``.

    ``split``: only pages of that split (:func:`bigocr.dev.evaluate.split_of`); None: all.
    ``margin``: paper kept around each word, in word heights.
    """
    from bigocr.dev.evaluate import truth_crops
    from bigocr.recognizer.read import to_height

    crops, texts = [], []
    for _, pairs in truth_crops(Path(folder), split or "all", limit_pages, margin=margin):
        crops += [to_height(crop, 64, max_width=2048) for crop, _ in pairs]
        texts += [text for _, text in pairs]
    return crops, texts


def _training_pages(config: ReaderConfig) -> list[str]:
    """``folder/stem`` of every page ``--data`` trains on now (the split decides: bigocr.dev.split)."""
    from bigocr.dev.evaluate import truth_pages

    return [f"{folder}/{stem}" for folder, split in folders(config.data)
            for stem, _, _ in truth_pages(folder, split, config.limit_pages)]


def _cached_crops(config: ReaderConfig, out: Path, log):
    cache = out / "crops.npz"
    pages = _training_pages(config)
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if "pages" in z.files and [str(p) for p in z["pages"]] == pages:
            widths, flat = z["widths"], z["pixels"]
            ends = np.cumsum(widths * 64)
            crops = [flat[e - w * 64:e].reshape(64, w) for e, w in zip(ends, widths)]
            return crops, [str(t) for t in z["texts"]]
        log(f"{cache}: cut from other pages than --data gives now (the split holds some out): cut again")
    t0 = time.perf_counter()
    crops, texts = [], []
    for folder, split in folders(config.data):
        more = word_crops(folder, split, config.limit_pages, config.margin)
        crops, texts = crops + more[0], texts + more[1]
    if not crops:
        raise ParameterError(f"{config.data}: no word crops with text there")
    np.savez(cache, widths=np.array([c.shape[1] for c in crops]), texts=np.array(texts),
             pixels=np.concatenate([c.ravel() for c in crops]), pages=np.array(pages))
    log(json.dumps({"crops": len(crops), "seconds": round(time.perf_counter() - t0, 1), "cache": str(cache)}))
    return crops, texts


def _trim(im: np.ndarray, margin: float, rng) -> np.ndarray:
    """A crop cut with ``margin`` word heights of paper, with a random part of that paper cut off, at height 64."""
    from bigocr.recognizer.read import to_height

    pad = margin * im.shape[0] / (1 + 2 * margin)  # paper on each side, in pixels of the crop
    top, bottom, left, right = (int(rng.uniform(0, pad)) for _ in range(4))
    inner = im[top:im.shape[0] - bottom, left:max(left + 2, im.shape[1] - right)]
    return to_height(inner, 64, max_width=2048)


def _degrade(im: np.ndarray, rng) -> np.ndarray:
    """``im`` shrunk to 13-32 px high and enlarged back: the blur and steps of small print."""
    import cv2

    f = rng.uniform(0.2, 0.5)
    small = cv2.resize(im, (max(2, round(im.shape[1] * f)), max(2, round(im.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (im.shape[1], im.shape[0]), interpolation=cv2.INTER_CUBIC)


def _batch(crops, texts, index, charset, rng, augment: bool, margin: float = 0.0, degrade: float = 0.0):
    from bigocr.recognizer.read import to_batch

    images = []
    for i in index:
        im = crops[i]
        if augment:
            if margin:
                im = _trim(im, margin, rng)
            if degrade and rng.random() < degrade:
                im = _degrade(im, rng)
            im = np.clip(im.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-25, 25), 0, 255).astype(np.uint8)
        images.append(im)
    x = torch.from_numpy(to_batch(images))
    lookup = {ch: k + 1 for k, ch in enumerate(charset)}
    targets = [[lookup[ch] for ch in texts[i] if ch in lookup] for i in index]
    return x, targets


def _cer(net, crops, texts, charset, bf16: bool) -> float:
    from bigocr.dev.evaluate import edit_distance
    from bigocr.recognizer.recognize import read_images

    net.eval()
    readings = read_images(net, crops, charset, bf16=bf16, batch=64)
    net.train()
    errors = sum(edit_distance(said, truth) for (said, _), truth in zip(readings, texts))
    return errors / max(1, sum(len(t) for t in texts))


class Teachers:
    """Recognizers whose column probabilities a student learns (knowledge distillation).

    For each word the teacher most confident on it is followed (as ``--recognizer
    auto`` chooses per group, here per word); its probabilities are mapped onto
    the student's charset (classes the student lacks are dropped, the rest
    renormalised).  Teachers and student share the CRNN's column layout (one
    column per 4 pixels), so the columns line up.
    """

    def __init__(self, spec: str, charset: str, bf16: bool):
        from bigocr.models.registry import resolve_weights
        from bigocr.models.weights import load_network, read_weights
        from bigocr.recognizer.recognize import AUTO

        names = AUTO if spec == "auto" else tuple(spec.split(","))
        lookup = {ch: k + 1 for k, ch in enumerate(charset)}
        self.nets, self.maps = [], []
        for name in names:
            weights, _ = read_weights(resolve_weights(name), "crnn")
            self.nets.append(load_network(weights))
            # teacher class -> student class (-1: the student has no such class)
            self.maps.append(torch.tensor([0] + [lookup.get(ch, -1) for ch in weights.charset]))
        self.classes = len(charset) + 1
        self.bf16 = bf16

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Target probabilities ``(B, T, classes)`` of the student's charset for images ``x``."""
        best = conf = None
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
            for net, index in zip(self.nets, self.maps):
                probs = torch.softmax(net(x.contiguous(memory_format=torch.channels_last)).float(), dim=2)
                mapped = torch.zeros(*probs.shape[:2], self.classes)
                keep = index >= 0
                mapped[:, :, index[keep]] = probs[:, :, keep]
                mapped = mapped / mapped.sum(2, keepdim=True).clamp_min(1e-8)
                top = probs.max(2).values  # a word's confidence: mean of its columns' best probability
                score = top.mean(1)
                if best is None:
                    best, conf = mapped, score
                else:
                    better = score > conf
                    best[better], conf = mapped[better], torch.maximum(conf, score)
        return best.clone()


def train_reader(config: ReaderConfig, *, log=print) -> dict:
    """Fine-tune (or go on fine-tuning) the recognizer; returns where it stopped and the best CER."""
    from bigocr.models.registry import resolve_weights
    from bigocr.models.device import resolve_precision
    from bigocr.models.weights import read_weights, save_weights
    from bigocr.models.crnn import CRNN
    from bigocr.dev.train.checkpoint import resume, save_checkpoint
    from bigocr.dev.train.common import run_lock

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out):
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        crops, texts = _cached_crops(config, out, log)
        base_weights, state = read_weights(resolve_weights(config.base),
                                           "crnn")
        base_net = CRNN(len(base_weights.charset) + 1, width=base_weights.width)
        base_net.load_state_dict(state)
        charset = historical_charset(texts, base_weights.charset, config.min_count)
        net = extend_head(base_net, base_weights.charset, charset)
        if config.width != 1.0:
            net = prune(net, config.width)
        optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
        start, saved = resume(out, net, optimizer, config.resumable_fields(), log)
        best = saved.get("best", {"cer": None, "step": None})
        evals = {folder.name: word_crops(folder, split, config.eval_limit or config.limit_pages)
                 for folder, split in folders(config.eval_data, purpose="eval")}
        bf16 = resolve_precision(config.precision, "cpu") == "bf16"
        ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
        teachers = Teachers(config.teacher, charset, bf16) if config.teacher else None
        order = np.argsort([c.shape[1] for c in crops])  # batches of similar width: little padding
        buckets = [order[i:i + config.batch] for i in range(0, len(order), config.batch)]
        t_start, step, seen = time.perf_counter(), start, 0
        net.train()
        while step < config.steps:
            index = buckets[rng.integers(len(buckets))]
            x, targets = _batch(crops, texts, index, charset, rng, augment=True, margin=config.margin,
                                degrade=config.degrade)
            lr = config.lr * min(1.0, (step + 1) / config.warmup) * (
                0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / config.steps)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                logits = net(x)
            log_probs = logits.float().log_softmax(2).permute(1, 0, 2)  # (T, B, C)
            lengths = torch.full((len(index),), log_probs.shape[0], dtype=torch.long)
            loss = ctc(log_probs, torch.tensor([c for t in targets for c in t], dtype=torch.long), lengths,
                       torch.tensor([len(t) for t in targets], dtype=torch.long))
            if teachers is not None:  # KL(teacher || student) per column, averaged over the columns
                target = teachers(x)
                kd = (target * (target.clamp_min(1e-8).log() - log_probs.permute(1, 0, 2))).sum(2).mean()
                loss = loss + config.kd_weight * kd
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimizer.step()
            step += 1
            seen += len(index)
            elapsed = time.perf_counter() - t_start
            if step % 25 == 0:
                log(json.dumps({"step": step, "loss": round(float(loss.detach()), 4), "lr": round(lr, 6),
                                "words_per_s": round(seen / elapsed, 1)}))
            stop = config.max_minutes is not None and elapsed > 60 * config.max_minutes
            if step % config.eval_every == 0 or step == config.steps or stop:
                per_source = {name: round(_cer(net, c, t, charset, bf16), 4) for name, (c, t) in evals.items()}
                cer = sum(per_source.values()) / max(1, len(per_source))
                log(json.dumps({"step": step, "eval_cer": round(cer, 4), "per_source": per_source,
                                "eval_words": sum(len(t) for _, t in evals.values())}))
                if best["cer"] is None or cer < best["cer"]:
                    best = {"cer": round(cer, 4), "step": step}
                    save_weights(net, out / "best.safetensors", name=config.name, network="crnn",
                                 extra={"step": step, "eval_cer": round(cer, 4), "eval_cer_per_source": per_source})
            if step % config.checkpoint_every == 0 or step == config.steps or stop:
                save_checkpoint(out, step, net, optimizer, {**config.resumable_fields(), "best": best})
            if stop:
                break
        return {"step": step, "best": best, "charset": charset}


def main(argv=None) -> int:
    """``bigocr train-reader``: see ``bigocr train-reader --help``."""
    import argparse

    p = argparse.ArgumentParser(prog="bigocr train-reader",
                                description="Fine-tune the recognizer on pages with text (resumable; rerun to go on).")
    p.add_argument("--out", required=True, help="run folder (checkpoints, crops cache, best.safetensors)")
    p.add_argument("--data", default=ReaderConfig.data,
                   help=("folders of training pages, comma-separated: a development source (../shared/data/real/X) "
                         "as X:train, its training third; a training-pool folder gives every page but those of a "
                         "test work or shop"))
    p.add_argument("--eval-data", default=ReaderConfig.eval_data,
                   help="folders whose eval pages measure CER, comma-separated (the mean picks the best checkpoint)")
    p.add_argument("--eval-limit", type=int, help="at most this many eval pages per folder")
    p.add_argument("--name", default=ReaderConfig.name, help="model name written into best.safetensors")
    p.add_argument("--margin", type=float, default=0.0,
                   help="cut crops with this many word heights of paper, trim a random part each step")
    p.add_argument("--degrade", type=float, default=0.0, help="share of crops shrunk to 13-32 px high and back")
    p.add_argument("--base", default=ReaderConfig.base, metavar="NAME|PATH",
                   help="the recognizer to start from (english-g2, documents, historical or a file)")
    p.add_argument("--width", type=float, default=1.0,
                   help="below 1: train a slim reader (e.g. 0.5: every layer half as wide), pruned from --base")
    p.add_argument("--teacher", default="", metavar="auto|NAMES",
                   help="also learn these recognizers' column probabilities (auto: documents and historical, "
                        "the more confident on each word); comma-separated names or files")
    p.add_argument("--kd-weight", type=float, default=1.0, help="weight of the distillation loss beside CTC's")
    p.add_argument("--steps", type=int, default=ReaderConfig.steps)
    p.add_argument("--batch", type=int, default=ReaderConfig.batch)
    p.add_argument("--lr", type=float, default=ReaderConfig.lr)
    p.add_argument("--checkpoint-every", type=int, default=ReaderConfig.checkpoint_every)
    p.add_argument("--eval-every", type=int, default=ReaderConfig.eval_every)
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    args = p.parse_args(argv)
    if not 0 < args.width <= 1:
        raise ParameterError(f"--width must be above 0 and at most 1, got {args.width}")
    config = ReaderConfig(args.out, args.data, args.eval_data, args.steps, args.batch, args.lr,
                          checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                          max_minutes=args.max_minutes, precision=args.precision, name=args.name,
                          eval_limit=args.eval_limit, margin=args.margin, degrade=args.degrade, base=args.base,
                          width=args.width, teacher=args.teacher, kd_weight=args.kd_weight)
    result = train_reader(config)
    print(json.dumps({"step": result["step"], "best": result["best"]}))
    return 0

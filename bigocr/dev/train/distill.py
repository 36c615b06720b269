"""A slim CRAFT distilled from a teacher's maps: ``bigocr distill``.

Two phases, both resumable:

1. **Teacher maps, once.**  Crops of ``--crop`` pixels are cut from the
   training pages *at the scale the pipeline runs them* (each page through
   :func:`bigocr.tiler.textsize.auto_scale` and
   :class:`bigocr.tiler.scale.ScaledScan`, as ``bigocr run`` does), half of
   them where the page has the most ink, half anywhere; the teacher
   (``craft-mlt-25k`` by default) computes their region and affinity maps, and
   crops and maps are kept in ``OUT/teacher/*.npz`` (uint8 pixels, float16
   maps), one file per page, so a stopped phase goes on where it stopped and
   the student's steps never wait on decoding or on the teacher.
2. **The student.**  :class:`~bigocr.models.craft.CRAFT` at ``--width``
   (0.5: a quarter of the multiply-adds), its channels initialised from the
   teacher's strongest ones (:func:`slim_from`), learns to output the
   teacher's maps on those crops: CRAFT's own loss
   (:func:`bigocr.dev.train.loss.craft_loss`, MSE with hard-negative mining) with
   the teacher's maps as truth.  Checkpoints as ``bigocr train``'s; every
   checkpoint also writes ``OUT/student.safetensors`` (loadable by
   ``--weights``) and logs the loss on held-out pages' crops.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from bigocr.dev.train.common import copy_bn, copy_conv, importance, top
from bigocr.errors import ParameterError

__all__ = ["DistillConfig", "slim_from", "cache_teacher", "distill", "main"]

DEFAULT_DATA = "../shared/data/train/vdsbb,../shared/data/train/sroie,../shared/data/real/funsd:train"


@dataclass(frozen=True)
class DistillConfig:
    """Settings of a distillation run (those that shape the run must match to resume)."""

    out: str
    teacher: str = "craft-mlt-25k"
    width: float = 0.5
    data: str = DEFAULT_DATA
    crop: int = 384
    crops_per_page: int = 6
    steps: int = 20000
    batch: int = 8
    lr: float = 5e-4
    warmup: int = 100
    seed: int = 0
    checkpoint_every: int = 100
    max_minutes: float | None = None
    precision: str = "auto"
    limit_pages: int | None = None
    init: str = "teacher"
    large_crops: int = 0  # extra crops per page with the letters enlarged LARGE times: headlines, titles
    more_crops: int = 0  # extra crops per page at the pipeline's scale, drawn anew (more data from the same pages)
    input_scale: float = 1.0  # 0.5: a half-input student (sees the crops halved, maps at its input's resolution)

    def __post_init__(self):
        if self.crop % 32 or self.crop < 64:
            raise ParameterError(f"crop must be a multiple of 32 and >= 64, got {self.crop}")
        if not 0 < self.width < 1:
            raise ParameterError(f"width must be in (0, 1) for a student, got {self.width}")
        if not self.init:
            raise ParameterError("init must be teacher, random or a student's weights file")
        if self.input_scale not in (1.0, 0.5):
            raise ParameterError(f"input_scale must be 1 or 0.5, got {self.input_scale}")

    def resumable_fields(self) -> dict:
        return {k: v for k, v in asdict(self).items()
                if k in ("teacher", "width", "crop", "steps", "batch", "lr", "warmup", "seed", "init")
                or (k == "input_scale" and v != 1)}


# --------------------------------------------------------------------------- student from teacher

def slim_from(teacher: torch.nn.Module, width: float) -> torch.nn.Module:
    """A :class:`~bigocr.models.craft.CRAFT` of ``width`` whose every layer keeps the teacher's strongest channels.

    Each convolution keeps the output channels with the largest filter norm
    times BatchNorm gain, and the input channels its input layer kept (through
    the U-net's concatenations).  The result is not the teacher's function, but
    a start whose features already respond to text: distillation converges in
    far fewer steps than from random weights.
    """
    from bigocr.models.craft import CRAFT

    student = CRAFT(width)

    def convs_bns(seq):
        mods = list(seq)
        return [(m, mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.BatchNorm2d) else None)
                for i, m in enumerate(mods) if isinstance(m, torch.nn.Conv2d)]

    keep = torch.arange(3)
    outputs = {}
    for name in ("slice1", "slice2", "slice3", "slice4", "slice5"):
        t_pairs = convs_bns(getattr(teacher.basenet, name))
        s_pairs = convs_bns(getattr(student.basenet, name))
        for (tc, tb), (sc, sb) in zip(t_pairs, s_pairs):
            out_idx = top(importance(tc, tb), sc.out_channels)
            copy_conv(sc, tc, out_idx, keep)
            if tb is not None:
                copy_bn(sb, tb, out_idx)
            keep = out_idx
        outputs[name] = keep
    # the decoder: each double conv takes cat([upper, skip])
    upper, upper_width = outputs["slice5"], teacher.basenet.slice5[-1].out_channels
    for up, skip_name in (("upconv1", "slice4"), ("upconv2", "slice3"), ("upconv3", "slice2"), ("upconv4", "slice1")):
        t_seq, s_seq = getattr(teacher, up).conv, getattr(student, up).conv
        keep = torch.cat([upper, upper_width + outputs[skip_name]])
        for (tc, tb), (sc, sb) in zip(convs_bns(t_seq), convs_bns(s_seq)):
            out_idx = top(importance(tc, tb), sc.out_channels)
            copy_conv(sc, tc, out_idx, keep)
            copy_bn(sb, tb, out_idx)
            keep = out_idx
        upper, upper_width = keep, t_seq[-3].out_channels
    for i, (tc, sc) in enumerate(zip(convs_bns(teacher.conv_cls), convs_bns(student.conv_cls))):
        out_idx = torch.arange(sc[0].out_channels)  # the head keeps its width
        copy_conv(sc[0], tc[0], out_idx, keep if i == 0 else torch.arange(sc[0].in_channels))
    return student


# --------------------------------------------------------------------------- phase 1: teacher maps

def _crop_origins(gray: np.ndarray, crop: int, n: int, rng) -> list[tuple[int, int]]:
    """``n`` crop corners (even): half where the page has the most ink among random candidates, half anywhere."""
    h, w = gray.shape
    cands = [(int(rng.integers(0, h - crop + 1)) & ~1, int(rng.integers(0, w - crop + 1)) & ~1) for _ in range(4 * n)]
    ink = [float((gray[y:y + crop:4, x:x + crop:4] < 128).mean()) for y, x in cands]
    inked = [cands[i] for i in np.argsort(ink)[::-1][: (n + 1) // 2]]
    return inked + cands[len(cands) - n // 2:]


#: How much larger than at the pipeline's scale the letters of the large-text crops are (uniform in this range).
LARGE = (2.5, 5.0)


def _large_crops(scan, factor: float, gray: np.ndarray, crop: int, n: int, rng) -> np.ndarray:
    """``n`` crops of the page enlarged ``LARGE`` times beyond ``factor`` (where ``gray``, the page at ``factor``, has ink).

    The pipeline brings body text into its band, but a headline on the same
    page stays several times larger; the teacher handles such letters, and a
    student that never saw them splits them into pieces.  Only the crop's
    window is resampled, never the whole enlarged page.
    """
    from bigocr.tiler.scale import MAX_SCALE, scaled

    out = []
    for _ in range(n):
        more = min(float(rng.uniform(*LARGE)), MAX_SCALE / factor)  # FUNSD's forms already run at 2-2.5x
        side = int(crop / more) & ~1
        if gray.shape[0] < side or gray.shape[1] < side:
            continue
        (y, x), = _crop_origins(gray, side, 1, rng)
        big = scaled(scan, factor * more)
        if big.height < crop or big.width < crop:  # rounding on a page about one crop high or wide
            continue
        fy, fx = big.height / gray.shape[0], big.width / gray.shape[1]
        y0, x0 = min(int(y * fy), big.height - crop) & ~1, min(int(x * fx), big.width - crop) & ~1
        out.append(big.read(y0, y0 + crop, x0, x0 + crop))
    return np.stack(out) if out else np.zeros((0, crop, crop, 3), np.uint8)


def cache_teacher(config: DistillConfig, *, log=print) -> list[Path]:
    """Phase 1: crops of the training pages at the pipeline's scale and the teacher's maps, one file per page.

    With ``config.large_crops``, a second file per page (``*.large.npz``) holds
    that many crops with the letters enlarged :data:`LARGE` times more; with
    ``config.more_crops``, another (``*.more.npz``) that many more crops at the
    pipeline's scale, drawn anew (a run can add them to a cache made earlier).
    Returns the files (made now or found from an earlier run).
    """
    import cv2

    from bigocr.dev.evaluate import truth_pages
    from bigocr.engine.setup import resolve_detector
    from bigocr.tiler.scale import scaled
    from bigocr.tiler.scan import open_scan
    from bigocr.tiler.textsize import auto_scale
    from bigocr.dev.train.data import folders

    folder_out = Path(config.out) / "teacher"
    folder_out.mkdir(parents=True, exist_ok=True)
    teacher, _ = resolve_detector(config.teacher, device="cpu", precision=config.precision)
    files, c, t0, made = [], config.crop, time.perf_counter(), 0
    for folder, split in folders(config.data):
        for k, (stem, image, _) in enumerate(truth_pages(folder, split, config.limit_pages)):
            file = folder_out / f"{folder.name}-{stem}.npz"
            large, more = file.with_suffix(".large.npz"), file.with_suffix(".more.npz")
            targets = [file] + ([large] if config.large_crops else []) + ([more] if config.more_crops else [])
            files += targets
            if all(t.is_file() for t in targets):
                continue
            scan = open_scan(image)
            factor, _ = auto_scale(scan)
            work = scaled(scan, factor)
            pixels = work.read(0, work.height, 0, work.width)
            gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
            rng = np.random.default_rng([config.seed, k, len(stem)])
            for target in targets:
                if target.is_file():
                    continue
                if target == large:
                    images = _large_crops(scan, factor, gray, c, config.large_crops,
                                          np.random.default_rng([config.seed, k, len(stem), 1]))
                elif work.height >= c and work.width >= c:
                    n, draw = ((config.more_crops, np.random.default_rng([config.seed, k, len(stem), 2]))
                               if target == more else (config.crops_per_page, rng))
                    images = np.stack([pixels[y:y + c, x:x + c] for y, x in _crop_origins(gray, c, n, draw)])
                else:
                    images = np.zeros((0, c, c, 3), np.uint8)
                maps = (np.stack([np.stack(teacher(im), axis=-1) for im in images]).astype(np.float16) if len(images)
                        else np.zeros((0, c // 2, c // 2, 2), np.float16))
                tmp = target.with_suffix(".part.npz")
                np.savez(tmp, images=images, maps=maps, scale=factor)
                tmp.replace(target)
                made += len(images)
                log(json.dumps({"teacher_page": target.name, "scale": factor, "crops": len(images),
                                "crops_per_s": round(made / max(1e-9, time.perf_counter() - t0), 2)}))
    if not files:
        raise ParameterError(f"{config.data}: no pages with truth there")
    return files


# --------------------------------------------------------------------------- phase 2: the student

def _load_cache(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    images, maps = [], []
    for f in files:
        z = np.load(f, allow_pickle=False)
        images.append(z["images"])
        maps.append(z["maps"])
    return np.concatenate(images), np.concatenate(maps)


def _half_input(net: torch.nn.Module) -> torch.nn.Module:
    """The half-input layout of a CRAFT: its weights, and an ``upconv5`` that passes the stride-2 feature through."""
    from bigocr.models.craft import CRAFT

    half = CRAFT(net.width, 0.5)
    missing, unexpected = half.load_state_dict(net.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("upconv5.") for k in missing), (missing, unexpected)
    return half


def _held_out(name: str) -> bool:
    """One page in twenty (by a hash of its name) measures the student's loss and is never trained on."""
    import hashlib

    name = name.replace(".large.npz", ".npz").replace(".more.npz", ".npz")  # a page's crops stay together
    return int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % 20 == 0


def _lr(config: DistillConfig, step: int) -> float:
    from bigocr.dev.train.common import lr_at

    return lr_at(config, step, floor=0.05)


def _batch_loss(net, images: np.ndarray, maps: np.ndarray, bf16: bool) -> torch.Tensor:
    from bigocr.dev.train.data import normalise
    from bigocr.dev.train.loss import craft_loss

    from bigocr.tiler.scale import halve

    half = getattr(net, "input_scale", 1.0) != 1
    x = torch.stack([normalise(halve(im) if half else im) for im in images]).contiguous(
        memory_format=torch.channels_last)
    target = torch.from_numpy(maps.astype(np.float32))
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        scores, _ = net(x)
    return craft_loss(scores.float(), target[..., 0], target[..., 1], torch.ones_like(target[..., 0]))


def distill(config: DistillConfig, *, log=print) -> dict:
    """Both phases; returns where training stopped and the held-out loss."""
    from bigocr.models.registry import resolve_weights
    from bigocr.models.device import resolve_precision
    from bigocr.models.weights import read_weights, save_weights
    from bigocr.models.craft import CRAFT
    from bigocr.dev.train.checkpoint import resume, save_checkpoint
    from bigocr.dev.train.common import run_lock

    start_state = None
    if config.init not in ("teacher", "random"):  # a student's weights: go on from them with a fresh schedule
        sw, start_state = read_weights(resolve_weights(config.init), "craft")
        if sw.width != config.width:
            raise ParameterError(f"{config.init}: a student of width {sw.width:g}, not --width {config.width:g}")
        if sw.input_scale != 1 and config.input_scale == 1:
            raise ParameterError(f"{config.init}: a half-input student; pass --half-input to go on from it")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out):
        files = cache_teacher(config, log=log)
        train_files = [f for f in files if not _held_out(f.name)]
        check_files = [f for f in files if _held_out(f.name)] or files[:1]
        images, maps = _load_cache(train_files)
        check_images, check_maps = _load_cache(check_files)
        if not len(images):
            raise ParameterError(f"{config.data}: no page as large as a {config.crop} px crop")
        log(json.dumps({"train_crops": len(images), "held_out_crops": len(check_images)}))

        torch.manual_seed(config.seed)
        tw, state = read_weights(resolve_weights(config.teacher), "craft")
        teacher = CRAFT(tw.width)
        teacher.load_state_dict(state)
        if config.init == "teacher":
            net = slim_from(teacher, config.width)
            if config.input_scale != 1:
                net = _half_input(net)
        else:
            net = CRAFT(config.width, config.input_scale)
            if start_state is not None:
                if config.input_scale != 1 and sw.input_scale == 1:  # a usual student: upconv5 passes through
                    missing, unexpected = net.load_state_dict(start_state, strict=False)
                    assert not unexpected and all(k.startswith("upconv5.") for k in missing), (missing, unexpected)
                else:
                    net.load_state_dict(start_state)
        del teacher
        net = net.to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
        start, _ = resume(out, net, optimizer, config.resumable_fields(), log)
        bf16 = resolve_precision(config.precision, "cpu") == "bf16"

        def held_out_loss() -> float:
            net.eval()
            with torch.no_grad():
                losses = [float(_batch_loss(net, check_images[i:i + 8], check_maps[i:i + 8], bf16))
                          for i in range(0, len(check_images), 8)]
            net.train()
            return round(sum(losses) / max(1, len(losses)), 6)

        if start == 0:
            log(json.dumps({"step": 0, "held_out_loss": held_out_loss()}))
        net.train()
        t0, step, loss_sum, seen = time.perf_counter(), start, 0.0, 0
        while step < config.steps:
            rng = np.random.default_rng([config.seed, step])
            index = np.sort(rng.choice(len(images), size=min(config.batch, len(images)), replace=False))
            for group in optimizer.param_groups:
                group["lr"] = _lr(config, step)
            loss = _batch_loss(net, images[index], maps[index], bf16)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum, seen = loss_sum + float(loss.detach()), seen + 1
            elapsed = time.perf_counter() - t0
            stop = config.max_minutes is not None and elapsed > 60 * config.max_minutes
            if step % 20 == 0:
                log(json.dumps({"step": step, "loss": round(loss_sum / seen, 6), "lr": round(_lr(config, step), 7),
                                "crops_per_s": round((step - start) * config.batch / elapsed, 2)}))
                loss_sum, seen = 0.0, 0
            if step % config.checkpoint_every == 0 or step == config.steps or stop:
                save_checkpoint(out, step, net, optimizer, config.resumable_fields())
                half = "-half" if config.input_scale != 1 else ""
                save_weights(net, out / "student.safetensors", name=f"bigocr-craft-student{half}-{config.width:g}",
                             extra={"step": step, "teacher": tw.name, "teacher_sha256": tw.sha256,
                                    "crop": config.crop})
                log(json.dumps({"step": step, "held_out_loss": held_out_loss()}))
            if stop:
                break
        return {"step": step, "held_out_loss": held_out_loss()}


def main(argv=None) -> int:
    """``bigocr distill``: see ``bigocr distill --help``."""
    import argparse

    d = DistillConfig
    p = argparse.ArgumentParser(prog="bigocr distill",
                                description="Distil a slim CRAFT from a teacher's maps (resumable; rerun to go on).")
    p.add_argument("--out", required=True, help="run folder: teacher maps, checkpoints, student.safetensors")
    p.add_argument("--teacher", default=d.teacher, help="teacher weights: a name or a path (default: %(default)s)")
    p.add_argument("--width", type=float, default=d.width, help="the student's channel width (default: %(default)s)")
    p.add_argument("--data", default=d.data,
                   help=("folders of training pages, comma-separated: a development source (../shared/data/real/X) "
                         "as X:train, its training third; a training-pool folder gives every page but those of a "
                         "test work or shop"))
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--crops-per-page", type=int, default=d.crops_per_page)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this long")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--more-crops", type=int, default=d.more_crops, metavar="N",
                   help="also N more crops per page at the pipeline's scale (more teacher maps from the same pages; "
                        "added to an existing cache; default: %(default)s)")
    p.add_argument("--large-crops", type=int, default=d.large_crops, metavar="N",
                   help="also N crops per page with the letters enlarged 2.5-5x beyond the pipeline's scale "
                        "(headlines and titles; default: %(default)s)")
    p.add_argument("--init", default=d.init, metavar="teacher|random|WEIGHTS",
                   help="student's start: the teacher's strongest channels (default), random, or a student's "
                        "weights of the same width (e.g. an earlier run's student.safetensors: a fresh schedule "
                        "from there)")
    p.add_argument("--half-input", action="store_true",
                   help="a half-input student: it sees each crop at half resolution and outputs the teacher's maps "
                        "at its own input's resolution (a quarter of the encoder's work in the pipeline)")
    args = p.parse_args(argv)
    config = DistillConfig(args.out, args.teacher, args.width, args.data, args.crop, args.crops_per_page, args.steps,
                           args.batch, args.lr, checkpoint_every=args.checkpoint_every, max_minutes=args.max_minutes,
                           precision=args.precision, init=args.init, large_crops=args.large_crops,
                           more_crops=args.more_crops,
                           input_scale=0.5 if args.half_input else 1.0)
    result = distill(config, log=lambda s: print(s, flush=True))
    print(json.dumps(result))
    return 0

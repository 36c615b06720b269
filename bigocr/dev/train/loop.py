"""``bigocr train``: CRAFT trained on synthetic pages and, by the paper's weak supervision, on real pages
with word truth (how ``craft-doc`` was made from ``craft-mlt-25k``); seeded, logged, checkpointed,
resumable in pieces of a few minutes.  The default detector, ``craft-fast``, is then distilled from it
(``bigocr distill``)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from bigocr.models.craft import CRAFT
from bigocr.models.device import fast_bf16
from bigocr.models.weights import save_weights
from bigocr.errors import ParameterError
from bigocr.dev.train.common import lr_at, run_lock
from bigocr.dev.train.checkpoint import latest_checkpoint, load_checkpoint, resume, save_checkpoint
from bigocr.dev.train.data import MixedCrops, SynthCrops, WeakCrops, prepare_weak
from bigocr.dev.train.loss import craft_loss

__all__ = ["TrainConfig", "train"]


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does; stored in every checkpoint.

    ``steps`` is the run's total; a resumed run continues to it.  ``max_minutes``
    stops a piece early (after a checkpoint) so runs fit time-limited slots.
    """

    out: str
    steps: int = 20000
    batch: int = 8
    crop: int = 512
    width: float = 1.0
    lr: float = 1e-4
    warmup: int = 200
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    workers: int = 0
    checkpoint_every: int = 500
    log_every: int = 20
    max_minutes: float | None = None
    init: str = ""  # weights to start from (a name or a path); "" = random
    real: str = ""  # folders of real pages with word truth for weak supervision ("" = synthetic only)
    real_share: float = 0.5

    def __post_init__(self):
        if self.steps < 1 or self.batch < 1:
            raise ParameterError(f"steps and batch must be >= 1, got {self.steps} and {self.batch}")
        if self.crop % 32 or self.crop < 64:
            raise ParameterError(f"crop must be a multiple of 32 and >= 64, got {self.crop}")
        if not 0 < self.width <= 1:
            raise ParameterError(f"width must be in (0, 1], got {self.width}")

    def resumable_fields(self) -> dict:
        """Fields that must match to continue a run."""
        fields = {k: getattr(self, k) for k in ("batch", "crop", "width", "lr", "warmup", "seed", "steps")}
        if self.init or self.real:  # runs made before these options existed resume as they were
            fields.update({k: getattr(self, k) for k in ("init", "real", "real_share") if getattr(self, k)})
        return fields


def train(config: TrainConfig, *, log=print) -> dict:
    """Train (or continue training) CRAFT on synthetic pages, and on real pages by weak supervision
    (``config.real``), from ``config.init`` (default: from scratch; bigocr's ``craft-doc`` started from the
    published ``craft-mlt-25k``).

    Returns
    -------
    dict
        ``{"step", "loss", "checkpoint"}`` where the run stopped.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out):
        return _train(config, out, log)


def _train(config: TrainConfig, out: Path, log) -> dict:
    torch.manual_seed(config.seed)
    model = CRAFT(config.width)
    if config.init:
        from bigocr.models.registry import resolve_weights
        from bigocr.models.weights import read_weights

        weights, state = read_weights(resolve_weights(config.init))
        if weights.width != config.width:
            raise ParameterError(f"--init {config.init}: width {weights.width}, not the run's {config.width}")
        model.load_state_dict(state)
    model = model.to(config.device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    start, _ = resume(out, model, optimizer, config.resumable_fields(), log)
    ckpt = latest_checkpoint(out) if start else None
    if start >= config.steps:
        return {"step": start, "loss": None, "checkpoint": str(ckpt)}

    data = SynthCrops(seed=config.seed, crop=config.crop)
    if config.real:
        data = MixedCrops(data, _weak_crops(config, out, log), config.real_share, config.seed)
    indices = range(start * config.batch, config.steps * config.batch)
    loader = torch.utils.data.DataLoader(data, batch_size=config.batch, sampler=indices,
                                         num_workers=config.workers, persistent_workers=config.workers > 0,
                                         pin_memory=config.device.startswith("cuda"))
    use_amp = config.amp and fast_bf16(config.device)
    model.train()
    if config.init:
        freeze_batch_norm(model)
    t_start = time.perf_counter()
    t_log, loss_sum, seen = t_start, 0.0, 0
    step, loss_value, last_ckpt = start, None, ckpt
    for step, (image, region, affinity, confidence) in enumerate(loader, start=start + 1):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step - 1)
        image, region, affinity, confidence = (t.to(config.device, non_blocking=True)
                                               for t in (image, region, affinity, confidence))
        image = image.contiguous(memory_format=torch.channels_last)
        with torch.autocast(torch.device(config.device).type, dtype=torch.bfloat16, enabled=use_amp):
            scores, _ = model(image)
        loss = craft_loss(scores.float(), region, affinity, confidence)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = loss.detach().item()
        loss_sum += loss_value
        seen += 1
        if step % config.log_every == 0 or step == config.steps:
            now = time.perf_counter()
            record = {"step": step, "loss": round(loss_sum / seen, 6), "lr": lr_at(config, step - 1),
                      "samples_per_s": round(seen * config.batch / (now - t_log), 2)}
            log(json.dumps(record))
            with open(out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")
            t_log, loss_sum, seen = now, 0.0, 0
        out_of_time = config.max_minutes is not None and time.perf_counter() - t_start > 60 * config.max_minutes
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            last_ckpt = save_checkpoint(out, step, model, optimizer, asdict(config))
        if out_of_time:
            log(json.dumps({"stopped": "max_minutes", "step": step}))
            break
    return {"step": step, "loss": loss_value, "checkpoint": str(last_ckpt)}


def freeze_batch_norm(model: torch.nn.Module) -> None:
    """Keep ``model``'s batch norms on the statistics they were trained with (eval mode).

    Fine-tuning: batches of a few crops of paper would otherwise rewrite the
    running means and variances the published network learnt on big batches of
    photos (200 steps of batch 4 moved them by 45 % on average, the
    convolutions by 1.3 %).  Their scales and shifts still learn.  The collapse
    seen in that run (VD-SBB H 0.924 -> 0.435) was mostly the truth's width
    (``bigocr/dev/synth/truth.py``): with the statistics frozen it still fell.
    """
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def _weak_crops(config: TrainConfig, out: Path, log) -> WeakCrops:
    """Real pages with pseudo character truth from the interim model (the ``--init`` weights, else the
    default detector), made once into ``OUT/weak/``."""
    from bigocr.dev.evaluate import truth_pages
    from bigocr.engine.setup import resolve_detector
    from bigocr.dev.train.data import folders

    pages = [page for folder, split in folders(config.real) for page in truth_pages(folder, split)
             if page[2].get("granularity", "word") == "word"]
    if not pages:
        raise ParameterError(f"--real {config.real}: no pages with word-level truth there")
    interim, _ = resolve_detector(config.init or None, device="cpu")
    return WeakCrops(prepare_weak(pages, out / "weak", interim, log=log), seed=config.seed, crop=config.crop)


def export(checkpoint: str | Path, path: str | Path, name: str) -> Path:
    """Write a checkpoint's network as bigocr weights (safetensors with metadata)."""
    state = json.loads((Path(checkpoint) / "state.json").read_text())
    cfg = state["config"]
    model = CRAFT(cfg["width"])
    load_checkpoint(checkpoint, model)
    extra = {"steps": state["step"], "seed": cfg["seed"], "crop": cfg["crop"], "batch": cfg["batch"],
             "data": "bigocr.dev.synth" + (f" + {cfg['real']} (weak, share {cfg.get('real_share')})"
                                       if cfg.get("real") else ""),
             "init": cfg.get("init", "")}
    return Path(save_weights(model, path, name=name, extra=extra).path)


def main(argv=None) -> int:
    """``bigocr train``: see ``bigocr train --help``."""
    import argparse

    p = argparse.ArgumentParser(prog="bigocr train", description="Train CRAFT on synthetic document scans, and on "
                                                                 "real pages by weak supervision (--real).")
    p.add_argument("--out", required=True, help="run folder: checkpoints and log.jsonl; resumed if it has one")
    for field in ("steps", "batch", "crop", "warmup", "seed", "workers", "checkpoint_every", "log_every"):
        p.add_argument(f"--{field.replace('_', '-')}", type=int, default=TrainConfig.__dataclass_fields__[field].default)
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier (1.0 = reference CRAFT)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast (used on GPUs and on CPUs with AMX)")
    p.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this long")
    p.add_argument("--init", default="", metavar="NAME|PATH",
                   help="start from these weights (e.g. craft-mlt-25k: fine-tuning); default: random")
    p.add_argument("--real", default="", metavar="FOLDERS",
                   help="real pages with word truth for weak supervision, comma-separated (a development source as "
                        "X:train, its training third; test works' and shops' pages never train); pseudo character "
                        "boxes from the --init model, made once in OUT/weak")
    p.add_argument("--real-share", type=float, default=0.5, help="share of real crops with --real (default 0.5)")
    p.add_argument("--export", metavar="PATH", help="after training, write the weights here (.safetensors)")
    p.add_argument("--name", default="bigocr-craft", help="model name recorded in exported weights")
    args = p.parse_args(argv)
    from bigocr.models.device import resolve_device

    config = TrainConfig(out=args.out, steps=args.steps, batch=args.batch, crop=args.crop, width=args.width,
                         lr=args.lr, warmup=args.warmup, seed=args.seed, device=resolve_device(args.device),
                         amp=not args.no_amp, workers=args.workers, checkpoint_every=args.checkpoint_every,
                         log_every=args.log_every, max_minutes=args.max_minutes, init=args.init, real=args.real,
                         real_share=args.real_share)
    result = train(config, log=lambda s: print(s, flush=True))
    if args.export and result["checkpoint"]:
        path = export(result["checkpoint"], args.export, args.name)
        print(f"exported {path}", file=sys.stderr)
    return 0

"""What the training commands share: the learning-rate schedule, the run folder's lock, and pruning a
network's convolutions into a slimmer one (students and slim readers start that way)."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path

import torch

from bigocr.errors import ParameterError

__all__ = ["lr_at", "run_lock", "importance", "top", "copy_conv", "copy_bn"]


def lr_at(config, step: int, floor: float = 0.1) -> float:
    """Linear warm-up over ``config.warmup`` steps, then cosine decay of ``config.lr`` to ``floor`` times it."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@contextmanager
def run_lock(out: Path):
    """Hold ``OUT/train.lock`` (this process's pid) while training; refuse a folder another live run holds."""
    lock = out / "train.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and alive(pid):
                raise ParameterError(f"{out}: another bigocr train (pid {pid}) is using this folder; "
                                     f"wait for it or stop it") from None
            lock.unlink(missing_ok=True)  # left by a run that died
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    else:
        raise ParameterError(f"{out}: cannot take {lock}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def importance(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d | None) -> torch.Tensor:
    """How much each output channel of ``conv`` (and its BatchNorm) carries: filter L1 norm times BN gain."""
    score = conv.weight.detach().abs().flatten(1).sum(1)
    if bn is not None:
        score = score * (bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps))
    return score


def top(score: torch.Tensor, k: int) -> torch.Tensor:
    return torch.sort(torch.topk(score, k).indices).values


def copy_conv(dst: torch.nn.Conv2d, src: torch.nn.Conv2d, out_idx: torch.Tensor, in_idx: torch.Tensor) -> None:
    with torch.no_grad():
        dst.weight.copy_(src.weight[out_idx][:, in_idx])
        if src.bias is not None:
            dst.bias.copy_(src.bias[out_idx])


def copy_bn(dst: torch.nn.BatchNorm2d, src: torch.nn.BatchNorm2d, idx: torch.Tensor) -> None:
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(dst, name).copy_(getattr(src, name)[idx])

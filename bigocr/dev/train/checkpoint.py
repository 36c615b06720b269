"""Resumable training checkpoints, sharded into small safetensors files.

A checkpoint is a folder ``step-NNNNNNNN/`` with ``model-KKK.safetensors`` and
``optim-KKK.safetensors`` shards (each at most ``shard_mb``, so they travel
through size-limited channels) and ``state.json`` (step, config, optimizer
hyper-parameters).  ``latest`` names the newest complete one; a checkpoint is
written under a temporary name and renamed, so an interrupted save never
shadows the previous one.  Nothing is unpickled when loading.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "resume"]


_PART = "::part"


def _split_large(tensors: dict[str, torch.Tensor], limit: int) -> tuple[dict[str, torch.Tensor], dict]:
    """Cut tensors larger than a shard into flat pieces; returns the pieces and their shapes."""
    out, split = {}, {}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.numel() * t.element_size() <= limit:
            out[name] = t
            continue
        per = max(1, limit // t.element_size())
        pieces = t.reshape(-1).split(per)
        split[name] = {"shape": list(t.shape), "parts": len(pieces)}
        for i, piece in enumerate(pieces):
            out[f"{name}{_PART}{i}"] = piece.clone()
    return out, split


def _join_large(tensors: dict[str, torch.Tensor], split: dict) -> dict[str, torch.Tensor]:
    for name, info in split.items():
        parts = [tensors.pop(f"{name}{_PART}{i}") for i in range(info["parts"])]
        tensors[name] = torch.cat(parts).reshape(info["shape"])
    return tensors


def _shards(tensors: dict[str, torch.Tensor], limit: int) -> list[dict[str, torch.Tensor]]:
    """Pack tensors (already detached, contiguous, on the CPU) into shards of at most ``limit`` bytes."""
    shards, current, size = [], {}, 0
    for name, t in tensors.items():
        n = t.numel() * t.element_size()
        if current and size + n > limit:
            shards.append(current)
            current, size = {}, 0
        current[name] = t
        size += n
    if current or not shards:
        shards.append(current)
    return shards


def _optim_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def save_checkpoint(folder: str | Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    config: dict, *, shard_mb: float = 15, keep: int = 2) -> Path:
    """Write checkpoint ``step`` into ``folder`` and point ``latest`` at it."""
    folder = Path(folder)
    name = f"step-{step:08d}"
    tmp = folder / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    limit = int(shard_mb * 2**20)
    model_state = dict(model.state_dict())
    optim_state, groups = _optim_tensors(optimizer)
    files, split = {}, {}
    for prefix, tensors in (("model", model_state), ("optim", optim_state)):
        tensors, split[prefix] = _split_large(tensors, limit - 4096)  # room for the safetensors header
        shards = _shards(tensors, limit - 4096)
        files[prefix] = []
        for k, shard in enumerate(shards, 1):
            fname = f"{prefix}-{k:03d}.safetensors"
            save_file(shard, str(tmp / fname))
            files[prefix].append(fname)
    (tmp / "state.json").write_text(json.dumps({"step": step, "config": config, "param_groups": groups,
                                                "files": files, "split": split}, indent=1))
    final = folder / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    (folder / ".latest.tmp").write_text(name + "\n")
    os.replace(folder / ".latest.tmp", folder / "latest")
    old = sorted(p for p in folder.glob("step-*") if p.is_dir())[:-keep] if keep else []
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return final


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest complete checkpoint in ``folder``, or None."""
    pointer = Path(folder) / "latest"
    if not pointer.is_file():
        return None
    path = Path(folder) / pointer.read_text().strip()
    return path if (path / "state.json").is_file() else None


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a checkpoint into ``model`` (and ``optimizer``); returns its ``state.json``."""
    path = Path(path)
    state = json.loads((path / "state.json").read_text())
    model_state = {}
    for fname in state["files"]["model"]:
        model_state.update(load_file(str(path / fname)))
    model.load_state_dict(_join_large(model_state, state.get("split", {}).get("model", {})), strict=True)
    if optimizer is not None:
        tensors = {}
        for fname in state["files"]["optim"]:
            tensors.update(load_file(str(path / fname)))
        tensors = _join_large(tensors, state.get("split", {}).get("optim", {}))
        per_param: dict[int, dict] = {}
        for key, value in tensors.items():
            idx, name = key.split(".", 1)
            per_param.setdefault(int(idx), {})[name] = value
        groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in state["param_groups"]]
        optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    return state


def resume(out: Path, model, optimizer, fields: dict, log) -> tuple[int, dict]:
    """Load the newest checkpoint of the run in ``out`` into ``model`` and ``optimizer``, if there is one.

    ``fields`` are the settings that shape the run; a checkpoint made with
    other values is refused (one run per folder).  Returns ``(step, saved
    config)``, ``(0, {})`` for a new run.
    """
    from bigocr.errors import ParameterError

    ckpt = latest_checkpoint(out)
    if ckpt is None:
        return 0, {}
    saved = load_checkpoint(ckpt, model, optimizer)
    mismatched = {k: (saved["config"].get(k), v) for k, v in fields.items() if saved["config"].get(k) != v}
    if mismatched:
        raise ParameterError(f"{out}: holds a run with other settings {mismatched}; use another --out")
    log(json.dumps({"resumed": str(ckpt), "step": saved["step"]}))
    return saved["step"], saved["config"]

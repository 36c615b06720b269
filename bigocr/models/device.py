"""Devices and arithmetic: where a network runs and whether it runs in bfloat16.

One room for both the detector and the recognizers (they share these choices).
"""

from __future__ import annotations

import torch

from bigocr.errors import ParameterError

__all__ = ["resolve_device", "fast_bf16", "resolve_precision", "PRECISIONS"]


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is present, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"--device {device}: no CUDA GPU is visible to PyTorch here; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ParameterError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return device


def fast_bf16(device: str) -> bool:
    """Whether bfloat16 autocast is fast on ``device``.

    True on CUDA GPUs with bf16 support and on CPUs whose vector units
    compute in bf16, where oneDNN runs bf16 convolutions in hardware: AMX
    tiles (Intel Sapphire Rapids and later; full CRAFT on a 1536 px tile
    measured 2.37x faster than float32) and AVX512-BF16 (AMD Zen 4 and later,
    Intel Cooper Lake; measured 2.25x).  Elsewhere bf16 is emulated and
    slower than float32.
    """
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        try:
            if getattr(torch.cpu, probe)():
                return True
        except AttributeError:  # a torch without the probe: assume no such unit
            continue
    return False


#: The precisions a run may ask for: ``int8`` is the detector's int8 twin (:mod:`bigocr.models.int8`), with the
#: recognizers as under ``auto``.
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def resolve_precision(precision: str, device: str, int8: bool = False) -> str:
    """``"auto"`` becomes ``"bf16"`` where :func:`fast_bf16`, else ``"fp32"``.

    ``"int8"`` stays ``"int8"`` for a network with an int8 twin (``int8=True``: the detector; CPU only) and
    becomes ``auto``'s choice for the others (the recognizers).
    """
    if precision not in PRECISIONS:
        raise ParameterError(f"--precision must be auto, fp32, bf16 or int8, got {precision!r}")
    if precision == "int8" and int8:
        if not device.startswith("cpu"):
            raise ParameterError(f"--precision int8 runs on the CPU (ONNX Runtime), not on --device {device}")
        return "int8"
    if precision in ("auto", "int8"):
        return "bf16" if fast_bf16(device) else "fp32"
    return precision

"""int8 twins of bigocr's networks, run by ONNX Runtime.

A twin is the network exported to ONNX and quantised statically by ONNX
Runtime (``python -m bigocr.dev.quantize``: int8 weights per channel in 7 bits,
uint8 activations calibrated on training pages, the two convolutions that form
the scores left in float32), shipped beside the weights it was made from and
named here by the sha256 of both.  ONNX Runtime reads it as
data (a protobuf graph: no code of ours or of the file's runs), and only after
its sha256 is checked.

Why not PyTorch's own int8: its eager quantisation needs every add, concat and
upsampling of the network rewritten for quantised tensors, and on the CPUs
measured (an AMD EPYC with AVX2 only, AMD Zen 4) ONNX Runtime's int8 ran the detector
2.2x (AVX2, against PyTorch float32) and 1.4x (Zen 4, against bfloat16) faster
(``benchmarks/int8.py``; ``benchmarks/RESULTS.md``).

Why 7-bit weights (``reduce_range``): on the AVX2 CPU, full-range int8 weights
with uint8 activations moved the region score by up to 0.95 (the saturation
ONNX Runtime's documentation warns of for uint8 x int8 on x86; 7 bits: 0.15,
the mean 0.003).

ONNX Runtime holds a whole input's activations (PyTorch's pass here runs in
bands), so a twin caps the network's input side (:data:`MAX_INPUT`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from bigocr.errors import ParameterError

__all__ = ["TWINS", "MAX_INPUT", "MISSING_RUNTIME", "twin_path", "session", "available"]

#: The int8 twins shipped: sha256 of the source weights -> (file inside the package, its sha256).
TWINS = {
    # craft-fast (bigocr-craft-fast.safetensors), quantised by ``python -m bigocr.dev.quantize craft-fast``
    "fa5798d225a69c26aa03afe02e2cd1e06f36da8ef80b7388633340ae1c9b3025": (
        "models/files/bigocr-craft-fast-int8.onnx",
        "c0f08428dfbbefb6750150a900e535f6c6b97663a633608d8263a233d3a7038e"),
}

#: The longest side of a twin's input (network pixels): ONNX Runtime held 0.78 GB more for a 1 536 px input of
#: craft-fast's twin (one thread, its arena; the twin all int8: 0.50 GB at 1 536 px, 0.92 GB at 1 856 px,
#: 1.7 GB at 2 480 px), about what PyTorch's banded float32 pass holds for the 2 480 px input of a default
#: tile (0.6-0.8 GB).
MAX_INPUT = 1536

#: The error where ONNX Runtime is not installed.
MISSING_RUNTIME = ("--precision int8 runs the detector in ONNX Runtime, which is not installed here: "
                   "pip install 'bigocr[int8]'")

_SESSIONS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def available() -> bool:
    """Whether ONNX Runtime is installed here (found, not imported)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def twin_path(sha256: str, name: str = "these weights") -> Path:
    """The checked int8 twin of the weights with ``sha256``.

    Raises
    ------
    ParameterError
        The weights have no twin.
    WeightsError
        The twin is missing from the installation or fails its sha256.
    """
    from bigocr.models.registry import bundled_file

    if sha256 not in TWINS:
        raise ParameterError(f"--precision int8: {name} has no int8 model (only craft-fast, the default "
                             "detector, has one); use --precision fp32 or bf16")
    return bundled_file(*TWINS[sha256], f"the int8 model of {name}")


def session(sha256: str, name: str = "these weights", threads: int = 1):
    """An ONNX Runtime session of the twin of the weights with ``sha256`` (checked: :func:`twin_path`), with
    ``threads`` intra-op threads, made once per process and reused (``run`` may be called from several threads
    at once)."""
    key = (sha256, threads)
    with _LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            path = twin_path(sha256, name)
            try:
                import onnxruntime as ort
            except ImportError:
                raise ParameterError(MISSING_RUNTIME) from None
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            # the tiles' shapes differ: a memory pattern planned for one shape is not reused for the next, and
            # keeping one per shape only grows
            options.enable_mem_pattern = False
            options.log_severity_level = 3  # errors only: no warnings on the user's terminal
            sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            _SESSIONS[key] = sess
    return sess

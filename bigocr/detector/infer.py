"""Running a detector on one tile.

A detector is any callable ``detector(tile) -> (region, affinity)`` taking a
``(h, w, 3)`` uint8 RGB tile and returning two float32 maps of shape
``(ceil(h/2), ceil(w/2))``; map pixel ``(i, j)`` describes tile pixel
``(2i, 2j)``.  :class:`CraftDetector` is that callable for CRAFT weights
(a half-input CRAFT gets the tile through :func:`halve` and returns maps at its
input's resolution: the same contract); :class:`InvertBoth` wraps any
detector to also look at the inverted tile.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bigocr.models.device import fast_bf16, resolve_device, resolve_precision  # noqa: F401 (re-exported)
from bigocr.models.weights import Weights, load_network, read_weights
from bigocr.tiler.scale import halve  # noqa: F401 (re-exported)
from bigocr.errors import ParameterError

__all__ = ["CraftDetector", "InvertBoth", "preprocess", "map_shape", "halve", "resolve_device", "check_maps", "context_margin",
           "grid_align", "measured_margin", "margin_key", "fast_bf16", "resolve_precision"]

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0


def map_shape(tile_shape: tuple[int, ...]) -> tuple[int, int]:
    """Map shape ``(ceil(h/2), ceil(w/2))`` of a tile of shape ``(h, w, ...)``."""
    return ((tile_shape[0] + 1) // 2, (tile_shape[1] + 1) // 2)


def preprocess(tile: np.ndarray) -> torch.Tensor:
    """Reference preprocessing of an RGB uint8 tile.

    The tile is zero-padded at the bottom and right to multiples of 32 and then
    normalised by the ImageNet mean and std scaled by 255, as CRAFT's demo does.

    Returns
    -------
    Tensor, shape (1, 3, H32, W32), float32
    """
    h, w = tile.shape[:2]
    padded = np.zeros((math.ceil(h / 32) * 32, math.ceil(w / 32) * 32, 3), dtype=np.float32)
    padded[:h, :w] = tile
    padded -= MEAN
    padded /= STD
    return torch.from_numpy(padded.transpose(2, 0, 1)).unsqueeze(0)


def check_maps(tile: np.ndarray, maps, halved: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a detector's output for ``tile`` (already halved: maps of its own shape); returns contiguous
    float32 maps."""
    try:
        region, affinity = maps
    except (TypeError, ValueError):
        raise ParameterError("a detector must return a pair (region, affinity)") from None
    expected = tuple(tile.shape[:2]) if halved else map_shape(tile.shape)
    region = np.ascontiguousarray(region, dtype=np.float32)
    affinity = np.ascontiguousarray(affinity, dtype=np.float32)
    if region.shape != expected or affinity.shape != expected:
        raise ParameterError(
            f"a detector must return maps of shape {expected} for a tile of shape {tile.shape[:2]}, "
            f"got {region.shape} and {affinity.shape}"
        )
    return region, affinity


@dataclass(frozen=True)
class CraftDetector:
    """CRAFT (and optionally its LinkRefiner) as a tile detector.

    Build it with :meth:`from_files`.  The object pickles as file identities
    only; each process loads the networks once, on first use (or :meth:`warm`),
    and reuses them.  ``precision="auto"`` means bfloat16 autocast where it is
    fast (GPUs, CPUs with AMX), float32 elsewhere.  Both are resolved by
    :meth:`from_files`, or, with ``resolve=False``, where the detector runs (a
    Dask worker may have a GPU the client lacks); ``model_info`` records the
    precision as resolved, so a run's maps are never resumed in another one.
    """

    craft: Weights
    refiner: Weights | None = None
    device: str = "cpu"
    precision: str = "auto"

    @classmethod
    def from_files(cls, weights: str | Path, refiner: str | Path | None = None, device: str = "auto",
                   resolve: bool = True, precision: str = "auto") -> "CraftDetector":
        """Check the weight files and return a detector; fails early on a bad file.

        With ``resolve=False`` the device is checked where the detector runs, not here.
        """
        craft, _ = read_weights(weights, "craft")
        ref = read_weights(refiner, "refiner")[0] if refiner is not None else None
        if ref is not None and (craft.width != 1 or craft.input_scale != 1):
            raise ParameterError(f"{weights}: the LinkRefiner needs the reference CRAFT layout (full width, "
                                 f"full input), these have width {craft.width:g}, input scale {craft.input_scale:g}")
        if not (device == "auto" or device == "cpu" or device.startswith("cuda")):
            resolve_device(device)  # raises the message
        if precision == "int8":
            cls._check_int8(craft, ref, weights)
        if not resolve:
            resolve_precision(precision, "cpu")  # checks the name; "auto" is resolved on the worker
            return cls(craft, ref, device, precision)
        device = resolve_device(device)
        return cls(craft, ref, device, resolve_precision(precision, device, int8=True))

    @staticmethod
    def _check_int8(craft: Weights, refiner: Weights | None, weights) -> None:
        """Fail early where ``precision="int8"`` cannot run: no twin, a LinkRefiner, no ONNX Runtime."""
        from bigocr.models import int8

        if refiner is not None:
            raise ParameterError("--precision int8 runs the detector without a LinkRefiner; use fp32 or bf16 with "
                                 "--refiner")
        int8.twin_path(craft.sha256, str(weights))
        if not int8.available():
            raise ParameterError(int8.MISSING_RUNTIME)

    def warm(self) -> None:
        """Load the networks now (once per process), so a missing file or device fails here."""
        device = resolve_device(self.device)
        if resolve_precision(self.precision, device, int8=True) == "int8":
            self._int8_session()
            return
        load_network(self.craft, device)
        if self.refiner is not None:
            load_network(self.refiner, device)

    @property
    def model_info(self) -> dict:
        """Name and sha256 of the weights, as recorded in ``words.json``."""
        info = {"name": self.craft.name, "sha256": self.craft.sha256, "network": "CRAFT", "width": self.craft.width,
                "precision": self.precision}
        if self.craft.input_scale != 1:
            info["input_scale"] = self.craft.input_scale
        if self.refiner is not None:
            info["refiner"] = {"name": self.refiner.name, "sha256": self.refiner.sha256}
        return info

    @property
    def halved_input(self) -> bool:
        """A half-input CRAFT: the pipeline may hand it tiles already halved (:meth:`detect_halved`)."""
        return self.craft.input_scale != 1

    @property
    def max_input(self) -> int | None:
        """The longest input side the network may be given (network pixels), or None: no cap beyond the run's
        ``max_side`` (the int8 twin's ONNX Runtime holds a whole input's activations:
        :data:`bigocr.models.int8.MAX_INPUT`)."""
        if self.precision == "int8":
            from bigocr.models.int8 import MAX_INPUT

            return MAX_INPUT
        return None

    def __call__(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.detect_halved(halve(tile)) if self.halved_input else self._run(tile)

    def _int8_session(self):
        from bigocr.models import int8

        return int8.session(self.craft.sha256, self.craft.name, torch.get_num_threads())

    def detect_halved(self, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A half-input CRAFT's maps of a tile given at half resolution: maps of ``half``'s own shape."""
        if not self.halved_input:
            raise ParameterError(f"{self.craft.path}: not a half-input CRAFT")
        return self._run(half)

    def _run(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        device = resolve_device(self.device)
        precision = resolve_precision(self.precision, device, int8=True)
        h, w = tile.shape[:2] if self.halved_input else map_shape(tile.shape)
        if precision == "int8":
            scores = self._int8_session().run(None, {"x": preprocess(tile).numpy()})[0]
            return scores[0, :h, :w, 0].copy(), scores[0, :h, :w, 1].copy()
        bf16 = precision == "bf16"
        net = load_network(self.craft, device)
        with torch.inference_mode(), torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16):
            x = preprocess(tile).to(device).contiguous(memory_format=torch.channels_last)
            scores, feature = net(x, feature=self.refiner is not None)
            region = scores[0, :h, :w, 0]
            if self.refiner is None:
                affinity = scores[0, :h, :w, 1]
            else:
                affinity = load_network(self.refiner, device)(scores, feature)[0, :h, :w, 0]
            return (region.float().cpu().numpy().copy(), affinity.float().cpu().numpy().copy())


@dataclass(frozen=True)
class InvertBoth:
    """Run a detector on the tile and on its inverse; keep the per-pixel maximum.

    Helps with white-on-black scans (microfilm negatives) and thin punctuation.
    """

    detector: object

    @property
    def model_info(self) -> dict:
        return getattr(self.detector, "model_info", {})

    def warm(self) -> None:
        warm = getattr(self.detector, "warm", None)
        if warm is not None:
            warm()

    @property
    def halved_input(self) -> bool:
        return bool(getattr(self.detector, "halved_input", False))

    def __call__(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r1, a1 = check_maps(tile, self.detector(tile))
        r2, a2 = check_maps(tile, self.detector(255 - tile))
        return np.maximum(r1, r2), np.maximum(a1, a2)

    def detect_halved(self, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r1, a1 = check_maps(half, self.detector.detect_halved(half), halved=True)
        r2, a2 = check_maps(half, self.detector.detect_halved(255 - half), halved=True)
        return np.maximum(r1, r2), np.maximum(a1, a2)


def grid_align(detector) -> int:
    """Working pixels a tile must start on a multiple of: CRAFT's pooling grid
    (:data:`bigocr.tiler.plan.ALIGN`), twice as coarse for a half-input CRAFT, which sees tiles halved."""
    from bigocr.tiler.plan import ALIGN

    return 2 * ALIGN if getattr(detector, "halved_input", False) else ALIGN


#: Largest change of a region or affinity score :func:`context_margin` allows in what a tile owns when it
#: trims the impulse's reach (the maps are thresholded at 0.4 and 0.7; bfloat16 alone moves scores by ~0.008).
EDGE_TOL = 0.02


def context_margin(detector, size: int = 1024, tol: float = 1e-3, edge_tol: float = EDGE_TOL) -> int:
    """Context a tile needs beyond what it owns, measured from the detector itself (as StarDist does).

    Runs ``detector`` on a page of dark letter-like marks in lines and on the
    same page with a 3 x 3 patch in the middle inverted (the impulse), and finds
    the farthest map pixel whose region or affinity score changed by more than
    ``tol`` times the largest change: pixels that far from a tile's inner edge
    see everything the whole-image maps would see there.  The page must look
    like text: a trained network's response on blank paper dies out within a
    few pixels (10 px, where a text background gives ~200 px), which would
    badly underestimate the context it uses on a real scan.

    That reach is then trimmed where the tile's edge itself shows less
    (:func:`_edge_trim`): the impulse reaches further than a tile edge matters.

    Starts with a ``size`` px page and doubles it while the change reaches
    near its edges.

    Returns
    -------
    int
        The margin in working pixels (even), at least 2.
    """
    while True:
        try:
            reach = _impulse_reach(detector, size, tol)
            break
        except _TooSmall:
            if size >= 4096:
                raise ParameterError("the detector's context reaches beyond 4096 px; pass a margin") from None
            size *= 2
    return _edge_trim(detector, reach, edge_tol)


def _edge_trim(detector, reach: int, tol: float, core: int = 256, text: float = 0.7) -> int:
    """The least margin, on the network's alignment and below ``reach``, from which every larger one keeps
    the maps of a tile's core within ``tol`` of the whole page's (or ``reach``).

    Windows of the letter-like page around a ``core`` px square in its middle,
    each reading ``m`` px of context as the grid's tiles read it (starting on
    the alignment), are compared with the whole page's maps, ``m`` going down
    from the largest multiple of the alignment below ``reach`` and stopping at
    the first that changes a score of the core by more than ``tol``.  Only for
    a detector that finds the page's marks (a region score of ``text`` in the
    core): one that hardly answers them would show no edge at any margin.
    """
    from bigocr.testing import make_page

    align = grid_align(detector)
    if reach <= align:
        return reach
    size = -(-(core + 2 * (reach + align)) // align) * align
    page, _ = make_page(size, size, words=size * size // 2600, seed=0)
    whole = check_maps(page, detector(page))
    c = (size - core) // 2 // align * align
    owned = slice(c // 2, (c + core) // 2)
    if not whole[0][owned, owned].max() >= text:
        return reach
    margin = reach
    for m in range((reach - 1) // align * align, 0, -align):
        start = (c - m) // align * align
        window = page[start:c + core + m, start:c + core + m]
        maps = check_maps(window, detector(window))
        inner = slice((c - start) // 2, (c - start + core) // 2)
        if max(float(np.abs(t[inner, inner] - w[owned, owned]).max()) for t, w in zip(maps, whole)) > tol:
            break
        margin = m
    return margin


#: Bumped when the way :func:`context_margin` measures changes: older cached margins are not used.
MARGIN_METHOD = 2

_MARGINS: dict[str, int] = {}
_MARGINS_LOCK = threading.Lock()


def margins_file() -> Path:
    """Where measured margins are kept between runs (``$BIGOCR_CACHE`` or ``~/.cache/bigocr``)."""
    return Path(os.environ.get("BIGOCR_CACHE") or Path.home() / ".cache" / "bigocr") / "margins.json"


def margin_key(detector) -> str | None:
    """What the margin depends on, for detectors that name their weights by sha256 (None: not cached)."""
    info = getattr(detector, "model_info", None)
    if not isinstance(info, dict) or not info.get("sha256"):
        return None
    return json.dumps({"method": MARGIN_METHOD, "detector": type(detector).__name__, "model": info,
                       "device": torch.device(resolve_device(getattr(detector, "device", "cpu"))).type},
                      sort_keys=True, default=str)


def _on_cpu(detector):
    """CRAFT weights measured here on the CPU: the reach is the weights' own, and the caller of a cluster
    of GPU workers may have no GPU.  An int8 twin's reach is its float32 network's: the twin computes the same
    function to within its rounding (up to 0.15 of a score), and that rounding, which a changed pixel flips
    far from it, is not context a tile needs (measured on the twin itself, craft-fast's margin grew from 320 to
    448 px, 1.4x the pixels of a 3 072 px tile)."""
    if isinstance(detector, InvertBoth):
        return InvertBoth(_on_cpu(detector.detector))
    if isinstance(detector, CraftDetector) and (detector.device != "cpu" or detector.precision == "int8"):
        precision = "fp32" if detector.precision == "int8" else detector.precision
        return CraftDetector(detector.craft, detector.refiner, "cpu", precision)
    return detector


#: The margins of the weights bigocr ships and installs, measured in float32 on the CPU by
#: ``python -m bigocr.dev.margins`` (keys as :func:`margin_key` makes them: new weights have a new sha256,
#: so a stale entry is never used, only measured again).  A margin in the user's cache (measured on that
#: machine) wins over this table's; bump :data:`MARGIN_METHOD` when the measurement changes.
SHIPPED_MARGINS = Path(__file__).resolve().parents[1] / "models" / "files" / "margins.json"


def measured_margin(detector) -> int:
    """:func:`context_margin`, measured once per weights, precision and device kind and then remembered.

    The measurement runs the detector on a 1024 px page twice and on a few
    windows of another (on two AMD EPYC cores in float32: 3 s for
    ``craft-fast``, 45 s for the full-width CRAFTs), so it is kept in this
    process and in :func:`margins_file` (written atomically; a cache that
    cannot be read or written is ignored).  The shipped weights' float32
    margins come measured with bigocr (:data:`SHIPPED_MARGINS`): a first run
    does not wait for them.  Callables without weights are measured every time.
    """
    detector = _on_cpu(detector)
    key = margin_key(detector)
    if key is None:
        return context_margin(detector)
    path = margins_file()
    with _MARGINS_LOCK:
        if key not in _MARGINS:
            _MARGINS.update({**_stored_margins(SHIPPED_MARGINS), **_stored_margins(path)})
        if key in _MARGINS:
            return _MARGINS[key]
    margin = context_margin(detector)
    with _MARGINS_LOCK:
        _MARGINS[key] = margin
        try:
            _store_margin(path, key, margin)
        except OSError:
            pass
    return margin


def _stored_margins(path: Path) -> dict[str, int]:
    try:
        stored = json.loads(path.read_text())
        return {k: int(v) for k, v in stored.items()} if isinstance(stored, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def _store_margin(path: Path, key: str, margin: int) -> None:
    """Add ``key`` to the margins file, keeping what other processes wrote there meanwhile.

    Read, merge and replace under an exclusive lock on a lock file beside it
    (where ``fcntl`` exists), the replace atomic: two runs that measure at once
    both keep their margin, and a reader never sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # no fcntl (Windows): merge without the lock
            pass
        merged = {**_stored_margins(path), key: margin}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged, indent=0, sort_keys=True))
        os.replace(tmp, path)


class _TooSmall(Exception):
    pass


def _impulse_reach(detector, size: int, tol: float) -> int:
    from bigocr.testing import make_page  # deterministic letter-like marks, no fonts needed

    page, _ = make_page(size, size, words=size * size // 2600, seed=0)
    dot = page.copy()
    c = size // 2
    dot[c - 1:c + 2, c - 1:c + 2] = 255 - dot[c - 1:c + 2, c - 1:c + 2]
    r0, a0 = check_maps(page, detector(page))
    r1, a1 = check_maps(dot, detector(dot))
    change = np.maximum(np.abs(r1 - r0), np.abs(a1 - a0))
    if not change.max() > 0:
        return 2
    ys, xs = np.nonzero(change > tol * change.max())
    reach = int(max(np.abs(ys - c // 2).max(), np.abs(xs - c // 2).max())) + 1
    if reach >= size // 4 - 1:
        raise _TooSmall()
    return 2 * reach

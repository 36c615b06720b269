"""Setting up a run, once for any number of scans: models, defaults, tiling, resources.

:func:`prepare` is the one chain every front end goes through (``detect``,
``batch``, ``bigocr plan``, ``bigocr eval``): resolve the detector (weights
or a callable), fill the defaults that depend on it (``scale``, ``coarse``),
resolve the recognizer, wrap the detector for ``invert="both"``, choose the
tiling and measure the grid's margin, and work out the Dask resources.  The
per-scan part (the scale measured from a scan's letters, the tile plan) is
:func:`resolve_scale` and :func:`bigocr.engine.job.open_job`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

from bigocr.config import Params
from bigocr.detector.infer import CraftDetector, InvertBoth, grid_align
from bigocr.errors import ParameterError
from bigocr.tiler.scan import Scan
from bigocr.words.coarse import COARSE

__all__ = ["Setup", "prepare", "resolve_detector", "resolve_reader", "resolve_scale", "default_scale",
           "default_coarse", "with_tiling", "resolve_resources", "on_cluster"]

log = logging.getLogger("bigocr")


@dataclass(frozen=True)
class Setup:
    """Everything about a run that does not depend on the scan.

    Attributes
    ----------
    params : Params
        With ``scale``, ``coarse``, ``tiling`` and ``margin`` chosen (``scale``
        may still be ``"auto"``: measured per scan).
    detector : callable
        What the tiles run: a :class:`~bigocr.detector.infer.CraftDetector`, a
        callable, or either wrapped in :class:`~bigocr.detector.infer.InvertBoth`.
    model : dict
        The detector's identity, and the recognizer's under ``"recognizer"``.
    run_device : str or None
        The device the detector runs on (None: resolved on the workers).
    reader : callable or None
        The recognizer, or None when the words are not read.
    resources : dict or None
        Dask resources each tile task needs.
    """

    params: Params
    detector: object
    model: dict
    run_device: str | None
    reader: object
    resources: dict | None


def prepare(params: Params, *, detector=None, refiner=None, device: str = "auto", precision: str = "auto",
            scheduler=None, text: bool = False, recognizer=None, resources=None) -> Setup:
    """The :class:`Setup` of a run: models resolved, defaults filled, tiling chosen.

    Parameters are those of :func:`bigocr.detect` (``params`` holds the
    detection parameters as given).  Raises :class:`~bigocr.errors.WeightsError`
    or :class:`~bigocr.errors.ParameterError` before any scan is touched.
    """
    resources = resolve_resources(resources, scheduler, device)
    det, model = resolve_detector(detector, refiner, device, resolve=not on_cluster(scheduler), precision=precision)
    log.info("detector: %s", model.get("name"))
    params = replace(params, scale=default_scale(params.scale, det), coarse=default_coarse(params.coarse, det))
    reader, model = resolve_reader(text, recognizer, device, model, precision)
    run_device = getattr(det, "device", None)
    if params.invert == "both":
        det = InvertBoth(det)
    return Setup(with_tiling(params, det), det, model, run_device, reader, resources)


def resolve_detector(detector, refiner=None, device: str = "auto", resolve: bool = True, precision: str = "auto"):
    """Turn ``detector`` (None, a weights path, or a callable) into ``(callable, model_info)``.

    ``resolve=False`` leaves ``device`` to be resolved on the workers.
    """
    if detector is None:
        from bigocr.detector import default_weights

        detector = default_weights(refiner=refiner is not None)
    from bigocr.models.registry import resolve_weights

    detector = resolve_weights(detector)
    if isinstance(detector, (str, os.PathLike)):
        craft = CraftDetector.from_files(detector, refiner, device, resolve=resolve, precision=precision)
        return craft, craft.model_info
    if refiner is not None:
        raise ParameterError("refiner= applies to CRAFT weights; pass weights with it, not a callable detector")
    if precision != "auto":
        raise ParameterError("precision= applies to CRAFT weights; a callable detector chooses its own")
    if not callable(detector):
        raise ParameterError(f"detector must be None, a weights path or a callable, got {type(detector).__name__}")
    info = getattr(detector, "model_info", None) or {"name": getattr(detector, "__name__", type(detector).__name__),
                                                     "sha256": None}
    return detector, dict(info)


def default_scale(scale, detector):
    """``scale`` as given, or for None: ``"auto"`` for CRAFT weights, 1 for any other detector."""
    if scale is not None:
        return scale
    return "auto" if isinstance(detector, CraftDetector) else 1.0


def default_coarse(coarse, detector):
    """``coarse`` as given, or for None: the headline pass (:data:`COARSE`) for CRAFT weights, none for any other."""
    if coarse is not None:
        return coarse
    return COARSE if isinstance(detector, CraftDetector) else 0.0


def resolve_reader(text: bool, recognizer, device: str, model: dict, precision: str = "auto") -> tuple[object, dict]:
    """The recognizer to run (None without ``text``) and ``model`` with its identity under ``"recognizer"``."""
    if not text:
        if recognizer is not None:
            raise ParameterError("recognizer= reads the words only with text=True")
        return None, model
    from bigocr.recognizer import resolve_recognizer

    reader, info = resolve_recognizer(recognizer, device, precision)
    return reader, {**model, "recognizer": info}


def resolve_scale(params: Params, scan: Scan) -> tuple[Params, dict]:
    """``params`` with ``scale="auto"`` replaced by the factor measured on ``scan``, and how it was chosen."""
    if params.scale != "auto":
        return params, {"rule": "given", "scale": params.scale}
    from bigocr.tiler.textsize import auto_scale

    scale, info = auto_scale(scan)
    return replace(params, scale=scale), {"rule": "auto", **info}


def with_tiling(params: Params, detector) -> Params:
    """``params`` with the tiling chosen and the grid's context margin measured from ``detector`` where not given.

    The default tiling (``params.tiling`` None) is the grid for CRAFT weights
    (or a given margin) and the thirds for other detectors, whose reach an
    impulse may not measure; also the thirds when ``max_side`` is too small to
    hold the measured margin (the grid's tiles would have no core).

    ``max_side`` caps the side of what the network sees: a half-input CRAFT
    sees tiles halved, so its tiles may be twice as long in working pixels
    (the returned ``max_side`` is in working pixels).
    """
    if getattr(detector, "halved_input", False):  # and its pooling grid is twice as coarse in working pixels
        params = replace(params, halved=True, align=grid_align(detector))
    cap = getattr(getattr(detector, "detector", detector), "max_input", None)  # InvertBoth wraps it
    if cap is not None and params.max_side > cap:
        log.info("max_side %d capped at %d: the detector's int8 model holds a whole tile", params.max_side, cap)
        params = replace(params, max_side=cap)
    tiling, chosen = params.tiling, params.tiling is None
    if chosen:
        craft = isinstance(getattr(detector, "detector", detector), CraftDetector)  # InvertBoth wraps it
        tiling = "grid" if craft or params.margin is not None else "thirds"
    if tiling != "grid" or params.margin is not None:
        return replace(params, tiling=tiling)
    from bigocr.detector.infer import measured_margin
    from bigocr.tiler.plan import grid_fits

    margin = measured_margin(detector)
    if chosen and not grid_fits(params.tile_side, margin, params.align):
        log.info("max_side %d is too small for the grid's context margin of %d px: tiling in thirds",
                 params.max_side, margin)
        return replace(params, tiling="thirds")
    log.info("context margin measured from the detector: %d px", margin)
    return replace(params, tiling="grid", margin=margin)


def resolve_resources(resources, scheduler, device: str) -> dict | None:
    """Dask resources each tile task needs: the given ones, or ``GPU=1`` for a CUDA device on a cluster."""
    if isinstance(resources, str):
        parsed = {}
        for part in filter(None, (p.strip() for p in resources.split(","))):
            name, _, amount = part.partition("=")
            try:
                parsed[name.strip()] = float(amount)
            except ValueError:
                raise ParameterError(f"resources must look like GPU=1 or GPU=1,MEM=8e9, got {resources!r}") from None
            if not name.strip() or parsed[name.strip()] <= 0:
                raise ParameterError(f"resources must look like GPU=1 or GPU=1,MEM=8e9, got {resources!r}")
        return parsed or None
    if resources is not None:
        if not isinstance(resources, dict):
            raise ParameterError(f"resources must be a dict such as {{'GPU': 1}}, got {type(resources).__name__}")
        return dict(resources) or None
    if on_cluster(scheduler) and str(device).startswith("cuda"):
        return {"GPU": 1}
    return None


def on_cluster(scheduler) -> bool:
    return scheduler not in (None, "synchronous") or (scheduler is None and bool(os.environ.get("DASK_SCHEDULER_ADDRESS")))

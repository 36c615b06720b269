"""One scan end to end: scan -> tiles -> maps -> labels -> boxes -> outputs.

Tiles are Dask tasks.  Each task reads its own window of the scan, runs the
detector, and writes the part of the maps it owns into ``maps.zarr`` (whole
chunks only, so writers never collide).  When every tile is in, the client
labels the stitched map once, block by block, and extracts the boxes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bigocr.config import Params
from bigocr.detector.infer import CraftDetector, InvertBoth, check_maps
from bigocr.errors import OutputError, ParameterError
from bigocr.merge.boxes import extract_words
from bigocr.merge.label import label_components
from bigocr.merge.stitch import create_maps, open_maps, write_tile
from bigocr.layout import analyse_layout
from bigocr.result import Result
from bigocr.writers import FORMATS, parse_formats, write_outputs
from bigocr.tiler.plan import Tile, TilePlan, plan_tiles
from bigocr.tiler.scan import DEFAULT_MAX_PIXELS, Scan, open_scan

__all__ = ["detect", "default_out", "resolve_detector", "run_tile"]

log = logging.getLogger("bigocr")

#: Blocks of the map labelled at a time, in map pixels (rounded to whole chunks).
LABEL_BLOCK = 2048


def default_out(source) -> Path:
    """``./<stem>.bigocr/`` for a scan path."""
    return Path.cwd() / f"{Path(source).stem}.bigocr"


def resolve_detector(detector, refiner=None, device: str = "auto"):
    """Turn ``detector`` (None, a weights path, or a callable) into ``(callable, model_info)``."""
    if detector is None:
        from bigocr.detector import default_weights

        detector = default_weights()
    if isinstance(detector, str):
        from bigocr.detector.download import PUBLISHED, resolve_named

        if detector in PUBLISHED:
            detector = resolve_named(detector)
    if isinstance(detector, (str, os.PathLike)):
        craft = CraftDetector.from_files(detector, refiner, device)
        return craft, craft.model_info
    if refiner is not None:
        raise ParameterError("refiner= applies to CRAFT weights; pass weights with it, not a callable detector")
    if not callable(detector):
        raise ParameterError(f"detector must be None, a weights path or a callable, got {type(detector).__name__}")
    info = getattr(detector, "model_info", None) or {"name": getattr(detector, "__name__", type(detector).__name__),
                                                     "sha256": None}
    return detector, dict(info)


def run_tile(scan: Scan, tile: Tile, detector, maps_path: str, torch_threads: int | None = None) -> dict:
    """Detect one tile and write its owned maps. Runs on a Dask worker.

    Returns
    -------
    dict
        The tile's index and seconds spent reading, detecting and writing.
    """
    if torch_threads:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    t0 = time.perf_counter()
    pixels = scan.read(*tile.window)
    t1 = time.perf_counter()
    region, affinity = check_maps(pixels, detector(pixels))
    t2 = time.perf_counter()
    write_tile(open_maps(maps_path, mode="r+"), tile, region, affinity)
    t3 = time.perf_counter()
    return {"index": tile.index, "read": t1 - t0, "detect": t2 - t1, "write": t3 - t2}


#: Everything a run writes into OUT, ``words.json`` (the mark of a finished run) first.
OUTPUT_NAMES = (*FORMATS.values(), "maps.zarr", "preview.png", "heatmap-region.png", "heatmap-affinity.png")


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; choose another -o")
    existing = [name for name in OUTPUT_NAMES if (out / name).exists()]
    if existing and not force:
        raise OutputError(f"{out}: already holds {', '.join(existing)}; pass --force to overwrite or choose another -o")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in existing:  # words.json first: a half-replaced OUT never looks complete
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    except OSError as exc:
        raise OutputError(f"{out}: cannot write: {exc.strerror or exc}") from None


def _local_workers() -> int:
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _client(scheduler, threads: int | None = None):
    """A dask.distributed client: the given one, one to an address, or a local cluster.

    Yields ``(client, torch_threads)``: on a local cluster, ``threads`` tiles run at
    once (default: one per core) and each uses ``cores // threads`` torch threads.
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        scheduler = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if isinstance(scheduler, Client):
        yield scheduler, None
        return
    if scheduler is None:
        # Threads in this process: the model is loaded once and shared, reads and
        # decodes overlap the network, and nothing is pickled.
        threads = threads or _local_workers()
        # The scheduler always serves HTTP: keep it on a free loopback port.
        with LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                          dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0") as cluster, \
                Client(cluster) as client:
            yield client, max(1, _local_workers() // threads)
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"--scheduler {scheduler}: cannot reach the Dask scheduler: {exc}") from None
    with client:
        yield client, None


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="tile", desc="tiles", file=sys.stderr, disable=not enabled, leave=False)


def _run_tiles(plan: TilePlan, scan: Scan, detector, maps_path: str, scheduler, progress: bool,
               threads: int | None = None) -> list[dict]:
    if scheduler == "synchronous":
        reports = []
        with _progress(len(plan.tiles), progress) as bar:
            for tile in plan.tiles:
                reports.append(run_tile(scan, tile, detector, maps_path))
                bar.update()
        return reports
    from distributed import as_completed

    with _client(scheduler, threads) as (client, torch_threads):
        scan_ref = client.scatter(scan, hash=False)
        detector_ref = client.scatter(detector, hash=False)
        futures = [client.submit(run_tile, scan_ref, tile, detector_ref, maps_path, torch_threads,
                                 key=f"bigocr-tile-{tile.index[0]}-{tile.index[1]}-{id(plan):x}", pure=False)
                   for tile in plan.tiles]
        reports = []
        try:
            with _progress(len(futures), progress) as bar:
                for future in as_completed(futures):
                    reports.append(future.result())
                    bar.update()
        except BaseException:
            client.cancel(futures)
            raise
    return reports


def detect(source, *, max_side: int = 2560, detector=None, scheduler=None, poly: bool = False,
           text_threshold: float = 0.7, link_threshold: float = 0.4, low_text: float = 0.4, out=None,
           refiner=None, invert: str = "none", device: str = "auto", force: bool = False,
           progress: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS, threads: int | None = None,
           page: int = 0, formats=("json",), preview: bool = False, heatmap: bool = False) -> Result:
    """Find every word of a scan at full resolution.

    Parameters
    ----------
    source : str, Path or ndarray
        A scan file (TIFF/BigTIFF, PNG, JPEG, JPEG 2000) or an array ``(H, W)`` /
        ``(H, W, C)``.
    max_side : int
        Cap on a tile's longer side, in scan pixels.
    detector : None, str, Path or callable
        None for the default weights; a weights file (reference ``.pth`` or
        bigocr ``.safetensors``); or a callable ``detector(tile) -> (region,
        affinity)`` taking ``(h, w, 3)`` uint8 RGB and returning float32 maps
        of shape ``(ceil(h/2), ceil(w/2))``.
    scheduler : None, str, distributed.Client or "synchronous"
        None runs a local cluster on this machine (or the one named by
        ``DASK_SCHEDULER_ADDRESS``); an address or a Client runs on that
        cluster; ``"synchronous"`` runs the tiles one by one in this process.
    poly : bool
        Also make CRAFT's polygons.
    text_threshold, link_threshold, low_text : float
        CRAFT's post-processing thresholds.
    out : str or Path, optional
        Folder for ``words.json`` and ``maps.zarr``; without it the maps live
        in a temporary folder and nothing is written.
    refiner : str or Path, optional
        LinkRefiner weights; replaces the affinity map.
    invert : {"none", "both"}
        ``"both"`` also detects on the inverted scan (white-on-black text).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    force : bool
        Overwrite results already in ``out``.
    progress : bool
        Show a progress bar over tiles on stderr.
    max_pixels : int
        Largest scan accepted, checked against the header.
    threads : int, optional
        Tiles in flight on the local cluster (default: one per core); the cores
        are shared out among them as torch threads.
    page : int
        0-based page of a multi-page TIFF.
    formats : str or sequence of str
        Files written into ``out``: any of ``json`` (``words.json``), ``alto``
        (``alto.xml``), ``page`` (``page.xml``), ``hocr`` (``hocr.html``),
        ``geojson`` (``words.geojson``); ``"json,alto"`` works too.
    preview : bool
        Also write ``out/preview.png`` (the scan shrunk to 4000 px, words drawn).
    heatmap : bool
        Also write ``out/heatmap-region.png`` and ``out/heatmap-affinity.png``.

    Returns
    -------
    Result
        ``Result.words`` holds boxes in scan pixels in reading order;
        ``Result.layout`` their lines and blocks; ``Result.to_dict()`` is ``words.json``.

    Raises
    ------
    ScanError
        The scan is missing, unreadable, corrupt or larger than ``max_pixels``.
    WeightsError
        No weights, or weights that do not fit CRAFT.
    OutputError
        ``out`` holds results (without ``force``) or cannot be written.
    ParameterError
        An argument is out of range.

    Examples
    --------
    >>> import bigocr                                           # doctest: +SKIP
    >>> result = bigocr.detect("scan.tif", out="scan.bigocr",   # doctest: +SKIP
    ...                        formats="json,alto,page")
    >>> result.words[0].box                                     # doctest: +SKIP
    array([[412., 388.], [590., 388.], [590., 431.], [412., 431.]], dtype=float32)
    """
    t_start = time.perf_counter()
    params = Params(max_side, text_threshold, link_threshold, low_text, poly, invert)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads must be a positive integer, got {threads!r}")
    formats = parse_formats(formats)
    if (preview or heatmap) and out is None:
        raise ParameterError("preview and heatmap are written into an output folder; pass out=")
    scan = open_scan(source, max_pixels=max_pixels, page=page)
    plan = plan_tiles(scan.height, scan.width, params.max_side)
    summary = plan.summary()
    log.info("%s: %d x %d px, page %d of %d, dpi %s", scan.name, scan.width, scan.height, scan.page + 1,
             scan.pages, scan.dpi)
    log.info("plan: %d tiles, %.2fx the scan's pixels, chunks %s", len(plan.tiles),
             summary["pixels_ratio"], plan.chunks)
    detector, model = resolve_detector(detector, refiner, device)
    log.info("detector: %s", model.get("name"))
    run_device = getattr(detector, "device", None)
    if params.invert == "both":
        detector = InvertBoth(detector)

    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        _prepare_out(out_dir, force)
    tmp = tempfile.TemporaryDirectory(prefix="bigocr-") if out_dir is None else contextlib.nullcontext()
    with tmp as tmp_dir:
        maps_path = str((out_dir if out_dir is not None else Path(tmp_dir)) / "maps.zarr")
        attrs = {
            "bigocr": {"complete": False, "map_scale": 2, "axes": "yx",
                       "model": model, "params": params.to_dict(), "plan": summary,
                       "scan": scan.info()},
        }
        group = create_maps(maps_path, plan, attrs)
        t_tiles = time.perf_counter()
        reports = _run_tiles(plan, scan, detector, maps_path, scheduler, progress, threads)
        t_label = time.perf_counter()
        block = tuple(c * max(1, LABEL_BLOCK // c) for c in plan.chunks)
        region, affinity = group["region"], group["affinity"]
        comps = label_components(region, affinity, low_text=low_text, link_threshold=link_threshold, block=block)
        t_boxes = time.perf_counter()
        log.info("tiles done in %.1f s; %d components labelled in %.1f s", t_label - t_tiles, len(comps),
                 t_boxes - t_label)
        words = extract_words(region, affinity, comps, text_threshold=text_threshold, low_text=low_text,
                              link_threshold=link_threshold, poly=poly, block=block)
        order, layout = analyse_layout([w.box for w in words]).renumbered()
        words = [words[i] for i in order]
        log.info("%d words in %d lines and %d blocks (skew %.2f degrees)", len(words), len(layout.lines),
                 len(layout.blocks), layout.skew)
        t_end = time.perf_counter()
        attrs["bigocr"]["complete"] = True
        group.attrs.update(attrs)
        if heatmap:
            from bigocr.preview import write_heatmaps

            write_heatmaps(group, out_dir)

    timings = {
        "open": t_tiles - t_start,
        "tiles": t_label - t_tiles,
        "read": float(np.sum([r["read"] for r in reports])),
        "detect": float(np.sum([r["detect"] for r in reports])),
        "write": float(np.sum([r["write"] for r in reports])),
        "label": t_boxes - t_label,
        "boxes": t_end - t_boxes,
    }
    result = Result(
        scan=scan.info(),
        model=model,
        params={**params.to_dict(), "device": run_device},
        tiles={"count": summary["count"], "pixels": summary["pixels"], **summary},
        words=words,
        timings=timings,
        out=out_dir,
        layout=layout,
    )
    if out_dir is not None and preview:
        from bigocr.preview import write_preview

        t0 = time.perf_counter()
        write_preview(scan, result, out_dir)
        timings["preview"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    if out_dir is not None:
        try:
            written = write_outputs(result, out_dir, formats)
            log.info("wrote %s", ", ".join(str(p) for p in written))
        except OSError as exc:
            raise OutputError(f"{out_dir}: cannot write results: {exc.strerror or exc}") from None
    return result


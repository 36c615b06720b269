"""The library's front door: :func:`detect`, :func:`recognize` and :func:`detect_batch`.

Each turns its keywords into the engine's terms (:class:`~bigocr.config.Params`,
:func:`~bigocr.engine.setup.prepare`, :func:`~bigocr.engine.job.open_job`) and
runs the stages (:func:`~bigocr.engine.stages.execute`) on a runner.  The CLI,
``bigocr eval`` and any new front end (an OCR-D processor, an OCRmyPDF plugin)
call these or the engine's public names, nothing private.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from bigocr.config import Params
from bigocr.document import Result, Word
from bigocr.engine.batch import IN_FLIGHT, BatchItem, read_list, run_batch
from bigocr.engine.job import TEXT_PARTS, Job, claim_out, load_complete, open_job, write_results
from bigocr.engine.runner import open_runner, progress_bar
from bigocr.engine.setup import Setup, prepare
from bigocr.engine.stages import execute, laid_out, read_lines, read_words
from bigocr.errors import OutputError, ParameterError, SchedulerLost
from bigocr.outdir import OutDir, is_url
from bigocr.tiler.scan import DEFAULT_MAX_PIXELS, open_scan
from bigocr.words.lines import line_shapes
from bigocr.writers import parse_formats

__all__ = ["detect", "recognize", "detect_batch", "default_out", "out_location"]

log = logging.getLogger("bigocr")


def default_out(source) -> Path:
    """``./<stem>.bigocr/`` for a scan path (for a IIIF URL, the image's identifier: ``.../ID/info.json`` ->
    ``ID.bigocr``)."""
    from bigocr.outdir import source_stem

    return Path.cwd() / f"{source_stem(source)}.bigocr"


def out_location(out):
    """``-o``'s value as :class:`OutDir` takes it: a URL stays a URL (``Path`` would make ``s3:/b`` of
    ``s3://b``), anything else is a path."""
    return out if is_url(str(out)) else Path(out)


def detect(source, *, max_side: int = 2560, detector=None, scheduler=None, poly: bool = False,
           text_threshold: float = 0.7, link_threshold: float = 0.4, low_text: float = 0.4, out=None,
           refiner=None, invert: str = "none", device: str = "auto", force: bool = False,
           progress: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS, threads: int | None = None,
           page: int = 0, formats=("json",), preview: bool = False, heatmap: bool = False,
           resources=None, tiling: str | None = None, margin: int | None = None, precision: str = "auto",
           scale: float | str | None = None, coarse: float | None = None, text: bool = False,
           recognizer=None, wait: bool = False, dpi: float | None = None,
           password: str | None = None) -> Result:
    """Find every word of a scan at full resolution.

    Parameters
    ----------
    source : str, Path or ndarray
        A scan file (TIFF/BigTIFF, PNG, JPEG, JPEG 2000, or a PDF: see ``page``, ``dpi``) or an array ``(H, W)`` /
        ``(H, W, C)``.
    max_side : int
        Cap on the longer side of a tile as the network sees it.  A network that
        sees tiles whole sees working pixels (scan pixels times ``scale``); a
        half-input one (``craft-fast``) sees them halved, so its tiles may be
        twice as long in working pixels (:attr:`bigocr.config.Params.tile_side`).
    scale : float, "auto" or None
        Resample the scan by this factor, tile by tile, before the detector
        sees it (never decoded whole); boxes come back in scan pixels.
        ``"auto"`` picks the factor from the scan's letter height so that
        letters land in the size band where CRAFT measured best (see the
        README).  None (default): ``"auto"`` for CRAFT weights, 1 for a
        callable detector (the band is CRAFT's).
    coarse : float or None
        The headline pass: the scan is detected again at ``coarse`` times the
        scale (a sixteenth of the work at 0.25), where text three to six times
        the body's height is in the band; its tall words replace the pieces
        the first pass made of them.  0: no second pass.  None (default): 0.25
        for CRAFT weights, 0 for a callable detector.
    detector : None, str, Path or callable
        None for the default weights; a weights file (reference ``.pth`` or
        bigocr ``.safetensors``); or a callable ``detector(tile) -> (region,
        affinity)`` taking ``(h, w, 3)`` uint8 RGB and returning float32 maps
        of shape ``(ceil(h/2), ceil(w/2))``.
    scheduler : None, str, distributed.Client or "synchronous"
        None runs a local cluster on this machine (or the one named by
        ``DASK_SCHEDULER_ADDRESS``); an address or a Client runs on that
        cluster (the detector is installed on each worker once, as a worker
        plugin); ``"synchronous"`` runs the tiles one by one in this process.
    poly : bool
        Also make CRAFT's polygons.
    text_threshold, link_threshold, low_text : float
        CRAFT's post-processing thresholds.
    out : str or Path, optional
        Folder for ``words.json`` and ``maps.zarr``: a path or an fsspec URL
        the workers can reach (``file:///shared/out``, ``s3://bucket/out``);
        without it the maps live in a temporary folder and nothing is written.
        An OUT left by an interrupted run of the same job is resumed; a
        finished one is returned as it is.
    refiner : str or Path, optional
        LinkRefiner weights; replaces the affinity map.
    invert : {"none", "both"}
        ``"both"`` also detects on the inverted scan (white-on-black text).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    precision : {"auto", "fp32", "bf16", "int8"}
        Arithmetic of the network: ``"auto"`` uses bfloat16 autocast where it is
        fast (GPUs, CPUs with AMX) and float32 elsewhere; ``"int8"`` runs the
        default detector's int8 model in ONNX Runtime on the CPU
        (:mod:`bigocr.models.int8`; ``pip install 'bigocr[int8]'``), tiles of at
        most its :data:`~bigocr.models.int8.MAX_INPUT` px, the readers as ``"auto"``.
    force : bool
        Remove results already in ``out`` and start again (needed when they
        come from another scan, model or parameters).
    progress : bool
        Show a progress bar over tiles on stderr.
    max_pixels : int
        Largest scan accepted, checked against the header.
    threads : int, optional
        Tiles in flight on the local cluster (default: one per core); the cores
        are shared out among them as torch threads.
    page : int
        0-based page of a multi-page TIFF or a PDF.
    dpi : float, optional
        Resolution a PDF page that is not one scanned image is rendered at
        (default 300); a scanned page is read from its image as stored.
    password : str, optional
        The password of an encrypted PDF.
    formats : str or sequence of str
        Files written into ``out``: any of ``json`` (``words.json``), ``alto``
        (``alto.xml``), ``page`` (``page.xml``), ``hocr`` (``hocr.html``),
        ``geojson`` (``words.geojson``); ``"json,alto"`` works too.
    preview : bool
        Also write ``out/preview.png`` (the scan shrunk to 4000 px, words drawn).
    heatmap : bool
        Also write ``out/heatmap-region.png`` and ``out/heatmap-affinity.png``.
    tiling : {"thirds", "grid"}, optional
        ``"grid"``: a flat grid of tiles of up to ``max_side``, each owning its
        core and reading ``margin`` pixels of context around it; ``"thirds"``:
        the recursive half-size thirds.  Both give the maps of one whole-scan
        pass; the grid runs fewer pixels (0.45x the thirds' on a 98 MP scan).
        Default: grid for CRAFT weights, thirds for other detectors (whose
        reach may not be measurable by an impulse).
    margin : int, optional
        The grid's context in working pixels; default: measured from the detector
        by feeding it an impulse (:func:`bigocr.detector.infer.context_margin`).
    text : bool
        Also read each word (``Word.text``, ``Word.confidence``): a CRNN + CTC
        recognizer on crops cut from the scan at full resolution, as Dask tasks.
        ``bigocr run`` reads by default; ``--no-text`` does not.
    recognizer : None, str, Path or callable
        With ``text``: None for the default (``"auto"``: bigocr's ``documents``
        or ``historical`` model, whichever is more confident on each group of
        words), a name (``documents``, ``historical``, ``english-g2``), a
        weights file, or a callable taking a list of gray word images and
        returning ``(text, confidence)`` pairs.
    resources : dict or str, optional
        Dask resources each tile task needs on a cluster, e.g. ``{"GPU": 1}``
        or ``"GPU=1"``; default ``GPU=1`` when ``device`` is CUDA and the run is
        on a cluster.  A cluster with no such worker fails at once.
    wait : bool
        When another bigocr run holds ``out`` (its lock), wait for it to end
        instead of failing with an :class:`OutputError`.

    Returns
    -------
    Result
        ``Result.words`` holds boxes in scan pixels in reading order;
        ``Result.layout`` their lines and blocks; ``Result.to_dict()`` is ``words.json``;
        ``Result.run["state"]`` says whether it was computed, resumed or already complete.

    Raises
    ------
    ScanError
        The scan is missing, unreadable, corrupt or larger than ``max_pixels``.
    WeightsError
        No weights, or weights that do not fit CRAFT.
    OutputError
        ``out`` holds another job's results (without ``force``) or cannot be written.
    ClusterError
        The Dask cluster has no workers (with the resources), or they keep dying.
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
    params = Params(max_side, text_threshold, link_threshold, low_text, poly, invert, tiling, margin, scale, coarse)
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ParameterError(f"threads must be a positive integer, got {threads!r}")
    formats = parse_formats(formats)
    if (preview or heatmap) and out is None:
        raise ParameterError("preview and heatmap are written into an output folder; pass out=")
    scan = open_scan(source, max_pixels=max_pixels, page=page, dpi=dpi, password=password)  # before the models
    setup = prepare(params, detector=detector, refiner=refiner, device=device, precision=precision,
                    scheduler=scheduler, text=text, recognizer=recognizer, resources=resources)
    with contextlib.ExitStack() as hold:
        job = open_job(source, params=setup.params, detector_info=(setup.model, setup.run_device), out=out,
                       force=force, max_pixels=max_pixels, page=page, formats=formats, preview=preview,
                       heatmap=heatmap, scan=scan, read=setup.reader is not None, hold=hold, wait=wait)
        if job.state == "complete":
            return load_complete(job)
        return _detect_job(job, setup, scheduler, threads, progress)


def _detect_job(job: Job, setup: Setup, scheduler, threads, progress: bool) -> Result:
    try:
        return _run_job(job, setup, scheduler, threads, progress)
    except SchedulerLost as exc:
        raise SchedulerLost(f"{job.scan.name}: not finished: {exc}; what was done is kept in {job.out}: run the same "
                            "command again to resume" if job.out is not None else
                            f"{job.scan.name}: not finished: {exc}") from None


def _run_job(job: Job, setup: Setup, scheduler, threads, progress: bool) -> Result:
    with open_runner(setup.detector, scheduler, threads, setup.resources, setup.reader) as runner, \
            progress_bar(len(job.plan.tiles), progress) as bar:
        words_bar = None

        def on_read(count):
            nonlocal words_bar
            if words_bar is None:  # the tiles are done: the bar turns to words
                bar.close()
                words_bar = progress_bar(0, progress, unit="word").__enter__()
            words_bar.update(count)

        try:
            return execute(job, runner, lambda report: bar.update(), on_read)
        finally:
            if words_bar is not None:
                words_bar.close()


def recognize(source, boxes, *, recognizer=None, out=None, formats=("json",), scheduler=None,
              threads: int | None = None, device: str = "auto", precision: str = "auto", page: int = 0,
              max_pixels: int = DEFAULT_MAX_PIXELS, force: bool = False, progress: bool = False,
              wait: bool = False, dpi: float | None = None, password: str | None = None) -> Result:
    """Read the words of given boxes: another tool's layout, a corrected PAGE file, an earlier run.

    Parameters
    ----------
    source : str, Path or ndarray
        The scan, as for :func:`detect`; words are cut from it at full resolution.
    boxes : str, Path or sequence
        A ``words.json``, PAGE XML or ALTO file
        (:func:`bigocr.recognizer.given.load_boxes`), or quads ``(4, 2)`` as
        ``(x, y)`` scan pixels, clockwise from the top-left.
    recognizer, device, precision, scheduler, threads, page, max_pixels, progress, dpi, password
        As for :func:`detect`.
    out, formats, force, wait
        Where to write the outputs (nothing is written without ``out``), by
        :func:`detect`'s rules: outputs of an earlier bigocr job there are
        replaced only with ``force``; files bigocr did not write, and the
        ``boxes`` file itself, never.

    Returns
    -------
    Result
        The words with ``text`` and ``confidence``, in reading order.
    """
    from bigocr.recognizer import resolve_recognizer
    from bigocr.recognizer.given import load_boxes

    formats = parse_formats(formats)
    scan = open_scan(source, max_pixels=max_pixels, page=page, dpi=dpi, password=password)
    if isinstance(boxes, (str, os.PathLike)):
        given, origin = load_boxes(boxes), str(boxes)
    else:
        given, origin = [(np.asarray(q, np.float32).reshape(4, 2), 1.0) for q in boxes], None
    reader, info = resolve_recognizer(recognizer, device, precision)
    target = OutDir(out) if out is not None else None
    with contextlib.ExitStack() as hold:
        if target is not None:
            hold.enter_context(target.lock(wait))
            inputs = {"the scan": scan.path, "the --boxes file": boxes if isinstance(boxes, (str, os.PathLike))
                      else None}
            existing = claim_out(target, inputs, force, keep=(TEXT_PARTS,))  # readings so far: a resume point
            results = [name for name in existing if name != TEXT_PARTS]
            if results:
                raise OutputError(f"{target}: already holds {', '.join(results)} of an earlier bigocr job; pass "
                                  "--force to replace them or choose another -o")
            target.record(folders=(TEXT_PARTS,))
        return _recognize_boxes(scan, given, origin, reader, info, target, formats, scheduler, threads, precision,
                                device, progress)


def _recognize_boxes(scan, given, origin, reader, info, target, formats, scheduler, threads, precision, device,
                     progress) -> Result:
    words, layout = laid_out([Word(quad, score) for quad, score in given])
    layout = line_shapes(scan, words, layout)
    t0 = time.perf_counter()
    with open_runner(None, scheduler, threads, None, reader) as runner, \
            progress_bar(len(words), progress, unit="word") as bar:
        words, seconds = read_words(target, runner, scan, words, bar.update)
        layout, line_seconds = read_lines(target, runner, scan, words, layout)
    result = Result(scan=scan.info(), model={"recognizer": info, "boxes": origin},
                    params={"precision": precision, "device": device}, tiles={"count": 0}, words=words,
                    timings={"recognize": seconds, "read lines": line_seconds, "total": time.perf_counter() - t0},
                    out=None if target is None else target.user_path, layout=layout,
                    run={"state": "done", "tiles_run": 0, "tiles_skipped": 0})
    if target is not None:
        write_results(result, target, formats, scan=scan)
    return result


def detect_batch(sources, out_dir, *, list_file=None, max_side: int = 2560, detector=None, scheduler=None,
                 poly: bool = False, text_threshold: float = 0.7, link_threshold: float = 0.4,
                 low_text: float = 0.4, refiner=None, invert: str = "none", device: str = "auto",
                 force: bool = False, progress: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                 threads: int | None = None, formats=("json",), preview: bool = False, heatmap: bool = False,
                 resources=None, in_flight: int = IN_FLIGHT, on_failure=None, tiling: str | None = None,
                 margin: int | None = None, precision: str = "auto", scale: float | str | None = None,
                 coarse: float | None = None, text: bool = False, recognizer=None,
                 wait: bool = False, dpi: float | None = None, password: str | None = None,
                 base_url: str | None = None) -> list[BatchItem]:
    """Detect the words of many scans (TIFFs, PDFs, ...), every page of each, one output folder per page.

    Parameters
    ----------
    sources : sequence of str or Path
        Scan files, IIIF images' URLs, or IIIF Presentation manifests' URLs (2 or 3):
        a manifest is one scan per canvas, ``<stem>/canvas-0001/``..., each result
        carrying its canvas (``scan.iiif.canvas``); with ``formats`` holding ``"iiif"``,
        ``<stem>/manifest.json`` is the manifest pointing at their AnnotationPages.
    out_dir : str or Path
        Folder (path or fsspec URL) holding one folder per scan: ``<stem>/``,
        or ``<stem>/page-0001/``... for a multi-page TIFF or PDF (``<stem>-<hash>``
        where two scans share a stem).  ``batch.json`` there records the last
        batch's table.
    list_file : str or Path, optional
        A file of further scan paths, one per line.
    base_url : str, optional
        Where OUTDIR will be served: the AnnotationPages' ids and the manifest copy's
        references are ``base_url/<stem>/canvas-0001/annotations.json``; default: their
        own file URIs, and references relative to the manifest copy.
    in_flight : int
        Scans run at once.
    on_failure : callable, optional
        Called with each failed :class:`BatchItem` as it fails (default: a
        warning on the ``bigocr`` logger).
    Other parameters
        As for :func:`bigocr.detect`.

    Returns
    -------
    list of BatchItem
        One per page, in input order.  A scan that cannot be read gets one
        ``failed`` item; the batch goes on past it.
    """
    sources = [str(s) for s in sources] + (read_list(list_file) if list_file is not None else [])
    params = Params(max_side, text_threshold, link_threshold, low_text, poly, invert, tiling, margin, scale, coarse)
    if not sources:
        raise ParameterError("no scans given: pass SCAN... or --list FILE")
    setup = prepare(params, detector=detector, refiner=refiner, device=device, precision=precision,
                    scheduler=scheduler, text=text, recognizer=recognizer, resources=resources)
    return run_batch(setup, sources, out_dir, scheduler=scheduler, threads=threads, force=force, progress=progress,
                     max_pixels=max_pixels, formats=formats, preview=preview, heatmap=heatmap, in_flight=in_flight,
                     on_failure=on_failure, wait=wait, dpi=dpi, password=password, base_url=base_url)

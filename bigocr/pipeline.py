"""One scan end to end: scan -> tiles -> maps -> labels -> boxes -> outputs.

Tiles are Dask tasks (:mod:`bigocr.cluster`).  Each task reads its own window
of the scan, runs the detector, writes the part of the maps it owns into
``maps.zarr`` (whole chunks only, so writers never collide) and marks itself
done there.  When every tile is in, the client labels the stitched map once,
block by block, and extracts the boxes.

OUT is a job's record: ``maps.zarr`` carries the job's identity (scan, model,
parameters, plan) and which tiles are done.  Running the same job again
resumes it (only tiles not marked done are computed) or, if ``words.json`` is
there, changes nothing; another job's OUT is refused unless ``force``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bigocr.cluster import check_resources, connect, install_detector, read_task, run_tile, run_tiles, tile_task
from bigocr.config import Params
from bigocr.detector.infer import CraftDetector, InvertBoth, grid_align
from bigocr.errors import OutputError, ParameterError
from bigocr.layout import analyse_layout
from bigocr.merge.boxes import extract_words
from bigocr.merge.coarse import COARSE, MIN_HEIGHT, headlines, merge_coarse
from bigocr.merge.join import join_split_words
from bigocr.merge.label import label_components
from bigocr.merge.stitch import create_maps, done_tiles, open_maps
from bigocr.outdir import LOCK, RECORD, OutDir, is_url
from bigocr.result import Result
from bigocr.tiler.plan import TilePlan, make_plan
from bigocr.tiler.scale import MIN_SCALE, scaled
from bigocr.tiler.scan import DEFAULT_MAX_PIXELS, Scan, open_scan
from bigocr.writers import FORMATS, parse_formats, write_outputs

__all__ = ["detect", "recognize", "default_out", "resolve_detector", "run_tile", "OUTPUT_NAMES"]

log = logging.getLogger("bigocr")

#: Blocks of the map labelled at a time, in map pixels (rounded to whole chunks).
LABEL_BLOCK = 2048
#: Where a scan with huge strips is decoded once (in OUT, so that every worker reads it; removed at the end).
CACHE_NAME = "scan-cache.zarr"
#: The headline pass's maps while a run makes them (a sixteenth of maps.zarr's pixels; removed at the end).
COARSE_NAME = "coarse.zarr"
#: Where the readings of each group of words are kept while a run reads (resume point; removed at the end).
TEXT_PARTS = "text-parts"


def default_out(source) -> Path:
    """``./<stem>.bigocr/`` for a scan path."""
    return Path.cwd() / f"{Path(source).stem}.bigocr"


def out_location(out):
    """``-o``'s value as :class:`OutDir` takes it: a URL stays a URL (``Path`` would make ``s3:/b`` of
    ``s3://b``), anything else is a path."""
    return out if is_url(str(out)) else Path(out)


def resolve_detector(detector, refiner=None, device: str = "auto", resolve: bool = True, precision: str = "auto"):
    """Turn ``detector`` (None, a weights path, or a callable) into ``(callable, model_info)``.

    ``resolve=False`` leaves ``device`` to be resolved on the workers.
    """
    if detector is None:
        from bigocr.detector import default_weights

        detector = default_weights(refiner=refiner is not None)
    from bigocr.detector.download import resolve_weights

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


#: Everything a run writes into OUT, ``words.json`` (the mark of a finished run) first.
OUTPUT_NAMES = (*FORMATS.values(), "maps.zarr", COARSE_NAME, "preview.png", "heatmap-region.png",
                "heatmap-affinity.png", CACHE_NAME, TEXT_PARTS)
#: The folders a run makes in OUT (recorded as bigocr's when made).
FOLDERS = ("maps.zarr", COARSE_NAME, CACHE_NAME, TEXT_PARTS)

def _identity_scan(scan: Scan) -> dict:
    """The scan's part of a job's identity: its info with the file's resolved path (``../in/x.tif`` and
    ``/data/in/x.tif`` are one job)."""
    info = scan.info()
    if scan.path is not None:
        info["path"] = os.path.realpath(scan.path)
    return info


def _fingerprint(scan: Scan) -> dict:
    """What tells a changed scan: size and modification time of a file, a hash of an array."""
    if scan.path is not None:
        st = os.stat(scan.path)
        return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    array = np.ascontiguousarray(scan._array)
    return {"blake2b": hashlib.blake2b(memoryview(array).cast("B"), digest_size=16).hexdigest(),
            "dtype": str(array.dtype), "shape": list(array.shape)}


def _differences(stored: dict, current: dict) -> list[str]:
    """What differs between two job identities, in a user's words (the plan follows from the rest)."""
    said = []
    a, b = stored.get("scan", {}), current.get("scan", {})
    if a != b:
        fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        said.extend(f"scan {k} {a.get(k)!r} -> {b.get(k)!r}" for k in fields)
    elif stored.get("source") != current.get("source"):
        said.append(f"the scan {b.get('path') or '<array>'} changed since (size, time or content)")
    for key in ("model", "params"):
        a, b = stored.get(key) or {}, current.get(key) or {}
        fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        said.extend(f"{key} {k} {a.get(k)!r} -> {b.get(k)!r}" for k in fields)
    if not said and stored.get("plan") != current.get("plan"):
        said.append("the tile plan (another version of bigocr)")
    return said


@dataclass
class _Job:
    """One scan (one page) to run: its plan, identity and output folder."""

    scan: Scan
    plan: TilePlan
    params: Params
    model: dict
    run_device: str | None
    out: OutDir | None
    formats: tuple[str, ...]
    preview: bool
    heatmap: bool
    identity: dict = field(default_factory=dict)
    state: str = "new"  # new, resume or complete
    done: set = field(default_factory=set)
    read: bool = False  # also read the words (the runner has the recognizer)
    work: object = None  # the scan as the detector sees it: ``scan`` itself, or a ScaledScan
    scale_info: dict = field(default_factory=dict)  # how the scale was chosen (reported, not part of the identity)


def claim_out(out: OutDir, inputs: dict, force: bool, *, keep=()) -> list[str]:
    """Check that a job may use ``out``; with ``force``, remove what earlier bigocr jobs wrote there.

    Refuses (:class:`OutputError`) an OUT where any name bigocr writes is, or
    holds, one of ``inputs`` (``{"the scan": path, ...}``), and one holding a
    file of those names that bigocr did not write or that changed since it
    wrote it (its record says: :meth:`OutDir.ours`): those are the user's,
    and nothing removes them.  With ``force`` the names in ``OUT`` that are
    bigocr's are removed (``words.json`` first, so a half-cleared OUT never
    looks complete), except those in ``keep``.  Returns the output names
    present afterwards.
    """
    out.check()
    out.guard_inputs(inputs, (*OUTPUT_NAMES, RECORD, LOCK))
    existing = [name for name in OUTPUT_NAMES if out.exists(name)]
    foreign = [name for name in out.foreign(existing) if not (name == "maps.zarr" and _stored(out)[1])]
    if foreign:
        raise OutputError(f"{out}: holds {', '.join(foreign)}, which bigocr did not write (or which changed since "
                          "it wrote them); bigocr never removes or replaces those, --force or not: move them away "
                          "or choose another -o")
    if force and existing:
        gone = [name for name in existing if name not in keep]
        log.info("%s: --force: removing %s", out, ", ".join(gone))
        for name in gone:
            out.remove(name)
        out.forget(gone)
        return [name for name in existing if name in keep]
    return existing


def _stored(out: OutDir):
    """``(group, attrs)`` of a bigocr ``maps.zarr`` in ``out``, or ``(None, None)``."""
    if not out.exists("maps.zarr"):
        return None, None
    try:
        group = open_maps(out.zarr_store("maps.zarr"))
        return group, group.attrs.get("bigocr")
    except Exception:  # not a zarr group, or a torn one
        return None, None


def _inspect_out(job: _Job, force: bool) -> None:
    """Decide whether ``job.out`` is new, a run to resume, or complete; refuse what is not ours."""
    out = job.out
    existing = claim_out(out, {"the scan": job.scan.path}, force)
    if not existing:
        return
    group, stored = _stored(out)
    if not stored or "job" not in stored:
        raise OutputError(f"{out}: already holds {', '.join(existing)} of another bigocr job, not a run to "
                          "resume; pass --force to replace them or choose another -o")
    differences = _differences(stored["job"], job.identity)
    if differences:
        raise OutputError(f"{out}: holds a run of another job ({'; '.join(differences)}); "
                          "pass --force to redo it with these settings or choose another -o")
    if stored.get("complete") and out.exists(FORMATS["json"]):
        job.state = "complete"
        return
    job.state = "resume"
    job.done = done_tiles(group)


class _Runner:
    """Runs tiles: one by one in this process, or as tasks on a Dask client."""

    def __init__(self, detector, client=None, plugin: str | None = None, resources: dict | None = None,
                 recognizer=None, reader: str | None = None):
        self.detector = detector
        self.client = client
        self.plugin = plugin
        self.resources = resources or None
        self.recognizer = recognizer
        self.reader = reader  # the recognizer's plugin on the workers

    def _shipped(self, scan):
        """What the tasks get for ``scan``: the scan itself (it reopens its file), or, when it holds its pixels
        decoded, a future of it scattered once (not pickled into every task)."""
        return self.client.scatter(scan, hash=False) if scan.in_memory else scan

    def run(self, scan: Scan, tiles, maps, on_done) -> list[dict]:
        if self.client is None:
            reports = []
            for tile in tiles:
                reports.append(run_tile(scan, tile, self.detector, maps))
                on_done(reports[-1])
            return reports
        client = self.client
        token = uuid.uuid4().hex[:12]
        scan_ref = self._shipped(scan)

        def submit(tile):
            r, c = tile.index
            return client.submit(tile_task, scan_ref, tile, self.plugin, maps, key=f"bigocr-tile-{token}-{r}-{c}",
                                 pure=False, resources=self.resources)

        return run_tiles(client, submit, tiles, on_done, self.resources)

    def read(self, scan, groups, on_done) -> None:
        """Read each group's words; ``on_done(report)`` gets ``{"index", "readings", "seconds"}`` as each ends."""
        if self.client is None:
            from bigocr.recognizer.groups import read_group

            for group in groups:
                t0 = time.perf_counter()
                on_done({"index": group.index, "readings": read_group(scan, group, self.recognizer),
                         "seconds": time.perf_counter() - t0})
            return
        client = self.client
        token = uuid.uuid4().hex[:12]
        scan_ref = self._shipped(scan)

        def submit(group):
            return client.submit(read_task, scan_ref, group, self.reader, key=f"bigocr-read-{token}-{group.index}",
                                 pure=False)

        run_tiles(client, submit, groups, on_done)


@contextlib.contextmanager
def _runner(detector, scheduler, threads: int | None, resources: dict | None, recognizer=None):
    """A :class:`_Runner` for ``scheduler``, with the detector (and recognizer) installed on the workers."""
    if scheduler == "synchronous":
        yield _Runner(detector, recognizer=recognizer)
        return
    with connect(scheduler, threads) as (client, local):
        if local:
            resources = None
        check_resources(client, resources)
        plugins = {}
        if detector is not None:
            plugins["detector"] = install_detector(client, detector, resources=resources)
        if recognizer is not None:
            plugins["recognizer"] = install_detector(client, recognizer, kind="recognizer")
        try:
            yield _Runner(detector, client, plugins.get("detector"), resources, recognizer, plugins.get("recognizer"))
        finally:
            for plugin in plugins.values():
                with contextlib.suppress(Exception):
                    client.unregister_worker_plugin(plugin)


def _progress(total: int | None, enabled: bool, unit: str = "tile", position: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=f"{unit}s", file=sys.stderr, disable=not enabled, leave=False,
                position=position)


def _open_job(source, *, params: Params, detector_info: tuple, out, force: bool, max_pixels: int, page: int,
              formats, preview: bool, heatmap: bool, scan: Scan | None = None, read: bool = False,
              hold=None, wait: bool = False) -> _Job:
    """The job of one scan; with ``out``, its OUT inspected under the OUT's lock, which ``hold`` (an
    ``ExitStack``) keeps until the caller is done with the job."""
    scan = scan if scan is not None else open_scan(source, max_pixels=max_pixels, page=page)
    log.info("%s: %d x %d px, page %d of %d, dpi %s", scan.name, scan.width, scan.height, scan.page + 1,
             scan.pages, scan.dpi)
    params, scale_info = resolve_scale(params, scan)
    work = scaled(scan, params.scale)
    if work is not scan:
        log.info("scale %.4g (%s): the detector sees %d x %d px", params.scale, scale_info["rule"], work.width,
                 work.height)
    plan = make_plan(work.height, work.width, params.tile_side, params.tiling, params.margin, params.align)
    summary = plan.summary()
    log.info("plan: %d tiles, %.2fx the scan's pixels, chunks %s", len(plan.tiles),
             summary["pixels_ratio"], plan.chunks)
    model, run_device = detector_info
    job = _Job(scan, plan, params, model, run_device, OutDir(out) if out is not None else None,
               formats, preview, heatmap, read=read, work=work, scale_info=scale_info)
    job.identity = {"scan": _identity_scan(scan), "source": _fingerprint(scan), "model": model,
                    "params": params.to_dict(), "plan": summary}
    if job.out is not None:
        if hold is None:
            raise ValueError("a job with an OUT needs hold= to keep its lock")
        hold.enter_context(job.out.lock(wait))
        _inspect_out(job, force)
    return job


def resolve_scale(params: Params, scan: Scan) -> tuple[Params, dict]:
    """``params`` with ``scale="auto"`` replaced by the factor measured on ``scan``, and how it was chosen."""
    if params.scale != "auto":
        return params, {"rule": "given", "scale": params.scale}
    from bigocr.tiler.textsize import auto_scale

    scale, info = auto_scale(scan)
    return replace(params, scale=scale), {"rule": "auto", **info}


def _load_complete(job: _Job) -> Result:
    """The Result of a finished OUT; writes only requested files that are missing."""
    import json

    out = job.out
    result = Result.from_dict(json.loads(out.read_bytes(FORMATS["json"])), out=out.user_path)
    result.run = {"state": "complete", "tiles_run": 0, "tiles_skipped": len(job.plan.tiles), "added": []}
    missing = [fmt for fmt in job.formats if not out.exists(FORMATS[fmt])]
    added = []
    if job.heatmap and not out.exists("heatmap-region.png"):
        from bigocr.preview import write_heatmaps

        added += write_heatmaps(open_maps(out.zarr_store("maps.zarr")), out)
    if job.preview and not out.exists("preview.png"):
        from bigocr.preview import write_preview

        added.append(write_preview(job.scan, result, out))
    if missing:
        added += write_outputs(result, out, missing)
    result.run["added"] = added
    log.info("%s: already complete in %s; %s", job.scan.name, out,
             f"added {', '.join(added)}" if added else "nothing to do")
    return result


def _recognize(out: OutDir | None, runner: _Runner, scan, words: list, on_read) -> tuple[list, float]:
    """Read ``words`` from ``scan`` at full resolution, group by group; returns the words with text.

    Each finished group's readings are saved in ``OUT/text-parts/`` (named by
    the digest of its boxes and of the recognizer's identity), so an
    interrupted run reads only the rest.
    """
    import json

    from bigocr.recognizer.groups import group_words

    t0 = time.perf_counter()
    groups = group_words([w.box for w in words], scan.shape)
    readings: list = [None] * len(words)

    info = getattr(runner.recognizer, "model_info", None) or {"name": repr(runner.recognizer)}
    reader_tag = hashlib.blake2b(json.dumps(info, sort_keys=True, default=str).encode(), digest_size=4).hexdigest()

    def part(group) -> str:
        return f"{TEXT_PARTS}/{group.index:05d}-{group.key}-{reader_tag}.json"

    def keep(group, found) -> None:
        for i, (text, confidence) in zip(group.indices, found):
            readings[i] = (text, confidence)

    todo = []
    if out is not None:
        out.fs.makedirs(out.path(TEXT_PARTS), exist_ok=True)
    for group in groups:
        if out is not None and out.exists(part(group)):
            keep(group, json.loads(out.read_bytes(part(group))))
            on_read(len(group.indices))
        else:
            todo.append(group)
    if len(todo) < len(groups):
        log.info("%s: %d of %d groups of words already read", scan.name, len(groups) - len(todo), len(groups))

    def done(report) -> None:
        group = groups[report["index"]]
        keep(group, report["readings"])
        if out is not None:
            out.write_bytes(part(group), json.dumps(report["readings"]).encode())
        on_read(len(group.indices))

    runner.read(scan, todo, done)
    words = [replace(w, text=text, confidence=confidence) for w, (text, confidence) in zip(words, readings)]
    return words, time.perf_counter() - t0


def _execute(job: _Job, runner: _Runner, on_tile=lambda report: None, on_read=lambda count: None) -> Result:
    """Run a job's remaining tiles, label, extract, lay out and write its outputs."""
    t_start = time.perf_counter()
    scan, work, plan, params, out = job.scan, job.work, job.plan, job.params, job.out
    if job.state == "complete":
        return _load_complete(job)
    summary = job.identity["plan"]
    tmp = tempfile.TemporaryDirectory(prefix="bigocr-") if out is None else contextlib.nullcontext()
    with tmp as tmp_dir:
        if out is None:
            maps = str(Path(tmp_dir) / "maps.zarr")
        else:
            out.mkdir()
            out.record(folders=FOLDERS)  # before any of them exists: a crash leaves nothing unclaimed
            maps = out.zarr_store("maps.zarr")
        attrs = {
            # map_scale: scan pixels per map pixel (the maps have half the working resolution)
            "bigocr": {"complete": False, "map_scale": 2 / params.scale, "scale": params.scale, "axes": "yx",
                       "model": job.model, "params": params.to_dict(), "plan": summary,
                       "scan": scan.info(), "job": job.identity},
        }
        if job.state == "resume":
            group = open_maps(maps, mode="r+")
            log.info("%s: resuming: %d of %d tiles already done", scan.name, len(job.done), len(plan.tiles))
        else:
            try:
                group = create_maps(maps, plan, attrs)
            except OSError as exc:
                raise OutputError(f"{out}: cannot write maps.zarr: {exc.strerror or exc}") from None
        if work.needs_cache:
            cache = out.zarr_store(CACHE_NAME) if out is not None else str(Path(tmp_dir) / CACHE_NAME)
            log.info("%s: strips of %.0f MB are decoded once into %s, not once per tile", scan.name,
                     scan._tiff.segment_bytes / 2**20, CACHE_NAME)
            cached = work.cached(cache)
            scan, work = (cached, cached) if work is scan else (cached.scan, cached)
        todo = [tile for tile in plan.tiles if tile.index not in job.done]
        for _ in range(len(plan.tiles) - len(todo)):
            on_tile(None)
        t_tiles = time.perf_counter()
        reports = runner.run(work, todo, maps, on_tile)
        t_label = time.perf_counter()
        block = _label_block(plan)
        region, affinity = group["region"], group["affinity"]
        comps = label_components(region, affinity, low_text=params.low_text, link_threshold=params.link_threshold,
                                 block=block)
        t_boxes = time.perf_counter()
        log.info("%d tiles computed in %.1f s; %d components labelled in %.1f s", len(todo), t_label - t_tiles,
                 len(comps), t_boxes - t_label)
        words = extract_words(region, affinity, comps, text_threshold=params.text_threshold, low_text=params.low_text,
                              link_threshold=params.link_threshold, poly=params.poly, block=block)
        words = _in_scan_pixels(words, work, scan)
        t_coarse = time.perf_counter()
        if params.coarse:
            store = out.zarr_store(COARSE_NAME) if out is not None else str(Path(tmp_dir) / COARSE_NAME)
            coarse = _coarse_words(scan, params, runner, store)
            tall = headlines(scan, coarse, MIN_HEIGHT / params.scale)
            fine = len(words)
            words = merge_coarse(words, tall)
            log.info("headline pass at scale %.4g: %d words, %d headlines, in %.1f s; %d words became %d",
                     params.scale * params.coarse, len(coarse), len(tall), time.perf_counter() - t_coarse, fine,
                     len(words))
        t_layout = time.perf_counter()
        order, layout = analyse_layout([w.box for w in words]).renumbered()
        words = [words[i] for i in order]
        words, joined = join_split_words(scan, words, [list(line.words) for line in layout.lines], layout.skew)
        if joined:  # words cut at a dot, a comma, a colon: one word again, and the lines made anew
            order, layout = analyse_layout([w.box for w in words]).renumbered()
            words = [words[i] for i in order]
            log.info("%d pairs of words cut at a punctuation mark joined", joined)
        log.info("%d words in %d lines and %d blocks (skew %.2f degrees)", len(words), len(layout.lines),
                 len(layout.blocks), layout.skew)
        t_end = time.perf_counter()
        t_read = 0.0
        if job.read:
            words, t_read = _recognize(job.out, runner, scan, words, on_read)
            log.info("%d words read in %.1f s", len(words), t_read)
        attrs["bigocr"]["complete"] = True
        group.attrs.update(attrs)
        if job.heatmap:
            from bigocr.preview import write_heatmaps

            write_heatmaps(group, out)

    timings = {
        "open": t_tiles - t_start,
        "tiles": t_label - t_tiles,
        "read": float(np.sum([r["read"] for r in reports])),
        "detect": float(np.sum([r["detect"] for r in reports])),
        "write": float(np.sum([r["write"] for r in reports])),
        "label": t_boxes - t_label,
        "boxes": t_coarse - t_boxes + t_end - t_layout,
        "coarse": t_layout - t_coarse,
        **({"recognize": t_read} if job.read else {}),
    }
    result = Result(
        scan=scan.info(),
        model=job.model,
        params={**params.to_dict(), "device": job.run_device, "scale_rule": job.scale_info},
        tiles={"count": summary["count"], "pixels": summary["pixels"], **summary},
        words=words,
        timings=timings,
        out=None if out is None else out.user_path,
        layout=layout,
        run={"state": "resumed" if job.state == "resume" else "done", "tiles_run": len(todo),
             "tiles_skipped": len(plan.tiles) - len(todo)},
    )
    if out is not None and job.preview:
        from bigocr.preview import write_preview

        t0 = time.perf_counter()
        write_preview(scan, result, out)
        timings["preview"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    if out is not None:
        _write_results(result, out, job.formats)
    return result


def _coarse_words(scan, params: Params, runner: _Runner, store) -> list:
    """The words of the headline pass: ``scan`` detected at ``coarse`` times the scale, boxes in scan pixels."""
    scale = max(MIN_SCALE, params.scale * params.coarse)
    work = scaled(scan, scale)
    if min(work.height, work.width) < 32:  # nothing a headline could be read from
        return []
    plan = make_plan(work.height, work.width, params.tile_side, params.tiling, params.margin, params.align)
    attrs = {"bigocr": {"pass": "coarse", "complete": False, "map_scale": 2 / scale, "scale": scale, "axes": "yx",
                        "plan": plan.summary()}}
    try:
        group = create_maps(store, plan, attrs)
    except OSError as exc:
        raise OutputError(f"{store}: cannot write the headline pass's maps: {exc.strerror or exc}") from None
    runner.run(work, plan.tiles, store, lambda report: None)
    block = _label_block(plan)
    comps = label_components(group["region"], group["affinity"], low_text=params.low_text,
                             link_threshold=params.link_threshold, block=block)
    words = extract_words(group["region"], group["affinity"], comps, text_threshold=params.text_threshold,
                          low_text=params.low_text, link_threshold=params.link_threshold, poly=params.poly,
                          block=block)
    attrs["bigocr"]["complete"] = True
    group.attrs.update(attrs)
    return _in_scan_pixels(words, work, scan)


def _label_block(plan: TilePlan) -> tuple[int, int]:
    """Map pixels labelled at a time: about :data:`LABEL_BLOCK`, in whole chunks."""
    return tuple(c * max(1, LABEL_BLOCK // c) for c in plan.chunks)


def _in_scan_pixels(words: list, work, scan) -> list:
    """``words`` found in ``work``'s working pixels, with boxes and polygons in ``scan``'s pixels."""
    if work is scan:
        return words
    return [replace(w, box=work.to_scan(w.box), polygon=None if w.polygon is None else work.to_scan(w.polygon))
            for w in words]


def _write_results(result: Result, out: OutDir, formats) -> None:
    """Write the outputs (``words.json`` last), then drop what only an unfinished run needs."""
    try:
        written = write_outputs(result, out, formats)
        log.info("wrote %s", ", ".join(str(p) for p in written))
        out.remove(CACHE_NAME)
        out.remove(COARSE_NAME)
        out.remove(TEXT_PARTS)
        out.forget((CACHE_NAME, COARSE_NAME, TEXT_PARTS))
    except OSError as exc:
        raise OutputError(f"{out}: cannot write results: {exc.strerror or exc}") from None


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


def _resources(resources, scheduler, device: str) -> dict | None:
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
    if _on_cluster(scheduler) and str(device).startswith("cuda"):
        return {"GPU": 1}
    return None


def _on_cluster(scheduler) -> bool:
    return scheduler not in (None, "synchronous") or (scheduler is None and bool(os.environ.get("DASK_SCHEDULER_ADDRESS")))


def detect(source, *, max_side: int = 2560, detector=None, scheduler=None, poly: bool = False,
           text_threshold: float = 0.7, link_threshold: float = 0.4, low_text: float = 0.4, out=None,
           refiner=None, invert: str = "none", device: str = "auto", force: bool = False,
           progress: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS, threads: int | None = None,
           page: int = 0, formats=("json",), preview: bool = False, heatmap: bool = False,
           resources=None, tiling: str | None = None, margin: int | None = None, precision: str = "auto",
           scale: float | str | None = None, coarse: float | None = None, text: bool = False,
           recognizer=None, wait: bool = False) -> Result:
    """Find every word of a scan at full resolution.

    Parameters
    ----------
    source : str, Path or ndarray
        A scan file (TIFF/BigTIFF, PNG, JPEG, JPEG 2000) or an array ``(H, W)`` /
        ``(H, W, C)``.
    max_side : int
        Cap on a tile's longer side, in working pixels (scan pixels times ``scale``).
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
    precision : {"auto", "fp32", "bf16"}
        Arithmetic of the network: ``"auto"`` uses bfloat16 autocast where it is
        fast (GPUs, CPUs with AMX) and float32 elsewhere.
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
        0-based page of a multi-page TIFF.
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
        The grid's context in scan pixels; default: measured from the detector
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
    resources = _resources(resources, scheduler, device)
    scan = open_scan(source, max_pixels=max_pixels, page=page)
    detector, model = resolve_detector(detector, refiner, device, resolve=not _on_cluster(scheduler),
                                       precision=precision)
    log.info("detector: %s", model.get("name"))
    params = replace(params, scale=default_scale(params.scale, detector),
                     coarse=default_coarse(params.coarse, detector))
    reader, model = resolve_reader(text, recognizer, device, model, precision)
    run_device = getattr(detector, "device", None)
    if params.invert == "both":
        detector = InvertBoth(detector)
    params = with_tiling(params, detector)
    with contextlib.ExitStack() as hold:
        job = _open_job(source, params=params, detector_info=(model, run_device), out=out, force=force,
                        max_pixels=max_pixels, page=page, formats=formats, preview=preview, heatmap=heatmap,
                        scan=scan, read=reader is not None, hold=hold, wait=wait)
        if job.state == "complete":
            return _load_complete(job)
        return _detect_job(job, detector, scheduler, threads, resources, reader, progress)


def _detect_job(job: _Job, detector, scheduler, threads, resources, reader, progress: bool) -> Result:
    with _runner(detector, scheduler, threads, resources, reader) as runner, \
            _progress(len(job.plan.tiles), progress) as bar:
        words_bar = None

        def on_read(count):
            nonlocal words_bar
            if words_bar is None:  # the tiles are done: the bar turns to words
                bar.close()
                words_bar = _progress(0, progress, unit="word").__enter__()
            words_bar.update(count)

        try:
            return _execute(job, runner, lambda report: bar.update(), on_read)
        finally:
            if words_bar is not None:
                words_bar.close()


def recognize(source, boxes, *, recognizer=None, out=None, formats=("json",), scheduler=None,
              threads: int | None = None, device: str = "auto", precision: str = "auto", page: int = 0,
              max_pixels: int = DEFAULT_MAX_PIXELS, force: bool = False, progress: bool = False,
              wait: bool = False) -> Result:
    """Read the words of given boxes: another tool's layout, a corrected PAGE file, an earlier run.

    Parameters
    ----------
    source : str, Path or ndarray
        The scan, as for :func:`detect`; words are cut from it at full resolution.
    boxes : str, Path or sequence
        A ``words.json``, PAGE XML or ALTO file
        (:func:`bigocr.recognizer.given.load_boxes`), or quads ``(4, 2)`` as
        ``(x, y)`` scan pixels, clockwise from the top-left.
    recognizer, device, precision, scheduler, threads, page, max_pixels, progress
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
    from bigocr.merge.boxes import Word
    from bigocr.recognizer import resolve_recognizer
    from bigocr.recognizer.given import load_boxes

    formats = parse_formats(formats)
    scan = open_scan(source, max_pixels=max_pixels, page=page)
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
    from bigocr.merge.boxes import Word

    words = [Word(quad, score) for quad, score in given]
    order, layout = analyse_layout([w.box for w in words]).renumbered()
    words = [words[i] for i in order]
    t0 = time.perf_counter()
    with _runner(None, scheduler, threads, None, reader) as runner, \
            _progress(len(words), progress, unit="word") as bar:
        words, seconds = _recognize(target, runner, scan, words, bar.update)
    result = Result(scan=scan.info(), model={"recognizer": info, "boxes": origin},
                    params={"precision": precision, "device": device}, tiles={"count": 0}, words=words,
                    timings={"recognize": seconds, "total": time.perf_counter() - t0},
                    out=None if target is None else target.user_path, layout=layout,
                    run={"state": "done", "tiles_run": 0, "tiles_skipped": 0})
    if target is not None:
        _write_results(result, target, formats)
    return result

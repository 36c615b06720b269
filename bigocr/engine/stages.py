"""The stages of one job, in the order data flows: tiles -> maps -> labels -> words -> lines -> text.

- :func:`detect_pass`: one detection pass (tiles on the runner, the stitched
  map labelled once, words extracted, boxes in scan pixels), for the main
  pass and the headline pass alike;
- :func:`refine`: the headline pass's tall words in place of their pieces,
  then lines and blocks (:mod:`bigocr.words.layout`), words cut at
  punctuation joined again (:mod:`bigocr.words.join`), each line's baseline
  and boundary (:mod:`bigocr.words.lines`);
- :func:`read_words`: the words read, group by group, resumable;
- :func:`read_lines`: each line read as one crop, its text made from that
  and its words' (:mod:`bigocr.recognizer.linetext`);
- :func:`execute`: a :class:`~bigocr.engine.job.Job` through all of them,
  its outputs written.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bigocr.config import Params
from bigocr.document import Layout, Result
from bigocr.engine.job import CACHE_NAME, COARSE_NAME, FOLDERS, TEXT_PARTS, Job, load_complete, write_results
from bigocr.engine.runner import Runner
from bigocr.errors import OutputError
from bigocr.merge.boxes import extract_words
from bigocr.merge.label import label_components
from bigocr.merge.stitch import create_maps, open_maps
from bigocr.outdir import OutDir
from bigocr.tiler.plan import TilePlan, make_plan
from bigocr.tiler.scale import MIN_SCALE, scaled
from bigocr.words.coarse import MIN_HEIGHT, headlines, merge_coarse
from bigocr.words.join import join_split_words
from bigocr.words.layout import analyse_layout
from bigocr.words.lines import line_shapes

__all__ = ["detect_pass", "headline_words", "refine", "laid_out", "read_words", "read_lines", "execute", "LABEL_BLOCK"]

log = logging.getLogger("bigocr")


#: Blocks of the map labelled at a time, in map pixels (rounded to whole chunks).
LABEL_BLOCK = 2048


def read_words(out: OutDir | None, runner: Runner, scan, words: list, on_read) -> tuple[list, float]:
    """Read ``words`` from ``scan`` at full resolution, group by group; returns the words with text.

    Each finished group's readings are saved in ``OUT/text-parts/`` (named by
    the digest of its boxes and of the recognizer's identity), so an
    interrupted run reads only the rest.
    """
    t0 = time.perf_counter()
    readings = _read_quads(out, runner, scan, [w.box for w in words], on_read, "words")
    words = [replace(w, text=text, confidence=confidence) for w, (text, confidence) in zip(words, readings)]
    return words, time.perf_counter() - t0


def read_lines(out: OutDir | None, runner: Runner, scan, words: list, layout: Layout) -> tuple[Layout, float]:
    """Each line of ``layout`` read as one crop, and its text made from that and its words' readings
    (:mod:`bigocr.recognizer.linetext`); resumable as :func:`read_words` is."""
    from bigocr.recognizer.linetext import line_quad, line_text

    t0 = time.perf_counter()
    lines = layout.lines
    readings = _read_quads(out, runner, scan, [line_quad(line.box) for line in lines], lambda count: None, "lines")
    texts = {id(line): line_text([(words[i].text, words[i].confidence) for i in line.words], *reading)
             for line, reading in zip(lines, readings)}
    blocks = tuple(replace(block, lines=tuple(replace(line, text=texts[id(line)]) for line in block.lines))
                   for block in layout.blocks)
    return Layout(blocks, layout.skew), time.perf_counter() - t0


def _read_quads(out: OutDir | None, runner: Runner, scan, quads: list, on_read, kind: str) -> list:
    """``(text, confidence)`` of each of ``quads`` (words or lines, ``kind``), group by group, saved as read."""
    import json

    from bigocr.recognizer.groups import group_words

    groups = group_words(quads, scan.shape)
    readings: list = [None] * len(quads)

    info = getattr(runner.recognizer, "model_info", None) or {"name": repr(runner.recognizer)}
    fingerprint = getattr(scan, "fingerprint", None)
    source = {"scan": scan.info(), "source": fingerprint() if fingerprint is not None else None}
    reader_tag = hashlib.blake2b(json.dumps([info, source], sort_keys=True, default=str).encode(),
                                 digest_size=4).hexdigest()  # the readings of this scan by this recognizer
    prefix = "" if kind == "words" else f"{kind}-"

    def part(group) -> str:
        return f"{TEXT_PARTS}/{prefix}{group.index:05d}-{group.key}-{reader_tag}.json"

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
        log.info("%s: %d of %d groups of %s already read", scan.name, len(groups) - len(todo), len(groups), kind)

    def done(report) -> None:
        group = groups[report["index"]]
        keep(group, report["readings"])
        if out is not None:
            out.write_bytes(part(group), json.dumps(report["readings"]).encode(), record=False)  # its folder is
        on_read(len(group.indices))

    runner.read(scan, todo, done, lines=kind == "lines")
    return readings


def detect_pass(runner: Runner, work, scan, plan: TilePlan, group, store, params: Params, tiles=None,
                on_tile=lambda report: None) -> tuple[list, list, dict]:
    """One detection pass: ``tiles`` (default: all of ``plan``'s) of ``work`` into the maps ``group`` at
    ``store``, the stitched map labelled once, its words in ``scan``'s pixels.

    Returns ``(words, reports, seconds)``: the tile tasks' reports, and the
    seconds spent on ``tiles``, ``label`` and ``boxes``.
    """
    tiles = plan.tiles if tiles is None else tiles
    t_tiles = time.perf_counter()
    reports = runner.run(work, tiles, store, on_tile)
    t_label = time.perf_counter()
    block = label_block(plan)
    region, affinity = group["region"], group["affinity"]
    comps = label_components(region, affinity, low_text=params.low_text, link_threshold=params.link_threshold,
                             block=block)
    t_boxes = time.perf_counter()
    log.info("%d tiles computed in %.1f s; %d components labelled in %.1f s", len(tiles), t_label - t_tiles,
             len(comps), t_boxes - t_label)
    words = extract_words(region, affinity, comps, text_threshold=params.text_threshold, low_text=params.low_text,
                          link_threshold=params.link_threshold, poly=params.poly, block=block)
    words = in_scan_pixels(words, work, scan)
    return words, reports, {"tiles": t_label - t_tiles, "label": t_boxes - t_label,
                            "boxes": time.perf_counter() - t_boxes}


def headline_words(scan, params: Params, runner: Runner, store) -> list:
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
    words, _, _ = detect_pass(runner, work, scan, plan, group, store, params)
    attrs["bigocr"]["complete"] = True
    group.attrs.update(attrs)
    return words


def laid_out(words: list) -> tuple[list, Layout]:
    """``words`` in reading order, and their lines and blocks indexing that order."""
    order, layout = analyse_layout([w.box for w in words]).renumbered()
    return [words[i] for i in order], layout


def refine(scan, words: list, coarse: list | None, params: Params) -> tuple[list, Layout, dict]:
    """The words after detection: the headline pass's tall words (``coarse``, None: no headline pass) in
    place of the pieces the fine pass made of them; lines and blocks; words cut at punctuation joined.

    Returns ``(words, layout, seconds)`` with ``seconds`` of ``coarse`` (the merge), ``layout`` (lines and
    blocks, made twice when words were joined), ``join`` and ``lines`` (baselines and boundaries).
    """
    t0 = time.perf_counter()
    if coarse is not None:
        tall = headlines(scan, coarse, MIN_HEIGHT / params.scale)
        fine = len(words)
        words = merge_coarse(words, tall)
        log.info("headline pass at scale %.4g: %d words, %d headlines; %d words became %d",
                 params.scale * params.coarse, len(coarse), len(tall), fine, len(words))
    t1 = time.perf_counter()
    words, layout = laid_out(words)
    t2 = time.perf_counter()
    words, joined = join_split_words(scan, words, [list(line.words) for line in layout.lines], layout.skew)
    t3 = time.perf_counter()
    if joined:  # words cut at a dot, a comma, a colon: one word again, and the lines made anew
        words, layout = laid_out(words)
        log.info("%d pairs of words cut at a punctuation mark joined", joined)
    t4 = time.perf_counter()
    layout = line_shapes(scan, words, layout)
    log.info("%d words in %d lines and %d blocks (skew %.2f degrees)", len(words), len(layout.lines),
             len(layout.blocks), layout.skew)
    return words, layout, {"coarse": t1 - t0, "layout": (t2 - t1) + (t4 - t3), "join": t3 - t2,
                           "lines": time.perf_counter() - t4}


def execute(job: Job, runner: Runner, on_tile=lambda report: None, on_read=lambda count: None) -> Result:
    """Run a job's remaining tiles, label, extract, lay out, read, and write its outputs."""
    t_start = time.perf_counter()
    scan, work, plan, params, out = job.scan, job.work, job.plan, job.params, job.out
    if job.state == "complete":
        return load_complete(job)
    summary = job.identity["plan"]
    tmp = tempfile.TemporaryDirectory(prefix="bigocr-") if out is None else contextlib.nullcontext()
    with tmp as tmp_dir:
        def store(name):
            return out.zarr_store(name) if out is not None else str(Path(tmp_dir) / name)

        if out is not None:
            out.mkdir()
            out.record(folders=FOLDERS)  # before any of them exists: a crash leaves nothing unclaimed
        maps = store("maps.zarr")
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
            log.info("%s: %.0f MB of pixels that cannot be read by windows are decoded once into %s, not once "
                     "per tile", scan.name, scan.segment_bytes / 2**20, CACHE_NAME)
            cached = work.cached(store(CACHE_NAME))
            scan, work = (cached, cached) if work is scan else (cached.scan, cached)
        todo = [tile for tile in plan.tiles if tile.index not in job.done]
        for _ in range(len(plan.tiles) - len(todo)):
            on_tile(None)
        t_tiles = time.perf_counter()
        words, reports, seconds = detect_pass(runner, work, scan, plan, group, maps, params, todo, on_tile)
        t_coarse = time.perf_counter()
        coarse = headline_words(scan, params, runner, store(COARSE_NAME)) if params.coarse else None
        seconds["headline pass"] = time.perf_counter() - t_coarse
        words, layout, refined = refine(scan, words, coarse, params)
        t_read = t_lines = 0.0
        if job.read:
            words, t_read = read_words(job.out, runner, scan, words, on_read)
            log.info("%d words read in %.1f s", len(words), t_read)
            layout, t_lines = read_lines(job.out, runner, scan, words, layout)
            log.info("%d lines read in %.1f s", len(layout.lines), t_lines)
        attrs["bigocr"]["complete"] = True
        group.attrs.update(attrs)
        if job.heatmap:
            from bigocr.writers.preview import write_heatmaps

            write_heatmaps(group, out)

    timings = {
        "open": t_tiles - t_start,
        "tiles": seconds["tiles"],
        "read": float(np.sum([r["read"] for r in reports])),
        "detect": float(np.sum([r["detect"] for r in reports])),
        "write": float(np.sum([r["write"] for r in reports])),
        "label": seconds["label"],
        "boxes": seconds["boxes"],
        "coarse": seconds["headline pass"] + refined["coarse"],
        "headline pass": seconds["headline pass"],
        "layout": refined["layout"],
        "join": refined["join"],
        "lines": refined["lines"],
        **({"recognize": t_read, "read lines": t_lines} if job.read else {}),
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
        from bigocr.writers.preview import write_preview

        t0 = time.perf_counter()
        write_preview(scan, result, out)
        timings["preview"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    if out is not None:
        write_results(result, out, job.formats, scan=scan)
    return result


def label_block(plan: TilePlan) -> tuple[int, int]:
    """Map pixels labelled at a time: about :data:`LABEL_BLOCK`, in whole chunks."""
    return tuple(c * max(1, LABEL_BLOCK // c) for c in plan.chunks)


def in_scan_pixels(words: list, work, scan) -> list:
    """``words`` found in ``work``'s working pixels, with boxes and polygons in ``scan``'s pixels."""
    if work is scan:
        return words
    return [replace(w, box=work.to_scan(w.box), polygon=None if w.polygon is None else work.to_scan(w.polygon))
            for w in words]

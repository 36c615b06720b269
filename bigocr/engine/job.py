"""A job: one scan (one page) into one output folder, with its identity, resume and record.

:func:`open_job` opens the scan, resolves its scale, plans its tiles and, for
an OUT, takes the OUT's lock and inspects what is there (:func:`inspect_out`):
new, a run of the same job to resume (the tiles marked done in
``maps.zarr``), complete (nothing to do but add missing formats), or
refused.  The job's identity (the scan's resolved path and fingerprint, the
model, the parameters, the plan) lives in ``maps.zarr``'s attributes;
:mod:`bigocr.outdir` keeps the record of what bigocr wrote.
:func:`write_results` writes the outputs, ``words.json`` last.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace

from bigocr.config import Params
from bigocr.document import Result
from bigocr.engine.setup import resolve_scale
from bigocr.errors import OutputError
from bigocr.merge.stitch import done_tiles, open_maps
from bigocr.outdir import LOCK, RECORD, OutDir
from bigocr.tiler.plan import TilePlan, make_plan
from bigocr.tiler.scale import scaled
from bigocr.tiler.scan import Scan, open_scan
from bigocr.writers import FORMATS, write_outputs

__all__ = ["Job", "open_job", "inspect_out", "claim_out", "load_complete", "write_results", "differences",
           "identity_scan", "stored_maps", "OUTPUT_NAMES", "FOLDERS", "CACHE_NAME", "COARSE_NAME", "TEXT_PARTS",
           "KEPT_RESULT"]

log = logging.getLogger("bigocr")

#: Where a scan with huge strips is decoded once (in OUT, so that every worker reads it; removed at the end).
CACHE_NAME = "scan-cache.zarr"

#: The headline pass's maps while a run makes them (a sixteenth of maps.zarr's pixels; removed at the end).
COARSE_NAME = "coarse.zarr"

#: Where the readings of each group of words are kept while a run reads (resume point; removed at the end).
TEXT_PARTS = "text-parts"

#: Everything a run writes into OUT, ``words.json`` (the mark of a finished run) first.
OUTPUT_NAMES = (*FORMATS.values(), "maps.zarr", COARSE_NAME, "preview.png", "heatmap-region.png",
                "heatmap-affinity.png", CACHE_NAME, TEXT_PARTS)

#: The result of a job whose formats leave out json, kept inside its maps.zarr: it makes the job complete
#: (a rerun changes nothing) and lets a rerun add formats without detecting again.
KEPT_RESULT = "maps.zarr/words.json"

#: The folders a run makes in OUT (recorded as bigocr's when made).
FOLDERS = ("maps.zarr", COARSE_NAME, CACHE_NAME, TEXT_PARTS)


def identity_scan(scan: Scan) -> dict:
    """The scan's part of a job's identity: its info with the file's resolved path (``../in/x.tif`` and
    ``/data/in/x.tif`` are one job; a URL as it is), without what only names the outputs (a IIIF canvas's
    label and the id its annotations get from ``--base-url``)."""
    import copy

    info = copy.deepcopy(scan.info())
    if scan.path is not None and "://" not in str(scan.path):
        info["path"] = os.path.realpath(scan.path)
    canvas = (info.get("iiif") or {}).get("canvas")
    if isinstance(canvas, dict):
        for key in ("label", "annotation_page"):
            canvas.pop(key, None)
    return info


def differences(stored: dict, current: dict) -> list[str]:
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
class Job:
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
    foreign = [name for name in out.foreign(existing) if not (name == "maps.zarr" and stored_maps(out)[1])]
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


def stored_maps(out: OutDir):
    """``(group, attrs)`` of a bigocr ``maps.zarr`` in ``out``, or ``(None, None)``."""
    if not out.exists("maps.zarr"):
        return None, None
    try:
        group = open_maps(out.zarr_store("maps.zarr"))
        return group, group.attrs.get("bigocr")
    except Exception:  # not a zarr group, or a torn one
        return None, None


def inspect_out(job: Job, force: bool) -> None:
    """Decide whether ``job.out`` is new, a run to resume, or complete; refuse what is not ours."""
    out = job.out
    existing = claim_out(out, {"the scan": job.scan.path}, force)
    if not existing:
        return
    group, stored = stored_maps(out)
    if not stored or "job" not in stored:
        raise OutputError(f"{out}: already holds {', '.join(existing)} of another bigocr job, not a run to "
                          "resume; pass --force to replace them or choose another -o")
    changed = differences(stored["job"], job.identity)
    if changed:
        raise OutputError(f"{out}: holds a run of another job ({'; '.join(changed)}); "
                          "pass --force to redo it with these settings or choose another -o")
    if stored.get("complete") and (out.exists(FORMATS["json"]) or out.exists(KEPT_RESULT)):
        job.state = "complete"
        return
    job.state = "resume"
    job.done = done_tiles(group)


def open_job(source, *, params: Params, detector_info: tuple, out, force: bool, max_pixels: int, page: int,
              formats, preview: bool, heatmap: bool, scan: Scan | None = None, read: bool = False,
              hold=None, wait: bool = False, dpi: float | None = None, password: str | None = None) -> Job:
    """The job of one scan; with ``out``, its OUT inspected under the OUT's lock, which ``hold`` (an
    ``ExitStack``) keeps until the caller is done with the job."""
    scan = scan if scan is not None else open_scan(source, max_pixels=max_pixels, page=page, dpi=dpi,
                                                           password=password)
    log.info("%s: %d x %d px, page %d of %d, dpi %s", scan.name, scan.width, scan.height, scan.page + 1,
             scan.pages, scan.dpi)
    kept = _kept_scale(out, scan, params, detector_info[0]) if out is not None else None
    if kept is not None:  # the run to resume (or finished) measured it: the scan is not sampled again
        params, scale_info = replace(params, scale=kept), {"rule": "auto", "scale": kept, "kept": True}
    else:
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
    job = Job(scan, plan, params, model, run_device, OutDir(out) if out is not None else None,
               formats, preview, heatmap, read=read, work=work, scale_info=scale_info)
    job.identity = {"scan": identity_scan(scan), "source": scan.fingerprint(), "model": model,
                    "params": params.to_dict(), "plan": summary}
    if job.out is not None:
        if hold is None:
            raise ValueError("a job with an OUT needs hold= to keep its lock")
        hold.enter_context(job.out.lock(wait))
        inspect_out(job, force)
    return job


def _kept_scale(out, scan, params: Params, model: dict):
    """The scale ``--scale auto`` chose for this very job in ``out`` (same scan, model and other parameters),
    read from its ``maps.zarr`` without writing anything; None where there is no such run.  A resumed or
    finished job then reads nothing to measure it again (a IIIF image: no tile fetched twice)."""
    if params.scale != "auto":
        return None
    try:
        _, stored = stored_maps(OutDir(out))
        job = (stored or {}).get("job") or {}
        before = dict(job.get("params") or {})
        now = params.to_dict()
        scale = before.pop("scale", None)
        now.pop("scale", None)
        if (job.get("scan") == identity_scan(scan) and job.get("source") == scan.fingerprint()
                and job.get("model") == model and before == now and isinstance(scale, (int, float))):
            return float(scale)
    except Exception:  # unreadable, not ours, another layout: measured afresh, and inspect_out says the rest
        return None
    return None


def load_complete(job: Job) -> Result:
    """The Result of a finished OUT; writes only requested files that are missing."""
    import json

    out = job.out
    doc = out.read_bytes(FORMATS["json"] if out.exists(FORMATS["json"]) else KEPT_RESULT)
    result = Result.from_dict(json.loads(doc), out=out.user_path)
    result.run = {"state": "complete", "tiles_run": 0, "tiles_skipped": len(job.plan.tiles), "added": []}
    missing = [fmt for fmt in job.formats if not out.exists(FORMATS[fmt])]
    added = []
    if job.heatmap and not out.exists("heatmap-region.png"):
        from bigocr.writers.preview import write_heatmaps

        added += write_heatmaps(open_maps(out.zarr_store("maps.zarr")), out)
    if job.preview and not out.exists("preview.png"):
        from bigocr.writers.preview import write_preview

        added.append(write_preview(job.scan, result, out))
    if missing:
        added += write_outputs(result, out, missing, scan=job.scan)
    result.run["added"] = added
    log.info("%s: already complete in %s; %s", job.scan.name, out,
             f"added {', '.join(added)}" if added else "nothing to do")
    return result


def write_results(result: Result, out: OutDir, formats, scan=None) -> None:
    """Write the outputs (``words.json`` last), then drop what only an unfinished run needs."""
    try:
        if "json" not in formats and out.exists("maps.zarr"):  # the job's own copy: what makes it complete
            out.write_bytes(KEPT_RESULT, result.to_json(), record=False)
        written = write_outputs(result, out, formats, scan=scan)
        log.info("wrote %s", ", ".join(str(p) for p in written))
        out.remove(CACHE_NAME)
        out.remove(COARSE_NAME)
        out.remove(TEXT_PARTS)
        out.forget((CACHE_NAME, COARSE_NAME, TEXT_PARTS))
    except OSError as exc:
        raise OutputError(f"{out}: cannot write results: {exc.strerror or exc}") from None

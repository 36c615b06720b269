"""Many scans in one run: ``bigocr batch`` and :func:`bigocr.detect_batch`.

Every page of every scan is a job with its own output folder under OUTDIR.
Jobs run a few at a time on one Dask client (so one scan's labelling overlaps
another's tiles), each exactly as ``bigocr run`` would: complete ones are
skipped, interrupted ones resumed.  A scan that cannot be read, or whose run
fails, is reported and skipped; the batch goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bigocr.engine.job import open_job
from bigocr.engine.runner import open_runner, progress_bar
from bigocr.engine.setup import Setup
from bigocr.engine.stages import execute
from bigocr.errors import BigOCRError, OutputError, ParameterError, ScanError, SchedulerLost
from bigocr.outdir import OutDir, source_stem
from bigocr.tiler.iiif import fetch_json, is_manifest, is_url, manifest_canvases, open_iiif
from bigocr.tiler.scan import DEFAULT_MAX_PIXELS, count_pages
from bigocr.writers import parse_formats

__all__ = ["BatchItem", "BatchItems", "run_batch", "write_documents", "write_manifest", "read_list", "out_names", "format_table", "IN_FLIGHT"]

log = logging.getLogger("bigocr")

#: Scans in flight at once by default.
IN_FLIGHT = 2

#: Name of the batch's own record in OUTDIR.
SUMMARY = "batch.json"


@dataclass
class BatchItem:
    """How one page of one scan went.

    ``state`` is ``done``, ``resumed``, ``complete`` (finished before: skipped),
    ``failed`` (``error`` says why, naming the scan) or ``unfinished`` (the Dask
    scheduler went away: a rerun resumes it).  ``page`` is 1-based.
    """

    scan: str
    page: int
    out: str
    state: str = "pending"
    words: int | None = None
    tiles_run: int | None = None
    seconds: float | None = None
    error: str | None = None
    canvas: dict | None = None  # the manifest's canvas this item reads (a IIIF manifest's), else None


def _naming(scan: str, message: str) -> str:
    """``message``, with the scan's name in front unless it says it already."""
    return message if scan in message else f"{scan}: {message}"


class BatchItems(list):
    """The batch's items, and on a cluster :attr:`cluster`: one line on the workers lost and the tasks sent
    again during the batch (None on the local cluster)."""

    def __init__(self, items=(), cluster: str | None = None):
        super().__init__(items)
        self.cluster = cluster


def read_list(path) -> list[str]:
    """Scan paths from a list file: one per line; blank lines and ``#`` comments skipped."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ParameterError(f"--list {path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ParameterError(f"--list {path}: not a text file of paths") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def out_names(sources: list[str]) -> list[str]:
    """One folder name per scan: its stem, plus a short hash of its path where stems collide."""
    stems = [source_stem(s) for s in sources]
    counts = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    return [stem if counts[stem] == 1 else f"{stem}-{hashlib.sha1(_identity(src).encode()).hexdigest()[:8]}"
            for stem, src in zip(stems, sources)]


def _identity(source: str) -> str:
    return source if "://" in source else str(Path(source).resolve())


def format_table(items: list[BatchItem]) -> str:
    """The summary table printed at the end of a batch."""
    rows = [("scan", "page", "state", "words", "tiles run", "seconds", "output / error")]
    for it in items:
        rows.append((it.scan, str(it.page), it.state, "" if it.words is None else str(it.words),
                     "" if it.tiles_run is None else str(it.tiles_run),
                     "" if it.seconds is None else f"{it.seconds:.1f}", it.error or it.out))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    counts = {}
    for it in items:
        counts[it.state] = counts.get(it.state, 0) + 1
    lines.append(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no scans")
    return "\n".join(lines)


def write_documents(documents: dict, results: dict, password: str | None = None) -> None:
    """``<stem>/text.pdf`` for each scan of several pages (``documents``: ``(scan, its folder) -> its
    items``) whose every page finished: the whole document searchable (a PDF's own pages with the text layers
    added, a TIFF's pages in order).  A scan with a page not finished gets no document (one warning says
    why), never one with pages missing."""
    from bigocr.writers.pdf import document_pdf

    for (scan, where), pages in documents.items():
        folder = OutDir(where)
        missing = [str(it.page) for it in pages if it.state not in ("done", "resumed", "complete")
                   or (scan, it.page - 1) not in results]
        if missing:
            log.warning("%s: %s not written: page%s %s not finished", scan, folder.shown("text.pdf"),
                        "s" if len(missing) > 1 else "", ", ".join(missing))
            continue
        try:
            folder.guard_inputs({"the scan": scan}, ["text.pdf"])
            _refuse_foreign(folder, "text.pdf")
            page_pdfs = [OutDir(it.out).read_bytes("text.pdf") for it in pages]
            data = document_pdf(scan, {it.page - 1: results[(scan, it.page - 1)] for it in pages}, password,
                                page_pdfs)
            folder.write_bytes("text.pdf", data)
            log.info("%s: wrote %s (%d pages)", scan, folder.shown("text.pdf"), len(pages))
        except Exception as exc:  # one document not written: said, the batch's table and batch.json still come
            message = str(exc) if isinstance(exc, BigOCRError) else f"{folder.shown('text.pdf')}: not written: {exc}"
            log.warning("%s", message)
            for it in pages:
                it.error = message


def _refuse_foreign(folder: OutDir, name: str) -> None:
    """An OutputError where ``name`` in ``folder`` is a file bigocr did not write (or that changed since)."""
    if folder.exists(name) and folder.foreign([name]):
        raise OutputError(f"{folder.shown(name)}: exists and bigocr did not write it (or it changed since); "
                          "bigocr never replaces it: move it away")


def write_manifest(source: str, folder: str, doc: dict, items: list[BatchItem], base_url: str | None) -> None:
    """``<stem>/manifest.json``: a copy of the manifest whose canvases point at their AnnotationPages (v3
    ``annotations``, v2 ``otherContent``), at ``--base-url`` or relative to the copy; written when every
    canvas finished (else one warning says which did not)."""
    import copy

    out = OutDir(folder)
    missing = [str(it.page) for it in items if it.state not in ("done", "resumed", "complete")]
    if missing:
        log.warning("%s: %s not written: canvas%s %s not finished", source, out.shown("manifest.json"),
                    "es" if len(missing) > 1 else "", ", ".join(missing))
        return
    doc = copy.deepcopy(doc)
    pages = {it.canvas["id"]: it.canvas.get("annotation_page") or f"canvas-{it.page:04d}/annotations.json"
             for it in items}
    if doc.get("type") == "Manifest":  # Presentation 3: canvas.annotations
        canvases, key, ident, entry = doc.get("items") or [], "annotations", "id", {"type": "AnnotationPage"}
    else:  # Presentation 2: canvas.otherContent
        canvases = [c for sequence in doc.get("sequences") or [] for c in sequence.get("canvases") or []]
        key, ident, entry = "otherContent", "@id", {"@type": "sc:AnnotationList"}
    for canvas in canvases:
        if isinstance(canvas, dict) and canvas.get(ident) in pages:
            page = pages[canvas[ident]]
            refs = [a for a in canvas.get(key) or [] if not isinstance(a, dict) or a.get(ident) != page]
            canvas[key] = refs + [{ident: page, **entry}]
    try:
        _refuse_foreign(out, "manifest.json")
        out.write_bytes("manifest.json", (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode())
        log.info("%s: wrote %s (%d canvases)", source, out.shown("manifest.json"), len(items))
    except Exception as exc:  # the copy not written: said; the batch's table and batch.json still come
        log.warning("%s", exc if isinstance(exc, BigOCRError) else f"{out.shown('manifest.json')}: not written: {exc}")


def run_batch(setup: Setup, sources: list[str], out_dir, *, scheduler=None, threads: int | None = None,
              force: bool = False, progress: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
              formats=("json",), preview: bool = False, heatmap: bool = False, in_flight: int = IN_FLIGHT,
              on_failure=None, wait: bool = False, dpi: float | None = None,
              password: str | None = None, base_url: str | None = None) -> list[BatchItem]:
    """Run every page of every one of ``sources`` with ``setup``, one job (one OUT) each; see
    :func:`bigocr.detect_batch`."""
    if not sources:
        raise ParameterError("no scans given: pass SCAN... or --list FILE")
    if not isinstance(in_flight, int) or isinstance(in_flight, bool) or in_flight < 1:
        raise ParameterError(f"in_flight must be a positive integer, got {in_flight!r}")
    formats = parse_formats(formats)
    root = OutDir(out_dir)
    root.check()
    root.mkdir()
    params, model, run_device, reader = setup.params, setup.model, setup.run_device, setup.reader

    def report_failure(item):
        if on_failure is not None:
            on_failure(item)
        else:
            log.warning("failed: %s", item.error if item.page == 1 else f"page {item.page}: {item.error}")

    # Pages first (TIFF headers only; nothing is decoded here).
    items, pages = [], []
    base = str(root.user_path).rstrip("/")
    manifests = {}  # source -> (its folder, its document, its items), for the manifest copies
    documents = {}  # (source, its folder) -> the items of its pages, for the documents' searchable PDFs
    for source, name in zip(sources, out_names(sources)):
        if is_url(source):
            try:
                doc, canvases = None, None
                if not source.rstrip("/").endswith("info.json"):  # a manifest, or an image's base URI
                    try:
                        doc = fetch_json(source, "manifest")
                    except ScanError:  # not JSON: an image's base URI, opened as one below
                        doc = None
                    canvases = manifest_canvases(doc, source) if doc is not None and is_manifest(doc) else None
            except BigOCRError as exc:
                items.append(BatchItem(source, 1, f"{base}/{name}", state="failed", error=_naming(source, str(exc))))
                report_failure(items[-1])
                continue
            if canvases is None:  # one image
                items.append(BatchItem(source, 1, f"{base}/{name}"))
                pages.append((items[-1], 0))
                continue
            own = []
            for k, canvas in enumerate(canvases, 1):
                folder = f"{name}/canvas-{k:04d}"
                if base_url:
                    canvas = {**canvas, "annotation_page": f"{base_url.rstrip('/')}/{folder}/annotations.json"}
                items.append(BatchItem(f"{canvas.pop('image')}/info.json", k, f"{base}/{folder}", canvas=canvas))
                pages.append((items[-1], 0))
                own.append(items[-1])
            manifests[source] = (f"{base}/{name}", doc, own)
            continue
        try:
            count = count_pages(source, max_pixels=max_pixels, password=password)
        except BigOCRError as exc:
            items.append(BatchItem(source, 1, f"{base}/{name}", state="failed", error=str(exc)))
            report_failure(items[-1])
            continue
        for page in range(count):
            sub = name if count == 1 else f"{name}/page-{page + 1:04d}"
            items.append(BatchItem(source, page + 1, f"{base}/{sub}"))
            pages.append((items[-1], page))
            if count > 1:
                documents.setdefault((source, f"{base}/{name}"), []).append(items[-1])

    lock = threading.Lock()
    results = {}  # (scan, page) -> Result, for the documents' searchable PDFs
    with open_runner(setup.detector, scheduler, threads, setup.resources, reader) as runner, \
            progress_bar(len(pages), progress, unit="scan") as scans_bar, \
            progress_bar(0, progress, unit="tile", position=1) as tiles_bar, \
            progress_bar(None, progress and reader is not None, unit="word", position=2) as words_bar:

        def on_tile(report):
            with lock:
                tiles_bar.update()

        def on_read(count):
            with lock:
                words_bar.update(count)

        def run_one(entry):
            item, page = entry
            t0 = time.perf_counter()
            if runner.watch.lost_scheduler:  # nothing more can run: said at the end, resumed by a rerun
                item.state, item.error = "unfinished", "not finished: the Dask scheduler was lost"
                return
            try:
                with contextlib.ExitStack() as hold:
                    scan = (open_iiif(item.scan, max_pixels=max_pixels, canvas=item.canvas) if item.canvas is not None
                            else None)
                    job = open_job(item.scan, scan=scan, params=params, detector_info=(model, run_device), out=item.out,
                                   force=force, max_pixels=max_pixels, page=page, formats=formats, preview=preview,
                                   heatmap=heatmap, read=reader is not None, hold=hold, wait=wait, dpi=dpi,
                                   password=password)
                    with lock:
                        tiles_bar.total += len(job.plan.tiles)
                        tiles_bar.refresh()
                    result = execute(job, runner, on_tile, on_read)
                    results[(item.scan, page)] = result
                item.state = result.run["state"]
                item.words = len(result.words)
                item.tiles_run = result.run["tiles_run"]
            except SchedulerLost:
                item.state, item.error = "unfinished", "not finished: the Dask scheduler was lost"
            except BigOCRError as exc:
                item.state, item.error = "failed", _naming(item.scan, str(exc))
            except Exception as exc:  # a bug or a cluster failure: this scan fails, the batch goes on
                log.debug("scan %s failed", item.scan, exc_info=True)
                item.state, item.error = "failed", _naming(item.scan, f"{type(exc).__name__}: {exc}")
            item.seconds = time.perf_counter() - t0
            with lock:
                if item.state == "failed":
                    report_failure(item)
                elif item.state != "unfinished" and progress:
                    scans_bar.write(f"{item.scan}{f' page {item.page}' if item.page > 1 else ''}: {item.state}, "
                                    f"{item.words} words, {item.seconds:.1f} s", file=sys.stderr)
                scans_bar.update()

        pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="bigocr-scan")
        try:
            list(pool.map(run_one, pages))
        except BaseException:  # Ctrl-C: start nothing more; closing the cluster stops the scans in flight
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        if runner.client is not None and not runner.local:
            items = BatchItems(items, runner.watch.report())

    if "pdf" in formats:
        write_documents(documents, results, password)
    if "iiif" in formats:
        for source, (folder, doc, own) in manifests.items():
            write_manifest(source, folder, doc, own, base_url)
    try:
        root.write_bytes(SUMMARY, (json.dumps([asdict(it) for it in items], indent=1) + "\n").encode(), record=False)
    except (OSError, BigOCRError) as exc:
        print(f"bigocr: warning: {root}: cannot write {SUMMARY}: {exc}", file=sys.stderr)
    return items

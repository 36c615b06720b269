"""The ``bigocr`` command line: ``main(argv) -> int``.

Exit codes: 0 ok, 1 bad arguments, 2 bad input scan, 3 missing or wrong
weights, 4 the Dask cluster cannot run the job, 5 output not writable or
holding another job, 6 a batch finished with failed scans, 130 interrupted,
70 internal error.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path

from bigocr.version import __version__
from bigocr.errors import BigOCRError, ClusterError, OutputError
from bigocr.options import coarse_arg, dpi_arg, formats_arg, pixel_count, positive_int, scale_arg, threshold_arg
from bigocr.tiler.scan import DEFAULT_MAX_PIXELS

__all__ = ["main"]

EXIT_USAGE = 1
EXIT_BATCH_FAILED = 6
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
#: Commands with parsers of their own, in bigocr.dev: ``bigocr [-v] train|eval|train-reader|distill|train-segments``.
DEV_COMMANDS = (["train"], ["eval"], ["train-reader"], ["distill"], ["train-segments"])


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: what is wrong and where help is."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _out_options(cmd) -> None:
    """``--force`` and ``--wait``: what a job may do with its OUT (``run``, ``batch``, ``recognize``)."""
    cmd.add_argument("--force", action="store_true",
                     help="remove what earlier bigocr jobs wrote into OUT (files its record lists, unchanged since) "
                          "and start again; files bigocr did not write, or that changed since, and the scan "
                          "itself are never removed (default: resume or skip the same job, refuse another's)")
    cmd.add_argument("--wait", action="store_true",
                     help="if another bigocr run is using OUT, wait for it to end (default: exit 5 at once)")


def _job_options(cmd) -> None:
    """Options shared by ``run`` and ``batch``."""
    cmd.add_argument("--max-side", type=positive_int, default=2560, metavar="N",
                     help="cap on the longer side of the tile the network sees, in working pixels (a half-input "
                          "CRAFT such as craft-fast sees tiles halved: its tiles may be twice as long; default: 2560)")
    cmd.add_argument("--scale", type=scale_arg, default=None, metavar="FACTOR|auto",
                     help="resample the scan by FACTOR, tile by tile, before detection (0.5 halves it); auto: "
                          "from the scan's text height, to where the network sees best; boxes stay in scan "
                          "pixels (default: auto with CRAFT weights)")
    cmd.add_argument("--coarse", type=coarse_arg, default=None, metavar="FACTOR",
                     help="headline pass: detect again at FACTOR times the scale, where text 3-6x the body's height "
                          "is seen whole, and keep its tall words (default: 0.25 with CRAFT weights; 0: off)")
    cmd.add_argument("--tiling", choices=("thirds", "grid"), default=None,
                     help="grid (default): a flat grid, each tile reading a context margin around the core it owns; "
                          "thirds: recursive half-size overlapping thirds (the same maps, more pixels)")
    cmd.add_argument("--margin", type=positive_int, metavar="PX",
                     help="the grid's context margin in working pixels (scan pixels times --scale; default: "
                          "measured from the network)")
    cmd.add_argument("--weights", metavar="PATH",
                     help="CRAFT weights: craft-fast (default: bigocr's slim half-input CRAFT, ~20x faster than "
                          "craft-doc), craft-student (bigocr's slim CRAFT: ~4x slower, a few more words on receipts), "
                          "craft-doc (bigocr's full CRAFT fine-tuned on documents: most words on forms, slowest), "
                          "craft-mlt-25k (the published CRAFT, installed with bigocr; the default with --refiner), "
                          "a reference .pth or a bigocr .safetensors")
    cmd.add_argument("--refiner", metavar="PATH", help="LinkRefiner weights (refines the affinity map)")
    cmd.add_argument("--no-text", dest="text", action="store_false",
                     help="find the words' boxes only; do not read them")
    cmd.add_argument("--recognizer", metavar="NAME|PATH",
                     help="recognizer: auto (default: fast reads every word, and the words it is unsure of "
                          "are read again by documents or historical, whichever is more confident on them), "
                          "documents (bigocr's, modern print: forms, receipts), historical "
                          "(bigocr's, German/Latin print 1500-1850: ſ, umlauts, ligatures), fast (bigocr's slim "
                          "reader for both, 1.2-1.7x faster than auto), english-g2 "
                          "(EasyOCR's English CRNN) or a bigocr .safetensors recognizer")
    cmd.add_argument("--text-threshold", type=threshold_arg, default=0.7, metavar="T",
                     help="peak region score a word needs (default: 0.7)")
    cmd.add_argument("--link-threshold", type=threshold_arg, default=0.4, metavar="T",
                     help="affinity above which characters link (default: 0.4)")
    cmd.add_argument("--low-text", type=threshold_arg, default=0.4, metavar="T",
                     help="region score above which a pixel is text (default: 0.4)")
    cmd.add_argument("--poly", action="store_true", help="also write CRAFT's 14-point polygons")
    cmd.add_argument("--format", type=formats_arg, default=("json",), metavar="LIST",
                     help="comma-separated outputs: json (words.json), alto (alto.xml), page (page.xml), "
                          "hocr (hocr.html), geojson (words.geojson), txt (text.txt); default: json")
    cmd.add_argument("--no-preview", dest="preview", action="store_false",
                     help="skip preview.png (the scan shrunk to 4000 px with its words drawn)")
    cmd.add_argument("--heatmap", action="store_true",
                     help="also write heatmap-region.png and heatmap-affinity.png from the stitched maps")
    cmd.add_argument("--max-pixels", type=pixel_count, default=DEFAULT_MAX_PIXELS, metavar="N",
                     help=f"refuse scans whose header claims more pixels (default: {DEFAULT_MAX_PIXELS:.3g})")
    cmd.add_argument("--invert", choices=("none", "both"), default="none",
                     help="'both' also detects on the inverted scan (white-on-black text)")
    cmd.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    cmd.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="auto",
                     help="network arithmetic: auto (default) = bf16 autocast where fast (GPU; CPU with AMX or "
                          "AVX512-BF16), else fp32; int8 = the default detector's int8 model in ONNX Runtime (CPU; "
                          "pip install 'bigocr[int8]'), the readers as auto")
    cmd.add_argument("--scheduler", metavar="ADDRESS",
                     help="run on an existing dask.distributed cluster (default: $DASK_SCHEDULER_ADDRESS, "
                          "else a local one)")
    cmd.add_argument("--resources", metavar="NAME=N,...",
                     help="Dask resources a tile task needs on the cluster (default: GPU=1 with a CUDA --device)")
    cmd.add_argument("--threads", type=positive_int, metavar="N",
                     help="tiles in flight on the local cluster (default: one per core)")
    _out_options(cmd)
    cmd.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    _pdf_options(cmd)


def _pdf_options(cmd) -> None:
    """Options of PDF input."""
    cmd.add_argument("--dpi", type=dpi_arg, default=None, metavar="DPI",
                     help="resolution PDF pages that are not one scanned image are rendered at (default: 300); "
                          "a scanned page is read from its image as stored")
    cmd.add_argument("--password", metavar="PASSWORD", help="password of an encrypted PDF")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bigocr", description="Find every word in huge document scans, at full resolution.")
    parser.add_argument("--version", action="version", version=f"bigocr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details; show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="find and read the words of one scan",
                         description="Find every word of SCAN at full resolution and read it (--no-text: boxes only).")
    run.add_argument("scan", metavar="SCAN", help="TIFF/BigTIFF, PNG, JPEG, JPEG 2000 or PDF file, or a IIIF image's URL (info.json)")
    run.add_argument("-o", "--out", metavar="OUT", help="output folder (default: ./<stem>.bigocr/)")
    run.add_argument("--page", type=positive_int, default=1, metavar="N",
                     help="page of a multi-page TIFF or a PDF, from 1 (default: 1)")
    _job_options(run)

    batch = sub.add_parser("batch", help="find and read the words of many scans, one output folder each",
                           description="Detect every word of each SCAN (every page of a multi-page TIFF or a PDF: "
                                       "OUTDIR/<stem>/page-0001/ ...) into OUTDIR/<stem>/; with --format pdf a "
                                       "document's pages also make OUTDIR/<stem>/text.pdf. Complete scans are "
                                       "skipped, interrupted ones resumed; a scan that fails is reported and the "
                                       "batch goes on (exit 6 at the end).")
    batch.add_argument("scans", metavar="SCAN", nargs="*",
                       help="scan files (TIFF, PNG, JPEG, JPEG 2000, PDF), IIIF image URLs or IIIF manifest URLs")
    batch.add_argument("--list", metavar="FILE", help="a file of scan paths, one per line (# comments)")
    batch.add_argument("-o", "--out", metavar="OUTDIR", required=True, help="folder (or fsspec URL) for the outputs")
    batch.add_argument("--base-url", metavar="URL",
                       help="where OUTDIR will be served: the ids of --format iiif's AnnotationPages and of the "
                            "manifest copy's references start with it (default: file URIs; relative references)")
    batch.add_argument("--in-flight", type=positive_int, default=2, metavar="N",
                       help="scans processed at once (default: 2)")
    _job_options(batch)

    rec = sub.add_parser("recognize", help="read the words of given boxes (PAGE, ALTO or words.json)",
                         description="Read the words whose boxes FILE gives (a PAGE XML or ALTO file, e.g. a layout "
                                     "corrected by hand, or a bigocr words.json) from SCAN at full resolution.")
    rec.add_argument("scan", metavar="SCAN")
    rec.add_argument("--boxes", metavar="FILE", required=True, help="PAGE XML, ALTO or words.json with the boxes")
    rec.add_argument("-o", "--out", metavar="OUT", help="output folder (default: ./<stem>.bigocr/)")
    rec.add_argument("--recognizer", metavar="NAME|PATH",
                     help="auto (default), documents, historical, english-g2 or a bigocr .safetensors recognizer")
    rec.add_argument("--format", type=formats_arg, default=("json",), metavar="LIST",
                     help="comma-separated outputs, as for run (default: json)")
    rec.add_argument("--page", type=positive_int, default=1, metavar="N", help="page of a multi-page TIFF, from 1")
    rec.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    rec.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    rec.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing dask.distributed cluster")
    _out_options(rec)
    rec.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    _pdf_options(rec)

    weights = sub.add_parser("weights", help="published weights: bigocr weights download craft-mlt-25k|english-g2")
    wsub = weights.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    dl = wsub.add_parser("download", help="download, check and cache published weights")
    dl.add_argument("name", choices=("craft-mlt-25k", "english-g2"))
    dl.add_argument("--url", help="another source of the same archive (a mirror)")
    sub.add_parser("train", help="train CRAFT on synthetic scans and real pages (bigocr train --help)",
                   add_help=False)
    sub.add_parser("eval", help="precision/recall/H-mean on real scans (bigocr eval --help)", add_help=False)
    sub.add_parser("train-reader", help="fine-tune the recognizer on pages with text (bigocr train-reader --help)",
                   add_help=False)
    sub.add_parser("distill", help="distil a slim CRAFT from a teacher's maps (bigocr distill --help)", add_help=False)
    sub.add_parser("train-segments", help="fit the model that cuts lines into segments (bigocr train-segments --help)",
                   add_help=False)
    plan = sub.add_parser("plan", help="print the scale and tile plan of a scan",
                          description="Print the scale and tile plan of SCAN (reads its header, and a few windows for "
                                      "--scale auto).")
    plan.add_argument("scan", metavar="SCAN")
    plan.add_argument("--max-side", type=positive_int, default=2560, metavar="N")
    plan.add_argument("--tiles", action="store_true", help="also list every tile")
    plan.add_argument("--tiling", choices=("thirds", "grid"), default=None,
                      help="(default: grid, as bigocr run; thirds where --max-side leaves no core inside the margin)")
    plan.add_argument("--margin", type=positive_int, default=None, metavar="PX",
                      help="the grid's context margin (default: measured from the network, as run)")
    plan.add_argument("--weights", default=None, metavar="NAME|PATH",
                      help="the CRAFT weights the plan is for (default: as run, craft-fast): a half-input CRAFT "
                           "sees tiles halved, so its tiles are twice as long")
    plan.add_argument("--page", type=positive_int, default=1, metavar="N", help="page of a multi-page TIFF, from 1")
    plan.add_argument("--scale", type=scale_arg, default="auto", metavar="FACTOR|auto",
                      help="plan for the scan resampled by FACTOR (default auto: from its letter height, as run)")
    plan.add_argument("--max-pixels", type=pixel_count, default=DEFAULT_MAX_PIXELS, metavar="N")
    _pdf_options(plan)
    sample = sub.add_parser("sample", help="write a synthetic scan with its ground truth",
                            description="Write a synthetic document scan OUT.tif and its word boxes OUT.gt.json.")
    sample.add_argument("out", metavar="OUT.tif")
    sample.add_argument("--size", default="7256x13483", metavar="WxH", help="width x height (default: 7256x13483)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--layout", default="article", help="article, form, table or receipt")
    sample.add_argument("--dpi", type=float, default=400)
    sample.add_argument("--force", action="store_true", help="overwrite OUT.tif if it exists")
    return parser


def _cmd_sample(args) -> int:
    from bigocr.errors import OutputError, ParameterError
    from bigocr.dev.synth import write_sample

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ParameterError(f"--size must look like 7256x13483, got {args.size!r}") from None
    if not (16 <= width <= 60000 and 16 <= height <= 60000):
        raise ParameterError(f"--size: each side must be 16..60000 pixels, got {args.size}")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise OutputError(f"{out}: exists; pass --force to overwrite")
    tif, gt = write_sample(out, height, width, seed=args.seed, layout=args.layout, dpi=args.dpi)
    print(f"wrote {tif} ({width}x{height}) and {gt}")
    return 0


def _cmd_weights(args) -> int:
    from bigocr.models.registry import download

    path = download(args.name, url=args.url)
    print(f"{args.name}: {path} (md5 checked); use it with --weights {args.name}")
    return 0


def _cmd_run(args) -> int:
    from bigocr.api import default_out, detect, out_location

    out = out_location(args.out) if args.out else default_out(args.scan)
    result = detect(
        args.scan, max_side=args.max_side, detector=args.weights, scheduler=args.scheduler, poly=args.poly,
        text_threshold=args.text_threshold, link_threshold=args.link_threshold, low_text=args.low_text,
        out=out, refiner=args.refiner, invert=args.invert, device=args.device, force=args.force,
        progress=not args.quiet and sys.stderr.isatty(), threads=args.threads, page=args.page - 1,
        formats=args.format, preview=args.preview, heatmap=args.heatmap, max_pixels=args.max_pixels,
        resources=args.resources, tiling=args.tiling, margin=args.margin, precision=args.precision,
        scale=args.scale, coarse=args.coarse, text=args.text, recognizer=args.recognizer, wait=args.wait,
        dpi=args.dpi, password=args.password,
    )
    if not args.quiet:
        run = result.run
        read = " read" if args.text else ""
        words = f"{len(result.words)} words{read} in {len(result.layout.lines)} lines"
        if result.params.get("scale", 1) != 1:
            words += f" (scale {result.params['scale']:g})"
        if run["state"] == "complete":
            added = run.get("added")
            print(f"{args.scan}: already complete in {out}/ ({words}); "
                  + (f"added {', '.join(Path(a).name for a in added)}" if added else "nothing to do"))
        else:
            resumed = f", resumed: {run['tiles_skipped']} tiles were done" if run["state"] == "resumed" else ""
            print(f"{args.scan}: {words}, {result.tiles['count']} tiles{resumed}, "
                  f"{result.timings['total']:.1f} s -> {out}/")
    return 0


def _cmd_recognize(args) -> int:
    from bigocr.api import default_out, out_location, recognize

    out = out_location(args.out) if args.out else default_out(args.scan)
    result = recognize(args.scan, args.boxes, recognizer=args.recognizer, out=out, formats=args.format,
                       scheduler=args.scheduler, device=args.device, precision=args.precision, page=args.page - 1,
                       force=args.force, progress=not args.quiet and sys.stderr.isatty(), wait=args.wait,
                       dpi=args.dpi, password=args.password)
    if not args.quiet:
        print(f"{args.scan}: {len(result.words)} words read in {result.timings['total']:.1f} s -> {out}/")
    return 0


def _cmd_batch(args) -> int:
    from tqdm import tqdm

    from bigocr.api import detect_batch
    from bigocr.engine.batch import format_table

    def said(item):  # as it happens, above the progress bars
        page = f" (page {item.page})" if item.page > 1 else ""
        tqdm.write(f"bigocr: error{page}: {item.error}", file=sys.stderr)

    items = detect_batch(
        args.scans, args.out, list_file=args.list, max_side=args.max_side, detector=args.weights,
        scheduler=args.scheduler, poly=args.poly, text_threshold=args.text_threshold,
        link_threshold=args.link_threshold, low_text=args.low_text, refiner=args.refiner, invert=args.invert,
        device=args.device, force=args.force, progress=not args.quiet and sys.stderr.isatty(),
        threads=args.threads, formats=args.format, preview=args.preview, heatmap=args.heatmap,
        max_pixels=args.max_pixels, resources=args.resources, in_flight=args.in_flight, on_failure=said,
        tiling=args.tiling, margin=args.margin, precision=args.precision, scale=args.scale, coarse=args.coarse,
        text=args.text, recognizer=args.recognizer, wait=args.wait, dpi=args.dpi, password=args.password,
        base_url=args.base_url,
    )
    failed = [it for it in items if it.state == "failed"]
    unfinished = [it for it in items if it.state == "unfinished"]
    if not args.quiet:
        print(format_table(items))
        if getattr(items, "cluster", None):
            print(items.cluster)
    for it in unfinished:
        page = f" page {it.page}" if it.page > 1 else ""
        print(f"bigocr: error: {it.scan}{page}: {it.error}", file=sys.stderr)
    if unfinished:
        print(f"bigocr: error: {len(unfinished)} of {len(items)} scans not finished: the Dask scheduler was lost; "
              "run the same command again to resume them", file=sys.stderr)
        return ClusterError.exit_code
    if failed:  # each was said as it happened
        print(f"bigocr: error: {len(failed)} of {len(items)} scans failed", file=sys.stderr)
    return EXIT_BATCH_FAILED if failed else 0


def _cmd_plan(args) -> int:
    from bigocr.config import Params
    from bigocr.engine.setup import prepare, resolve_scale
    from bigocr.tiler.plan import make_plan
    from bigocr.tiler.scale import scaled
    from bigocr.tiler.scan import open_scan

    scan = open_scan(args.scan, max_pixels=args.max_pixels, page=args.page - 1, dpi=args.dpi,
                     password=args.password)
    setup = prepare(Params(args.max_side, tiling=args.tiling, margin=args.margin, scale=args.scale),
                    detector=args.weights, device="cpu")
    detector, model = setup.detector, setup.model
    params, how = resolve_scale(setup.params, scan)
    work = scaled(scan, params.scale)
    plan = make_plan(work.height, work.width, params.tile_side, params.tiling, params.margin, params.align)
    s = plan.summary()
    mp = scan.height * scan.width / 1e6
    print(f"scan        {scan.width} x {scan.height} px ({mp:.1f} MP), max side {args.max_side}")
    halved = " (half-input: it sees each tile halved, so tiles are up to twice --max-side)" \
        if getattr(detector, "halved_input", False) else ""
    print(f"detector    {model.get('name')}{halved}")
    if how["rule"] == "auto":
        height = f"text height {how['text_height']} px" if how["text_height"] else "no text height measured"
        band = "-".join(f"{v:g}" for v in how["band"])
        print(f"scale       {params.scale:g} (auto: {height}, band {band} px): "
              f"{work.width} x {work.height} working px")
    elif params.scale != 1:
        print(f"scale       {params.scale:g}: {work.width} x {work.height} working px")
    if s["scheme"] == "grid":
        print(f"grid        context margin {s['margin']} px around each tile's core")
    else:
        print(f"recursion   depth {s['depth']}, {s['leaves']} leaves")
    print(f"tiles       {s['count']} distinct ({s['grid'][0]} rows x {s['grid'][1]} columns), "
          f"largest {s['max_tile'][1]} x {s['max_tile'][0]} px")
    image = "scan" if params.scale == 1 else "working image"
    print(f"pixels      {s['pixels_ratio']:.2f}x the {image} "
          f"({s['leaf_pixels_ratio']:.2f}x if identical leaves ran again)")
    print(f"maps        {s['map_shape'][1]} x {s['map_shape'][0]} px, chunks {s['chunks'][1]} x {s['chunks'][0]}")
    if args.tiles:
        for tile in plan.tiles:
            y0, y1, x0, x1 = tile.window
            print(f"tile {tile.index[0]:3d},{tile.index[1]:3d}  y {y0}:{y1}  x {x0}:{x1}  owns map {tile.owned}")
    return 0


def _cmd_sub(command: str, argv: list[str]) -> int:
    if command == "train":
        from bigocr.dev.train.loop import main as sub_main
    elif command == "train-reader":
        from bigocr.dev.train.reader import main as sub_main
    elif command == "distill":
        from bigocr.dev.train.distill import main as sub_main
    elif command == "train-segments":
        from bigocr.dev.train.segments import main as sub_main
    else:
        from bigocr.dev.evaluate import main as sub_main

    try:
        return sub_main(argv)
    except SystemExit as exc:
        return 0 if not exc.code else EXIT_USAGE


#: OS errors that mean "cannot write here" wherever they come from: exit 5 with the path and the reason.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def _guarded(fn, verbose: bool) -> int:
    """The one top-level handler: user errors as one line, bugs said as bugs (tracebacks with -v)."""
    stderr = sys.stderr  # the user's, even where a Ctrl-C silenced sys.stderr for the cluster's teardown
    try:
        return fn()
    except BigOCRError as exc:
        if verbose:
            logging.exception("details")
        print(f"bigocr: error: {exc}", file=stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bigocr: interrupted", file=stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `bigocr plan ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            return _internal(exc, verbose, stderr)
        if verbose:
            logging.exception("details")
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"bigocr: error: {where}cannot write: {exc.strerror or exc}", file=stderr)
        return OutputError.exit_code
    except Exception as exc:  # a bug, not a user error
        return _internal(exc, verbose, stderr)


def _internal(exc: BaseException, verbose: bool, stderr) -> int:
    if verbose:
        logging.exception("internal error")
    print(f"bigocr: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)", file=stderr)
    return EXIT_INTERNAL


def _quiet_interrupts() -> None:
    """Ctrl-C during a job: ``bigocr: interrupted`` and nothing else on stderr.

    The first SIGINT silences ``sys.stderr`` before it unwinds the job, so the
    tracebacks that the cluster's threads (tornado, distributed) print while
    they are torn down mid-call stay out of the user's terminal; ``-v`` keeps them.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN, None):
        return

    def on_sigint(signum, frame):
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the rest of the process)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    logged = argv[:1] in (["-v"], ["--verbose"]) and argv[1:2] in DEV_COMMANDS  # bigocr -v eval: log each stage
    if logged:
        argv = argv[1:]
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if argv[:1] in DEV_COMMANDS:  # their own parsers: bigocr train --help, ...; their own -v (eval: per image)
        verbose = logged or "-v" in argv
        if not verbose:  # tifffile's notes on odd headers (EXIF in JPEGs) are not the user's business
            logging.getLogger("tifffile").setLevel(logging.CRITICAL)
        return _guarded(lambda: _cmd_sub(argv[0], argv[1:]), verbose=verbose)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help and --version exit 0, bad arguments 2
        return 0 if not exc.code else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    if args.command in ("run", "batch", "recognize") and not args.verbose:
        import distributed  # noqa: F401  (sets up its own loggers on import; quiet them after)

        # A failed tile reaches the user as the one-line error; the in-process workers' own
        # "Compute Failed ... Traceback" records must not (-v shows them), nor the event loop's.
        for name in ["distributed", "tornado", "asyncio", *logging.root.manager.loggerDict]:
            if name.split(".")[0] in ("distributed", "tornado", "asyncio"):  # dask's config sets some children
                logging.getLogger(name).setLevel(logging.CRITICAL)
        _quiet_interrupts()
    if not args.verbose:  # tifffile logs what it finds odd in a header; our one-line error says it
        logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    command = {"run": _cmd_run, "batch": _cmd_batch, "recognize": _cmd_recognize, "plan": _cmd_plan,
               "sample": _cmd_sample, "weights": _cmd_weights}[args.command]
    return _guarded(lambda: command(args), args.verbose)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()

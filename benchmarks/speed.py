"""Where the time of ``bigocr run`` goes, stage by stage, against what the networks alone cost: the floor.

    python benchmarks/speed.py [--scans forms,prints,gp] [--options 'OPTS[;OPTS...]'] [--tmp DIR]
                               [--json benchmarks/out/speed.json]

Scans (real pages; all side by side in one run):

forms
    The FUNSD and VD-SBB pages outside the training third packed into a 7256 x 13483 mosaic
    (``benchmarks/run.py``'s big mosaic, 91 MP; the forms' small print makes ``--scale auto``
    enlarge the whole scan x2.25), H against its word truth.
prints
    Every VD-SBB development page packed into an 8192 px block, repeated over a 9728 px square
    (95 MP; ``benchmarks/memory_real.py``'s scan), 300 dpi print read at x1.
gp
    The same block over 31 744 px (1 GP): minutes.

Each run is ``bigocr run SCAN -o OUT -q`` with every default (text read, all outputs, the local
Dask cluster), or with each of ``--options``' sets (``;`` between them: ``';--precision int8'`` runs
the defaults and then int8 on each scan, one after the other), as a child process: wall time and the stages' seconds from ``words.json``
(``timings``; the rest of the wall time is the process start, the cluster's start and stop, and
writing the outputs).

The floor is what the networks alone cost for the same work, measured here after the runs in
one process: the detector in the run's precision on a tile of the run's largest working tile (as
the network sees it, halved for a half-input CRAFT; the second pass timed), one thread, times the working pixels of the main and the
headline pass, divided by the cores (perfect scaling: a floor, not a forecast); the first reader
(``fast``, which reads every word under ``auto``) on the crops of an even sample of the run's
words, one thread, scaled to all of them and divided by the cores.  Rereading, cropping,
labelling, layout and writing are work the floor leaves out.  ``ratio`` = wall time / floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_real import page_block, write_scan  # noqa: E402  (the benchmarks share their scans)
from run import child, mosaic  # noqa: E402

#: The stages of ``words.json``'s timings, in the order they run, and what the table calls them.
STAGES = (("tiles", "tiles"), ("label", "labelling"), ("boxes", "boxes"), ("headline pass", "headline pass"),
          ("layout", "layout"), ("join", "join"), ("lines", "baselines"), ("recognize", "reading"),
          ("preview", "preview"))
READER_SAMPLE = 1500


def run_bigocr(scan: Path, out: Path, extra: list[str] = ()) -> dict:
    """``bigocr run SCAN -o OUT -q [EXTRA]`` as a child (``run.child``): wall seconds, its peak RSS, ``words.json``."""
    run = child([sys.executable, "-m", "bigocr", "run", str(scan), "-o", str(out), "-q", *extra])
    return {"wall_s": run["wall_s"], "peak_mb": run["peak_rss_mb"],
            "doc": json.loads((out / "words.json").read_text())}


def detector_floor(doc: dict, scan) -> dict:
    """Seconds the detector network alone needs for the run's tiles (main and headline pass), all cores."""
    import torch

    from bigocr.detector.infer import CraftDetector
    from bigocr.models.registry import DEFAULT_DETECTOR, resolve_named
    from bigocr.tiler.plan import make_plan

    params = doc["params"]
    det = CraftDetector.from_files(resolve_named(DEFAULT_DETECTOR), device="cpu",
                                   precision=doc["model"].get("precision", "auto"))
    if det.craft.sha256 != doc["model"].get("sha256"):
        raise SystemExit(f"speed.py: the run used {doc['model'].get('name')}, not the default detector")
    halved = det.halved_input
    h, w = doc["tiles"]["max_tile"]
    shape = ((h + 1) // 2, (w + 1) // 2) if halved else (h, w)
    tile = np.full((*shape, 3), 255, np.uint8)
    tile[::40] = 0  # lines of ink: the network's cost does not depend on the content, but keep it page-like
    torch.set_num_threads(1)
    run = det.detect_halved if halved else det
    run(tile[:256, :256])  # load, warm up
    run(tile)  # ONNX Runtime's first pass at a shape plans its buffers
    t0 = time.perf_counter()
    run(tile)
    per_pixel = (time.perf_counter() - t0) / (h * w)  # seconds per working pixel, one thread
    pixels = doc["tiles"]["pixels"]
    coarse = params.get("coarse") or 0
    if coarse:  # the headline pass: its own plan, at coarse x the scale (as stages.headline_words makes it)
        from bigocr.tiler.scale import MIN_SCALE, scaled

        work = scaled(scan, max(MIN_SCALE, params["scale"] * coarse))
        side = 2 * params["max_side"] if halved else params["max_side"]
        pixels += make_plan(work.height, work.width, side, params["tiling"], params["margin"], params["align"]).pixels
    cores = os.cpu_count() or 1
    return {"working_mp": round(pixels / 1e6, 1), "mp_per_s_one_thread": round(1e-6 / per_pixel, 2),
            "seconds": pixels * per_pixel / cores}


def reader_floor(scan_path: Path, doc: dict) -> dict:
    """Seconds the first reader's network alone needs for every word's crop, all cores (from a sample)."""
    import torch

    from bigocr.models.registry import resolve_named
    from bigocr.models.weights import load_network
    from bigocr.recognizer.read import crop_window, to_height, word_crop
    from bigocr.models.crnn import IMAGE_HEIGHT
    from bigocr.recognizer.recognize import FIRST, CrnnRecognizer, read_images
    from bigocr.tiler.scan import open_scan

    words = doc["words"]
    if not words:
        return {"words": 0, "seconds": 0.0}
    scan = open_scan(scan_path)
    pick = np.unique(np.linspace(0, len(words) - 1, min(READER_SAMPLE, len(words))).round().astype(int))
    images = []
    for i in pick:
        quad = np.asarray(words[i]["box"], float)
        y0, y1, x0, x1 = crop_window(quad, scan.shape)
        crop = word_crop(scan.read(y0, y1, x0, x1), quad, origin=(y0, x0))
        if crop is not None:
            images.append(to_height(crop, IMAGE_HEIGHT))
    rec = CrnnRecognizer.from_files(resolve_named(FIRST), device="cpu")
    net = load_network(rec.weights, "cpu")
    torch.set_num_threads(1)
    bf16 = rec.precision == "bf16"
    read_images(net, images[:8], rec.charset, bf16=bf16)  # warm up
    t0 = time.perf_counter()
    read_images(net, images, rec.charset, bf16=bf16)
    sample_s = time.perf_counter() - t0
    cores = os.cpu_count() or 1
    return {"words": len(words), "sample": len(images), "seconds": sample_s * len(words) / len(pick) / cores}


def scans(names: list[str], data: Path, tmp: Path) -> list[tuple[str, Path, dict | None]]:
    """``(name, path, truth or None)`` of the scans asked for, written under ``tmp``."""
    out = []
    block = None
    for name in names:
        if name == "forms":
            path = mosaic(data, tmp / "forms-mosaic.tif", sources=("funsd", "vdsbb"))
            out.append(("FUNSD + VD-SBB pages, 7256-wide mosaic", path,
                        json.loads(path.with_name(path.stem + ".gt.json").read_text())))
        elif name in ("prints", "gp"):
            block = page_block(data) if block is None else block
            side = 9728 if name == "prints" else 31744
            path = tmp / f"{name}.tif"
            write_scan(path, block, side)
            out.append((f"VD-SBB pages repeated, {side} px square", path, None))
        else:
            raise SystemExit(f"speed.py: unknown scan {name!r} (forms, prints, gp)")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scans", default="forms,prints", help="comma-separated: forms, prints, gp")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    p.add_argument("--tmp", type=Path, default=None, help="folder for the scans and outputs (gp: about 1 GB)")
    p.add_argument("--json", type=Path, default=Path("benchmarks/out/speed.json"))
    p.add_argument("--options", default="", help="more options for every bigocr run, e.g. '--max-side 1280'; "
                   "several sets between ';' run each scan once with each (';--precision int8': defaults, then int8)")
    args = p.parse_args(argv)
    from bigocr.dev.evaluate import match
    from bigocr.tiler.scan import open_scan

    rows = []
    with tempfile.TemporaryDirectory(prefix="bigocr-speed-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        made = scans(args.scans.split(","), args.data, tmp)
        variants = args.options.split(";")
        runs = []
        for k, (name, path, truth) in enumerate(made):  # the runs first, one after another, nothing else running
            for v, options in enumerate(variants):
                run = run_bigocr(path, tmp / f"out-{k}-{v}", options.split())
                runs.append((name, path, truth, options, run))
                print(f"{name} {options or '(defaults)'}: {run['wall_s']:.1f} s", flush=True)
        for name, path, truth, options, run in runs:  # then the floors, in this process
            doc = run["doc"]
            scan = open_scan(path)
            mp = scan.height * scan.width / 1e6
            det, rec = detector_floor(doc, scan), reader_floor(path, doc)
            floor = det["seconds"] + rec["seconds"]
            h = None
            if truth is not None:
                h = round(match([np.asarray(w["box"], float) for w in doc["words"]],
                                [np.asarray(t["box"], float) for t in truth["words"]],
                                [t["ignore"] for t in truth["words"]]).hmean, 4)
            t = doc["timings"]
            row = {"scan": name, "options": options, "megapixels": round(mp, 1), "scale": doc["params"]["scale"],
                   "words": len(doc["words"]), "word_h": h, "wall_s": round(run["wall_s"], 1),
                   "mp_per_s": round(mp / run["wall_s"], 2), "peak_mb": round(run["peak_mb"]),
                   "stages_s": {k: round(t.get(k, 0.0), 2) for k, _ in STAGES},
                   "other_s": round(run["wall_s"] - t.get("total", 0.0), 1),
                   "tile_worker_s": {k: round(t.get(k, 0.0), 1) for k in ("read", "detect", "write")},
                   "floor": {"detector": det, "reader": rec, "seconds": round(floor, 1)},
                   "ratio_to_floor": round(run["wall_s"] / floor, 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    cpu = _cpu_name()
    options = f" --options '{args.options}'" if args.options else ""
    print(f"\n`python benchmarks/speed.py --scans {args.scans}{options}` ({cpu}, {os.cpu_count()} cores; seconds)\n")
    print("| stage | " + " | ".join(f"{r['scan']} ({r['megapixels']:.0f} MP, x{r['scale']:g})"
                                   + (f", `{r['options']}`" if r["options"] else "") for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for key, label in STAGES:
        print(f"| {label} | " + " | ".join(f"{r['stages_s'][key]:.1f}" for r in rows) + " |")
    for label, get in (("start, cluster, outputs", lambda r: f"{r['other_s']:.1f}"),
                       ("**wall**", lambda r: f"**{r['wall_s']:.1f}**"),
                       ("MP/s of scan", lambda r: f"{r['mp_per_s']:.2f}"),
                       ("words (word H)", lambda r: f"{r['words']}" + (f" ({r['word_h']:.3f})" if r["word_h"] else "")),
                       ("detector floor (working MP)",
                        lambda r: f"{r['floor']['detector']['seconds']:.1f} ({r['floor']['detector']['working_mp']:.0f})"),
                       ("reader floor", lambda r: f"{r['floor']['reader']['seconds']:.1f}"),
                       ("**wall / floor**", lambda r: f"**{r['ratio_to_floor']:.2f}**"),
                       ("peak RSS of the command (MB)", lambda r: f"{r['peak_mb']}")):
        print(f"| {label} | " + " | ".join(get(r) for r in rows) + " |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cpu": cpu, "cores": os.cpu_count(), "options": args.options, "runs": rows},
                                    indent=1) + "\n")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())

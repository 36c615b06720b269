"""bigocr's benchmarks, measured side by side in one run and printed as ratios.

    python benchmarks/run.py [--weights W] [--only merge,plans,cpu,quality,student,scans] [--quick]
                             [--student S] [--big-mosaic] [--json benchmarks/out/bench.json]

Sections (each a table; all figures also go to the JSON file):

merge
    Box extraction on the stitched maps of a 7256 x 13483 scan with 13 000
    words (the fake detector draws the maps: this is about merging, not
    detection): bigocr's block-wise labelling and boxes against the
    reference's per-component full-map loop (``bigocr.merge.reference``, the
    baseline).  The reference loop costs the same whole-map work for every
    component, so it is timed on an evenly spaced sample of components and
    extrapolated (``--reference-sample``; 0 runs it on every component, which
    takes about an hour).  The sampled components' boxes are compared with
    bigocr's.
plans
    Tiles and pixels for the seed scan at ``--max-side 2560``: the recursive
    thirds (identical leaves run once) and the grid with the context margin
    measured from the weights (or CRAFT's ~230 px half receptive field when
    there are none).
cpu
    The network alone on one 1536 x 1536 tile, fp32 against bf16, for the
    weights and for full CRAFT (freshly initialised: speed only).
quality
    End to end on CPU, each run a separate ``bigocr`` process (wall time and
    peak memory from ``wait4``) on a ``bigocr sample`` scan of the seed size and
    on a mosaic of the real eval pages (``../shared/data/real``): bigocr at
    full resolution (thirds and grid, precision auto; thirds fp32 on the sample
    scan) against the whole scan shrunk to 2560 px (what EasyOCR and CRAFT's demo
    do), H-mean at IoU >= 0.5, and how many of the thirds' words the grid (and
    fp32) find at IoU >= 0.9.

scans
    ``bigocr run`` with its defaults (the default model, scale auto, text
    read), a separate process each, on real scans: the VD-SBB eval pages
    packed into one 12.7 MP mosaic (H against its truth) and the SROIE eval
    receipts of 20 MP and more (35 MP, 600 dpi), each with the grid (default)
    and the thirds: wall time, scan MP/s, where the time went, peak memory.
    With ``--big-mosaic`` also the FUNSD and VD-SBB eval pages packed into a
    7256-wide, 95 MP mosaic (grid only: minutes).

student
    Slim students (``--student``, default ``craft-student,craft-fast``, from
    ``bigocr distill``; ``craft-fast`` is the half-input one) beside their
    teacher (``--weights``, default ``craft-doc``): the network alone on one
    1536 x 1536 tile at the default precision (a half-input student sees it
    halved, as in the pipeline), then
    end to end (``bigocr run``'s defaults: scale auto, a separate process
    each, wall time; text read, then boxes only) on a mosaic of real eval pages,
    with the H-mean of each against the mosaic's truth.  MP/s are scan
    megapixels per second.

``--weights`` defaults to bigocr's default weights; without trained weights
the sections that need them say so and are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED_H, SEED_W, SEED_WORDS = 13483, 7256, 13000
ROOT = Path(__file__).resolve().parent.parent

SHRINK = """
import json, sys, time
t = time.perf_counter()
import cv2, bigocr
scan = bigocr.open_scan(sys.argv[1])
image = scan.read(0, scan.height, 0, scan.width)
side = int(sys.argv[3])
ratio = side / max(image.shape[:2])
small = cv2.resize(image, (round(image.shape[1] * ratio), round(image.shape[0] * ratio)),
                   interpolation=cv2.INTER_LINEAR)
r = bigocr.detect(small, detector=sys.argv[2], max_side=side, scheduler="synchronous", precision=sys.argv[4])
print(json.dumps({"boxes": [(w.box / ratio).tolist() for w in r.words], "seconds": time.perf_counter() - t}))
"""


def table(title: str, header: list[str], rows: list[list]) -> None:
    """Print one section as an aligned table."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}")
    for k, row in enumerate(cells):
        print("  ".join(c.rjust(w) if k and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    sys.stdout.flush()


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "-" if value is None else str(value)


#: Runs a command and reports its resource use.  Measured children are started from this small
#: process, not from the benchmark: a child forked from a large process keeps that process's
#: resident size as its own peak (Linux counts it up to the exec).
MEASURE = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"code": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime}, fh)
"""


def child(argv: list[str]) -> dict:
    """Run a command to its end; its wall time, peak RSS in MB, share of the cores busy, and stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r", suffix=".json") as usage:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", MEASURE, usage.name, *map(str, argv)], stdout=out, stderr=err)
        wall = time.perf_counter() - t0
        report = json.loads(usage.read() or "{}")
        out.seek(0)
        err.seek(0)
        if report.get("code") != 0:
            raise RuntimeError(f"{' '.join(map(str, argv))} failed ({report.get('code')}):\n{err.read()[-2000:]}")
        return {"wall_s": wall, "stdout": out.read(), "peak_rss_mb": report["maxrss_kb"] / 1024,
                "cores_busy": report["cpu_s"] / wall / (os.cpu_count() or 1)}


# -- merge ---------------------------------------------------------------------------------------

def bench_merge(args, tmp: Path) -> dict:
    import bigocr
    from bigocr.merge.reference import reference_labels, reference_words
    from bigocr.merge.stitch import open_maps
    from bigocr.testing import FakeDetector, make_page

    h, w, n_words = (SEED_H, SEED_W, SEED_WORDS) if not args.quick else (3000, 2000, 800)
    page, drawn = make_page(h, w, words=n_words, seed=0, letter=(22, 14))
    t0 = time.perf_counter()
    result = bigocr.detect(page, max_side=2560, detector=FakeDetector(), out=tmp / "merge")
    run_s = time.perf_counter() - t0
    del page
    ours_s = result.timings["label"] + result.timings["boxes"]
    group = open_maps(str(tmp / "merge" / "maps.zarr"))
    region, affinity = group["region"][:], group["affinity"][:]

    t0 = time.perf_counter()
    n = reference_labels(region, affinity, 0.4, 0.4)[0]
    label_s = time.perf_counter() - t0
    if args.reference_sample and args.reference_sample < n - 1:
        sample = np.unique(np.linspace(1, n - 1, args.reference_sample).round().astype(int))
    else:
        sample = np.arange(1, n)
    t0 = time.perf_counter()
    ref = reference_words(region, affinity, components=sample.tolist())
    loop_s = time.perf_counter() - t0 - label_s
    per_component = loop_s / len(sample)
    ref_s = label_s + per_component * (n - 1)
    keys = {tuple(np.round(word.box, 4).ravel()) for word in result.words}
    same = sum(tuple(np.round(word.box, 4).ravel()) in keys for word in ref)
    figures = {
        "scan": f"{w}x{h}", "map": list(region.shape), "words_drawn": len(drawn), "words_found": len(result.words),
        "components": int(n - 1), "bigocr_s": round(ours_s, 2),
        "whole_run_fake_detector_s": round(run_s, 2), "whole_run_target_s": 30.0,
        "bigocr_stages_s": {"label": round(result.timings["label"], 2), "boxes": round(result.timings["boxes"], 2)},
        "reference_s": round(ref_s, 1), "reference_sampled_components": int(len(sample)),
        "reference_extrapolated": bool(len(sample) < n - 1),
        "reference_per_component_s": round(per_component, 4), "reference_label_s": round(label_s, 2),
        "sample_words": len(ref), "sample_words_identical": same, "speedup": round(ref_s / ours_s, 1),
    }
    how = (f"{len(sample)} of {n - 1} components timed, extrapolated" if figures["reference_extrapolated"]
           else "every component")
    table(f"merge: box extraction on the stitched maps of a {w} x {h} scan ({len(result.words)} words "
          f"of {len(drawn)} drawn; maps {region.shape[1]} x {region.shape[0]})",
          ["method", "seconds", "x bigocr", "boxes"],
          [[f"reference per-component loop (baseline; {how})", ref_s, ref_s / ours_s,
            f"{same} of the sample's {len(ref)} identical to bigocr's"],
           ["bigocr block-wise label + boxes", ours_s, 1.0, f"{len(result.words)}"]])
    print(f"  the whole run with the fake detector (tiles, stitching, labels, boxes, layout): {run_s:.1f} s "
          f"(target 30 s: ratio {run_s / 30:.2f})")
    return figures


# -- plans ---------------------------------------------------------------------------------------

def bench_plans(args, margin: int, margin_source: str) -> dict:
    from bigocr.tiler.plan import make_plan

    rows, figures = [], {"scan": f"{SEED_W}x{SEED_H}", "max_side": 2560, "margin": margin,
                         "margin_source": margin_source}
    base = None
    for name, tiling, m in [("thirds (default)", "thirds", None), ("grid", "grid", margin)]:
        s = make_plan(SEED_H, SEED_W, 2560, tiling, m).summary()
        base = base or s["pixels"]
        figures[tiling] = s
        rows.append([name if m is None else f"grid, margin {s['margin']} px", s["leaves"], s["count"], s["pixels"] / 1e6,
                     s["pixels_ratio"], s["pixels"] / base])
    table(f"plans: the seed scan {SEED_W} x {SEED_H} at --max-side 2560 (grid margin {margin} px {margin_source}, "
          f"rounded up to the 32 px grid)",
          ["tiling", "leaves", "tiles run", "MP run", "x scan pixels", "x thirds"], rows)
    return figures


# -- cpu: the network alone ----------------------------------------------------------------------

def _lined_tile(side: int) -> np.ndarray:
    """A white ``side`` x ``side`` tile with a black line every 40 px: what the network timings run on."""
    tile = np.full((side, side, 3), 255, np.uint8)
    tile[::40, :, :] = 0
    return tile


def _network_seconds(path: Path, tile: np.ndarray, precision: str = "auto") -> tuple[str, float]:
    """``(precision as resolved, seconds)`` of one pass of the network in ``path`` over ``tile``, after a warm-up."""
    from bigocr.detector.infer import CraftDetector

    det = CraftDetector.from_files(path, device="cpu", precision=precision)
    det(tile[:256, :256])  # load and warm up
    t0 = time.perf_counter()
    det(tile)
    return det.precision, time.perf_counter() - t0


def bench_network(args, weights: Path | None, tmp: Path) -> dict:
    import torch

    from bigocr.detector import CRAFT, save_weights
    from bigocr.models.device import fast_bf16

    torch.manual_seed(0)
    nets = [("full CRAFT, speed only (fresh init)",
             save_weights(CRAFT(), tmp / "speed-only.safetensors", name="speed-only-random-init").path)]
    if weights is not None:
        nets.insert(0, (f"weights {weights.name}", weights))
    side = 512 if args.quick else 1536
    tile = _lined_tile(side)
    rows, figures = [], {"tile": side, "torch_threads": torch.get_num_threads(), "bf16_fast": fast_bf16("cpu"),
                         "runs": []}
    for name, path in nets:
        base = None
        for precision in ("fp32", "bf16"):
            _, seconds = _network_seconds(path, tile, precision)
            base = base or seconds
            mps = side * side / 1e6 / seconds
            figures["runs"].append({"network": name, "precision": precision, "seconds": round(seconds, 3),
                                    "mp_per_s": round(mps, 3)})
            rows.append([name, precision, seconds, mps, base / seconds])
    table(f"cpu: the network on one {side} x {side} tile, {torch.get_num_threads()} torch threads "
          f"(bf16 {'in hardware (AMX)' if figures['bf16_fast'] else 'emulated: no AMX here'})",
          ["network", "precision", "seconds", "MP/s", "x fp32"], rows)
    figures["split"] = bench_split(args, nets[0][1], tmp)
    return figures


def bench_split(args, weights: Path, tmp: Path) -> list[dict]:
    """The local cluster's cores: tiles in flight against torch threads per tile, whole runs."""
    import bigocr
    from bigocr.dev.synth import write_sample

    cores = os.cpu_count() or 1
    h, w = (1024, 768) if args.quick else (3072, 2048)
    scan, _ = write_sample(tmp / "split.tif", h, w, seed=1)
    bigocr.detect(scan, max_side=512, detector=str(weights), device="cpu", scheduler="synchronous")  # warm
    runs, rows = [], []
    for threads in sorted({1, cores}):
        t0 = time.perf_counter()
        r = bigocr.detect(scan, max_side=1024, detector=str(weights), device="cpu", threads=threads)
        wall = time.perf_counter() - t0
        runs.append({"tiles_in_flight": threads, "torch_threads": max(1, cores // threads), "wall_s": round(wall, 2),
                     "tile_pixels_mp": round(r.tiles["pixels"] / 1e6, 1), "words": len(r.words),
                     "read_s": round(r.timings["read"], 2), "detect_s": round(r.timings["detect"], 2)})
        rows.append([threads, max(1, cores // threads), wall, r.tiles["pixels"] / 1e6 / wall, runs[0]["wall_s"] / wall])
    table(f"cpu: {w} x {h} sample page, --max-side 1024, weights {weights.name}: tiles in flight x torch threads",
          ["tiles in flight", "torch threads", "wall s", "tile MP/s", "speed-up"], rows)
    return runs


# -- quality and end-to-end cost -----------------------------------------------------------------

def _mosaic_page(source: str, gt: Path) -> bool:
    """The pages the speed benchmarks run on: the same since the first mosaic (every page outside the training
    third: the eval and test splits of FUNSD and SROIE, VD-SBB's eval works), so that speed figures compare
    across sessions.  Their word H is a figure of pages choices were made on, not a test figure."""
    from bigocr.dev.evaluate import load_truth
    from bigocr.dev.split import split_of

    _, doc = load_truth(gt)
    split = split_of(gt.name[:-len(".gt.json")], source, doc)
    return split == "eval" or (split == "test" and source != "vdsbb")


def mosaic(data: Path, out: Path, width: int = SEED_W, height: int = SEED_H, sources=("vdsbb", "funsd")) -> Path:
    """Pack the real eval pages of ``sources`` into one white scan, shelf by shelf; truth moved along."""
    import tifffile

    from bigocr.dev.evaluate import load_truth
    from bigocr.tiler.scan import open_scan

    canvas = np.full((height, width, 3), 255, np.uint8)
    words, x, y, shelf, used = [], 0, 0, 0, []
    pages = [p for s in sources for p in sorted((data / s).glob("*.gt.json")) if _mosaic_page(s, p)]
    for gt in pages:
        image_path, doc = load_truth(gt)
        if doc.get("granularity") != "word":
            continue
        h, w = doc["height"], doc["width"]
        if x + w > width:
            x, y, shelf = 0, y + shelf, 0
        if y + h > height:
            break
        scan = open_scan(image_path)
        canvas[y:y + h, x:x + w] = scan.read(0, h, 0, w)
        for word in doc["words"]:
            words.append({"box": (np.asarray(word["box"], float) + [x, y]).tolist(), "ignore": bool(word.get("ignore"))})
        used.append(doc["image"])
        x, shelf = x + w, max(shelf, h)
    canvas = canvas[:y + shelf]
    tifffile.imwrite(out, canvas, photometric="rgb", tile=(512, 512), compression="zlib")
    out.with_name(out.stem + ".gt.json").write_text(json.dumps(
        {"image": out.name, "width": width, "height": int(canvas.shape[0]), "granularity": "word",
         "words": words, "pages": used}))
    return out


def bench_student(args, weights: Path, students: list[Path], tmp: Path) -> dict:
    """Teacher and students side by side: the network on one tile, then ``bigocr run`` on a real-page mosaic."""
    from bigocr.dev.evaluate import match

    side = 512 if args.quick else 1536
    tile = _lined_tile(side)
    nets = [("teacher " + weights.name, weights)] + [("student " + s.name, s) for s in students]
    figures, rows = {"tile": side, "runs": []}, []
    for name, path in nets:
        precision, seconds = _network_seconds(path, tile)
        figures["runs"].append({"network": name, "precision": precision, "seconds": round(seconds, 3)})
        rows.append([name, precision, seconds, side * side / 1e6 / seconds])
    for row in rows:
        row.append(rows[0][2] / row[2])
    table(f"student: the network on one {side} x {side} tile", ["network", "precision", "seconds", "MP/s",
                                                                "x teacher"], rows)
    h, w = (2400, 2400) if args.quick else (4000, 5000)
    scan = mosaic(Path(args.data), tmp / "student-mosaic.tif", width=w, height=h)
    truth = json.loads(scan.with_name(scan.stem + ".gt.json").read_text())
    boxes = [np.asarray(t["box"], float) for t in truth["words"]]
    ignore = [t["ignore"] for t in truth["words"]]
    megapixels = truth["width"] * truth["height"] / 1e6
    rows = []
    for extra, what in (([], "text read"), (["--no-text"], "boxes only")):
        first = len(rows)
        for name, path in nets:
            out = tmp / f"run-{len(rows)}"
            run = child([sys.executable, "-m", "bigocr", "run", str(scan), "-o", str(out), "--weights", str(path),
                         "-q", "--no-preview", *extra])
            found, _ = _words_json(out)
            counts = match(found, boxes, ignore)
            figures["runs"].append({"run": f"{name}, {what}", "seconds": round(run["wall_s"], 1),
                                    "peak_mb": round(run["peak_rss_mb"]), "mp_per_s": round(megapixels / run["wall_s"], 3),
                                    "h": round(counts.hmean, 4)})
            rows.append([f"{name}, {what}", run["wall_s"], megapixels / run["wall_s"], counts.hmean])
        for row in rows[first:]:
            row.append(rows[first][1] / row[1])
    table(f"student: bigocr run (scale auto) on a {truth['width']} x {truth['height']} mosaic of "
          f"{len(truth['pages'])} real eval pages ({megapixels:.1f} MP), process start included",
          ["run", "seconds", "MP/s", "H", "x teacher"], rows)
    return figures


def bench_scans(args, tmp: Path) -> dict:
    """``bigocr run`` with its defaults on real scans, the grid (default) beside the thirds."""
    from bigocr.dev.evaluate import match

    data = Path(args.data)
    h, w = (2400, 2400) if args.quick else (4000, 5000)
    scans = []
    if (data / "vdsbb").is_dir():
        scans.append(("VD-SBB eval pages, mosaic", mosaic(data, tmp / "scans-mosaic.tif", w, h, sources=("vdsbb",))))
    if args.big_mosaic and not args.quick:  # the 7256 x 13483 mosaic of forms and prints: grid only
        scans.append(("FUNSD + VD-SBB eval pages, 7256-wide mosaic",
                      mosaic(data, tmp / "scans-big-mosaic.tif", sources=("funsd", "vdsbb"))))
    if not args.quick:  # the big receipts: real 600 dpi scans
        for gt in sorted((data / "sroie").glob("*.gt.json")):
            doc = json.loads(gt.read_text())
            if _mosaic_page("sroie", gt) and doc["width"] * doc["height"] >= 20e6:
                scans.append((f"SROIE receipt {doc['image']}", gt.with_name(doc["image"])))
    if not scans:
        print(f"\n## scans: skipped: no real scans in {data}")
        return {}
    figures, rows, model = {"runs": []}, [], "?"
    for name, scan in scans:
        truth_path = scan.with_name(scan.stem + ".gt.json")
        truth = json.loads(truth_path.read_text())
        megapixels = truth["width"] * truth["height"] / 1e6
        seconds = {}
        tilings = ("grid",) if "7256-wide" in name else ("grid", "thirds")
        for tiling in tilings:
            out = tmp / f"scans-{len(figures['runs'])}"
            extra = ["--tiling", "thirds"] if tiling == "thirds" else []
            run = child([sys.executable, "-m", "bigocr", "run", str(scan), "-o", str(out), "-q", "--no-preview", *extra])
            found, t = _words_json(out)
            doc = json.loads((out / "words.json").read_text())
            model = doc["model"]["name"]
            h_mean = None
            if truth.get("granularity") == "word" and "pages" in truth:  # the mosaic: word truth
                h_mean = match(found, [np.asarray(t["box"], float) for t in truth["words"]],
                               [t["ignore"] for t in truth["words"]]).hmean
            seconds[tiling] = run["wall_s"]
            figures["runs"].append({"scan": name, "megapixels": round(megapixels, 1), "tiling": tiling,
                                    "scale": doc["params"]["scale"], "seconds": round(run["wall_s"], 1),
                                    "mp_per_s": round(megapixels / run["wall_s"], 3), "words": len(found),
                                    "h": None if h_mean is None else round(h_mean, 4),
                                    "peak_mb": round(run["peak_rss_mb"]), "pixels_ratio": doc["tiles"]["pixels_ratio"],
                                    "timings": {k: t.get(k) for k in ("tiles", "coarse", "recognize", "total")}})
            rows.append([name, megapixels, tiling, doc["tiles"]["pixels_ratio"], run["wall_s"],
                         megapixels / run["wall_s"], len(found), "" if h_mean is None else h_mean,
                         t.get("tiles"), t.get("recognize"), run["peak_rss_mb"]])
        if "thirds" in seconds:
            rows[-2].append(seconds["thirds"] / seconds["grid"])
            rows[-1].append(1.0)
        else:
            rows[-1].append("")
    table(f"scans: bigocr run with its defaults ({model}, scale auto, text read; process start included), "
          "grid (default) and thirds", ["scan", "MP", "tiling", "x pixels", "seconds", "MP/s", "words", "H",
                                        "tiles s", "reading s", "peak MB", "x thirds"], rows)
    return figures


def _words_json(out: Path) -> tuple[list[np.ndarray], dict]:
    doc = json.loads((out / "words.json").read_text())
    return [np.asarray(w["box"], float) for w in doc["words"]], doc.get("timings", {})


def bench_quality(args, weights: Path, tmp: Path) -> dict:
    from bigocr.dev.evaluate import match
    from bigocr.dev.synth import write_sample

    scans = []
    h, w = (SEED_H, SEED_W) if not args.quick else (3000, 2000)
    sample, _ = write_sample(tmp / "sample.tif", h, w, seed=args.seed)
    scans.append(("bigocr sample", sample))
    data = Path(args.data)
    if data.is_dir():
        scans.append(("real pages mosaic", mosaic(data, tmp / "mosaic.tif", w, h)))
    else:
        print(f"({data}: no real scans there; the mosaic is skipped)")
    bigocr_cmd = [sys.executable, "-m", "bigocr", "run", "--weights", str(weights), "--max-side", "2560",
                  "--no-text", "--no-preview", "--quiet"]
    configs = [("shrunk to 2560 px, one pass", None, "auto"), ("bigocr thirds auto (default)", "thirds", "auto"),
               ("bigocr grid auto", "grid", "auto"), ("bigocr thirds fp32", "thirds", "fp32")]
    figures = {"weights": str(weights), "scans": []}
    for k, (scan_name, scan) in enumerate(scans):
        doc = json.loads(scan.with_name(scan.stem + ".gt.json").read_text())
        truth = [np.asarray(w_["box"], float) for w_ in doc["words"]]
        ignore = [bool(w_.get("ignore")) for w_ in doc["words"]]
        mp = doc["width"] * doc["height"] / 1e6
        rows, runs, boxes = [], [], {}
        for name, tiling, precision in configs[:None if k == 0 else -1]:  # fp32 end to end on the first scan only
            if tiling is None:
                run = child([sys.executable, "-c", SHRINK, str(scan), str(weights), "2560", precision])
                found = [np.asarray(b) for b in json.loads(run["stdout"].strip().splitlines()[-1])["boxes"]]
                stages = {}
            else:
                out = tmp / f"{scan.stem}-{tiling}-{precision}"
                run = child([*bigocr_cmd, str(scan), "-o", str(out), "--tiling", tiling, "--precision", precision])
                found, stages = _words_json(out)
            boxes[name] = found
            c = match(found, truth, ignore)
            runs.append({"config": name, "words": len(found), "precision": round(c.precision, 4),
                         "recall": round(c.recall, 4), "hmean": round(c.hmean, 4), "wall_s": round(run["wall_s"], 1),
                         "scan_mp_per_s": round(mp / run["wall_s"], 3), "peak_rss_mb": round(run["peak_rss_mb"]),
                         "cores_busy": round(run["cores_busy"], 3), "stages_s": stages})
            r = runs[-1]
            rows.append([name, r["words"], r["precision"], r["recall"], r["hmean"], r["wall_s"], r["scan_mp_per_s"],
                         r["peak_rss_mb"], f"{100 * r['cores_busy']:.0f} %"])
            print(f"  {scan_name}: {name}: {r['words']} words, H {r['hmean']:.3f}, {r['wall_s']:.0f} s", flush=True)
        base = runs[1]["wall_s"]
        for row, r in zip(rows, runs):
            row.append(base / r["wall_s"])
        agree = {}
        for a, b, key in [("bigocr grid auto", "bigocr thirds auto (default)", "grid_vs_thirds"),
                          ("bigocr thirds auto (default)", "bigocr thirds fp32", "auto_vs_fp32")]:
            if a not in boxes or b not in boxes:
                continue
            c = match(boxes[a], boxes[b], threshold=0.9)
            agree[key] = {"matched": c.matched, "of": c.truth, "found": c.detections,
                          "fraction": round(c.matched / max(1, c.truth), 4)}
        figures["scans"].append({"scan": scan_name, "size": [doc["width"], doc["height"]], "truth_words": len(truth),
                                 "runs": runs, "agreement_iou_0.9": agree})
        table(f"quality: {scan_name} {doc['width']} x {doc['height']} ({len(truth)} true words), "
              f"weights {weights.name}, 2 cores, each run a new process",
              ["run", "words", "P", "R", "H-mean", "wall s", "scan MP/s", "peak MB", "cores busy", "x default speed"],
              rows)
        for key, a in agree.items():
            print(f"  {key.replace('_', ' ')}: {a['matched']} of {a['of']} words matched at IoU >= 0.9 "
                  f"({100 * a['fraction']:.2f} %; {a['found']} found)")
    return figures


def _weights(arg: str | None) -> tuple[Path | None, str]:
    """The weights to measure: the given file, else bigocr's default weights, else None and why."""
    from bigocr.errors import BigOCRError

    if arg:
        return Path(arg), arg
    try:
        from bigocr.detector import default_weights

        path = Path(default_weights())
        return path, "bigocr's default weights"
    except BigOCRError as exc:
        return None, str(exc)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="CRAFT weights to measure (default: bigocr's default weights)")
    parser.add_argument("--only", default="merge,plans,cpu,quality", help="sections, comma-separated (also: student, "
                                                                          "scans)")
    parser.add_argument("--reference-sample", type=int, default=150,
                        help="components the reference loop is timed on (0: all of them, about an hour)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"),
                        help="real scans with truth, for the mosaic")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bigocr sample scan")
    parser.add_argument("--student", help="slim CRAFTs from bigocr distill, comma-separated, for the student section "
                                           "(default: craft-student,craft-fast; their teacher: --weights, default "
                                           "craft-doc)")
    parser.add_argument("--big-mosaic", action="store_true",
                        help="scans section: also the 7256 x 13483 mosaic of FUNSD and VD-SBB eval pages (grid only; minutes)")
    parser.add_argument("--quick", action="store_true", help="small scans: a smoke test of this script")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/out/bench.json"), help="figures go here")
    args = parser.parse_args(argv)
    sections = set(args.only.split(","))
    unknown = sections - {"merge", "plans", "cpu", "quality", "student", "scans"}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    import torch

    from bigocr.detector.infer import CraftDetector, context_margin

    weights, said = _weights(args.weights)
    report = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "torch": torch.__version__,
              "weights": str(weights) if weights else None, "quick": args.quick}
    print(f"bigocr benchmarks, {report['date']}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"weights: {weights or 'none (' + said + ')'}")
    with tempfile.TemporaryDirectory(prefix="bigocr-bench-") as tmp:
        tmp = Path(tmp)
        if "merge" in sections:
            report["merge"] = bench_merge(args, tmp)
        if "plans" in sections:
            if weights is not None:
                margin = context_margin(CraftDetector.from_files(weights, device="cpu"))
                source = f"measured from {weights.name}"
            else:
                margin, source = 232, "CRAFT's half receptive field (no trained weights to measure)"
            report["plans"] = bench_plans(args, margin, source)
        if "cpu" in sections:
            report["network"] = bench_network(args, weights, tmp)
        if "student" in sections:
            from bigocr.models.registry import resolve_weights

            teacher = Path(resolve_weights(args.weights or "craft-doc"))
            students = [Path(resolve_weights(n)) for n in (args.student or "craft-student,craft-fast").split(",")]
            report["student"] = bench_student(args, teacher, students, tmp)
        if "scans" in sections:
            report["scans"] = bench_scans(args, tmp)
        if "quality" in sections:
            if weights is None:
                print(f"\n## quality: skipped: it needs trained weights ({said})")
            else:
                report["quality"] = bench_quality(args, weights, tmp)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

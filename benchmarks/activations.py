"""The networks' activations bounded: peak memory and time of one tile and of one page's lines, side by side.

    python benchmarks/activations.py [--models craft-fast,craft-doc] [--side 2048] [--rows none,256:keep,256]
                                     [--precision fp32,bf16]
                                     [--columns none,8192] [--repeat 3] [--no-cache]
                                     [--json benchmarks/out/activations.json]

CRAFT keeps several tensors the size of its input (or half of it) at once: conv1's output, the skips, the
decoder's last stages and ``conv_cls``.  ``CRAFT.STRIPE_ROWS`` runs those layers band by band
(:func:`bigocr.models.craft.in_stripes`); a half-input network also remakes ``conv1_2`` band by band in its
last stage instead of holding it (``CRAFT.REMAKE_CONV1``; a setting ``256:keep`` holds it).  For each model and each setting, one
tile of ``--side`` network pixels (a real VD-SBB page, repeated to fill it) runs in a fresh process (one
torch thread; the pass in a thread of its own, as a tile task runs), which reports its peak RSS above what
it held with the network loaded and warmed (the kernel's ``ru_maxrss``), the seconds of the pass, and its
region map.  Settings alternate, ``--repeat`` times; the table gives the largest extra memory and the
median seconds, and the largest difference of the maps from the first setting of the same precision.

The reader: ``read_images`` cuts a batch of wide crops into network calls of at most ``COLUMNS`` columns
(:data:`bigocr.recognizer.recognize.COLUMNS`), each crop padded as before.  Every truth line of the VD-SBB
pages (cut as bigocr cuts a line) is read by the first reader of ``auto`` (``fast``, what reads lines), in
float32 and in the precision ``auto`` picks on this CPU, in a fresh process per setting: its extra peak
memory, the seconds, and how many readings differ from those without the cut (in bfloat16 a batch's
rounding depends on its size, so a few confidences move).

oneDNN's primitive cache: the same reader over 600 batches of 8 crops, each batch of a new width (as a
reading meets them), the process's RSS along the way, with oneDNN's default capacity (1 024) and with
the bound ``import bigocr`` sets (:data:`bigocr.memory.PRIMITIVE_CACHE`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, threading, time
import numpy as np, torch
torch.set_num_threads(1)
from bigocr.detector.infer import CraftDetector
from bigocr.models.craft import CRAFT
from bigocr.models.registry import resolve_weights
name, rows, precision, tile_path, out = sys.argv[1:6]
rows, _, keep = rows.partition(":")  # "256:keep": bands, conv1_2 held (not remade)
CRAFT.STRIPE_ROWS = None if rows == "none" else int(rows)
CRAFT.REMAKE_CONV1 = keep != "keep"
det = CraftDetector.from_files(resolve_weights(name), precision=precision)
det.warm()
tile = np.load(tile_path)
run = det.detect_halved if det.halved_input else det
result = {}

def task():  # in a thread of its own, as a tile task runs on the local cluster (its own glibc arena)
    run(tile[:256, :256])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    result["region"] = run(tile)[0]
    result["seconds"] = time.perf_counter() - t0
    result["extra"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before

thread = threading.Thread(target=task)
thread.start()
thread.join()
np.save(out, result["region"])
print(json.dumps({"extra_mb": result["extra"] / 1024, "seconds": result["seconds"]}))
"""


READER = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from bigocr.models.crnn import IMAGE_HEIGHT
from bigocr.models.registry import resolve_named
from bigocr.recognizer import recognize
from bigocr.recognizer.read import to_height
columns, crops_path, precision = sys.argv[1], sys.argv[2], sys.argv[3]
recognize.COLUMNS = 10**9 if columns == "none" else int(columns)
rec = recognize.CrnnRecognizer.from_files(resolve_named(recognize.FIRST), precision=precision)
rec.warm()
data = np.load(crops_path)
crops = [data[k] for k in sorted(data.files, key=int)]
rec(crops[:4])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
readings = rec(crops)
seconds = time.perf_counter() - t0
extra = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"extra_mb": extra / 1024, "seconds": seconds, "readings": readings, "precision": rec.precision}))
"""


CACHE = r"""
import ctypes, json, os, sys
import numpy as np, psutil, torch
torch.set_num_threads(1)
from bigocr.models.registry import resolve_named
from bigocr.recognizer import recognize
rec = recognize.CrnnRecognizer.from_files(resolve_named(recognize.FIRST))
rec.warm()
rng, proc, trim, rss = np.random.default_rng(0), psutil.Process(), ctypes.CDLL("libc.so.6").malloc_trim, []
for i in range(601):  # batches of 8 crops of a new width each (40 to 600 px), as a reading meets them
    w = int(rng.integers(40, 600))
    rec([(rng.random((64, w)) * 255).astype(np.uint8) for _ in range(8)])
    trim(0)  # as every reading task does (bigocr.memory.release_memory)
    if i % 150 == 0:
        rss.append(round(proc.memory_info().rss / 2**20))
print(json.dumps({"rss": rss, "capacity": os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"]}))
"""


def line_crops(data: Path) -> list[np.ndarray]:
    """Every truth line of the VD-SBB pages, cut out as bigocr cuts a line (gray, upright)."""
    from bigocr.recognizer.read import word_crop
    from bigocr.tiler.scan import open_scan

    crops = []
    for gt in sorted((data / "vdsbb").glob("*.gt.json")):
        scan = open_scan(gt.with_name(gt.name.replace(".gt.json", ".tif")))
        page = scan.read(0, scan.height, 0, scan.width)
        page = np.repeat(page[..., None], 3, 2) if page.ndim == 2 else page[..., :3]
        for line in json.loads(gt.read_text()).get("lines", []):
            crop = word_crop(page, np.array(line["box"], np.float32))
            if crop is not None:
                crops.append(crop)
    return crops


def page_tile(data: Path, side: int) -> np.ndarray:
    """A ``side`` x ``side`` RGB tile of a real page, repeated to fill it."""
    from bigocr.tiler.scan import open_scan

    scan = open_scan(sorted((data / "vdsbb").glob("*.tif"))[0])
    page = scan.read(0, scan.height, 0, scan.width)
    page = np.repeat(page[..., None], 3, 2) if page.ndim == 2 else page[..., :3]
    reps = (-(-side // page.shape[0]), -(-side // page.shape[1]), 1)
    return np.ascontiguousarray(np.tile(page, reps)[:side, :side])


def detector_rows(args, tmp: Path) -> list[dict]:
    settings = [(r, p) for p in args.precision.split(",") for r in args.rows.split(",")]
    rows = []
    tile_path = tmp / "tile.npy"
    np.save(tile_path, page_tile(args.data, args.side))
    for name in args.models.split(","):
        runs, maps = {s: [] for s in settings}, {}
        for _ in range(args.repeat):
            for s in settings:
                out = tmp / f"{name}-{'-'.join(s)}.npy"
                res = subprocess.run([sys.executable, "-c", CHILD, name, *s, str(tile_path), str(out)],
                                     capture_output=True, text=True, cwd=ROOT, check=True)
                runs[s].append(json.loads(res.stdout.strip().splitlines()[-1]))
                maps[s] = np.load(out)
        for s in settings:
            first = next(t for t in settings if t[1] == s[1])  # the first setting of this precision
            rows.append({"part": f"detector {s[1]}", "model": f"{name} ({s[1]})", "input": f"{args.side} px tile",
                         "setting": f"STRIPE_ROWS {s[0]}",
                         "extra_mb": round(max(r["extra_mb"] for r in runs[s])),
                         "seconds": round(statistics.median(r["seconds"] for r in runs[s]), 2),
                         "differ": f"{float(np.abs(maps[s] - maps[first]).max()):.1e} (largest map difference)"})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def reader_rows(args, tmp: Path) -> list[dict]:
    settings = args.columns.split(",")
    crops = line_crops(args.data)
    crops_path = tmp / "lines.npz"
    np.savez(crops_path, **{str(i): c for i, c in enumerate(crops)})
    rows = []
    for precision in ("fp32", "auto"):
        runs = {s: [] for s in settings}
        for _ in range(args.repeat):
            for s in settings:
                res = subprocess.run([sys.executable, "-c", READER, s, str(crops_path), precision], capture_output=True,
                                     text=True, cwd=ROOT, check=True)
                runs[s].append(json.loads(res.stdout.strip().splitlines()[-1]))
        ref = runs[settings[0]][0]["readings"]
        for s in settings:
            texts = runs[s][0]["readings"]
            differ = sum(a[0] != b[0] for a, b in zip(texts, ref))
            conf = max(abs(a[1] - b[1]) for a, b in zip(texts, ref))
            rows.append({"part": f"reader {precision}", "model": f"fast ({runs[s][0]['precision']})",
                         "input": f"{len(crops)} truth lines of the VD-SBB pages", "setting": f"COLUMNS {s}",
                         "extra_mb": round(max(r["extra_mb"] for r in runs[s])),
                         "seconds": round(statistics.median(r["seconds"] for r in runs[s]), 2),
                         "differ": f"{differ} texts, confidence by up to {conf:.1e}"})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def cache_rows(args) -> list[dict]:
    """The reader's memory over 600 batches of new widths, with oneDNN's default cache and bigocr's bound."""
    import os

    rows = []
    for capacity in ("1024", None):
        env = dict(os.environ)
        env.pop("ONEDNN_PRIMITIVE_CACHE_CAPACITY", None)
        if capacity:
            env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = capacity  # oneDNN's own default
        res = subprocess.run([sys.executable, "-c", CACHE], capture_output=True, text=True, cwd=ROOT, check=True, env=env)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="craft-fast,craft-doc", help="detectors; '' for none")
    p.add_argument("--side", type=int, default=2048, help="network pixels (craft-fast: half the working tile)")
    p.add_argument("--rows", default="none,256:keep,256",
                   help="STRIPE_ROWS settings; none: unbanded; 256:keep: banded, conv1_2 held, not remade")
    p.add_argument("--precision", default="fp32", help="the detectors' precisions (fp32, bf16)")
    p.add_argument("--columns", default="none,8192", help="COLUMNS settings for the reader; '' for none")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-cache", action="store_true", help="skip the primitive cache's part")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bigocr-activations-") as tmp:
        rows = (detector_rows(args, Path(tmp)) if args.models else []) + (
            reader_rows(args, Path(tmp)) if args.columns else [])
    caches = [] if args.no_cache else cache_rows(args)
    print("\n| network | input | setting | extra memory for it | seconds (median) | x time | differences |")
    print("|---|---|---|---|---|---|---|")
    base = {}
    for r in rows:
        b = base.setdefault((r["part"], r["model"]), r)
        print(f"| {r['model']} | {r['input']} | {r['setting']} | {r['extra_mb']} MB ({r['extra_mb'] / b['extra_mb']:.2f}x) "
              f"| {r['seconds']:.2f} | {r['seconds'] / b['seconds']:.3f} | {r['differ']} |")
    if caches:
        print("\n| oneDNN primitive cache | RSS (MB) after 1, 151, 301, 451, 601 batches of new widths |")
        print("|---|---|")
        for c in caches:
            print(f"| {c['capacity']}{' (oneDNN default)' if c['capacity'] == '1024' else ' (bigocr)'} | "
                  f"{', '.join(map(str, c['rss']))} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": rows, "primitive_cache": caches}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

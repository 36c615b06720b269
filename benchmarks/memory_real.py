"""Peak memory of ``bigocr run`` against scan size, on real pages: 0.1, 1 and 4 gigapixels side by side.

    python benchmarks/memory_real.py [--sizes 0.1,1,4] [--tmp DIR] [--json benchmarks/out/memory_real.json]
                                     [--options "--max-side 1280"]

Each scan is a tiled BigTIFF (512 px JPEG tiles, quality 90, RGB) made of real VD-SBB pages at their own
resolution, packed into an 8192 x 8192 block that repeats across the scan; it is written tile by tile, so
making it needs no scan-sized array.  Each run is ``bigocr run SCAN -o OUT`` with every default (text read,
all outputs, the local Dask cluster), started as a child; the memory of the **whole process tree** (the
command, its Dask workers and their children: the sum of their proportional set sizes) is sampled every
0.1 s and its peak kept, beside the largest single process's own peak (the kernel's ``ru_maxrss``).  The goal of issue 30: 4 GP at no more than
1.2 x the peak of 0.1 GP, and at most 3 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real"
BLOCK = 8192


def page_block(data: Path) -> np.ndarray:
    """An 8192 x 8192 RGB block of real VD-SBB pages (white between them), shelf by shelf."""
    from bigocr.tiler.scan import open_scan

    block = np.full((BLOCK, BLOCK, 3), 255, np.uint8)
    x = y = shelf = 0
    for image in sorted((data / "vdsbb").glob("*.tif")):
        scan = open_scan(image)
        page = scan.read(0, scan.height, 0, scan.width)
        h, w = page.shape[:2]
        if x + w > BLOCK:
            x, y, shelf = 0, y + shelf, 0
        if y + h > BLOCK:
            break
        block[y:y + h, x:x + w] = page[..., :3] if page.ndim == 3 else page[..., None]
        x, shelf = x + w, max(shelf, h)
    return block


def write_scan(path: Path, block: np.ndarray, side: int, tile: int = 512) -> None:
    import tifffile

    def tiles():
        for y in range(0, side, tile):
            for x in range(0, side, tile):
                by, bx = y % BLOCK, x % BLOCK
                yield block[by:by + tile, bx:bx + tile]

    tifffile.imwrite(path, tiles(), shape=(side, side, 3), dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                     compression="jpeg", compressionargs={"level": 90}, bigtiff=True)


def scan_side(gigapixels: float) -> int:
    """The side of a square scan of about ``gigapixels``, a whole number of 512 px TIFF tiles."""
    return int(round(math.sqrt(gigapixels * 1e9) / 512)) * 512


def kept_scan(folder: Path, gigapixels: float, data: Path) -> tuple[Path, int]:
    """The scan of about ``gigapixels`` in ``folder`` (made once, then kept for the next call) and its side.

    It is written under another name first: a scan cut short by an interruption is never kept."""
    side = scan_side(gigapixels)
    scan = folder / f"scan-{gigapixels:g}.tif"
    if not scan.exists():
        part = scan.with_name(scan.name + ".part")
        write_scan(part, page_block(data), side)
        part.replace(scan)
    return scan, side


def tree_memory(pid: int) -> tuple[int, list[int]]:
    """Bytes the process tree holds: the sum of its processes' proportional set sizes (shared pages split
    between the processes sharing them, so the Dask workers' common libraries count once), RSS where the
    kernel gives no PSS; and each process's share, the command's first."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, []
    shares = []
    for p in procs:
        try:
            info = p.memory_full_info()
            shares.append(getattr(info, "pss", info.rss))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return sum(shares), shares


def measure(scan: Path, out: Path, extra: list[str] = ()) -> dict:
    """``bigocr run SCAN -o OUT`` as a child: wall time, the tree's peak, the largest process's own peak."""
    cmd = [sys.executable, "-m", "bigocr", "run", str(scan), "-o", str(out), *extra]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        peak, when, split, done = 0, 0.0, [], threading.Event()

        def sample():
            nonlocal peak, when, split
            while not done.is_set():
                used, shares = tree_memory(proc.pid)
                if used > peak:
                    peak, when, split = used, time.perf_counter() - t0, shares
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this run's own rusage, not all children's so far
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        wall = time.perf_counter() - t0
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.read()[-2000:]}")
    words = json.loads((out / "words.json").read_text())
    count = len(words.get("words", words) if isinstance(words, dict) else words)
    timings = words.get("timings", {}) if isinstance(words, dict) else {}
    return {"seconds": round(wall, 1), "tree_peak_mb": round(peak / 2**20), "tree_peak_at_s": round(when, 1),
            "largest_process_peak_mb": round(usage.ru_maxrss / 1024), "words": count,
            "at_peak_mb": [round(b / 2**20) for b in split],  # the command's share first, then its children's
            "stage_seconds": timings}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="0.1,1,4", help="gigapixels, comma-separated")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--tmp", type=Path, default=None, help="folder for the scans (4 GP: about 1.5 GB)")
    p.add_argument("--json", type=Path)
    p.add_argument("--options", default="", help="more options for every bigocr run, e.g. '--max-side 1280'")
    args = p.parse_args(argv)
    block = page_block(args.data)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bigocr-memory-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        for gp in (float(s) for s in args.sizes.split(",")):
            side = scan_side(gp)
            scan = tmp / f"scan-{gp}.tif"
            t0 = time.perf_counter()
            write_scan(scan, block, side)
            made = time.perf_counter() - t0
            row = {"gigapixels": round(side * side / 1e9, 3), "side": side, "file_mb": round(scan.stat().st_size / 2**20),
                   "made_s": round(made, 1), **measure(scan, tmp / f"out-{gp}", args.options.split())}
            rows.append(row)
            print(json.dumps(row), flush=True)
            scan.unlink()
            shutil.rmtree(tmp / f"out-{gp}", ignore_errors=True)
    base = rows[0]["tree_peak_mb"]
    print("\n| scan | side (px) | words | seconds | MP/s | peak memory (PSS), process tree | × the smallest | largest process (RSS) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['gigapixels']:.2f} GP | {r['side']} | {r['words']} | {r['seconds']:.0f} | "
              f"{r['gigapixels'] * 1000 / r['seconds']:.2f} | {r['tree_peak_mb']} MB (at {r['tree_peak_at_s']:.0f} s) | "
              f"{r['tree_peak_mb'] / base:.2f} | {r['largest_process_peak_mb']} MB |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"options": args.options, "runs": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

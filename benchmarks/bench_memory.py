"""Peak memory against scan size: a 1-gigapixel scan against a 0.1-gigapixel one, side by side.

Each run is a separate process (``bigocr.detect`` with the fake detector, the
default local cluster, ``max_side`` 2560, outputs written), measured by the
kernel's peak resident set size (``wait4`` rusage, as ``/usr/bin/time -v``
reports it).  The scans are tiled, deflate-compressed grayscale TIFFs filled
with a page of synthetic text (about 96 000 words per gigapixel), written
tile by tile so that making them needs no whole-scan array either.  Also
reads a window from striped TIFFs (one-row strips, one big compressed strip)
to show the cost per tile of each layout.

The fake detector is right here: the claim is about memory of reading,
stitching, labelling and box extraction, not about detection.

    python benchmarks/bench_memory.py [--sizes 0.1,1] [--json benchmarks/out/memory.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from run import child  # benchmarks/run.py: peak RSS measured from a small launcher

RUN = """
import json, sys, time
import bigocr
from bigocr.testing import FakeDetector
t = time.perf_counter()
r = bigocr.detect(sys.argv[1], detector=FakeDetector(), out=sys.argv[2], max_side=2560)
print(json.dumps({"words": len(r.words), "tiles": r.tiles["count"], "seconds": time.perf_counter() - t,
                  "timings": r.timings}))
"""


def write_scan(path: Path, height: int, width: int, tile: int = 512) -> None:
    """A tiled TIFF of ``height`` x ``width`` filled with a repeated 2048 px page of text."""
    from bigocr.testing import make_page

    block = make_page(2048, 2048, words=400, seed=1)[0][..., 0]

    def tiles():
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                yield block[y % 2048:y % 2048 + tile, x % 2048:x % 2048 + tile]

    tifffile.imwrite(path, tiles(), shape=(height, width), dtype=np.uint8, tile=(tile, tile), compression="zlib",
                     bigtiff=True)


def measure(scan: Path, out: Path) -> dict:
    """Run one detection in a child process; its figures and peak RSS."""
    run = child([sys.executable, "-c", RUN, str(scan), str(out)])
    report = json.loads(run["stdout"].strip().splitlines()[-1])
    report["peak_rss_mb"] = run["peak_rss_mb"]
    return report


def striped_reads(tmp: Path) -> list[dict]:
    """Seconds to read one 2560 x 2560 tile from a 10240 x 10240 scan in three layouts."""
    import bigocr
    from bigocr.testing import make_page

    full = np.tile(make_page(2048, 2048, words=400, seed=1)[0][..., 0], (5, 5))
    rows = []
    for name, kwargs in [("tiles 512x512", dict(tile=(512, 512))), ("strips of 1 row", dict(rowsperstrip=1)),
                         ("one compressed strip", dict(rowsperstrip=full.shape[0]))]:
        path = tmp / f"{name.replace(' ', '_')}.tif"
        tifffile.imwrite(path, full, compression="zlib", **kwargs)
        scan = bigocr.open_scan(path)
        t0 = time.perf_counter()
        scan.read(4000, 6560, 3000, 5560)
        rows.append({"layout": name, "read_s": time.perf_counter() - t0})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.1,1", help="scan sizes in gigapixels, comma-separated")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bigocr-bench-") as tmp:
        tmp = Path(tmp)
        for gp in sizes:
            side = math.sqrt(gp * 1e9)
            height, width = int(round(side / 512)) * 512, int(round(side / 512)) * 512
            scan = tmp / f"scan-{gp}.tif"
            write_scan(scan, height, width)
            report = measure(scan, tmp / f"out-{gp}")
            report.update(gigapixels=height * width / 1e9, width=width, height=height)
            rows.append(report)
            print(f"{report['gigapixels']:.3f} GP ({width} x {height}): {report['words']} words, "
                  f"{report['tiles']} tiles, {report['seconds']:.0f} s, peak RSS {report['peak_rss_mb']:.0f} MB",
                  flush=True)
            scan.unlink()
        reads = striped_reads(tmp)
    base = rows[0]
    print()
    print(f"{'scan':>10} {'words':>8} {'tiles':>6} {'seconds':>8} {'peak MB':>8} {'x peak':>7}")
    for r in rows:
        print(f"{r['gigapixels']:>8.3f}GP {r['words']:>8} {r['tiles']:>6} {r['seconds']:>8.0f} "
              f"{r['peak_rss_mb']:>8.0f} {r['peak_rss_mb'] / base['peak_rss_mb']:>7.2f}")
    print()
    for r in reads:
        print(f"read one 2560 x 2560 tile, {r['layout']:<22} {r['read_s']:.3f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": rows, "reads": reads}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Merge benchmark: everything but the network, on a seed-size scan.

A 7256 x 13483 page with ~13 000 word-like blocks goes through the whole run
(tile plan, Dask tasks, tile reads, zarr stitching, global labeling, boxes)
with bigocr.testing.FakeDetector in place of CRAFT, so the figures measure
bigocr's own machinery.  Target: <= 30 s on 2 cores.

    python benchmarks/bench_merge.py [--json benchmarks/out/merge.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import bigocr
from bigocr.testing import FakeDetector, make_page

HEIGHT, WIDTH, WORDS = 13483, 7256, 13000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-side", type=int, default=2560)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    page, boxes = make_page(HEIGHT, WIDTH, words=WORDS, seed=0, letter=(22, 14))
    t_page = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = bigocr.detect(page, max_side=args.max_side, detector=FakeDetector(), out=Path(tmp) / "out")
        wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "scan": f"{WIDTH}x{HEIGHT}",
        "cores": os.cpu_count(),
        "words_drawn": len(boxes),
        "words_found": len(result.words),
        "tiles": result.tiles["count"],
        "wall_s": round(wall, 2),
        "target_s": 30.0,
        "wall_over_target": round(wall / 30.0, 3),
        "stages_s": {k: round(v, 2) for k, v in result.timings.items()},
        "peak_rss_mb": round(peak_mb),
        "page_generation_s": round(t_page, 2),
    }
    print(f"merge on {figures['scan']} ({figures['cores']} cores): {wall:.1f} s for {len(result.words)} words "
          f"of {len(boxes)} drawn, {result.tiles['count']} tiles; target 30 s (ratio {wall / 30:.2f})")
    print("stages (s): " + ", ".join(f"{k} {v}" for k, v in figures["stages_s"].items()))
    print(f"peak RSS {peak_mb:.0f} MB (the page itself is {page.nbytes / 2**20:.0f} MB)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A headline-pass tile resampled from a big scan: peak memory and time with its bands made float32 whole
or :data:`bigocr.tiler.scale.BAND_COLUMNS` columns at a time, side by side.

    python benchmarks/resample_bands.py [--gigapixels 1] [--tmp DIR] [--side 4608] [--columns none,4096]
                                        [--repeat 2]

The scan is ``memory_real.py``'s (real VD-SBB pages in an 8192 px block repeated, a tiled BigTIFF), kept in
``--tmp``.  The headline pass sees it at a quarter scale, and a tile of ``--side`` working pixels there is a
window four times as wide of the scan, resampled band by band (:func:`bigocr.tiler.scale.read_halved`).
Each setting runs in a fresh process, settings alternating: its peak RSS above what it held before the
tile (the kernel's ``ru_maxrss``), the seconds, and a checksum of the tile (the same for every setting).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import memory_real  # noqa: E402  (the scans are built the same way)

CHILD = r"""
import json, resource, sys, time
import bigocr.tiler.scale as scale
from bigocr.tiler.scan import open_scan
columns, path, side = sys.argv[1], sys.argv[2], int(sys.argv[3])
scale.BAND_COLUMNS = 10**9 if columns == "none" else int(columns)
work = scale.scaled(open_scan(path), 0.25)
y0, x0 = (work.height - side) // 4 * 2, (work.width - side) // 4 * 2  # a tile in the middle, on even pixels
scale.read_halved(work, (0, 64, 0, 64))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
tile = scale.read_halved(work, (y0, y0 + side, x0, x0 + side))
seconds = time.perf_counter() - t0
extra = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"extra_mb": extra / 1024, "seconds": seconds, "checksum": int(tile.sum(dtype="int64"))}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gigapixels", type=float, default=1.0)
    p.add_argument("--data", type=Path, default=memory_real.DATA)
    p.add_argument("--tmp", type=Path, default=Path("."), help="folder for the scan (kept)")
    p.add_argument("--side", type=int, default=4608, help="the tile's working pixels (a 4 096 px tile with margins)")
    p.add_argument("--columns", default="none,4096", help="BAND_COLUMNS settings; none: each band whole")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    scan, side = memory_real.kept_scan(args.tmp, args.gigapixels, args.data)
    settings = args.columns.split(",")
    runs = {s: [] for s in settings}
    for _ in range(args.repeat):
        for s in settings:
            res = subprocess.run([sys.executable, "-c", CHILD, s, str(scan), str(args.side)], capture_output=True,
                                 text=True, cwd=memory_real.ROOT, check=True)
            runs[s].append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"\n{scan.name} ({side} px), a {args.side} px headline-pass tile (a {args.side * 4} px window of the scan)")
    print("\n| BAND_COLUMNS | extra memory | seconds (median) | x time | checksum |\n|---|---|---|---|---|")
    base = statistics.median(r["seconds"] for r in runs[settings[0]])
    for s in settings:
        sec = statistics.median(r["seconds"] for r in runs[s])
        print(f"| {s} | {max(r['extra_mb'] for r in runs[s]):.0f} MB | {sec:.2f} | {sec / base:.3f} | "
              f"{runs[s][0]['checksum']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

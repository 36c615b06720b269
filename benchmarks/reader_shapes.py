"""Memory of reading crops of many widths: batches as wide as their widest crop against widths rounded up.

    python benchmarks/reader_shapes.py [--batches 60] [--steps 1,64]

Each setting runs in its own process, one after another: the default first reader (``fast``, one
thread, bigocr's precision) reads ``--batches`` lots of 256 crops of random widths (40-1 500 columns at
the network's height, random pixels: the shapes are what matters), with
:data:`bigocr.recognizer.read.WIDTH_STEP` set to each of ``--steps``; the process's resident memory is
printed every ten lots. Every new input shape costs the CPU backend a kernel plan and buffers it keeps.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(step: int, lots: int) -> None:
    import numpy as np
    import torch

    import bigocr.recognizer.read as read
    from bigocr.recognizer.recognize import resolve_recognizer

    torch.set_num_threads(1)
    read.WIDTH_STEP = step
    reader = resolve_recognizer("fast")[0]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for lot in range(1, lots + 1):
        crops = [rng.integers(0, 255, (64, int(w)), dtype=np.uint8) for w in rng.integers(40, 1500, 256)]
        reader(crops)
        if lot % 10 == 0:
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6
            print(f"{lot},{rss:.0f},{time.perf_counter() - t0:.1f}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=60, help="lots of 256 crops")
    p.add_argument("--steps", default="1,64", help="WIDTH_STEP values, comma-separated")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.batches)
        return 0
    rows = {}
    for step in (int(s) for s in args.steps.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(step), "--batches", str(args.batches)],
                             capture_output=True, text=True, check=True, cwd=ROOT).stdout
        rows[step] = [line.split(",") for line in out.split()]
    steps = list(rows)
    print(f"\n`python benchmarks/reader_shapes.py --batches {args.batches} --steps {args.steps}`: resident MB "
          f"(seconds) after each ten lots of 256 crops\n")
    print("| crops read | " + " | ".join(f"WIDTH_STEP {s}" for s in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for k in range(len(rows[steps[0]])):
        lot = int(rows[steps[0]][k][0])
        print(f"| {lot * 256:,} | " + " | ".join(f"{rows[s][k][1]} MB ({rows[s][k][2]} s)" for s in steps) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

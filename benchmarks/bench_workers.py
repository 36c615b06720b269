"""How to size the local cluster: tiles in flight x torch threads, measured with real CRAFT.

Runs full CRAFT over the same page under each split of this machine's cores
between concurrent tiles and torch's intra-op threads, and prints throughput
side by side.  Speed does not depend on the weights' values, so the network is
freshly initialised (and says so); no detection quality is claimed here.

    python benchmarks/bench_workers.py [--size 1600x1200] [--max-side 800]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

import bigocr
from bigocr.detector import CRAFT, save_weights
from bigocr.testing import make_page


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1600x1200", help="page WIDTHxHEIGHT")
    parser.add_argument("--max-side", type=int, default=800)
    args = parser.parse_args(argv)
    width, height = map(int, args.size.split("x"))
    page, _ = make_page(height, width, words=300, seed=1)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        weights = save_weights(CRAFT(), Path(tmp) / "speed-only.safetensors", name="speed-only-random-init").path
        bigocr.detect(page[:256, :256], max_side=256, detector=weights, device="cpu", scheduler="synchronous")
        rows = []
        for threads in sorted({1, cores}):
            t0 = time.perf_counter()
            result = bigocr.detect(page, max_side=args.max_side, detector=weights, device="cpu", threads=threads)
            wall = time.perf_counter() - t0
            rows.append((threads, max(1, cores // threads), wall, result.tiles["pixels"]))
    base = rows[0][2]
    print(f"CRAFT on a {width}x{height} page, max side {args.max_side}, {rows[0][3] / 1e6:.1f} MP of tiles, {cores} cores")
    print(f"{'tiles in flight':>16} {'torch threads':>14} {'wall s':>8} {'scan MP/s':>10} {'speed-up':>9}")
    for threads, tt, wall, _ in rows:
        print(f"{threads:>16} {tt:>14} {wall:>8.1f} {width * height / 1e6 / wall:>10.3f} {base / wall:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

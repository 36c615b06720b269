"""A 100+ MP image read over loopback IIIF (IIPImage under lighttpd) beside the same image read locally: time,
bytes and words side by side, in one run.

The image is real VD-SBB pages tiled into one (10 240 x 10 240 px by default), saved by vips as a tiled pyramid
TIFF (deflate, 256 px tiles): the local run reads it; IIPImage (Debian's iipimage-server, started here under
lighttpd on 127.0.0.1, JPEG quality 95) serves it as IIIF Image API 2. Each run is ``bigocr run SOURCE
--no-text --no-preview`` (default models) in its own process. Bytes fetched are lighttpd's (its access log).

    python benchmarks/iiif_read.py [--side 10240] [--json benchmarks/out/iiif_read.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from run import child  # benchmarks/run.py: wall time and peak RSS measured from a small launcher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
DATA = ROOT.parent / "shared" / "data" / "real" / "vdsbb"


def make_image(tmp: Path, side: int) -> Path:
    import pyvips

    pages = [pyvips.Image.new_from_file(str(p)).colourspace("srgb")[:3] for p in sorted(DATA.glob("*.tif"))[:12]]
    w, h = max(p.width for p in pages), max(p.height for p in pages)
    tiles = [p.embed(0, 0, w, h, extend="white") for p in pages]
    across, down = -(-side // w), -(-side // h)
    grid = pyvips.Image.arrayjoin([tiles[i % len(tiles)] for i in range(across * down)], across=across)
    images = tmp / "images"
    images.mkdir()
    path = images / "mosaic.tif"
    grid.crop(0, 0, side, side).tiffsave(str(path), tile=True, pyramid=True, compression="deflate",
                                         tile_width=256, tile_height=256, bigtiff=True)
    return path


def served_bytes(log: Path) -> int:
    """Bytes of image answers in lighttpd's access log (its %b field)."""
    total = 0
    for line in log.read_text().splitlines():
        parts = line.split('"')
        if len(parts) > 2 and ".jpg" in parts[1]:
            fields = parts[2].split()
            if len(fields) >= 2 and fields[1].isdigit():
                total += int(fields[1])
    return total


def run_one(source: str, out: Path) -> dict:
    report = child([Path(sys.executable).with_name("bigocr"), "run", source, "-o", out, "--no-text",
                    "--no-preview", "-q"])
    doc = json.loads((out / "words.json").read_text())
    return {"words": len(doc["words"]), "wall_s": round(report["wall_s"], 1),
            "peak_rss_mb": round(report["peak_rss_mb"]), "scale": doc["params"].get("scale"),
            "timings": {k: round(v, 1) for k, v in doc.get("timings", {}).items()}}


def main(argv=None) -> int:
    from iiif_servers import iipimage

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=10240, help="side of the square image in px (default 10240)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bigocr-bench-iiif-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        image = make_image(tmp, args.side)
        size = image.stat().st_size
        print(f"{args.side} x {args.side} px ({args.side ** 2 / 1e6:.0f} MP) pyramid TIFF, {size / 2**20:.0f} MB, "
              f"made in {time.perf_counter() - t0:.0f} s", flush=True)
        local = {"input": "local pyramid TIFF", **run_one(str(image), tmp / "local")}
        print(json.dumps(local), flush=True)
        server = iipimage(image.parent, tmp, JPEG_QUALITY=95)
        try:
            remote = {"input": "IIIF over loopback (IIPImage)",
                      **run_one(f"{server.url}/{image.name}/info.json", tmp / "iiif")}
        finally:
            server.stop()
        remote["bytes_fetched_mb"] = round(served_bytes(server.log) / 2**20, 1)
        print(json.dumps(remote), flush=True)
    rows = [local, remote]
    print()
    print(f"| source ({args.side} x {args.side} px, {args.side ** 2 / 1e6:.0f} MP; file {size / 2**20:.0f} MB) "
          "| words | seconds | peak RSS MB | MB fetched |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['input']} | {r['words']} | {r['wall_s']} | {r['peak_rss_mb']} | {r.get('bytes_fetched_mb', '')} |")
    print(f"\nIIIF / local time: {remote['wall_s'] / local['wall_s']:.2f}; bytes fetched / file size: "
          f"{remote['bytes_fetched_mb'] * 2**20 / size:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"side": args.side, "file_bytes": size, "runs": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

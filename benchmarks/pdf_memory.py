"""A 20 000 x 28 000 px page from a PDF (one embedded JPEG) beside the same scan as a tiled TIFF: peak memory,
time and words, side by side in one run; and the searchable PDF of each opens.

The page is real VD-SBB pages tiled into one image, saved as a JPEG (quality
90); img2pdf wraps that JPEG, unchanged, into a one-page PDF; the TIFF holds
the same decoded pixels (libvips decodes the JPEG once, as bigocr does from
the PDF), tiled 512 x 512, deflate.  Each run is ``bigocr run SCAN
--format json,pdf --no-preview`` in its own process, with the default
models and ``--no-text`` unless ``--text`` (the reader costs the same for
both), measured by the kernel's peak resident set size of the process (the
local Dask cluster runs in it).

    python benchmarks/pdf_memory.py [--size 20000x28000] [--json benchmarks/out/pdf_memory.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import child  # benchmarks/run.py: peak RSS measured from a small launcher

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "real" / "vdsbb"


def make_inputs(tmp: Path, width: int, height: int) -> dict:
    """The JPEG, the PDF wrapping it and the tiled TIFF of the same pixels."""
    import img2pdf
    import pyvips
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # img2pdf reads the JPEG's header with PIL

    pages = [pyvips.Image.new_from_file(str(p)).colourspace("srgb")[:3] for p in sorted(DATA.glob("*.tif"))[:12]]
    w, h = max(p.width for p in pages), max(p.height for p in pages)
    tiles = [p.embed(0, 0, w, h, extend="white") for p in pages]
    across, down = -(-width // w), -(-height // h)
    grid = pyvips.Image.arrayjoin([tiles[i % len(tiles)] for i in range(across * down)], across=across)
    grid = grid.crop(0, 0, width, height)
    jpeg = tmp / "page.jpg"
    grid.jpegsave(str(jpeg), Q=90)
    pdf = tmp / "page.pdf"
    with open(pdf, "wb") as fh:
        img2pdf.convert(str(jpeg), outputstream=fh, layout_fun=img2pdf.get_fixed_dpi_layout_fun((300, 300)))
    tif = tmp / "page.tif"
    pyvips.Image.new_from_file(str(jpeg), access="sequential").tiffsave(
        str(tif), tile=True, tile_width=512, tile_height=512, compression="deflate", bigtiff=True,
        xres=300 / 25.4, yres=300 / 25.4)
    return {"jpeg": jpeg, "pdf": pdf, "tiff": tif}


def run_one(scan: Path, out: Path, text: bool) -> dict:
    argv = [Path(sys.executable).with_name("bigocr"), "run", scan, "-o", out, "--format", "json,pdf",
            "--no-preview", "-q"] + ([] if text else ["--no-text"])
    report = child(argv)
    doc = json.loads((out / "words.json").read_text())
    check = subprocess.run(["qpdf", "--check", str(out / "text.pdf")], capture_output=True, text=True)
    info = subprocess.run(["pdfinfo", str(out / "text.pdf")], capture_output=True, text=True)
    return {"scan": scan.name, "words": len(doc["words"]), "scale": doc["params"].get("scale"),
            "wall_s": round(report["wall_s"], 1), "peak_rss_mb": round(report["peak_rss_mb"]),
            "text_pdf_mb": round((out / "text.pdf").stat().st_size / 2**20, 1),
            "text_pdf_qpdf_clean": check.returncode == 0 and "No syntax or stream encoding errors" in check.stdout,
            "text_pdf_pages": next((int(line.split()[-1]) for line in info.stdout.splitlines()
                                    if line.startswith("Pages:")), None),
            "timings": {k: round(v, 1) for k, v in doc.get("timings", {}).items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="20000x28000", help="WxH of the page (default 20000x28000)")
    parser.add_argument("--text", action="store_true", help="also read the words")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="bigocr-bench-pdf-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        inputs = make_inputs(tmp, width, height)
        print(f"inputs made in {time.perf_counter() - t0:.0f} s: JPEG {inputs['jpeg'].stat().st_size / 2**20:.0f} MB, "
              f"PDF {inputs['pdf'].stat().st_size / 2**20:.0f} MB, tiled TIFF {inputs['tiff'].stat().st_size / 2**20:.0f} MB",
              flush=True)
        rows = []
        for kind in ("tiff", "pdf"):
            rows.append({"input": kind, **run_one(inputs[kind], tmp / f"out-{kind}", args.text)})
            print(json.dumps(rows[-1]), flush=True)
    tiff, pdf = rows
    ratio = pdf["peak_rss_mb"] / tiff["peak_rss_mb"]
    print()
    print(f"| input ({width} x {height} px, {width * height / 1e6:.0f} MP) | words | scale | seconds | peak RSS MB "
          "| text.pdf MB | qpdf --check |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['input']} | {r['words']} | {r['scale']} | {r['wall_s']} | {r['peak_rss_mb']} | {r['text_pdf_mb']} "
              f"| {'clean' if r['text_pdf_qpdf_clean'] else 'ERRORS'} |")
    print(f"\nPDF / TIFF peak RSS: {ratio:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"size": [width, height], "runs": rows, "rss_ratio": ratio}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

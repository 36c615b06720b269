"""bigocr, PP-OCR and Tesseract side by side on the same pages: the quality table of README and RESULTS.md.

    python benchmarks/quality.py [--split test|eval] [--data ../shared/data/real] [--out DIR] [--reuse]

Runs ``bigocr eval`` for each system (bigocr with its defaults; PP-OCRv6 small det + rec from the
RapidOCR wheel with its defaults, ``--ppocr``; Tesseract 5, ``eng`` and ``frk`` for VD-SBB), end to
end (``--text``) and, for the prints, with their lines (``--lines``), each run's figures kept as
JSON in ``--out``; ``--reuse`` builds the table from JSON files already there.  Every cell gives the
H-mean with its 95 % interval (bootstrap over pages) and the table the number of pages per source.

Columns: forms word H, forms end to end (case-folded), receipts line H, receipts end to end, prints
word H, prints line H, prints end to end.  The split is ``bigocr.dev.split``'s: report ``test``,
choose on ``eval``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SYSTEMS = {"bigocr": [], "ppocr": ["--ppocr"], "tesseract": ["--tesseract"]}
NAMES = {"bigocr": "bigocr (defaults)", "ppocr": "PP-OCRv6 small det + rec (RapidOCR 3, its defaults)",
         "tesseract": "Tesseract 5 (`eng`; `frk` for prints)"}


def _run(system: str, extra: list[str], args, out: Path) -> dict:
    if args.reuse and out.is_file():
        return json.loads(out.read_text())
    cmd = [sys.executable, "-m", "bigocr", "eval", "--data", str(args.data), "--split", args.split,
           "--json", str(out)] + SYSTEMS[system] + extra
    print("$", " ".join(cmd[2:]), flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, check=True, env=env)
    return json.loads(out.read_text())


def _cell(figures: dict, key: str | None = None) -> str:
    if key is None:
        h, (lo, hi) = figures["hmean"], figures["hmean_95"]
    else:
        h, (lo, hi) = figures["end_to_end"]["folded"]["hmean"], figures["end_to_end"]["folded_hmean_95"]
    return f"{h:.3f} [{lo:.2f}, {hi:.2f}]"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", default="test", choices=("test", "eval"))
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    p.add_argument("--out", type=Path, default=Path("/tmp/bigocr-quality"))
    p.add_argument("--reuse", action="store_true",
                   help="build the table from the JSON files already in --out (made with the same --data)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, pages = [], {}
    for system in SYSTEMS:
        text = _run(system, ["--text"], args, args.out / f"{system}-{args.split}.json")["sources"]
        lines = _run(system, ["--lines", "--sources", "vdsbb"], args,
                     args.out / f"{system}-lines-{args.split}.json")["sources"]
        pages = {s: text[s]["images"] for s in text}
        rows.append([NAMES[system], _cell(text["funsd"]), _cell(text["funsd"], "e2e"), _cell(text["sroie"]),
                     _cell(text["sroie"], "e2e"), _cell(text["vdsbb"]), _cell(lines["vdsbb"]),
                     _cell(text["vdsbb"], "e2e")])
    head = (f"| {args.split} split | forms word H ({pages.get('funsd')}) | forms end to end | receipts line H "
            f"({pages.get('sroie')}) | receipts end to end | prints word H ({pages.get('vdsbb')}) | prints line H | "
            f"prints end to end |")
    table = "\n".join([head, "|" + "---|" * 8] + ["| " + " | ".join(r) + " |" for r in rows])
    print(table)
    (args.out / f"table-{args.split}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

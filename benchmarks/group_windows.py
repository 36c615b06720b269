"""How large a reading task's scan window gets as the scan grows: words and lines, with and without the cap.

X
    python benchmarks/group_windows.py OUT/words.json [--sides 10240,31744,63488]

``memory_real.py``'s scans repeat one 8192 px block of real pages.  This takes the words and lines bigocr
found in the first block (``words.json`` of its 0.1 GP scan), repeats them as the larger scans repeat the
block, and groups them as a run does (:func:`bigocr.recognizer.groups.group_words`): words, and lines as
their crops (:func:`bigocr.recognizer.linetext.line_quad`).  Each group is one task that reads its window
of the scan whole (RGB, 3 bytes a pixel); the table gives the windows' sizes with
:data:`~bigocr.recognizer.groups.GROUP_PIXELS` and without it (rows and word count only, as before).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

BLOCK = 8192


def repeated(quads: list[np.ndarray], side: int) -> list[np.ndarray]:
    """The quads of the first block, repeated every :data:`BLOCK` px across a ``side`` px square scan."""
    base = [q for q in quads if q[:, 0].max() < BLOCK and q[:, 1].max() < BLOCK]
    out = []
    for oy in range(0, side, BLOCK):
        for ox in range(0, side, BLOCK):
            out += [r for r in (q + np.array([ox, oy], np.float32) for q in base) if r.max() < side]
    return out


def main(argv=None) -> int:
    from bigocr.recognizer.groups import GROUP_PIXELS, group_words
    from bigocr.recognizer.linetext import line_quad

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("words", type=Path, help="words.json of the 0.1 GP scan of memory_real.py")
    p.add_argument("--sides", default="10240,31744,63488")
    args = p.parse_args(argv)
    run = json.loads(args.words.read_text())
    words = [np.array(w["box"], np.float32) for w in run["words"]]
    lines = [line_quad(np.array(line["box"], np.float32)) for b in run["blocks"] for line in b["lines"]]
    print("| scan side | kind | boxes | groups (capped / before) | largest window, MB (capped / before) "
          "| 90th percentile, MB (capped / before) |")
    print("|---|---|---|---|---|---|")
    for side in map(int, args.sides.split(",")):
        for kind, quads in (("words", words), ("lines", lines)):
            qs = repeated(quads, side)
            sizes = []
            for cap in (GROUP_PIXELS, 10**15):
                groups = group_words(qs, (side, side), max_pixels=cap)
                mb = np.array([(g.window[1] - g.window[0]) * (g.window[3] - g.window[2]) * 3 / 2**20 for g in groups])
                sizes.append((len(groups), mb.max(), np.percentile(mb, 90)))
            (n, top, p90), (n0, top0, p900) = sizes
            print(f"| {side} | {kind} | {len(qs)} | {n} / {n0} | {top:.0f} / {top0:.0f} | {p90:.0f} / {p900:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Make examples/sample.tif: a bilevel A4 page at 300 dpi with a headline, two columns and small print.

    python examples/make_sample.py [OUT.tif]

The committed sample.tif was made with this script (seed 7); it is a demo input,
not ground truth for evaluation.
"""

import sys

import cv2
import numpy as np
import tifffile

WORDS = ("archive scan letter district council minutes harbour ledger railway parish index "
         "volume page notice meeting report survey chapter section street market printed "
         "1847 1911 No. 42 p. 7 vol. III - Sept. & Co. Ltd. (continued) Messrs. etc.").split()


def main(out="examples/sample.tif", seed=7):
    rng = np.random.default_rng(seed)
    h, w = 3508, 2480
    page = np.full((h, w), 255, np.uint8)
    font = cv2.FONT_HERSHEY_COMPLEX
    cv2.putText(page, "THE BIGOCR GAZETTE", (260, 260), cv2.FONT_HERSHEY_TRIPLEX, 4.0, 0, 9, cv2.LINE_AA)
    cv2.line(page, (150, 320), (w - 150, 320), 0, 5)
    columns = [(150, 1180), (1300, 2330)]
    for x0, x1 in columns:
        y = 430
        while y < 3050:
            x = x0
            scale = 1.0 if y < 2500 else 0.6
            while True:
                word = WORDS[int(rng.integers(len(WORDS)))]
                (tw, th), _ = cv2.getTextSize(word, font, scale, 2)
                if x + tw > x1:
                    break
                cv2.putText(page, word, (x, y), font, scale, 0, 2, cv2.LINE_AA)
                x += tw + int(22 * scale)
            y += int(58 * scale)
    cv2.putText(page, "Printed for the demonstration of bigocr. All words are generated.", (150, 3300),
                cv2.FONT_HERSHEY_SIMPLEX, 0.9, 0, 2, cv2.LINE_AA)
    bilevel = page < 128
    tifffile.imwrite(out, bilevel, compression="deflate", resolution=(300, 300), resolutionunit="inch")
    print(f"wrote {out}: {w}x{h} px")


if __name__ == "__main__":
    main(*sys.argv[1:])

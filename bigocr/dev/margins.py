"""The context margins of the shipped weights, measured once here and shipped with bigocr.

    python -m bigocr.dev.margins    # rewrites bigocr/models/files/margins.json (about 4 min on 2 cores)

:func:`bigocr.detector.infer.measured_margin` measures a detector's margin on
its first run on a machine (45 s for a full-width CRAFT on two cores) and keeps
it in the user's cache; the weights bigocr bundles or installs get theirs from
:data:`~bigocr.detector.infer.SHIPPED_MARGINS` instead.  Float32 on the CPU
only: bfloat16's arithmetic differs between CPUs (AMX, AVX512-BF16), so it is
measured where it runs (a GPU run's margin too: ``auto`` is bfloat16 there, and
the margin is measured on the CPU in the run's precision).  Rerun after
shipping new weights (their sha256 is in the key: the old entry is then never
used).
"""

from __future__ import annotations

import json
import sys
import time

#: The detectors whose margins are shipped.
NAMES = ("craft-fast", "craft-student", "craft-doc", "craft-mlt-25k")


def measure(names=NAMES, log=print) -> dict[str, int]:
    """``{key: margin}`` of each named detector, in float32 on the CPU."""
    from bigocr.detector.infer import margin_key, context_margin
    from bigocr.engine.setup import resolve_detector

    table = {}
    for name in names:
        t0 = time.perf_counter()
        detector, _ = resolve_detector(name, device="cpu", precision="fp32")
        key = margin_key(detector)
        table[key] = context_margin(detector)
        log(f"{name}: {table[key]} px ({time.perf_counter() - t0:.0f} s)")
    return table


def main(argv=None) -> int:
    import argparse

    from bigocr.detector.infer import SHIPPED_MARGINS

    argparse.ArgumentParser(prog="python -m bigocr.dev.margins",
                            description=f"Measure the float32 context margins of {', '.join(NAMES)} and write "
                                        f"them to {SHIPPED_MARGINS} (about 4 min on 2 cores).").parse_args(argv)
    table = measure()
    SHIPPED_MARGINS.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    print(f"wrote {SHIPPED_MARGINS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

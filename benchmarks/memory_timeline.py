"""One ``bigocr run``'s memory over time beside its log: which stage holds the peak.

    python benchmarks/memory_timeline.py [--gigapixels 1] [--tmp DIR] [--every 60] [--until SECONDS]
                                         [-- more bigocr options]

The scan is ``memory_real.py``'s (real VD-SBB pages in an 8192 px block repeated, a tiled BigTIFF),
kept in ``--tmp`` for the next call.  ``bigocr -v run SCAN -o OUT`` runs as a child; its RSS is sampled
every 0.2 s (the local cluster's workers are threads of that process) and its log lines are timed on
the same clock.  Prints the log and, for each ``--every`` seconds, the largest and smallest RSS: the
smallest is what the process holds between tasks, the largest what a stage's tasks add to it.
``--until`` stops the run after that many seconds (the first stages of a long run: a 4 GP scan's tiles
take some 20 minutes) and prints what it saw up to then.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import memory_real  # noqa: E402  (the scans are built the same way)


def main(argv=None) -> int:
    import psutil

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gigapixels", type=float, default=1.0)
    p.add_argument("--data", type=Path, default=memory_real.DATA)
    p.add_argument("--tmp", type=Path, default=Path("."), help="folder for the scan (kept) and the run's output")
    p.add_argument("--every", type=float, default=60.0, help="seconds per row of the summary")
    p.add_argument("--json", type=Path)
    p.add_argument("--until", type=float, help="stop the run after this many seconds")
    p.add_argument("options", nargs="*", help="more bigocr run options, after --")
    args = p.parse_args(argv)
    scan, _ = memory_real.kept_scan(args.tmp, args.gigapixels, args.data)
    out = args.tmp / f"timeline-out-{args.gigapixels}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "bigocr", "-v", "run", str(scan), "-o", str(out), *args.options]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []

    def read_log():
        for line in proc.stderr:
            if line.startswith("bigocr:"):
                log.append((time.perf_counter() - t0, line.rstrip()))

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    ps, samples = psutil.Process(proc.pid), []
    while proc.poll() is None:
        if args.until and time.perf_counter() - t0 > args.until:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"stopped after {args.until:g} s (--until)")
            break
        try:
            samples.append((time.perf_counter() - t0, ps.memory_info().rss / 2**20))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    reader.join(timeout=5)
    shutil.rmtree(out, ignore_errors=True)
    for t, line in log:
        print(f"{t:8.1f} s  {line}")
    print("\n| seconds | largest RSS (MB) | smallest RSS (MB) |\n|---|---|---|")
    rows = {}
    for t, mb in samples:
        rows.setdefault(int(t // args.every), []).append(mb)
    for k, mbs in sorted(rows.items()):
        print(f"| {k * args.every:.0f}-{(k + 1) * args.every:.0f} | {max(mbs):.0f} | {min(mbs):.0f} |")
    peak = max(samples, key=lambda s: s[1]) if samples else (0, 0)
    print(f"\npeak {peak[1]:.0f} MB at {peak[0]:.0f} s; exit {proc.returncode}")
    if args.json:
        args.json.write_text(json.dumps({"log": log, "rss_mb": samples, "exit": proc.returncode}) + "\n")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())

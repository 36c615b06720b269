"""int8 for the default detector, measured: its shipped int8 twin in ONNX Runtime beside PyTorch's bfloat16 and float32.

    pip install onnx                 # the exporter's model format (a test dependency, not bigocr's)
    python benchmarks/int8.py [--side 1280] [--threads 1] [--tmp DIR]

The default detector (``craft-fast``) is exported to ONNX (float32) as ``python -m bigocr.dev.quantize``
exports it; its int8 twin is the one bigocr ships (:mod:`bigocr.models.int8`: QDQ, 7-bit int8 weights per
channel, uint8 activations calibrated on tiles of ten training pages).  Then, one after another in this
process on the same input of ``--side`` network pixels (the network's input: half the working tile), the
best of three passes each: PyTorch float32, PyTorch bfloat16 autocast (what bigocr runs where the CPU
computes in bf16), ONNX Runtime float32 and the int8 twin.  The maps' difference from float32 is measured
on tiles of the eval split's pages (none of them used for calibration): the largest and the mean absolute
difference of the region and affinity scores (0 to 1; the box rule's thresholds are 0.4 and 0.7).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_of(f, n: int = 3) -> float:
    f()
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--side", type=int, default=1280, help="network input side (1280: a 2560 px working tile)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tmp", type=Path)
    p.add_argument("--json", type=Path, default=Path("benchmarks/out/int8.json"))
    args = p.parse_args(argv)
    import onnxruntime as ort
    import torch

    from bigocr.dev.quantize import export, float_network, page_tiles
    from bigocr.dev.split import split_of
    from bigocr.models.int8 import twin_path

    torch.set_num_threads(args.threads)
    weights, net = float_network("craft-fast")
    real = ROOT.parent / "shared" / "data" / "real"
    held = []
    for source, pattern in (("vdsbb", "*.tif"), ("funsd", "*.png"), ("sroie", "*.jpg")):
        for image in sorted((real / source).glob(pattern)):
            gt = image.with_name(image.stem + ".gt.json")
            if gt.exists() and split_of(image.stem, source, json.loads(gt.read_text())) == "eval":
                held.append(image)
    held = page_tiles(held[::4])
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", twin_path(weights.sha256)
        export(net, fp32)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
        s32 = ort.InferenceSession(str(fp32), so, providers=["CPUExecutionProvider"])
        s8 = ort.InferenceSession(str(int8), so, providers=["CPUExecutionProvider"])
        x = np.zeros((1, 3, args.side, args.side), np.float32)
        x[:, :, ::20] = 2.0
        xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            seconds = {"torch fp32": best_of(lambda: net(xt))}
            with torch.autocast("cpu", torch.bfloat16):
                seconds["torch bf16"] = best_of(lambda: net(xt))
        seconds["onnxruntime fp32"] = best_of(lambda: s32.run(None, {"x": x}))
        seconds["onnxruntime int8"] = best_of(lambda: s8.run(None, {"x": x}))
        diffs = {"torch bf16": [], "onnxruntime int8": []}
        with torch.inference_mode():
            for t in held:
                ref = net(torch.from_numpy(t))[0].numpy()
                with torch.autocast("cpu", torch.bfloat16):
                    bf = net(torch.from_numpy(t).contiguous(memory_format=torch.channels_last))[0].float().numpy()
                diffs["torch bf16"].append(np.abs(bf - ref))
                diffs["onnxruntime int8"].append(np.abs(s8.run(None, {"x": t})[0] - ref))
    working_mp = 4 * args.side ** 2 / 1e6
    print(f"\n`python benchmarks/int8.py --side {args.side} --threads {args.threads}`: the default detector on a "
          f"{args.side} px network input ({2 * args.side} px working tile), {args.threads} thread(s); maps against "
          f"float32 on {len(held)} eval tiles\n")
    print("| | seconds | working MP/s | x torch bf16 | max abs. map difference | mean abs. difference |")
    print("|---|---|---|---|---|---|")
    rows = []
    for name, s in seconds.items():
        d = diffs.get(name)
        worst = "" if d is None else f"{max(float(a.max()) for a in d):.3f}"
        mean = "" if d is None else f"{float(np.mean([a.mean() for a in d])):.4f}"
        print(f"| {name} | {s:.3f} | {working_mp / s:.2f} | {seconds['torch bf16'] / s:.2f} | {worst} | {mean} |")
        rows.append({"runtime": name, "seconds": round(s, 4), "max_diff": worst or None, "mean_diff": mean or None})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"side": args.side, "threads": args.threads, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

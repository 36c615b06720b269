"""Make the int8 twin of a shipped detector (:mod:`bigocr.models.int8`).

    pip install onnx                      # the quantiser's model format (a test dependency, not bigocr's)
    python -m bigocr.dev.quantize [craft-fast] [--out FILE]

The detector is exported to ONNX in float32 (a dynamic input side), prepared
by ONNX Runtime's shape inference and quantised statically: QDQ, int8 weights
per channel in 7 bits (``reduce_range``: see :mod:`bigocr.models.int8`), uint8
activations calibrated (min-max) on :data:`CALIBRATION` tiles of training pages
of ``shared/data/train`` (never a held-out page of a test work or shop: the
split's rule); the two convolutions that form the scores stay float32
(:data:`FLOAT_NODES`).  It prints the new file's sha256 for :data:`bigocr.models.int8.TWINS`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT.parent / "shared" / "data" / "train"

#: Pages per training source whose tiles calibrate the activations, and the tiles' side in working pixels.
CALIBRATION = 5
CALIBRATION_SIDE = 1280

#: The convolutions left in float32: the two 1x1 convolutions that end ``conv_cls``, the last stage, where the
#: scores are formed.  Chosen on the maps of 18 eval tiles (mean difference from float32: all int8 0.0034,
#: the last convolution float 0.0027, these two 0.0013, the whole stage 0.0011) at the int8 network's speed
#: (the whole stage float: 1.24x its time and 1.15 GB for a 1 536 px input in ONNX Runtime, against 0.78 GB);
#: 20 training receipts' line H (float32 0.835: all int8 0.823, the last float 0.829, these two 0.828, the
#: stage 0.833) says receipts lose most (``benchmarks/RESULTS.md``).
FLOAT_NODES = ("/inner/conv_cls/conv_cls.6/Conv", "/inner/conv_cls/conv_cls.8/Conv")


def page_tiles(pages: list[Path], side: int = CALIBRATION_SIDE) -> list[np.ndarray]:
    """The top-left ``side`` px of each page, halved and normalised as a half-input detector sees it."""
    from bigocr.detector.infer import preprocess
    from bigocr.tiler.scale import halve
    from bigocr.tiler.scan import open_scan

    out = []
    for path in pages:
        scan = open_scan(path)
        im = scan.read(0, min(scan.height, side), 0, min(scan.width, side))
        im = np.repeat(im[..., None], 3, 2) if im.ndim == 2 else im[..., :3]
        out.append(preprocess(halve(im)).numpy())
    return out


def training_pages(train: Path = TRAIN, per_source: int = CALIBRATION) -> list[Path]:
    """The first ``per_source`` training pages (not held out) of the pool's VD-SBB pages and receipts."""
    from bigocr.dev.split import split_of

    pages = []
    for source in ("vdsbb", "sroie"):
        found = []
        for image in sorted((train / source).glob("*.jpg")):
            gt = image.with_name(image.stem + ".gt.json")
            doc = json.loads(gt.read_text()) if gt.exists() else None
            if doc is not None and split_of(image.stem, source, doc, development=False) == "train":
                found.append(image)
            if len(found) == per_source:
                break
        pages += found
    return pages


def export(net, path: Path) -> None:
    """``net``'s scores (region, affinity: ``(1, h, w, 2)``) for an input ``x`` ``(1, 3, h, w)``, as ONNX."""
    import torch

    class Scores(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)[0]

    torch.onnx.export(Scores(net).eval(), (torch.zeros(1, 3, 640, 640),), str(path), input_names=["x"],
                      output_names=["scores"], dynamic_axes={"x": {2: "h", 3: "w"}, "scores": {1: "h", 2: "w"}},
                      opset_version=17, dynamo=False)


def quantise(fp32: Path, out: Path, tiles: list[np.ndarray]) -> None:
    """Quantise ``fp32`` into ``out`` (see the module's docstring), calibrated on ``tiles``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": t} for t in tiles])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(FLOAT_NODES))


def float_network(name: str):
    """The float32 network of the bundled weights ``name``, batch norms folded, on the CPU."""
    from bigocr.models.registry import resolve_named
    from bigocr.models.weights import load_network, read_weights

    weights, _ = read_weights(resolve_named(name), "craft")
    return weights, load_network(weights, "cpu").float().eval()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name", nargs="?", default="craft-fast", help="bundled detector weights (default craft-fast)")
    p.add_argument("--out", type=Path, help="where to write the twin (default: where bigocr ships it)")
    args = p.parse_args(argv)
    from bigocr.models.int8 import TWINS
    from bigocr.models.weights import file_sha256

    weights, net = float_network(args.name)
    out = args.out or (ROOT / "bigocr" / TWINS[weights.sha256][0] if weights.sha256 in TWINS else None)
    if out is None:
        p.error(f"{args.name} has no entry in bigocr.models.int8.TWINS: pass --out")
    pages = training_pages()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export(net, fp32)
        quantise(fp32, out, page_tiles(pages))
    print(f"{out}: sha256 {file_sha256(out)} (from {weights.sha256}; calibrated on {len(pages)} training pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

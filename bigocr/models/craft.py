"""The CRAFT text detector (Baek et al., CVPR 2019) and its LinkRefiner.

The module names and layer indices follow the reference implementation
(clovaai/CRAFT-pytorch, MIT) so that the published ``craft_mlt_25k.pth`` and
``craft_refiner_CTW1500.pth`` load key for key once their ``module.`` prefix is
stripped.  The VGG16-BN backbone is written out here (no torchvision): its
``features`` indices 0-38 are spread over ``basenet.slice1`` .. ``slice4`` exactly
as the reference slices them, and ``slice5`` is the reference's fc6/fc7.

This file holds only the networks; pre- and post-processing live beside it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CRAFT", "RefineNet", "VGG16BN", "in_stripes"]

# VGG16 configuration D: conv widths, "M" for 2x2 max pooling.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# The reference cuts torchvision's vgg16_bn.features at these indices.
_SLICES = ((0, 12), (12, 19), (19, 29), (29, 39))


def _ch(channels: int, width: float) -> int:
    """Channels scaled by the width multiplier (at least 8)."""
    return channels if width == 1 else max(8, int(round(channels * width)))


def _vgg16_bn_features(width: float = 1.0) -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for c in _VGG16:
        if c == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            c = _ch(c, width)
            layers += [nn.Conv2d(channels, c, kernel_size=3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            channels = c
    return layers


class VGG16BN(nn.Module):
    """VGG16-BN backbone with the reference's five outputs.

    ``forward`` returns ``(fc7, conv5_3, conv4_3, conv3_2, conv2_2)`` at strides
    16, 16, 8, 4 and 2 with 1024, 512, 512, 256 and 128 channels.
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        features = _vgg16_bn_features(width)
        for n, (start, stop) in enumerate(_SLICES, start=1):
            block = nn.Sequential()
            for i in range(start, stop):
                block.add_module(str(i), features[i])
            setattr(self, f"slice{n}", block)
        self.slice5 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            nn.Conv2d(_ch(512, width), _ch(1024, width), kernel_size=3, padding=6, dilation=6),
            nn.Conv2d(_ch(1024, width), _ch(1024, width), kernel_size=1),
        )

    def forward(self, x: torch.Tensor, from_slice: int = 1, run=None):
        """The five outputs; ``from_slice=2``: ``x`` is already ``slice1``'s output (conv2_2).

        ``run(layers, x, halo, stride)`` runs each of the first four slices (CRAFT's inference runs the tall
        ones in bands, :func:`in_stripes`); ``halo`` is the slice's reach in input rows (3x3 convolutions
        around its 2x2 pooling), ``stride`` its pooling's.
        """
        run = run or (lambda layers, t, halo, stride: layers(t))
        conv2_2 = run(self.slice1, x, 8, 2) if from_slice == 1 else x
        conv3_2 = run(self.slice2, conv2_2, 4, 2)
        conv4_3 = run(self.slice3, conv3_2, 6, 2)
        conv5_3 = run(self.slice4, conv4_3, 6, 2)
        fc7 = self.slice5(conv5_3)
        return fc7, conv5_3, conv4_3, conv3_2, conv2_2


class _DoubleConv(nn.Module):
    """The reference's ``double_conv``: 1x1 over the concatenation, then 3x3.

    The concatenation has ``in_ch + mid_ch`` channels in the reference (whose
    channel counts make the skip as wide as ``mid_ch``); ``in_extra`` states the
    skip's width explicitly for scaled networks.
    """

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, in_extra: int | None = None):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch + (mid_ch if in_extra is None else in_extra), mid_ch, kernel_size=1),
            nn.BatchNorm2d(mid_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _init_weights(modules) -> None:
    for m in modules:
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class CRAFT(nn.Module):
    """CRAFT: VGG16-BN encoder, U-net decoder, region and affinity heads (20.8 M parameters).

    ``forward(x)`` takes a normalised batch ``(n, 3, h, w)`` with h and w
    multiples of 32 and returns ``(scores, feature)``: scores ``(n, h/2, w/2, 2)``
    (``(n, h, w, 2)`` with ``input_scale=0.5``)
    with region in channel 0 and affinity in channel 1, and the 32-channel
    ``upconv4`` feature ``(n, 32, h/2, w/2)`` that the LinkRefiner takes
    (with ``input_scale=0.5``: ``upconv5``'s, at the input's resolution; None
    with ``feature=False``).  In inference (eval mode, no gradients, not
    traced or exported) the layers at the input's full resolution and every
    decoder stage run in bands of :attr:`STRIPE_ROWS` rows (:func:`in_stripes`),
    and each skip is let go once its stage has run: the same numbers up to
    float rounding (bit for bit in bfloat16 on the CPU), at the same speed, for
    less memory (a 2048 px network input,
    one thread: ``craft-fast`` 1.62 GB of activations -> 0.67 GB, the full
    ``craft-doc`` 2.09 -> 1.28 GB; ``python benchmarks/activations.py``).
    The encoder's pooled slices run in bands too, each decoder stage upsamples
    its coarse input band by band, and a half-input network remakes ``conv1_2``
    (two 3x3 convolutions of the 3-channel input) band by band in its last
    stage instead of holding it, at its input's full resolution, from the
    first layer to the last (:attr:`REMAKE_CONV1`): ``craft-fast``, float32, a
    2 480 px input, 1.00 GB -> 0.59-0.67 GB, the same maps to the bit, no
    slower within the machine's noise (``python benchmarks/activations.py
    --models craft-fast --side 2480 --rows 256:keep,256``).

    ``width`` scales every channel count (bigocr's slimmer CPU models); 1.0 is
    the reference network, the only width the published weights fit.

    ``input_scale=0.5`` is bigocr's half-input layout: the network is meant to
    see the tile at half the working resolution and outputs its maps at its
    own input resolution (so at half the working resolution, as CRAFT's are).
    A fifth decoder stage (``upconv5``, convolutions without batch norm)
    brings the stride-2 feature back to the input's resolution beside
    ``conv1_2``'s, and ``conv_cls`` runs there.  It does the encoder's work on
    a quarter of the pixels: a 1536 px working tile costs 0.29 s instead of
    0.93 s for the width-0.375 student (2 threads, bf16, AMD Zen 4).
    """

    def __init__(self, width: float = 1.0, input_scale: float = 1.0):
        super().__init__()
        if not 0 < width <= 1:
            raise ValueError(f"width must be in (0, 1], got {width}")
        if input_scale not in (1.0, 0.5):
            raise ValueError(f"input_scale must be 1 or 0.5, got {input_scale}")
        self.width = width
        self.input_scale = float(input_scale)
        c = lambda n: _ch(n, width)  # noqa: E731
        self.basenet = VGG16BN(width)
        self.upconv1 = _DoubleConv(c(1024), c(512), c(256), in_extra=c(512))
        self.upconv2 = _DoubleConv(c(512), c(256), c(128), in_extra=c(256))
        self.upconv3 = _DoubleConv(c(256), c(128), c(64), in_extra=c(128))
        self.upconv4 = _DoubleConv(c(128), c(64), c(32), in_extra=c(64))
        self.conv_cls = nn.Sequential(
            nn.Conv2d(c(32), 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 2, kernel_size=1),
        )
        if input_scale != 1:
            self.upconv5 = nn.Sequential(
                nn.Conv2d(c(32) + c(64), c(32), kernel_size=1), nn.ReLU(inplace=True),
                nn.Conv2d(c(32), c(32), kernel_size=3, padding=1), nn.ReLU(inplace=True),
            )
        _init_weights(self.modules())
        if input_scale != 1:
            self.pass_through()

    def pass_through(self) -> None:
        """Start ``upconv5`` as the identity on the upsampled stride-2 feature (``conv1_2`` ignored).

        A half-input network made from a trained CRAFT of the usual layout then
        starts out as that network with its maps upsampled, not as noise.
        """
        n = self.upconv4.conv[3].out_channels
        one, three = self.upconv5[0], self.upconv5[2]
        with torch.no_grad():
            for conv in (one, three):
                conv.weight.zero_()
                conv.bias.zero_()
            one.weight[torch.arange(n), torch.arange(n), 0, 0] = 1
            three.weight[torch.arange(n), torch.arange(n), 1, 1] = 1

    #: Rows per band in inference (None: all at once); an even number (pool1 halves the rows).
    STRIPE_ROWS = 256
    #: Half-input, banded: remake conv1_2 from the input in the last stage instead of holding it throughout.
    REMAKE_CONV1 = True

    def forward(self, x: torch.Tensor, feature: bool = True):
        half = self.input_scale != 1
        banded = not (torch.is_grad_enabled() or self.training or torch.jit.is_tracing()
                      or torch.onnx.is_in_onnx_export())  # inference only: an export keeps the whole graph
        rows = self.STRIPE_ROWS if self.STRIPE_ROWS is not None and banded else None

        def run(layers, inputs, halo, stride=1, coarse=None):  # layers(*inputs), in bands where they are tall
            inputs = inputs if isinstance(inputs, tuple) else (inputs,)
            size = tuple(inputs[0].shape[2:])
            whole = rows is None or size[0] <= rows
            if coarse is not None and (whole or (2 * coarse.shape[2], 2 * coarse.shape[3]) != size):
                inputs, coarse = (F.interpolate(coarse, size=size, mode="bilinear", align_corners=False), *inputs), None
            return layers(*inputs) if whole else in_stripes(layers, inputs, halo, rows, stride, coarse=coarse)

        conv1 = self.basenet.slice1[:6]  # conv1_1 and conv1_2, at the input's full resolution
        remake = half and rows is not None and self.REMAKE_CONV1
        if half and not remake:  # conv1_2 is inside slice1: its layers run apart to keep it
            conv1_2 = run(conv1, x, 2)
            conv2_2 = run(self.basenet.slice1[6:], conv1_2, 4, stride=2)  # pool1, then two 3x3 at half size
            fc7, conv5_3, conv4_3, conv3_2, conv2_2 = self.basenet(conv2_2, from_slice=2, run=run)
        else:  # slice1 holds the full-resolution conv1 (64 channels for the reference width) and pool1
            fc7, conv5_3, conv4_3, conv3_2, conv2_2 = self.basenet(x, run=run)
        if not remake:
            del x
        y = self.upconv1(torch.cat([fc7, conv5_3], dim=1))
        del fc7, conv5_3

        def joined(up):  # a decoder stage: its upsampled input beside its skip
            return lambda u, k: up(torch.cat([u, k], dim=1))

        # (skip, stage, the rows the stage reaches into its skip beyond its own layers')
        stages = [(conv4_3, joined(self.upconv2), 0), (conv3_2, joined(self.upconv3), 0),
                  (conv2_2, joined(self.upconv4), 0)]
        del conv4_3, conv3_2, conv2_2
        if remake:  # conv1_2 remade from the input band by band in the last stage: never whole
            stages.append((x, lambda u, k: self.upconv5(torch.cat([u, conv1(k)], dim=1)), 2))
            del x
        elif half:
            stages.append((conv1_2, joined(self.upconv5), 0))
            del conv1_2
        while stages:  # each skip is let go once its stage has run; y is upsampled band by band, never whole
            skip, stage, reach = stages.pop(0)
            if not stages and not feature:  # the last stage and conv_cls band by band: the feature never whole
                return run(lambda u, k: self.conv_cls(stage(u, k)), skip, 4 + reach, coarse=y).permute(0, 2, 3, 1), None
            y = run(stage, skip, 1 + reach, coarse=y)
            del skip
        return run(self.conv_cls, y, 3).permute(0, 2, 3, 1), y


def in_stripes(layers, x, halo: int, rows: int, stride: int = 1, coarse: torch.Tensor | None = None) -> torch.Tensor:
    """``layers(x)`` (``layers(*x)`` for a tuple of tensors of one height) computed over bands of ``rows``
    rows, each with ``halo`` rows of context above and below.

    For layers that see at most ``halo`` input rows either way (3x3 convolutions, point-wise batch norm and
    ReLU, ``stride`` x ``stride`` pooling with ``rows`` and ``halo`` multiples of ``stride``), the result is
    ``layers(x)``: a band's edge rows are cut off before its padding could reach the rows it keeps, and the
    image's own edges are padded as before.  Only one band's activations exist at a time, so the
    full-resolution layers of a big tile no longer hold several tensors of its size at once.

    ``coarse`` (a tensor of half ``x``'s height and width, as a decoder's ``y`` is of its skip): the layers
    get its bilinear upsampling to ``x``'s size first, ``layers(up(coarse), *x)``, made band by band from
    the coarse rows each band's rows interpolate between (and one more either side, so that no band edge
    is clamped where the whole upsampling is not).  At exactly twice the size every output row has the
    same source rows and weights either way: the numbers are the whole upsampling's up to float rounding
    (to the bit for the networks' channels-last tensors of 8 or more channels on the CPU; a 3-channel one
    differs by an ulp).
    """
    xs = x if isinstance(x, tuple) else (x,)
    if rows % stride or halo % stride or rows < 1:
        raise ValueError(f"rows ({rows}) and halo ({halo}) must be multiples of the stride ({stride})")
    height, out = xs[0].shape[2], None
    if coarse is not None and (2 * coarse.shape[2], 2 * coarse.shape[3]) != tuple(xs[0].shape[2:]):
        raise ValueError(f"coarse is {tuple(coarse.shape[2:])}, not half of {tuple(xs[0].shape[2:])}")
    for top in range(0, height, rows):
        lo, hi = max(0, top - halo), min(height, top + rows + halo)
        inputs = tuple(t[:, :, lo:hi] for t in xs)
        if coarse is not None:
            a, b = max(0, lo // 2 - 1), min(coarse.shape[2], (hi + 1) // 2 + 1)
            up = F.interpolate(coarse[:, :, a:b], size=(2 * (b - a), xs[0].shape[3]), mode="bilinear",
                               align_corners=False)
            inputs = (up[:, :, lo - 2 * a:hi - 2 * a], *inputs)
            del up
        band = layers(*inputs)
        del inputs
        if out is None:
            layout = torch.channels_last if band.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
            out = torch.empty((band.shape[0], band.shape[1], height // stride, band.shape[3]), dtype=band.dtype,
                              device=band.device, memory_format=layout)
        first, count = (top - lo) // stride, (min(height, top + rows) - top) // stride
        out[:, :, top // stride:top // stride + count] = band[:, :, first:first + count]
        del band
    return out


def _aspp(dilation: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(64, 128, kernel_size=3, dilation=dilation, padding=dilation), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
        nn.Conv2d(128, 128, kernel_size=1), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
        nn.Conv2d(128, 1, kernel_size=1),
    )


class RefineNet(nn.Module):
    """The LinkRefiner: a refined affinity map from CRAFT's scores and feature.

    ``forward(scores, feature)`` takes CRAFT's ``(n, h, w, 2)`` scores and
    ``(n, 32, h, w)`` upconv4 feature and returns ``(n, h, w, 1)``.
    """

    def __init__(self):
        super().__init__()
        self.last_conv = nn.Sequential(
            nn.Conv2d(34, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        )
        self.aspp1 = _aspp(6)
        self.aspp2 = _aspp(12)
        self.aspp3 = _aspp(18)
        self.aspp4 = _aspp(24)
        _init_weights(self.modules())

    def forward(self, scores: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        refine = self.last_conv(torch.cat([scores.permute(0, 3, 1, 2), feature], dim=1))
        out = self.aspp1(refine) + self.aspp2(refine) + self.aspp3(refine) + self.aspp4(refine)
        return out.permute(0, 2, 3, 1)

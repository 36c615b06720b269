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

__all__ = ["CRAFT", "RefineNet", "VGG16BN"]

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

    def forward(self, x: torch.Tensor, from_slice: int = 1):
        """The five outputs; ``from_slice=2``: ``x`` is already ``slice1``'s output (conv2_2)."""
        conv2_2 = self.slice1(x) if from_slice == 1 else x
        conv3_2 = self.slice2(conv2_2)
        conv4_3 = self.slice3(conv3_2)
        conv5_3 = self.slice4(conv4_3)
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
    ``upconv4`` feature ``(n, 32, h/2, w/2)`` that the LinkRefiner takes.

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

    def forward(self, x: torch.Tensor):
        half = self.input_scale != 1
        if half:  # conv1_2 (full resolution) is inside slice1: run its layers one by one to keep it
            y = x
            for i, layer in enumerate(self.basenet.slice1):
                y = layer(y)
                if i == 5:
                    conv1_2 = y
            fc7, conv5_3, conv4_3, conv3_2, conv2_2 = self.basenet(y, from_slice=2)
        else:
            fc7, conv5_3, conv4_3, conv3_2, conv2_2 = self.basenet(x)
        y = self.upconv1(torch.cat([fc7, conv5_3], dim=1))
        stages = [(conv4_3, self.upconv2), (conv3_2, self.upconv3), (conv2_2, self.upconv4)]
        if half:
            stages.append((conv1_2, self.upconv5))
        for skip, up in stages:
            y = F.interpolate(y, size=skip.shape[2:], mode="bilinear", align_corners=False)
            y = up(torch.cat([y, skip], dim=1))
        feature = y
        return self.conv_cls(feature).permute(0, 2, 3, 1), feature


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

"""The CRNN of EasyOCR's generation-2 recognizers, written here (``english_g2.pth`` loads key for key).

VGG-style convolutions turn a gray word image of height 64 into one 256-wide
feature per 4 columns; two bidirectional LSTMs read the columns left to right
and back; a linear layer scores each column over the blank and the charset, for
CTC decoding.  Module names follow EasyOCR's (``FeatureExtraction.ConvNet.N``,
``SequenceModeling.N.rnn``/``.linear``, ``Prediction``), which follow clovaai's
deep-text-recognition-benchmark.

Shapes: input ``(B, 1, 64, W)`` in [-1, 1]; output ``(B, W // 4 - 1, classes)``
logits, class 0 the CTC blank.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CRNN", "ENGLISH_G2_CHARSET", "IMAGE_HEIGHT", "slim_width"]

#: The characters of ``english_g2`` in class order (class 0 is the CTC blank, then these).
ENGLISH_G2_CHARSET = "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Height of the word images the network reads.
IMAGE_HEIGHT = 64


def slim_width(hidden: int, width: float) -> int:
    """Channels of a layer ``hidden`` wide in a CRNN of width multiplier ``width`` (a multiple of 8)."""
    return max(8, int(round(hidden * width / 8)) * 8)


class _VGGFeatures(nn.Module):
    """Convolutions 64 x W -> 1 x (W/4 - 1), 256 channels (CRNN's VGG variant)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 256):
        super().__init__()
        c = [out_channels // 8, out_channels // 4, out_channels // 2, out_channels]
        self.ConvNet = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
            nn.Conv2d(c[0], c[1], 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
            nn.Conv2d(c[1], c[2], 3, 1, 1), nn.ReLU(True),
            nn.Conv2d(c[2], c[2], 3, 1, 1), nn.ReLU(True), nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c[2], c[3], 3, 1, 1, bias=False), nn.BatchNorm2d(c[3]), nn.ReLU(True),
            nn.Conv2d(c[3], c[3], 3, 1, 1, bias=False), nn.BatchNorm2d(c[3]), nn.ReLU(True),
            nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c[3], c[3], 2, 1, 0), nn.ReLU(True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ConvNet(x)


class _BidirectionalLSTM(nn.Module):
    def __init__(self, in_size: int, hidden: int, out_size: int):
        super().__init__()
        self.rnn = nn.LSTM(in_size, hidden, bidirectional=True, batch_first=True)
        self.linear = nn.Linear(2 * hidden, out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.rnn(x)[0])


class CRNN(nn.Module):
    """Convolutional features, two BiLSTMs, a linear CTC head.

    Parameters
    ----------
    num_classes : int
        The blank plus the charset (97 for ``english_g2``).
    hidden : int
        Feature and LSTM width (256 for EasyOCR's generation-2 models).
    width : float
        Multiplies ``hidden`` (every convolution, LSTM and linear layer): bigocr's
        slim readers (:func:`bigocr.dev.train.reader.prune`) are 0.5.
    """

    def __init__(self, num_classes: int = len(ENGLISH_G2_CHARSET) + 1, hidden: int = 256, width: float = 1.0):
        super().__init__()
        self.num_classes = num_classes
        self.width = width
        hidden = slim_width(hidden, width)
        self.FeatureExtraction = _VGGFeatures(1, hidden)
        self.SequenceModeling = nn.Sequential(_BidirectionalLSTM(hidden, hidden, hidden),
                                              _BidirectionalLSTM(hidden, hidden, hidden))
        self.Prediction = nn.Linear(hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, classes)`` for images ``(B, 1, 64, W)``."""
        features = self.FeatureExtraction(images)  # (B, C, 1, T)
        columns = features.mean(dim=2).permute(0, 2, 1)  # EasyOCR: AdaptiveAvgPool2d((None, 1)) over the height
        return self.Prediction(self.SequenceModeling(columns))

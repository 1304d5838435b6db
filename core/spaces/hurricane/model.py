"""The torch network of a HURRICANE architecture."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def stem(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Fixed first layer: 3x3 conv, BN, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def head(in_channels: int, last_channels: int, num_classes: int) -> nn.Sequential:
    """Fixed last layers: 1x1 conv (+BN, ReLU), global average pool, classifier."""
    return nn.Sequential(
        nn.Conv2d(in_channels, last_channels, 1, bias=False),
        nn.BatchNorm2d(last_channels),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(last_channels, num_classes),
    )


class HurricaneNet(nn.Module):
    """Stem, one chosen op per learnable layer, head."""

    def __init__(self, space, ops: Sequence[str]) -> None:
        super().__init__()
        p = space.profile
        self.stem = stem(p.in_channels, p.stem_channels, p.stem_stride)
        self.layers = nn.Sequential(*(space.build_layer(i, op) for i, op in enumerate(ops)))
        self.head = head(space.layers[-1].out_channels, p.last_channels, p.num_classes)

    def forward(self, x):
        """Logits for a batch of images (N, C, H, W)."""
        return self.head(self.layers(self.stem(x)))

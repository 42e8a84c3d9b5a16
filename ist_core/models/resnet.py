"""ResNet18 with instance normalisation: the trunk of the encoder, the critic and the predictor.

torchvision's ResNet fixes its widths (64 to 512) and its stem; this one reuses
torchvision's :class:`~torchvision.models.resnet.BasicBlock` and adds three knobs:
any number of input channels, a base ``width`` (64 gives torchvision's ResNet18),
and no max-pool below 128 px (at 32 px it would leave layer4 a single pixel, where
instance norm cannot train).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from .layers import instance_norm

MIN_SIZE, MAX_SIZE = 32, 256
MAXPOOL_FROM = 128  # image size from which the stem keeps torchvision's max-pool


class ResNetIN(nn.Module):
    """ResNet18-IN. :meth:`forward_features` returns the multi-layer features ``u^1..u^4``
    (the outputs of layers 1-4); :meth:`pool` turns the last into a vector."""

    def __init__(self, in_channels: int, width: int = 64, image_size: int = 64,
                 blocks: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        if not MIN_SIZE <= image_size <= MAX_SIZE:
            raise ValueError(f"image size {image_size} px is outside {MIN_SIZE}-{MAX_SIZE} px")
        if in_channels < 1 or width < 1:
            raise ValueError(f"in_channels and width must be positive, got {in_channels}, {width}")
        self.in_channels, self.width, self.image_size = in_channels, width, image_size
        stem = [nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
                instance_norm(width), nn.ReLU(inplace=True)]
        if image_size >= MAXPOOL_FROM:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        self.channels = [width * 2**i for i in range(len(blocks))]  # of u^1..u^L
        layers, inplanes = [], width
        for i, (planes, n) in enumerate(zip(self.channels, blocks)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(conv1x1(inplanes, planes, stride), instance_norm(planes))
            block = [BasicBlock(inplanes, planes, stride, down, norm_layer=instance_norm)]
            block += [BasicBlock(planes, planes, norm_layer=instance_norm) for _ in range(n - 1)]
            layers.append(nn.Sequential(*block))
            inplanes = planes
        self.layers = nn.ModuleList(layers)
        self.feature_dim = self.channels[-1]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[u^1, ..., u^L]`` for images ``x`` (B, C, H, W)."""
        h = self.stem(x)
        feats = []
        for layer in self.layers:
            h = layer(h)
            feats.append(h)
        return feats

    @staticmethod
    def pool(feats: list[torch.Tensor]) -> torch.Tensor:
        """Global average of the last layer: the penultimate features (B, D)."""
        return feats[-1].mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_features(x))

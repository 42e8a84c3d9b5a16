"""P: the predictor, ResNet18-IN with a linear cause head (paper Sec. 4.3 and 5.2).

Trained on real images it is the paper's naive baseline; trained on IST's
interventional distribution it is the IST predictor. The training differs, the
network does not.
"""

from __future__ import annotations

import torch
from torch import nn

from .resnet import ResNetIN


class Predictor(nn.Module):
    """ResNet18-IN + linear head. :meth:`forward_features` gives the penultimate features
    that kNN, LISI and UMAP use."""

    def __init__(self, in_channels: int, n_causes: int, width: int = 64, image_size: int = 64):
        super().__init__()
        self.trunk = ResNetIN(in_channels, width, image_size)
        self.head = nn.Linear(self.trunk.feature_dim, n_causes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)  # (B, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))  # (B, n_causes)

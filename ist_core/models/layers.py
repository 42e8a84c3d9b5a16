"""Small building blocks shared by the networks: instance norm and AdaIN."""

from __future__ import annotations

import torch
from torch import nn


def instance_norm(channels: int) -> nn.Module:
    """Instance normalisation with a learned affine map (the paper's ResNet18-IN)."""
    return nn.InstanceNorm2d(channels, affine=True)


class AdaIN(nn.Module):
    """Adaptive instance normalisation (Huang & Belongie 2017): normalise each channel of
    ``x`` over space, then scale and shift it by an affine map of the style code."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.affine = nn.Linear(style_dim, 2 * channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.affine(style)[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1) each
        return (1 + gamma) * self.norm(x) + beta

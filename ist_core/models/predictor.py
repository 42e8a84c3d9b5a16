"""P: the predictor, ResNet18-IN with a linear cause head (paper Sec. 4.3 and 5.2).

Trained on real images it is the paper's naive baseline; trained on IST's
interventional distribution it is the IST predictor. The training differs, the
network does not.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import GradientReversal, MixStyle
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


class DRPredictor(Predictor):
    """The predictor with a second head that predicts the OE through a gradient-reversal
    layer (paper Sec. 5.2, "DR"): the OE head learns the OE, the shared trunk receives the
    reversed gradient, scaled by ``alpha``, and so unlearns it."""

    def __init__(self, in_channels: int, n_causes: int, n_oes: int, width: int = 64,
                 image_size: int = 64, alpha: float = 0.0625):
        super().__init__(in_channels, n_causes, width, image_size)
        self.reverse = GradientReversal(alpha)
        self.oe_head = nn.Linear(self.trunk.feature_dim, n_oes)

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cause logits, OE logits) from one pass through the trunk."""
        z = self.forward_features(x)
        return self.head(z), self.oe_head(self.reverse(z))


class MixStylePredictor(Predictor):
    """The predictor with MixStyle after ResNet layers 1-3 (Zhou et al. 2021; paper Sec. 5.2).
    The mixing layers act in training mode only, so at evaluation this is the plain
    predictor. ``domains`` (B,) sets the domain of each image of the next batch, for
    cross-domain mixing."""

    def __init__(self, in_channels: int, n_causes: int, width: int = 64, image_size: int = 64,
                 p: float = 0.5, alpha: float = 0.1, mix: str = "random"):
        super().__init__(in_channels, n_causes, width, image_size)
        self.mixers = nn.ModuleList(MixStyle(p, alpha, mix) for _ in range(3))

    def set_domains(self, domains: torch.Tensor | None) -> None:
        for mixer in self.mixers:
            mixer.domains = domains

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk.stem(x)
        for i, layer in enumerate(self.trunk.layers):
            h = layer(h)
            if i < len(self.mixers):
                h = self.mixers[i](h)
        return h.mean(dim=(2, 3))  # (B, D)

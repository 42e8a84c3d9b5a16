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


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.alpha * grad, None


class GradientReversal(nn.Module):
    """Identity forward; multiplies the gradient by ``-alpha`` backward (Ganin & Lempitsky
    2015): the layer behind DR's OE head (paper Sec. 5.2)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReverseGradient.apply(x, self.alpha)


class MixStyle(nn.Module):
    """MixStyle (Zhou et al. 2021): in training, with probability ``p`` per batch, mix each
    feature map's channel means and standard deviations with those of another image,
    weights drawn from Beta(``alpha``, ``alpha``). ``mix="random"`` pairs images at
    random; ``"crossdomain"`` pairs each with an image of another domain when the
    batch's ``domains`` are given. The identity in evaluation mode."""

    def __init__(self, p: float = 0.5, alpha: float = 0.1, mix: str = "random", eps: float = 1e-6):
        super().__init__()
        if mix not in ("random", "crossdomain"):
            raise ValueError(f"mix must be 'random' or 'crossdomain', got {mix!r}")
        self.p, self.mix, self.eps = p, mix, eps
        self.beta = torch.distributions.Beta(alpha, alpha)
        self.domains: torch.Tensor | None = None  # set per batch for cross-domain mixing

    def partners(self, n: int, device) -> torch.Tensor:
        """Index of the image whose style each image borrows."""
        perm = torch.randperm(n, device=device)
        if self.mix == "crossdomain" and self.domains is not None:
            domains = self.domains.to(device)
            other = domains[None, :] != domains[:, None]  # (n, n): j is of another domain than i
            # re-draw, uniformly among the other domains' images, partners of the same domain
            alternative = torch.rand(n, n, device=device).masked_fill(~other, -1).argmax(1)
            redraw = (domains[perm] == domains) & other.any(1)
            perm = torch.where(redraw, alternative, perm)
        return perm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or torch.rand(1).item() > self.p:
            return x
        b = x.shape[0]
        lam = self.beta.sample((b, 1, 1, 1)).to(x.device, x.dtype)
        return self.mix_styles(x, self.partners(b, x.device), lam)

    def mix_styles(self, x: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """Each image's channel statistics mixed with those of image ``perm[i]`` by weight
        ``lam[i]`` (B, 1, 1, 1) on its own: the operation itself, without the coin flip."""
        var, mu = torch.var_mean(x, dim=(2, 3), keepdim=True)
        sig = (var + self.eps).sqrt()
        mu, sig = mu.detach(), sig.detach()
        normed = (x - mu) / sig
        mu_mix = lam * mu + (1 - lam) * mu[perm]
        sig_mix = lam * sig + (1 - lam) * sig[perm]
        return normed * sig_mix + mu_mix

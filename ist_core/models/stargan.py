"""StarGAN v2 (Choi et al. 2020), the paper's other image-to-image baseline (Sec. 5.2),
for multichannel cell images of 32-256 px. The domains are the OEs.

- :class:`Generator`: residual blocks down to a bottleneck, then residual blocks with
  AdaIN back up; the style code ``s`` enters every up block.
- :class:`MappingNetwork`: a latent ``z`` and a domain to a style code (shared MLP, one
  head per domain).
- :class:`StyleEncoder`: an image and its domain to a style code (shared trunk, one head
  per domain).
- :class:`Discriminator`: an image to one real/fake logit per domain.

Unlike IST's generator it has no frozen encoder supplying content features, and it
carries two extra networks (mapping and style encoder), which is what the paper means
by IST being lighter.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import AdaIN


def _depth(image_size: int) -> int:
    """Number of resolution halvings: down to 8x8 pixels, at least one."""
    if image_size & (image_size - 1) or not 32 <= image_size <= 256:
        raise ValueError(f"StarGAN v2 here takes square images of 32-256 px, a power of two; "
                         f"got {image_size}")
    return max(1, int(math.log2(image_size)) - 3)


class ResBlock(nn.Module):
    """Pre-activation residual block with instance norm, optionally halving the resolution."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = True, downsample: bool = False):
        super().__init__()
        self.downsample, self.normalize = downsample, normalize
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.norm1 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.norm2 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.skip = nn.Conv2d(dim_in, dim_out, 1, bias=False) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.skip(x)
        h = self.conv1(F.leaky_relu(self.norm1(x), 0.2))
        if self.downsample:
            shortcut, h = F.avg_pool2d(shortcut, 2), F.avg_pool2d(h, 2)
        h = self.conv2(F.leaky_relu(self.norm2(h), 0.2))
        return (shortcut + h) / math.sqrt(2)  # unit variance


class AdaINResBlock(nn.Module):
    """Residual block whose normalisations take their scale and shift from the style code,
    optionally doubling the resolution."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.norm1, self.norm2 = AdaIN(dim_in, style_dim), AdaIN(dim_out, style_dim)
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.skip = nn.Conv2d(dim_in, dim_out, 1, bias=False) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        shortcut = x
        h = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            shortcut = F.interpolate(shortcut, scale_factor=2, mode="nearest")
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv2(F.leaky_relu(self.norm2(self.conv1(h), s), 0.2))
        return (self.skip(shortcut) + h) / math.sqrt(2)


def _widths(width: int, depth: int, max_width: int) -> list[int]:
    return [min(width * 2 ** i, max_width) for i in range(depth + 1)]


class Generator(nn.Module):
    """G(x, s): ``depth`` down blocks, two bottleneck blocks, ``depth`` AdaIN up blocks."""

    def __init__(self, in_channels: int, image_size: int = 64, width: int = 32,
                 style_dim: int = 64, max_width: int = 256):
        super().__init__()
        depth = _depth(image_size)
        dims = _widths(width, depth, max_width)
        self.stem = nn.Conv2d(in_channels, dims[0], 3, 1, 1)
        self.down = nn.ModuleList(ResBlock(a, b, downsample=True) for a, b in zip(dims, dims[1:]))
        self.middle = nn.ModuleList([ResBlock(dims[-1], dims[-1]),
                                     AdaINResBlock(dims[-1], dims[-1], style_dim)])
        self.up = nn.ModuleList(AdaINResBlock(b, a, style_dim, upsample=True)
                                for a, b in reversed(list(zip(dims, dims[1:]))))
        self.head = nn.Sequential(nn.InstanceNorm2d(dims[0], affine=True), nn.LeakyReLU(0.2),
                                  nn.Conv2d(dims[0], in_channels, 1))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.down:
            h = block(h)
        h = self.middle[1](self.middle[0](h), s)
        for block in self.up:
            h = block(h, s)
        return self.head(h)  # (B, C, H, W)


class MappingNetwork(nn.Module):
    """F(z, domain) -> s: a shared MLP and one output head per domain."""

    def __init__(self, n_domains: int, latent_dim: int = 16, style_dim: int = 64, hidden: int = 256):
        super().__init__()
        self.latent_dim = latent_dim
        layers = [nn.Linear(latent_dim, hidden), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, style_dim))
            for _ in range(n_domains))

    def forward(self, z: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        out = torch.stack([head(h) for head in self.heads], dim=1)  # (B, n_domains, style_dim)
        return out[torch.arange(len(domain), device=out.device), domain]


class _DomainHeads(nn.Module):
    """Shared downsampling trunk, then one linear output per domain (style encoder and
    discriminator differ only in their output size)."""

    def __init__(self, in_channels: int, n_domains: int, out_dim: int, image_size: int,
                 width: int, max_width: int):
        super().__init__()
        depth = _depth(image_size)
        dims = _widths(width, depth, max_width)
        blocks = [nn.Conv2d(in_channels, dims[0], 3, 1, 1)]
        blocks += [ResBlock(a, b, normalize=False, downsample=True) for a, b in zip(dims, dims[1:])]
        blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dims[-1], dims[-1], image_size // 2 ** depth),
                   nn.LeakyReLU(0.2)]
        self.trunk = nn.Sequential(*blocks)
        self.out = nn.Conv2d(dims[-1], n_domains * out_dim, 1)
        self.n_domains, self.out_dim = n_domains, out_dim

    def forward(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        h = self.out(self.trunk(x)).view(len(x), self.n_domains, self.out_dim)
        return h[torch.arange(len(domain), device=h.device), domain]  # (B, out_dim)


class StyleEncoder(_DomainHeads):
    """E(x, domain) -> s."""

    def __init__(self, in_channels: int, n_domains: int, image_size: int = 64, width: int = 32,
                 style_dim: int = 64, max_width: int = 256):
        super().__init__(in_channels, n_domains, style_dim, image_size, width, max_width)


class Discriminator(_DomainHeads):
    """D(x, domain) -> one real/fake logit, from that domain's head."""

    def __init__(self, in_channels: int, n_domains: int, image_size: int = 64, width: int = 32,
                 max_width: int = 256):
        super().__init__(in_channels, n_domains, 1, image_size, width, max_width)

    def forward(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        return super().forward(x, domain)[:, 0]  # (B,)


class StarGAN(nn.Module):
    """The networks of one StarGAN v2, with exponential moving averages of the generator,
    the mapping network and the style encoder (used for every output)."""

    def __init__(self, in_channels: int, n_domains: int, image_size: int = 64, width: int = 32,
                 style_dim: int = 64, latent_dim: int = 16, max_width: int = 256):
        super().__init__()
        self.generator = Generator(in_channels, image_size, width, style_dim, max_width)
        self.mapping = MappingNetwork(n_domains, latent_dim, style_dim)
        self.style_encoder = StyleEncoder(in_channels, n_domains, image_size, width, style_dim,
                                          max_width)
        self.discriminator = Discriminator(in_channels, n_domains, image_size, width, max_width)
        self.ema = nn.ModuleDict({name: copy.deepcopy(getattr(self, name)).requires_grad_(False)
                                  for name in ("generator", "mapping", "style_encoder")})

    @torch.no_grad()
    def update_ema(self, beta: float = 0.999) -> None:
        """ema <- beta * ema + (1 - beta) * online, parameter by parameter."""
        for name, average in self.ema.items():
            for p_ema, p in zip(average.parameters(), getattr(self, name).parameters()):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(average.buffers(), getattr(self, name).buffers()):
                b_ema.copy_(b)

    @torch.no_grad()
    def forward(self, content: torch.Tensor, style: torch.Tensor,
                style_oe: torch.Tensor | None = None) -> torch.Tensor:
        """``content`` re-rendered in the style of ``style`` images whose domains (OE codes)
        are ``style_oe`` (reference-guided synthesis), with the averaged networks. The same
        call as IST's :class:`~ist_core.models.StyleTransfer`, except that the OE codes are
        required: the style encoder has one head per domain."""
        if style_oe is None:
            raise ValueError("StarGAN v2 needs the OE code of every style image (style_oe): its "
                             "style encoder reads a style through that OE's head")
        return self.ema["generator"](content, self.ema["style_encoder"](style, style_oe))

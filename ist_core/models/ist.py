"""The IST networks (paper Sec. 4.1, Fig. 4A): encoder E, style code v, generator G, critic D.

Data flow: ``u = E.features(x)`` gives the multi-layer features ``[u^0, u^1, ..., u^L]``
(``u^0`` is the image itself, see below); ``v = style_code(E.features(x_style))``;
``x_hat = G(u, v)``; ``D(x, oe)`` scores realism for the head of OE ``oe``.

Three choices the paper leaves open, and why:

- ``u^0 = x``. Instance norm makes the ResNet blind to a global change of
  brightness, and the stride-2 stem loses the finest detail; the image's own
  per-channel mean and standard deviation therefore join the style code, and the
  image joins the generator's skip connections at full resolution.
- G starts from per-channel moment matching and predicts a correction on top of it:
  ``x_hat = mu_b + sigma_b * ((x - mu_x) / sigma_x + decoder(u, v))``, where
  ``(mu_b, sigma_b)`` are the style image's per-channel spatial mean and standard
  deviation (the first entries of ``v``, read from ``u^0``) and ``(mu_x, sigma_x)``
  the content image's. The decoder's last layer starts at zero, so an untrained
  generator *is* per-channel moment matching. Why: the decoder sees only
  instance-normalised features, which carry no absolute brightness, so it cannot
  itself rescale the content image; a generator built as ``x + decoder(u, v)`` kept
  the content image's gain, gamma and offset. For the same reason the correction is
  counted in units of the target's standard deviation, and the decoder's AdaIN
  layers are told the content image's own log moments next to ``v``: the style
  image's moments mix the target OE's gain with that cell's own size and brightness,
  and undoing this needs both images' statistics. Moment matching still honours the
  paper's "bias against major changes in pixel space": the pixels pass through an
  affine map per channel, the gentlest change that carries a batch effect in
  intensity. The cycle term (eq. 4) keeps its sense: the reconstruction with the
  content image's own code starts as moment matching back.
- D sees the image's per-channel (log) mean and standard deviation next to its
  pooled trunk features: the trunk's instance norms make it blind to a global gain,
  and without these statistics neither D nor the terms built on E could tell G's
  output the target's brightness.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .layers import AdaIN
from .resnet import ResNetIN

STD_EPS = 1e-5
LOG_EPS = 1e-3  # added to the moments whose logs G and D read (images lie in [0, 1])


class Encoder(nn.Module):
    """E: ResNet18-IN with two heads, the OE ``C`` and the cause ``Y``, for the
    multi-task pretraining (paper Sec. 4.1)."""

    def __init__(self, in_channels: int, n_oes: int, n_causes: int, width: int = 64,
                 image_size: int = 64):
        super().__init__()
        self.trunk = ResNetIN(in_channels, width, image_size)
        self.oe_head = nn.Linear(self.trunk.feature_dim, n_oes)
        self.cause_head = nn.Linear(self.trunk.feature_dim, n_causes)
        # channels of u^0..u^L
        self.channels = [in_channels, *self.trunk.channels]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[u^0 = x, u^1, ..., u^L]``."""
        return [x, *self.trunk.forward_features(x)]

    def cause_logits(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """E_cls: cause logits from features (B, n_causes)."""
        return self.cause_head(ResNetIN.pool(feats))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(OE logits, cause logits)."""
        pooled = ResNetIN.pool(self.features(x))
        return self.oe_head(pooled), self.cause_head(pooled)


def style_code(feats: list[torch.Tensor]) -> torch.Tensor:
    """v (paper eq. 1): the spatial mean and standard deviation of every feature layer,
    concatenated: (B, 2 * sum of channels)."""
    parts = []
    for u in feats:
        var, mean = torch.var_mean(u.float(), dim=(2, 3), unbiased=False)
        parts += [mean, torch.sqrt(var + STD_EPS)]
    return torch.cat(parts, dim=1)


def image_moments(code: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel spatial mean and standard deviation of the image (``u^0``) held at
    the start of a style code (B, style_dim): two (B, C, 1, 1) tensors."""
    mean, std = code[:, :channels], code[:, channels:2 * channels]
    return mean[:, :, None, None], std[:, :, None, None]


def moment_match(x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per-channel moment matching: ``x`` (B, C, H, W) normalised by its own spatial mean
    and standard deviation per channel, then given those of the style image, read from
    the style code ``style`` (B, style_dim) (see :func:`image_moments`)."""
    mean_x, std_x = image_moments(style_code([x]), x.shape[1])
    mean_s, std_s = image_moments(style, x.shape[1])
    return (x.float() - mean_x) / std_x * std_s + mean_s


def log_moments(x: torch.Tensor) -> torch.Tensor:
    """log of the per-channel spatial mean and standard deviation of images ``x``
    (B, C, H, W): (B, 2C). A change of gain shifts every entry by the log of the gain."""
    mean, std = style_code([x]).chunk(2, dim=1)
    return torch.log(torch.cat([mean.clamp_min(0), std], dim=1) + LOG_EPS)


def style_dim(channels: list[int]) -> int:
    """Length of the style code for feature layers with these channel counts."""
    return 2 * sum(channels)


class DecoderBlock(nn.Module):
    """Two 3x3 convolutions, each followed by AdaIN and a leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm1 = AdaIN(out_channels, style_dim)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = AdaIN(out_channels, style_dim)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.norm1(self.conv1(x), style), 0.2)
        return F.leaky_relu(self.norm2(self.conv2(x), style), 0.2)


class Generator(nn.Module):
    """G: a UNet decoder. Starting from the deepest encoder layer it upsamples step by
    step, concatenates the encoder's features of the same resolution (skip
    connections) and modulates every convolution with AdaIN fed the style code (and
    the content image's log moments). Its output is the content image moment-matched
    to the style image (:func:`moment_match`) plus a residual in units of the style
    image's standard deviation per channel; the residual starts at zero."""

    def __init__(self, feature_channels: list[int], width: int = 32, style_layers: int | None = None):
        super().__init__()
        depth = len(feature_channels) - 1
        self.image_channels = feature_channels[0]
        # the style code is read from the first `style_layers` feature layers (u^0, u^1, ...)
        self.style_layers = style_layers or len(feature_channels)
        if not 1 <= self.style_layers <= len(feature_channels):
            raise ValueError(f"style_layers must lie in 1..{len(feature_channels)}, got {style_layers}")
        self.style_dim = style_dim(feature_channels[:self.style_layers])
        # AdaIN reads the style code and the content image's own log moments (2C)
        modulation = self.style_dim + 2 * self.image_channels
        dec = [width * min(2**level, 8) for level in range(depth + 1)]
        self.bottom = DecoderBlock(feature_channels[depth], dec[depth], modulation)
        self.blocks = nn.ModuleList(
            DecoderBlock(dec[level + 1] + feature_channels[level], dec[level], modulation)
            for level in reversed(range(depth))
        )
        self.to_image = nn.Conv2d(dec[0], self.image_channels, 1)
        nn.init.zeros_(self.to_image.weight)
        nn.init.zeros_(self.to_image.bias)

    def forward(self, feats: list[torch.Tensor], style: torch.Tensor) -> torch.Tensor:
        """x_hat = G(u, v): ``feats`` from :meth:`Encoder.features`, ``style`` (B, style_dim)."""
        x = feats[0]
        modulation = torch.cat([style, log_moments(x)], dim=1)  # (B, style_dim + 2C)
        h = self.bottom(feats[-1], modulation)
        for block, skip in zip(self.blocks, reversed(feats[:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip.to(h.dtype)], dim=1), modulation)
        residual = self.to_image(h).float()  # (B, C, H, W), in units of the target's std
        _, std_s = image_moments(style, self.image_channels)
        # in float32: bf16 would round the pixels of the moment-matched image
        return (moment_match(x, style) + std_s * residual).to(x.dtype)


class Critic(nn.Module):
    """D: a ResNet18-IN trunk with one real/fake logit per OE (paper Sec. 4.1); the head
    is chosen by the image's true or assigned OE.

    The heads read the pooled trunk features and a small embedding of the image's log
    per-channel moments (:func:`log_moments`): the instance-normalised trunk alone
    hardly moves under a global gain. The embedding has a hidden layer so that a head
    can prefer a band of intensities rather than "brighter is more real"."""

    def __init__(self, trunk: ResNetIN, n_oes: int, moment_width: int = 32):
        super().__init__()
        self.trunk = trunk
        self.moments = nn.Sequential(nn.Linear(2 * trunk.in_channels, moment_width),
                                     nn.LeakyReLU(0.2))
        self.heads = nn.Linear(trunk.feature_dim + moment_width, n_oes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the heads read: pooled trunk features and the moment embedding (B, D + M)."""
        pooled = self.trunk(x)  # (B, D)
        return torch.cat([pooled, self.moments(log_moments(x)).to(pooled.dtype)], dim=1)

    @classmethod
    def from_encoder(cls, encoder: Encoder, n_oes: int) -> Critic:
        """A critic whose trunk starts from the pretrained encoder's weights."""
        return cls(copy.deepcopy(encoder.trunk), n_oes)

    def forward(self, x: torch.Tensor, oe: torch.Tensor) -> torch.Tensor:
        """Real/fake logits (B,) of ``x`` for the heads ``oe`` (B,) long."""
        logits = self.heads(self.features(x))  # (B, n_oes)
        return logits.gather(1, oe[:, None]).squeeze(1)


class StyleTransfer(nn.Module):
    """A frozen encoder and a generator: re-render images in the style of others."""

    def __init__(self, encoder: Encoder, generator: Generator):
        super().__init__()
        self.encoder, self.generator = encoder, generator

    @torch.no_grad()
    def style_codes(self, images: torch.Tensor) -> torch.Tensor:
        return style_code(self.encoder.features(images)[:self.generator.style_layers])

    @torch.no_grad()
    def forward(self, content: torch.Tensor, style: torch.Tensor,
                style_oe: torch.Tensor | None = None) -> torch.Tensor:
        """``content`` re-rendered with the style code of ``style`` (same batch size), or
        with given style codes when ``style`` is 2-D. ``style_oe`` is accepted and ignored:
        IST reads a style from any image without being told its OE (StarGAN v2 cannot)."""
        codes = style if style.ndim == 2 else self.style_codes(style)
        return self.generator(self.encoder.features(content), codes)

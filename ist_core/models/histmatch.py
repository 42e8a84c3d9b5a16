"""Per-channel histogram matching as a transfer: the cheapest style transfer there is.

Each channel of a content image takes the intensity distribution of the same channel
of its style image while keeping its own ranking of pixels: exactly what a monotone
map of intensities (gain, gamma, offset) can be inverted by, and nothing more. It is
one of the two references every transfer is read against (the other is the oracle);
not in the paper. scikit-image's ``match_histograms`` is the reference implementation
(``tests/test_models.py`` compares the two); this one runs batched on the device.
"""

from __future__ import annotations

import torch
from torch import nn


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """``numpy.interp`` row by row: (R, N) points, (R, M) increasing knots and values."""
    m = xp.shape[1]
    hi = torch.searchsorted(xp, x).clamp(1, m - 1)
    lo = hi - 1
    x0, x1 = xp.gather(1, lo), xp.gather(1, hi)
    y0, y1 = fp.gather(1, lo), fp.gather(1, hi)
    t = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0, 1)
    return y0 + t * (y1 - y0)


def match_histograms(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Each channel of ``content`` (B, C, H, W) matched to the histogram of the same channel
    of ``style`` (B, C, H', W'), as scikit-image does: a value's quantile is the share of
    the image's pixels at or below it, and it maps to the style value of that quantile
    (linear between the style's distinct values)."""
    b, c = content.shape[:2]
    src = content.float().reshape(b * c, -1)  # (R, N)
    tmpl = style.float().reshape(b * c, -1)  # (R, M)
    src_sorted = src.sort(dim=1).values
    tmpl_sorted = tmpl.sort(dim=1).values
    # share of pixels <= each value: ties share the quantile of their last member
    q_src = torch.searchsorted(src_sorted, src.contiguous(), right=True).float() / src.shape[1]
    q_tmpl = torch.searchsorted(tmpl_sorted, tmpl_sorted, right=True).float() / tmpl.shape[1]
    return _interp(q_src, q_tmpl, tmpl_sorted).reshape(content.shape).to(content.dtype)


class HistogramMatching(nn.Module):
    """A transfer without weights, called as every transfer is:
    ``transfer(content, style, style_oe)`` (``style_oe`` is ignored)."""

    @torch.no_grad()
    def forward(self, content: torch.Tensor, style: torch.Tensor,
                style_oe: torch.Tensor | None = None) -> torch.Tensor:
        return match_histograms(content, style)

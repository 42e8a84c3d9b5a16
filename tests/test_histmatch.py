"""Batched histogram matching against scikit-image's ``match_histograms``."""

import numpy as np
import torch
from skimage.exposure import match_histograms as skimage_match

from ist_core.models.histmatch import HistogramMatching, match_histograms


def test_matches_scikit_image_with_ties(grid_tiny):
    content = np.asarray(grid_tiny.images[:8])
    # dark backgrounds cut to zero, as a camera offset would: ties that need handling
    content = np.maximum(content - np.quantile(content, 0.2), 0)
    style = np.asarray(grid_tiny.images[100:108])
    assert (content == 0).mean() > 0.1
    ours = match_histograms(torch.tensor(content), torch.tensor(style)).numpy()
    reference = np.stack([skimage_match(c, s, channel_axis=0) for c, s in zip(content, style)])
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_quantised_images_and_another_style_size():
    rng = np.random.default_rng(0)
    content = np.round(rng.uniform(0, 1, (3, 2, 16, 16)) * 7) / 7  # 8 levels: heavy ties
    style = rng.gamma(2.0, 0.1, (3, 2, 24, 24))
    ours = match_histograms(torch.tensor(content), torch.tensor(style)).numpy()
    reference = np.stack([skimage_match(c, s, channel_axis=0) for c, s in zip(content, style)])
    np.testing.assert_allclose(ours, reference, atol=1e-6)  # float32 against float64


def test_is_a_transfer_that_takes_the_style_distribution():
    gen = torch.Generator().manual_seed(0)
    # distinct values in every channel of either image: no ties to average over
    ranks = torch.stack([torch.randperm(32 * 32, generator=gen) for _ in range(24)]).float()
    content = ranks[:12].reshape(4, 3, 32, 32) / 1024
    style = (ranks[12:].reshape(4, 3, 32, 32) / 1024).sqrt() * 0.6 + 0.1
    out = HistogramMatching()(content, style, torch.zeros(4, dtype=torch.long))
    assert out.shape == content.shape
    # each channel now has the style's sorted values, in the content's pixel order
    flat_out, flat_style = out.flatten(2).sort(-1).values, style.flatten(2).sort(-1).values
    assert torch.allclose(flat_out, flat_style, atol=1e-6)
    order_in = content.flatten(2).argsort(-1)
    assert (out.flatten(2).gather(2, order_in).diff(dim=-1) >= -1e-6).all()

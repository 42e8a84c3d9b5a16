"""Layers: AdaIN, gradient reversal, MixStyle."""

import pytest
import torch

from ist_core.models.layers import AdaIN, GradientReversal, MixStyle


def test_adain_takes_its_statistics_from_the_style():
    """Each output channel has the mean ``beta`` and the spread ``1 + gamma`` that the
    affine map gives the style, whatever the input's own statistics."""
    torch.manual_seed(0)
    layer = AdaIN(2, style_dim=3)
    style = torch.randn(4, 3)
    x = torch.randn(4, 2, 16, 16) * torch.tensor([5.0, 0.2])[None, :, None, None] + 3
    out = layer(x, style)
    gamma, beta = layer.affine(style).chunk(2, dim=1)
    assert torch.allclose(out.mean(dim=(2, 3)), beta, atol=1e-4)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), (1 + gamma).abs(), atol=1e-3)
    # another style, other statistics; another input, the same ones
    assert not torch.allclose(layer(x, style.flip(0)).mean(dim=(2, 3)), beta, atol=1e-2)
    assert torch.allclose(layer(x * 3 - 1, style).mean(dim=(2, 3)), beta, atol=1e-4)


def test_gradient_reversal_is_identity_forward_and_flips_the_gradient():
    x = torch.randn(5, requires_grad=True)
    y = GradientReversal(alpha=0.25)(x)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full((5,), -0.25))


def test_mixstyle_is_the_identity_at_evaluation():
    layer = MixStyle(p=1.0).eval()
    x = torch.randn(6, 3, 4, 4)
    assert torch.equal(layer(x), x)


def test_mixstyle_mixes_channel_statistics_in_training():
    torch.manual_seed(0)
    layer = MixStyle(p=1.0, alpha=0.1).train()
    x = torch.randn(8, 3, 6, 6) * torch.arange(1, 9).view(8, 1, 1, 1) + torch.arange(8).view(8, 1, 1, 1)
    out = layer(x)
    assert out.shape == x.shape
    assert not torch.allclose(out.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-3)
    # the normalised content is kept: per-channel correlation with the input stays ~1
    a = (x - x.mean(dim=(2, 3), keepdim=True)).flatten(2)
    b = (out - out.mean(dim=(2, 3), keepdim=True)).flatten(2)
    assert torch.nn.functional.cosine_similarity(a, b, dim=2).min() > 0.99


def test_crossdomain_partners_come_from_another_domain():
    torch.manual_seed(1)
    layer = MixStyle(p=1.0, mix="crossdomain")
    layer.domains = torch.tensor([0, 0, 0, 1, 1, 2])
    for _ in range(20):
        perm = layer.partners(6, "cpu")
        assert (layer.domains[perm] != layer.domains).all()


def test_mixstyle_refuses_an_unknown_mixing():
    with pytest.raises(ValueError, match="random' or 'crossdomain"):
        MixStyle(mix="diagonal")

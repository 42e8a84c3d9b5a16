"""The networks: shapes over sizes and channel counts, style codes, G's moment-matching start,
D's heads and its sight of a change of gain."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ist_core.fidelity import moment_matching
from ist_core.models import Critic, Encoder, Generator, Predictor, ResNetIN, StyleTransfer, style_code


@pytest.mark.parametrize("size,channels", [(32, 3), (64, 1), (128, 5), (256, 4)])
def test_encoder_features_cover_every_size_and_channel_count(size, channels):
    enc = Encoder(channels, n_oes=3, n_causes=4, width=8, image_size=size)
    x = torch.rand(2, channels, size, size)
    feats = enc.features(x)
    assert feats[0] is x  # u^0 is the image
    assert [f.shape[1] for f in feats] == enc.channels == [channels, 8, 16, 32, 64]
    # no max-pool below 128 px: layer1 sits at half the input size, else a quarter
    assert feats[1].shape[-1] == (size // 2 if size < 128 else size // 4)
    oe, cause = enc(x)
    assert oe.shape == (2, 3) and cause.shape == (2, 4)


def test_small_images_train_with_instance_norm():
    # torchvision's stem would leave layer4 one pixel at 32 px and instance norm would fail
    enc = Encoder(3, 2, 2, width=8, image_size=32)
    enc.train()
    _, logits = enc(torch.rand(4, 3, 32, 32))
    logits.sum().backward()
    assert enc.trunk.stem[0].weight.grad is not None


def test_sizes_outside_the_range_are_refused():
    with pytest.raises(ValueError, match="outside 32-256"):
        ResNetIN(3, 8, image_size=16)


def test_style_code_is_per_layer_mean_and_std():
    feats = [torch.randn(2, 3, 8, 8) * 2 + 1, torch.randn(2, 4, 4, 4)]
    code = style_code(feats)
    assert code.shape == (2, 2 * (3 + 4))
    assert torch.allclose(code[:, :3], feats[0].mean(dim=(2, 3)))
    assert torch.allclose(code[:, 3:6], feats[0].std(dim=(2, 3), unbiased=False), atol=1e-4)


def test_an_untrained_generator_is_per_channel_moment_matching_and_uses_the_style():
    torch.manual_seed(0)
    enc = Encoder(3, 2, 2, width=8, image_size=32).eval()
    gen = Generator(enc.channels, width=8)
    # channels of very different brightness and contrast, as after a change of OE
    scale, offset = torch.tensor([0.2, 1.0, 0.5])[:, None, None], torch.tensor([0.05, 0.0, 0.2])[:, None, None]
    x, s = torch.rand(2, 3, 32, 32) * scale + offset, torch.rand(2, 3, 32, 32) * 0.6
    transfer = StyleTransfer(enc, gen)
    expected = moment_matching(x.numpy(), s.numpy())  # numpy reference, not the torch code
    assert np.abs(transfer(x, s).numpy() - expected).max() < 1e-3  # zero-initialised residual
    assert np.abs(x.numpy() - expected).max() > 0.1  # not the identity
    # the cycle's reconstruction with the content's own code is moment matching back
    back = transfer(transfer(x, s), x)
    assert (back - x).abs().max() < 1e-3
    torch.nn.init.normal_(gen.to_image.weight, std=0.1)
    out_a = transfer(x, s)
    out_b = transfer(x, s.flip(-1))  # the same moments, other deep features: another code
    assert out_a.shape == x.shape
    assert (out_a - out_b).abs().max() > 1e-4  # another style code, another image


def test_critic_starts_from_the_encoder_and_picks_the_head_of_the_oe():
    enc = Encoder(3, n_oes=4, n_causes=2, width=8, image_size=32)
    critic = Critic.from_encoder(enc, n_oes=4)
    for a, b in zip(enc.trunk.parameters(), critic.trunk.parameters()):
        assert torch.equal(a, b) and a is not b
    x = torch.rand(3, 3, 32, 32)
    oe = torch.tensor([0, 3, 1])
    all_heads = critic.heads(critic.features(x))
    assert torch.allclose(critic(x, oe), all_heads[torch.arange(3), oe])


def test_the_critic_sees_a_change_of_gain_that_its_trunk_hardly_sees():
    torch.manual_seed(0)
    enc = Encoder(3, n_oes=4, n_causes=2, width=8, image_size=32).eval()
    critic = Critic.from_encoder(enc, n_oes=4).eval()
    x = torch.rand(8, 3, 32, 32) * 0.5 + 0.05
    d = critic.trunk.feature_dim
    with torch.no_grad():
        def all_heads(images):
            return critic.heads(critic.features(images))  # (B, n_oes)

        def trunk_only(images):
            # the critic as it was: heads on the instance-normalised trunk alone
            return F.linear(critic.trunk(images), critic.heads.weight[:, :d], critic.heads.bias)

        moved = (all_heads(x * 1.6) - all_heads(x)).abs()
        moved_before = (trunk_only(x * 1.6) - trunk_only(x)).abs()
    assert moved_before.max() < 2e-3  # measured 8e-4: blind to the gain
    assert moved.mean() > 0.02  # measured 0.04
    assert moved.mean() > 20 * moved_before.max()


def test_predictor_exposes_its_penultimate_features():
    p = Predictor(4, n_causes=5, width=8, image_size=64)
    x = torch.rand(2, 4, 64, 64)
    assert p.forward_features(x).shape == (2, 64)
    assert p(x).shape == (2, 5)


def test_a_generator_reading_fewer_style_layers_has_a_shorter_code_and_runs():
    torch.manual_seed(0)
    enc = Encoder(3, 2, 2, width=8, image_size=32).eval()
    full = Generator(enc.channels, width=8)
    two = Generator(enc.channels, width=8, style_layers=2)
    assert two.style_dim == 2 * sum(enc.channels[:2]) < full.style_dim
    torch.nn.init.normal_(two.to_image.weight, std=0.1)
    transfer = StyleTransfer(enc, two)
    x, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert transfer.style_codes(s).shape == (2, two.style_dim)
    out = transfer(x, s)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert (out - transfer(x, s.flip(-1))).abs().max() > 1e-4  # the two layers carry the style
    with pytest.raises(ValueError, match="style_layers must lie in 1..5"):
        Generator(enc.channels, width=8, style_layers=6)

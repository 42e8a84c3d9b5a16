"""The terms of the IST objective (paper eqs. 2-7)."""

import torch
import torch.nn.functional as F

from ist_core import losses
from ist_core.profiles import ISTConfig


def feats(seed=0, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, c, s, s, generator=g) * scale + shift for c, s in ((3, 16), (8, 8))]


def test_gram_style_loss_is_zero_for_identical_features_and_grows_with_the_style_change():
    a = feats()
    assert losses.style_loss(a, [f.clone() for f in a]) == 0
    small = losses.style_loss(a, [f * 1.1 for f in a])
    large = losses.style_loss(a, [f * 2.0 for f in a])
    assert 0 < small < large


def test_gram_ignores_where_features_sit_but_not_how_they_covary():
    u = torch.randn(1, 4, 6, 6)
    moved = u.flip(-1)  # the same features, elsewhere in the image
    assert torch.allclose(losses.gram(u), losses.gram(moved), atol=1e-6)
    mixed = u.clone()
    mixed[:, 1] = u[:, 0]  # channel 1 now copies channel 0: another covariance
    assert not torch.allclose(losses.gram(u), losses.gram(mixed))


def test_critic_loss_rewards_telling_real_from_fake():
    good = losses.critic_loss(torch.full((4,), 5.0), torch.full((4,), -5.0))
    bad = losses.critic_loss(torch.full((4,), -5.0), torch.full((4,), 5.0))
    assert good < 0.02 < 9 < bad


def test_adversarial_loss_is_low_when_the_critic_is_fooled():
    assert losses.adversarial_loss(torch.full((4,), 5.0)) < losses.adversarial_loss(torch.zeros(4))


def test_class_matching_targets_the_soft_prediction_on_the_real_image():
    logits_real = torch.tensor([[2.0, 1.0, -1.0], [0.0, 0.5, 0.2]])
    probs_real = torch.softmax(logits_real, dim=1)
    out = logits_real.clone().requires_grad_(True)
    loss = losses.class_matching_loss(out, probs_real)
    loss.backward()
    # minimal (zero gradient) where the output's prediction equals the real image's ...
    assert out.grad.abs().max() < 1e-6
    # ... which is not where a cross entropy against the label would put it
    label = probs_real.argmax(1)
    assert not torch.isclose(loss, F.cross_entropy(logits_real, label))


def test_content_loss_has_a_pixel_and_a_feature_part():
    x = torch.rand(2, 3, 16, 16)
    f = [x, *feats()]
    assert losses.content_loss(x, x, f, f) == 0
    pixel_only = losses.content_loss(x + 0.1, x, f, f)
    assert torch.isclose(pixel_only, torch.tensor(0.1), atol=1e-5)
    f2 = [x, *(u + 0.5 for u in f[1:])]
    assert torch.isclose(losses.content_loss(x, x, f2, f), torch.tensor(0.5), atol=1e-5)


def test_content_loss_is_zero_for_the_moment_matched_content_and_grows_with_a_content_change():
    from ist_core.models import moment_match, style_code

    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 16, 16, generator=g) * 0.3
    style = 0.2 + torch.rand(2, 3, 16, 16, generator=g) * 0.7  # another gain and offset
    anchor = moment_match(x, style_code([style]))
    f = [x, *feats()]
    # the intended change of intensity costs nothing ...
    assert losses.content_loss(anchor, anchor, f, f) < 1e-6
    # ... while the raw content image as the pixel target would charge it in full
    assert losses.content_loss(anchor, x, f, f) > 0.2
    # a change of the cell itself (a blob added in one corner) costs, and more for a larger one
    small, large = anchor.clone(), anchor.clone()
    small[:, :, :4, :4] += 0.2
    large[:, :, :8, :8] += 0.2
    assert 0 < losses.content_loss(small, anchor, f, f) < losses.content_loss(large, anchor, f, f)


def test_cycle_loss_is_the_l1_to_the_content_image():
    x = torch.zeros(1, 1, 4, 4)
    assert torch.isclose(losses.cycle_loss(x, x + 0.25), torch.tensor(0.25))


def test_objective_weighs_every_term_by_its_lambda():
    terms = {k: torch.tensor(1.0) for k in ("adv", "style", "cycle", "content", "match")}
    w = ISTConfig(adv=1.0, style=2.0, cycle=3.0, content=4.0, match=5.0)
    total, parts = losses.ist_objective(terms, w)
    assert total == 15.0 and parts["total"] == 15.0 and set(parts) == {*terms, "total"}
    terms["cycle"] = torch.tensor(2.0)
    assert losses.ist_objective(terms, w)[0] == 18.0

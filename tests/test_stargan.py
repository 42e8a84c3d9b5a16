"""StarGAN v2: its networks, the terms only it has, its averaged weights, one fold's training."""

import math

import pytest
import torch

from ist_core import losses
from ist_core.methods import get_method
from ist_core.models.stargan import Discriminator, Generator, MappingNetwork, StarGAN, StyleEncoder
from ist_core.profiles import get_profile
from ist_core.train import setup_fold, train_predictor
from ist_core.train.stargan import build_stargan, ema_rate, train_stargan


@pytest.mark.parametrize("size", [32, 64])
def test_networks_take_multichannel_images_and_pick_their_domain(size):
    torch.manual_seed(0)
    x = torch.randn(3, 4, size, size)
    domains = torch.tensor([0, 2, 1])
    s = MappingNetwork(3, style_dim=8)(torch.randn(3, 16), domains)
    assert s.shape == (3, 8)
    assert Generator(4, size, width=8, style_dim=8)(x, s).shape == x.shape
    enc = StyleEncoder(4, 3, size, width=8, style_dim=8)
    assert enc(x, domains).shape == (3, 8)
    assert not torch.allclose(enc(x, domains), enc(x, (domains + 1) % 3))  # one head per domain
    assert Discriminator(4, 3, size, width=8)(x, domains).shape == (3,)
    with pytest.raises(ValueError, match="32-256 px"):
        Generator(4, 48)


def test_diversity_term_is_larger_for_two_style_codes_than_for_one():
    torch.manual_seed(0)
    gen = Generator(3, 32, width=8, style_dim=8)
    x = torch.randn(4, 3, 32, 32)
    s1, s2 = torch.randn(4, 8), torch.randn(4, 8)
    same = losses.diversity_loss(gen(x, s1), gen(x, s1))
    different = losses.diversity_loss(gen(x, s1), gen(x, s2))
    assert same == 0 and different > 1e-3


def test_r1_is_zero_for_a_discriminator_that_ignores_its_input():
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    blind = (x * 0).flatten(1).sum(1) + 0.7  # same logit whatever the image
    assert losses.r1_penalty(blind, x) == 0
    seeing = Discriminator(3, 2, 32, width=8)(x, torch.tensor([0, 1, 0, 1]))
    assert losses.r1_penalty(seeing, x) > 0


def test_style_reconstruction_is_the_mean_absolute_difference():
    a, b = torch.zeros(2, 4), torch.full((2, 4), 0.5)
    assert losses.style_reconstruction_loss(a, b) == 0.5
    assert losses.style_reconstruction_loss(b, b) == 0


def test_ema_moves_towards_the_online_weights_at_the_stated_rate():
    torch.manual_seed(0)
    model = StarGAN(3, 2, 32, width=8, style_dim=8)
    before = [p.clone() for p in model.ema["generator"].parameters()]
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)
    model.update_ema(beta=0.9)
    for old, new, online in zip(before, model.ema["generator"].parameters(),
                                model.generator.parameters()):
        assert torch.allclose(new, 0.9 * old + 0.1 * online, atol=1e-6)
    assert all(not p.requires_grad for p in model.ema.parameters())


def test_training_one_fold_runs_resumes_and_changes_the_outputs(tmp_path):
    setup = setup_fold("synthetic-grid", level=2, fold=0, profile="tiny", device="cpu",
                       runs=tmp_path)
    model = train_stargan(setup, progress=False, steps=4)
    folder = setup.run_dir("stargan")
    assert (folder / "done.json").exists() and (folder / "losses.csv").exists()
    data = setup.images()
    x = data.batch(torch.arange(4))
    style = data.batch(torch.arange(4, 8))
    out = model(x, style, data.labels(torch.arange(4, 8))[1])
    assert out.shape == x.shape and torch.isfinite(out).all()
    fresh = build_stargan(setup)  # the same initial weights, untrained
    moved = [not torch.equal(a, b) for a, b in zip(model.ema["generator"].parameters(),
                                                   fresh.ema["generator"].parameters())]
    assert any(moved)  # four steps of EMA updates moved the averaged generator
    again = train_stargan(setup, progress=False, steps=4)  # finished: loaded, not retrained
    assert torch.equal(again(x, style, data.labels(torch.arange(4, 8))[1]), out)


def test_transfer_needs_the_oe_of_each_style_image():
    model = StarGAN(3, 2, 32, width=8, style_dim=8).eval()
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="style_oe"):
        model(x, x)
    as_first = model(x, x, torch.tensor([0, 0]))
    assert not torch.allclose(as_first, model(x, x, torch.tensor([1, 1])))  # the OE's head counts


def test_oe_codes_refuse_style_images_from_held_out_oes(tmp_path):
    setup = setup_fold("synthetic-grid", level=2, fold=0, profile="tiny", device="cpu",
                       runs=tmp_path)
    codes = setup.oe_codes(setup.fold.train[:5])
    assert list(codes) == list(setup.images().oe[:5])
    with pytest.raises(ValueError, match="not from a training OE"):
        setup.oe_codes(setup.fold.test[:1])


def test_stargan2_predictor_trains_on_renderings_told_their_style_oe(tmp_path):
    """The predictor's transfer gets, with every style image, that image's own OE code."""
    setup = setup_fold("synthetic-grid", level=2, fold=0, profile="tiny", device="cpu",
                       runs=tmp_path)
    data = setup.images()
    # per-channel means identify an image whatever flip or rotation it was given
    means = data.images.mean(dim=(2, 3))
    calls = []

    class Spy(torch.nn.Module):
        def forward(self, content, style, style_oe=None):
            calls.append((style.mean(dim=(2, 3)), style_oe))
            return content

    train_predictor(setup, Spy(), progress=False, tag="spy")
    assert len(calls) == setup.profile.predictor_steps
    for style_means, style_oe in calls[:5]:
        row = torch.cdist(style_means, means).argmin(1)
        assert torch.equal(data.oe[row], style_oe)


def test_stargan2_row_shares_one_stargan_per_fold(tmp_path):
    setup = setup_fold("synthetic-grid", level=2, fold=0, profile="tiny", device="cpu",
                       runs=tmp_path)
    method = get_method("stargan2").fit(setup, progress=False)
    assert (setup.run_dir("stargan") / "done.json").exists()
    assert (setup.run_dir("predictor-ist-stargan2") / "done.json").exists()
    assert not (setup.run_dir("predictor-ist") / "done.json").exists()  # not IST's predictor
    seed1 = setup_fold("synthetic-grid", level=2, fold=0, seed=1, profile="tiny", device="cpu",
                       runs=tmp_path)
    get_method("stargan2").fit(seed1, progress=False)
    assert not seed1.run_dir("stargan").exists()  # the seed-0 StarGAN v2 is reused
    assert (seed1.run_dir("predictor-ist-stargan2") / "done.json").exists()
    assert method.predict(setup.dataset.images[setup.fold.test[:8]]).shape == (8,)


def test_averaging_rate_warms_up_to_beta():
    rates = [ema_rate(0.999, step) for step in range(1, 20001)]
    assert rates == sorted(rates) and rates[-1] == 0.999  # long runs: the reference rate
    init_share = math.prod(rates[:100])  # weight of the random init in the average
    assert init_share < 0.01  # after a quick run's 100 steps (a fixed 0.999 would leave 0.90)


def test_bf16_autocast_path_runs_on_the_cpu(tmp_path):
    setup = setup_fold("synthetic-grid", level=2, fold=0, runs=tmp_path, amp=True, device="cpu",
                       profile=get_profile("tiny", stargan_steps=3, predictor_steps=3))
    model = train_stargan(setup, progress=False)
    predictor = train_predictor(setup, model, progress=False, tag="stargan2")
    log = (setup.run_dir("stargan") / "losses.csv").read_text().splitlines()
    assert "nan" not in " ".join(log[1:]).lower()
    data = setup.images()
    x, style = data.batch(torch.arange(4)), data.batch(torch.arange(4, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, style, data.labels(torch.arange(4, 8))[1])
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    assert torch.isfinite(predictor(x)).all()

"""Training StarGAN v2 on one fold (Choi et al. 2020), with the same loop, checkpoints,
batches and device handling as IST's generator; the domains are the training OEs at the
IST setting's ``oe_level``.

Each step is StarGAN v2's iteration: the discriminator is updated once with a style
drawn from the mapping network (latent-guided) and once with a style read from a
reference image (reference-guided), then the generator likewise; the averaged copies of
the generator, mapping network and style encoder are updated after each step (with a
warm-up of the averaging rate, :func:`ema_rate`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .. import losses
from ..models.stargan import StarGAN
from ..seeding import keyed_seed
from .loop import fit
from .runtime import autocast, freeze, generator
from .setup import FoldSetup


@dataclass(frozen=True)
class StarGANConfig:
    """StarGAN v2's loss weights and sizes, with the values of its reference setting."""

    style: float = 1.0  # style reconstruction
    diversity: float = 1.0  # diversity-sensitive term, decayed linearly to 0 over training
    cycle: float = 1.0
    r1: float = 1.0
    style_dim: int = 64
    latent_dim: int = 16
    ema_beta: float = 0.999  # reached after a warm-up, see ema_rate
    mapping_lr_scale: float = 0.01  # the mapping network learns 100 times slower


def ema_rate(beta: float, step: int) -> float:
    """The averaging rate after ``step`` updates: ``min(beta, (1 + step) / (10 + step))``.

    With a fixed 0.999 the averaged networks would still be 90% their random initial
    weights after 100 steps (a ``quick`` run); the warm-up lets them follow the online
    networks early and reaches ``beta`` after about 9,000 steps, the usual schedule of
    averaged weights in short runs."""
    return min(beta, (1 + step) / (10 + step))


def build_stargan(setup: FoldSetup, config: StarGANConfig = StarGANConfig()) -> StarGAN:
    """Fresh StarGAN v2 networks for the fold (one domain per training OE)."""
    torch.manual_seed(keyed_seed(setup.seed, "init", "stargan"))
    c, h, _ = setup.image_shape
    return StarGAN(c, len(setup.images().oe_names), h, setup.profile.gen_width,
                   config.style_dim, config.latent_dim).to(setup.device)


def _discriminator_step(model, x_real, y_org, y_trg, z_trg=None, x_ref=None, r1: float = 1.0):
    x_real.requires_grad_(True)
    real_logits = model.discriminator(x_real, y_org).float()
    with torch.no_grad():
        s_trg = model.mapping(z_trg, y_trg) if z_trg is not None else model.style_encoder(x_ref, y_trg)
        x_fake = model.generator(x_real, s_trg)
    fake_logits = model.discriminator(x_fake, y_trg).float()
    adv = losses.critic_loss(real_logits, fake_logits)
    reg = losses.r1_penalty(real_logits, x_real)
    return adv + r1 * reg, adv.detach(), reg.detach()


def _generator_step(model, config, x_real, y_org, y_trg, diversity, z_trgs=None, x_refs=None):
    if z_trgs is not None:
        s_trg = model.mapping(z_trgs[0], y_trg)
        s_trg2 = model.mapping(z_trgs[1], y_trg)
    else:
        s_trg = model.style_encoder(x_refs[0], y_trg)
        s_trg2 = model.style_encoder(x_refs[1], y_trg)
    x_fake = model.generator(x_real, s_trg)
    adv = losses.adversarial_loss(model.discriminator(x_fake, y_trg).float())
    sty = losses.style_reconstruction_loss(model.style_encoder(x_fake, y_trg).float(), s_trg.float())
    x_fake2 = model.generator(x_real, s_trg2).detach()
    div = losses.diversity_loss(x_fake.float(), x_fake2.float())
    s_org = model.style_encoder(x_real, y_org)
    cyc = losses.cycle_loss(x_real.float(), model.generator(x_fake, s_org).float())
    total = adv + config.style * sty - diversity * div + config.cycle * cyc
    return total, {"adv": adv.detach(), "style": sty.detach(), "diversity": div.detach(),
                   "cycle": cyc.detach()}


def train_stargan(setup: FoldSetup, config: StarGANConfig = StarGANConfig(),
                  progress: bool = True, steps: int | None = None) -> StarGAN:
    """Train (or resume, or load) the fold's StarGAN v2 for the profile's ``stargan_steps``;
    returned frozen, in eval mode. Shared by every seed of the fold, like IST's generator."""
    setup = setup.fold_level()
    prof = setup.profile
    steps = prof.stargan_steps if steps is None else steps
    model = build_stargan(setup, config)
    betas = (0.0, 0.99)
    opts = {
        "generator": torch.optim.Adam(model.generator.parameters(), prof.ist_lr, betas),
        "mapping": torch.optim.Adam(model.mapping.parameters(), prof.ist_lr * config.mapping_lr_scale, betas),
        "style_encoder": torch.optim.Adam(model.style_encoder.parameters(), prof.ist_lr, betas),
        "discriminator": torch.optim.Adam(model.discriminator.parameters(), prof.ist_lr, betas),
    }
    g_opts = [opts[k] for k in ("generator", "mapping", "style_encoder")]
    ctx = lambda: autocast(setup.device, setup.amp)  # noqa: E731
    n = prof.batch_size

    def step(i: int) -> dict:
        data = setup.images()
        rng = generator(setup.seed, "stargan", i)
        idx = data.sample(n, "y", rng)
        x_real, y_org = data.batch(idx, rng), data.labels(idx)[1]
        y_trg = data.labels(data.sample(n, "oe", rng))[1]  # target OEs, balanced
        x_ref = data.batch(data.sample_in(y_trg, "oe", rng), rng)
        x_ref2 = data.batch(data.sample_in(y_trg, "oe", rng), rng)
        z_trg, z_trg2 = (torch.randn(n, config.latent_dim, generator=rng).to(setup.device)
                         for _ in range(2))
        diversity = config.diversity * max(0.0, 1 - (i - 1) / steps)
        parts = {}
        for name, guide in (("latent", {"z_trg": z_trg}), ("ref", {"x_ref": x_ref})):
            with ctx():
                d_total, d_adv, r1 = _discriminator_step(model, x_real.detach().clone(), y_org,
                                                         y_trg, r1=config.r1, **guide)
            opts["discriminator"].zero_grad(set_to_none=True)
            d_total.backward()
            opts["discriminator"].step()
            parts[f"d_{name}"], parts[f"r1_{name}"] = d_adv, r1
        for name, guide in (("latent", {"z_trgs": (z_trg, z_trg2)}),
                            ("ref", {"x_refs": (x_ref, x_ref2)})):
            with ctx():
                g_total, g_parts = _generator_step(model, config, x_real, y_org, y_trg, diversity,
                                                   **guide)
            for opt in g_opts:
                opt.zero_grad(set_to_none=True)
            g_total.backward()
            # as in StarGAN v2: the reference-guided step updates the generator only
            for opt in (g_opts if name == "latent" else g_opts[:1]):
                opt.step()
            parts.update({f"{k}_{name}": v for k, v in g_parts.items()})
        model.update_ema(ema_rate(config.ema_beta, i))
        return parts

    stored = setup.config("stargan", steps)
    stored["stargan"] = dataclasses.asdict(config)
    fit(setup.run_dir("stargan"), stored, {"stargan": model}, opts, step, steps,
        prof.checkpoint_every, prof.log_every, progress, desc=f"StarGAN v2 {setup.split}")
    return freeze(model)

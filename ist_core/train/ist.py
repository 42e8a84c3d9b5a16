"""Training the IST generator G against the critic D (paper Sec. 4.2, eq. 7).

Each step draws content images balanced over causes and style images balanced over
the training OEs, renders ``x_hat = G(E(x_a), v_b)``, updates the critic on real
style images against ``x_hat`` (both judged by the head of the style image's OE),
then updates G on the five terms of eq. 7. The encoder stays frozen.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import losses
from ..models import Critic, Encoder, Generator, StyleTransfer, moment_match, style_code
from ..seeding import keyed_seed
from .loop import fit
from .pretrain import train_encoder
from .runtime import autocast, freeze, generator, to_tensor
from .setup import FoldSetup


def generator_terms(encoder: Encoder, gen: Generator, critic: Critic, content: torch.Tensor,
                    feats_content: list, code_content: torch.Tensor, probs_content: torch.Tensor,
                    feats_style: list, code_style: torch.Tensor, oe_style: torch.Tensor,
                    output: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The five loss terms of eq. 7 for one batch (generator side).

    ``output`` is ``G(feats_content, code_style)`` when already computed. The cycle term
    sends the output back with the content image's own style code ``code_content``; the
    content term's pixel part compares the output with the content image moment-matched
    to the style image, the generator's starting point (see :func:`losses.content_loss`).
    """
    if output is None:
        output = gen(feats_content, code_style)
    feats_out = encoder.features(output)
    reconstruction = gen(feats_out, code_content)
    k = gen.style_layers
    with torch.no_grad():
        anchor = moment_match(content, code_style)
    return {
        "adv": losses.adversarial_loss(critic(output, oe_style).float()),
        "style": losses.style_loss(feats_out[:k], feats_style[:k]),
        "cycle": losses.cycle_loss(content, reconstruction),
        "content": losses.content_loss(output, anchor, feats_out, feats_content),
        "match": losses.class_matching_loss(encoder.cause_logits(feats_out), probs_content),
    }


def build_generator(setup: FoldSetup, encoder: Encoder) -> tuple[Generator, Critic]:
    """A fresh generator and a critic initialised from the encoder (one head per training OE)."""
    torch.manual_seed(keyed_seed(setup.seed, "init", "generator"))
    gen = Generator(encoder.channels, setup.profile.gen_width, setup.ist.style_layers).to(setup.device)
    critic = Critic.from_encoder(encoder, encoder.oe_head.out_features).to(setup.device)
    for p in critic.parameters():
        p.requires_grad_(True)
    return gen, critic


def train_ist(setup: FoldSetup, encoder: Encoder | None = None, progress: bool = True) -> StyleTransfer:
    """Train (or resume, or load) the fold's generator; returns the frozen :class:`StyleTransfer`.

    The encoder is trained first when it is not given (or loaded when already trained).
    """
    setup = setup.fold_level()  # one per training fold, shared by all seeds
    encoder = encoder if encoder is not None else train_encoder(setup, progress)
    gen, critic = build_generator(setup, encoder)
    folder = setup.run_dir("generator")
    prof, weights = setup.profile, setup.ist
    modules = {"generator": gen, "critic": critic}
    opt_g = torch.optim.Adam(gen.parameters(), lr=prof.ist_lr, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(critic.parameters(), lr=prof.ist_lr, betas=(0.5, 0.99))
    ctx = lambda: autocast(setup.device, setup.amp)  # noqa: E731

    def step(i: int) -> dict:
        data = setup.images()  # built on first use: a finished run never needs it
        rng = generator(setup.seed, "ist", i)
        ia, ib = data.sample(prof.batch_size, "y", rng), data.sample(prof.batch_size, "oe", rng)
        xa, xb = data.batch(ia, rng), data.batch(ib, rng)
        oe_b = data.labels(ib)[1]
        with torch.no_grad(), ctx():
            ua, ub = encoder.features(xa), encoder.features(xb)
            va, vb = style_code(ua[:gen.style_layers]), style_code(ub[:gen.style_layers])
            pa = torch.softmax(encoder.cause_logits(ua).float(), dim=1)
        with ctx():
            output = gen(ua, vb)
            real = xb.requires_grad_(weights.r1 > 0)
            real_logits = critic(real, oe_b).float()
            d_loss = losses.critic_loss(real_logits, critic(output.detach(), oe_b).float())
        r1 = losses.r1_penalty(real_logits, real) if weights.r1 > 0 else torch.zeros(())
        opt_d.zero_grad(set_to_none=True)
        (d_loss + weights.r1 * r1).backward()
        opt_d.step()
        with ctx():
            terms = generator_terms(encoder, gen, critic, xa, ua, va, pa, ub, vb, oe_b, output)
        total, parts = losses.ist_objective(terms, weights)
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
        parts["critic"] = d_loss.detach()
        if weights.r1 > 0:
            parts["r1"] = r1.detach()
        return parts

    fit(folder, setup.config("generator", prof.ist_steps), modules,
        {"generator": opt_g, "critic": opt_d}, step, prof.ist_steps, prof.checkpoint_every,
        prof.log_every, progress, desc=f"IST {setup.split}")
    return freeze(StyleTransfer(encoder, freeze(gen)))


@torch.no_grad()
def transfer(setup: FoldSetup, model: StyleTransfer, content, style, style_oe=None) -> np.ndarray:
    """Re-render ``content`` images (N, C, H, W) in the style of ``style``: one style image
    for all, or one per content image. ``style_oe`` holds the style images' OE codes
    (:meth:`FoldSetup.oe_codes`), which StarGAN v2 needs and IST ignores. Returns float32
    (N, C, H, W)."""
    content, style = np.asarray(content), np.asarray(style)
    if content.ndim == 3:
        content = content[None]
    if style.ndim == 3:
        style = style[None]
    if len(style) not in (1, len(content)):
        raise ValueError(f"give one style image or one per content image: {len(style)} style "
                         f"image(s) for {len(content)} content image(s)")
    codes = None if style_oe is None else torch.as_tensor(np.atleast_1d(style_oe), dtype=torch.long)
    if codes is not None and len(codes) != len(style):
        raise ValueError(f"give one OE code per style image: {len(codes)} code(s) for "
                         f"{len(style)} style image(s)")
    if content.shape[1:] != setup.image_shape or style.shape[1:] != setup.image_shape:
        raise ValueError(f"images must be {setup.image_shape} like the dataset's, got "
                         f"{content.shape[1:]} and {style.shape[1:]}")
    out = []
    step = setup.profile.eval_batch
    for start in range(0, len(content), step):
        x = to_tensor(content[start:start + step], setup.device)
        s = to_tensor(style if len(style) == 1 else style[start:start + step], setup.device)
        oe = None if codes is None else (codes if len(codes) == 1 else codes[start:start + step])
        oe = None if oe is None else oe.expand(len(x)).to(setup.device)
        with autocast(setup.device, setup.amp):
            out.append(model(x, s.expand(len(x), -1, -1, -1), oe).float().cpu().numpy())
    return np.concatenate(out)

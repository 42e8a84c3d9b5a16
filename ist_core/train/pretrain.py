"""Pretraining the encoder E on the multi-task objective: predict the OE C and the cause Y
(paper Sec. 4.1). The frozen result gives IST its features, style codes and E_cls."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import Encoder
from .loop import fit
from .runtime import autocast, derive_seed, generator
from .setup import FoldSetup


def build_encoder(setup: FoldSetup) -> Encoder:
    """An encoder with fresh weights for this fold (heads for its training OEs and all causes)."""
    torch.manual_seed(derive_seed(setup.seed, "init", "encoder"))
    c, h, _ = setup.image_shape
    n_oes = setup.dataset.meta.iloc[setup.fold.train][setup.ist.oe_level].nunique()
    return Encoder(c, n_oes, setup.n_causes, setup.profile.width, h).to(setup.device)


def train_encoder(setup: FoldSetup, progress: bool = True) -> Encoder:
    """Train (or resume, or load a finished) encoder for ``setup``; returned frozen, in eval mode."""
    setup = setup.fold_level()  # one per training fold, shared by all seeds
    encoder = build_encoder(setup)
    folder = setup.run_dir("encoder")
    prof = setup.profile
    opt = torch.optim.Adam(encoder.parameters(), lr=prof.lr)

    def step(i: int) -> dict:
        data = setup.images()  # built on first use: a finished run never needs it
        gen = generator(setup.seed, "encoder", i)
        idx = data.sample(prof.batch_size, "y", gen)
        x = data.batch(idx, gen)
        y, c = data.labels(idx)
        with autocast(setup.device, setup.amp):
            oe_logits, cause_logits = encoder(x)
        oe_loss = F.cross_entropy(oe_logits.float(), c)
        cause_loss = F.cross_entropy(cause_logits.float(), y)
        opt.zero_grad(set_to_none=True)
        (oe_loss + cause_loss).backward()
        opt.step()
        return {"oe": oe_loss, "cause": cause_loss}

    fit(folder, setup.config("encoder", prof.encoder_steps), {"encoder": encoder},
        {"encoder": opt}, step, prof.encoder_steps, prof.checkpoint_every, prof.log_every,
        progress, desc=f"encoder {setup.split}")
    return freeze(encoder)


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Eval mode, no gradients for its weights (gradients still flow through it)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module

"""Pretraining the encoder E on the multi-task objective: predict the OE C and the cause Y
(paper Sec. 4.1). The frozen result gives IST its features, style codes and E_cls."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import Encoder
from ..seeding import keyed_seed
from .predictor import train_classifier
from .runtime import autocast
from .setup import FoldSetup


def build_encoder(setup: FoldSetup) -> Encoder:
    """An encoder with fresh weights for this fold (heads for its training OEs and all causes)."""
    torch.manual_seed(keyed_seed(setup.seed, "init", "encoder"))
    c, h, _ = setup.image_shape
    n_oes = setup.dataset.meta.iloc[setup.fold.train][setup.ist.oe_level].nunique()
    return Encoder(c, n_oes, setup.n_causes, setup.profile.width, h).to(setup.device)


def train_encoder(setup: FoldSetup, progress: bool = True) -> Encoder:
    """Train (or resume, or load a finished) encoder for ``setup``; returned frozen, in eval mode."""
    setup = setup.fold_level()  # one per training fold, shared by all seeds

    def loss(encoder, x, y, oe, rng):
        with autocast(setup.device, setup.amp):
            oe_logits, cause_logits = encoder(x)
        oe_loss = F.cross_entropy(oe_logits.float(), oe)
        cause_loss = F.cross_entropy(cause_logits.float(), y)
        return oe_loss + cause_loss, {"oe": oe_loss, "cause": cause_loss}

    return train_classifier(setup, "encoder", build_encoder(setup), loss, progress,
                            ist_dependent=True, steps=setup.profile.encoder_steps, key="encoder")

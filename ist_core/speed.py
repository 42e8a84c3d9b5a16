"""Training rates (images per second) of a fold's networks, measured in one process.

Each network trains twice in fresh temporary run folders, ``warmup`` steps untimed and
then ``steps`` timed, from untrained weights (the rate does not depend on them).
Images/s counts the content images of a step: for IST one critic and one generator
update on a batch, for StarGAN v2 its whole iteration (two discriminator and two
generator updates, latent- and reference-guided). ``benchmarks/train_speed.py`` prints
every network's rate; the StarGAN v2 chapter shows the generators'.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_rate(train: Callable, setup, steps: int = 20, warmup: int = 3) -> float:
    """Images/s of ``train(setup)`` (a training function that reads its step count from
    the profile) over ``steps`` steps after ``warmup`` untimed ones."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps} and {warmup}")
    prof, runs = setup.profile, setup.runs
    seconds = {}
    try:
        for n in (warmup, steps):
            if n == 0:
                continue
            setup.profile = dataclasses.replace(prof, encoder_steps=n, ist_steps=n, stargan_steps=n,
                                                predictor_steps=n, checkpoint_every=10**9)
            setup.runs = Path(tempfile.mkdtemp(prefix="ist-rate-"))
            try:
                _sync(setup.device)
                start = time.perf_counter()
                train(setup)
                _sync(setup.device)
                seconds[n] = time.perf_counter() - start
            finally:
                shutil.rmtree(setup.runs, ignore_errors=True)
    finally:
        setup.profile, setup.runs = prof, runs
    return steps * prof.batch_size / seconds[steps]


def generator_rates(setup, steps: int = 20, warmup: int = 3) -> dict[str, float]:
    """Images/s of IST's generator and of StarGAN v2 on ``setup``'s fold, at its profile's
    image size and batch, one after the other in this process."""
    from .train.ist import train_ist
    from .train.pretrain import build_encoder
    from .train.runtime import freeze
    from .train.stargan import train_stargan

    encoder = freeze(build_encoder(setup))  # IST trains against a frozen encoder
    return {
        "IST generator": training_rate(lambda s: train_ist(s, encoder, progress=False), setup,
                                       steps, warmup),
        "StarGAN v2": training_rate(lambda s: train_stargan(s, progress=False), setup, steps, warmup),
    }

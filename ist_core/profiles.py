"""Training profiles: one frozen dataclass of plain values per size (``tiny``, ``quick``, ``paper``).

A profile fixes everything that sets the cost of a run: which synthetic size it
trains on, network widths, batch size, step counts, learning rates, how often it
checkpoints. Loss weights and the OE level live in :class:`ISTConfig` so that a
chapter or the command line can vary them without touching the profile.

- ``tiny``: the test suite; seconds per network on two CPU cores, no claim to work.
- ``quick``: the book on a CPU; a few minutes per fold.
- ``paper``: a GPU; full-width ResNet18s at 64 px on the paper-size synthetic data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .values import typed


@dataclass(frozen=True)
class ISTConfig:
    """The IST objective (paper eq. 7) and where styles come from.

    ``oe_level`` is the OE level whose members the critic has heads for and over
    which style images are balanced; ``plate`` by default (see the IST chapter).
    """

    oe_level: str = "plate"
    # feature layers u^0.. that form the style code (eq. 1) and enter the style loss
    # (eq. 3); 5 = the image and all four ResNet layers, as in the paper
    style_layers: int = 5
    # the paper gives no values for the lambdas; these keep the content of a cell (see the
    # IST chapter for what weaker content terms do)
    adv: float = 1.0  # eq. 2
    style: float = 2.0  # lambda_1, eq. 3
    cycle: float = 2.0  # lambda_2, eq. 4
    content: float = 1.0  # lambda_3, eq. 5
    # lambda_4, eq. 6. Small: the frozen encoder's cause head also reads the OE's look (cause
    # and OE are confounded in its training images), so it changes its mind even on the true
    # counterfactual (it keeps its cause for 30% or fewer of the pairs on the synthetic
    # grid's folds); a strong term (3.0) pulled outputs back towards the source OE's intensities,
    # below the generator's moment-matching start in PSNR and off their target OE.
    match: float = 0.3
    # R1 penalty on the critic (not in the paper; 0 = off). At quick, 1.0 made the critic too
    # smooth to tell OEs' intensities apart: fewer outputs on their target OE.
    r1: float = 0.0
    test_styles: int = 1  # test-time correction: styles averaged per test image


@dataclass(frozen=True)
class Profile:
    """Sizes, step counts and learning rates of one profile."""

    name: str
    data_size: str  # the synthetic size trained on (tiny / quick / paper)
    width: int  # base width of every ResNet18 (encoder, critic, predictor); 64 is torchvision's
    gen_width: int  # base width of the generator's decoder
    batch_size: int
    encoder_steps: int
    ist_steps: int
    stargan_steps: int  # StarGAN v2 (a Table 1 row); see the profiles below
    # every predictor's budget, in passes over its fold's training images, so that a bigger
    # dataset (or a fold with more training images) trains proportionally longer
    predictor_epochs: float
    lr: float  # encoder and predictors (Adam)
    ist_lr: float  # generator and critic (Adam)
    checkpoint_every: int
    log_every: int = 10
    eval_batch: int = 256
    predictor_steps: int = 0  # > 0 fixes the step count instead (tests, benchmarks)

    def steps_for(self, n_train: int) -> int:
        """A predictor's step count on ``n_train`` training images."""
        if self.predictor_steps > 0:
            return self.predictor_steps
        return max(1, math.ceil(self.predictor_epochs * n_train / self.batch_size))


PROFILES = {
    "tiny": Profile("tiny", "tiny", width=8, gen_width=8, batch_size=16, encoder_steps=30,
                    ist_steps=30, stargan_steps=10, predictor_epochs=1.0, lr=2e-3, ist_lr=1e-3,
                    checkpoint_every=10, log_every=5, eval_batch=128, predictor_steps=30),
    # quick's generator: fidelity to the true counterfactuals peaks by 150 steps and falls
    # after 300 (about 0.25 s a step on one CPU thread, so ~40 s a generator). Its
    # predictors: on synthetic GRID (every level scale 0.6, otherwise today's defaults) the
    # naive IID macro-F1 was 0.63 / 0.76 / 0.85 after 8 / 16 / 32 epochs and the oracle's
    # 0.43 / 0.52 / 0.58 (benchmarks/learning_curve.py), still rising slowly at 32, where
    # the cost (~1 min a predictor on two cores) is set for now
    "quick": Profile("quick", "quick", width=16, gen_width=16, batch_size=32, encoder_steps=200,
                     ist_steps=150, stargan_steps=100, predictor_epochs=32.0, lr=1e-3, ist_lr=1e-3,
                     checkpoint_every=50),
    "paper": Profile("paper", "paper", width=64, gen_width=32, batch_size=128, encoder_steps=3000,
                     ist_steps=10000, stargan_steps=10000, predictor_epochs=50.0, lr=5e-4, ist_lr=2e-4,
                     checkpoint_every=500, eval_batch=1024),
}


def get_profile(name: str, **overrides) -> Profile:
    """The profile called ``name``, with any field replaced by ``overrides``."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {list(PROFILES)}")
    return _replace(PROFILES[name], overrides, "profile")


def ist_config(**overrides) -> ISTConfig:
    """The default :class:`ISTConfig` with ``overrides`` (unknown names are an error)."""
    return _replace(ISTConfig(), overrides, "IST setting")


def _replace(obj, overrides: dict, what: str):
    fields = {f.name for f in dataclasses.fields(obj)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; valid: {sorted(fields)}")
    checked = {key: typed(key, value, getattr(obj, key), what) for key, value in overrides.items()}
    return dataclasses.replace(obj, **checked)

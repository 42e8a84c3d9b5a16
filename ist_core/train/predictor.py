"""Training and applying the predictor P: naive (real images) or interventional (IST).

The interventional predictor (paper Sec. 4.3) sees only ``G(E(x_a), v(x_b))``: content
images drawn with causes uniform, style images with OEs uniform, so that in what it
sees the cause no longer predicts the OE. At test time each image is re-rendered into
the style of a random training image (balanced over training OEs) before it is
classified, the paper's test-time correction; ``test_styles`` > 1 averages the
predicted probabilities over several styles.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..models import Predictor, StyleTransfer
from ..seeding import keyed_seed
from .loop import fit
from .runtime import FoldImages, autocast, freeze, generator, to_tensor
from .setup import FoldSetup

KINDS = ("naive", "ist")


def build_predictor(setup: FoldSetup, cls=Predictor, **kwargs) -> Predictor:
    """A predictor (or a subclass, e.g. DR's or MixStyle's) with the fold's initial weights:
    every variant starts from the same trunk and cause head."""
    torch.manual_seed(keyed_seed(setup.seed, "init", "predictor"))
    c, h, _ = setup.image_shape
    return cls(c, setup.n_causes, width=setup.profile.width, image_size=h, **kwargs).to(setup.device)


def cosine_lr(base: float, step: int, steps: int) -> float:
    """The learning rate of update ``step`` (1..``steps``): ``base`` at the start, half a
    cosine down to zero at the last step."""
    return 0.5 * base * (1 + math.cos(math.pi * (step - 1) / max(1, steps)))


def train_classifier(setup: FoldSetup, component: str, model: torch.nn.Module, loss, progress=True,
                     ist_dependent: bool = False, settings: dict | None = None,
                     steps: int | None = None, key: str = "predictor",
                     batch=None) -> torch.nn.Module:
    """The training loop of every classifier of a fold: the encoder's pretraining and every
    Table 1 row that trains a network (``key`` names its stream of batches and its
    checkpoint entry).

    ``loss(model, x, y, oe, rng)`` returns ``(total, parts)`` for one batch of training
    images ``x`` (balanced over causes, augmented) with cause and OE codes; the rows
    differ only there. The same batches for every row and seed. ``settings`` (e.g. DR's
    alpha) join the stored config. ``batch(data, idx, rng)`` replaces how the images of
    the drawn indices are fetched (the oracle fetches true counterfactuals instead of
    the images themselves). The learning rate decays from the profile's to zero along a
    half cosine over the run's steps: a fixed budget then ends on a settled model rather
    than wherever Adam's noise left it. Returns the model frozen, in eval mode.
    """
    folder = setup.run_dir(component, ist_dependent=ist_dependent)
    prof = setup.profile
    steps = setup.predictor_steps if steps is None else steps
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=prof.lr)
    config = setup.config(component, steps)
    config["settings"] = settings or {}

    def step(i: int) -> dict:
        data = setup.images()  # built on first use: a finished run never needs it
        rng = generator(setup.seed, key, i)
        idx = data.sample(prof.batch_size, "y", rng)
        x = data.batch(idx, rng) if batch is None else batch(data, idx, rng)
        y, oe = data.labels(idx)
        total, parts = loss(model, x, y, oe, rng)
        for group in opt.param_groups:  # set from the step alone, so a resumed run agrees
            group["lr"] = cosine_lr(prof.lr, i, steps)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        return parts

    fit(folder, config, {key: model}, {key: opt}, step, steps,
        prof.checkpoint_every, prof.log_every, progress, desc=f"{component} {setup.split}")
    return freeze(model)


def cause_loss(setup: FoldSetup):
    """The plain loss of a batch for :func:`train_classifier`: cross entropy of the cause
    head, under the fold's autocast."""
    def loss(model, x, y, oe, rng):
        with autocast(setup.device, setup.amp):
            logits = model(x)
        cause = F.cross_entropy(logits.float(), y)
        return cause, {"cause": cause}

    return loss


def train_predictor(setup: FoldSetup, transfer: StyleTransfer | None = None,
                    progress: bool = True, tag: str | None = None) -> Predictor:
    """Train (or resume, or load) the naive predictor, or the IST predictor when ``transfer``
    is given. The same initial weights, batches and augmentation either way. ``tag`` names
    a transfer other than the fold's own generator (it becomes part of the run folder),
    e.g. StarGAN v2's: any module called as ``transfer(content, style, style_oe)``."""
    kind = "naive" if transfer is None else "ist" if tag is None else f"ist-{tag}"
    styles_for, plain = setup.images, cause_loss(setup)

    def loss(model, x, y, oe, rng):
        if transfer is not None:
            data = styles_for()
            idx = data.sample(len(x), "oe", rng)
            with autocast(setup.device, setup.amp):
                x = transfer(x, data.batch(idx, rng), data.labels(idx)[1])
        return plain(model, x, y, oe, rng)

    return train_classifier(setup, f"predictor-{kind}", build_predictor(setup), loss, progress,
                            ist_dependent=transfer is not None)


@torch.no_grad()
def _batches(images, setup: FoldSetup):
    step = setup.profile.eval_batch
    for start in range(0, len(images), step):
        yield start, to_tensor(images[start:start + step], setup.device)


@torch.no_grad()
def restyle(setup: FoldSetup, transfer: StyleTransfer, x: torch.Tensor, styles: FoldImages,
            key) -> torch.Tensor:
    """``x`` re-rendered, image by image, in the style of random training images (OEs balanced)."""
    idx = styles.sample(len(x), "oe", generator(setup.seed, "test-style", *key))
    with autocast(setup.device, setup.amp):
        return transfer(x, styles.batch(idx), styles.labels(idx)[1]).float()


@torch.no_grad()
def predict_proba(setup: FoldSetup, predictor: Predictor, images,
                  transfer: StyleTransfer | None = None, test_styles: int | None = None) -> np.ndarray:
    """Cause probabilities (N, n_causes) for ``images``; with ``transfer``, averaged over
    ``test_styles`` re-renderings into training OEs (test-time correction)."""
    k = setup.ist.test_styles if test_styles is None else test_styles
    if k < 1:
        raise ValueError(f"test_styles must be at least 1, got {k}")
    out = np.zeros((len(images), setup.n_causes), np.float32)
    styles = setup.images() if transfer is not None else None
    for start, x in _batches(images, setup):
        views = [x] if transfer is None else [restyle(setup, transfer, x, styles, (start, j))
                                              for j in range(k)]
        probs = 0
        for view in views:
            with autocast(setup.device, setup.amp):
                probs = probs + torch.softmax(predictor(view).float(), dim=1)
        out[start:start + len(x)] = (probs / len(views)).cpu().numpy()
    return out


@torch.no_grad()
def embed(setup: FoldSetup, predictor: Predictor, images,
          transfer: StyleTransfer | None = None) -> np.ndarray:
    """Penultimate features (N, D) of ``images``, optionally after one re-rendering."""
    out = []
    styles = setup.images() if transfer is not None else None
    for start, x in _batches(images, setup):
        if transfer is not None:
            x = restyle(setup, transfer, x, styles, (start, "embed"))
        with autocast(setup.device, setup.amp):
            out.append(predictor.forward_features(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, predictor.trunk.feature_dim), np.float32)

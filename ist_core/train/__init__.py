"""Training with checkpoints and resume: the encoder, IST's generator, the predictors.

The usual sequence for one fold::

    setup = setup_fold("synthetic-grid", level=2, fold=0, seed=0, profile="quick")
    encoder = train_encoder(setup)              # E, multi-task pretraining
    transfer = train_ist(setup, encoder)        # G against D; E frozen
    naive = train_predictor(setup)              # P on real images
    ist = train_predictor(setup, transfer)      # P on the interventional distribution
    scores = evaluate(setup, {"naive": (naive, None), "ist": (ist, transfer)})

Each call trains only what its run folder does not hold already.
"""

from __future__ import annotations

import pandas as pd

from ..metrics import macro_f1
from .ist import train_ist, transfer
from .loop import NonFiniteLoss, TrainingError
from .predictor import embed, predict_proba, train_predictor
from .pretrain import train_encoder
from .runtime import pick_device
from .setup import FoldSetup, get_fold, runs_dir, setup_fold


def evaluate(setup: FoldSetup, predictors: dict, test_styles: int | None = None) -> pd.DataFrame:
    """Macro-F1 on the fold's test images for each ``name -> (predictor, transfer or None)``.

    One tidy row per predictor: dataset, profile, level, fold, held-out OE, seed,
    method, metric, value.
    """
    images = setup.dataset.images[setup.fold.test]
    y = setup.dataset.meta["y"].to_numpy()[setup.fold.test]
    rows = []
    for name, (predictor, style_model) in predictors.items():
        probs = predict_proba(setup, predictor, images, style_model, test_styles)
        rows.append({
            "dataset": setup.dataset.name, "profile": setup.profile.name,
            "level": setup.fold.level, "fold": setup.fold.fold,
            "held_out": ",".join(setup.fold.held_out), "seed": setup.seed, "method": name,
            "metric": "macro_f1", "value": macro_f1(y, probs.argmax(1)),
        })
    return pd.DataFrame(rows)


def run_fold(setup: FoldSetup, progress: bool = True) -> pd.DataFrame:
    """Train (or load) everything one fold needs and score the naive and the IST predictor."""
    encoder = train_encoder(setup, progress)
    transfer = train_ist(setup, encoder, progress)
    naive = train_predictor(setup, progress=progress)
    ist = train_predictor(setup, transfer, progress=progress)
    return evaluate(setup, {"naive": (naive, None), "ist": (ist, transfer)})


__all__ = [
    "FoldSetup", "NonFiniteLoss", "TrainingError", "embed", "evaluate", "get_fold",
    "pick_device", "predict_proba", "run_fold", "runs_dir", "setup_fold", "train_encoder",
    "train_ist", "train_predictor", "transfer",
]

"""Training with checkpoints and resume: the encoder, IST's generator, the predictors.

The usual sequence for one fold::

    setup = setup_fold("synthetic-grid", level=2, fold=0, seed=0, profile="quick")
    encoder = train_encoder(setup)              # E, multi-task pretraining
    transfer = train_ist(setup, encoder)        # G against D; E frozen
    naive = train_predictor(setup)              # P on real images
    ist = train_predictor(setup, transfer)      # P on the interventional distribution

Each call trains only what its run folder does not hold already; a run's scores come from
:mod:`ist_core.experiments` (``ist run``), the one place that scores a fold.
"""

from __future__ import annotations

from .ist import train_ist, transfer
from .loop import NonFiniteLoss, TrainingError
from .predictor import embed, predict_proba, train_predictor
from .pretrain import train_encoder
from .runtime import pick_device
from .setup import FoldSetup, get_fold, runs_dir, setup_fold


__all__ = [
    "FoldSetup", "NonFiniteLoss", "TrainingError", "embed", "get_fold",
    "pick_device", "predict_proba", "runs_dir", "setup_fold", "train_encoder",
    "train_ist", "train_predictor", "transfer",
]

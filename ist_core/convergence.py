"""Has a network learnt? Macro-F1 of a predictor against its training budget.

A profile's budgets are set where these curves flatten (``Profile.predictor_epochs``),
not where a book's time runs out: a predictor stopped early scores low in and out of
distribution alike, and hides what the levels of generalization are there to show.
Every predictor's learning rate decays along a cosine over its own budget, so each
budget is a run of its own, not a point along a longer run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .metrics import macro_f1
from .train.predictor import build_predictor, cause_loss, predict_proba, train_classifier
from .train.setup import FoldSetup


def learning_curve(setup: FoldSetup, budgets=(6, 12, 24, 48), oracle: bool = False,
                   progress: bool = True) -> pd.DataFrame:
    """Train the naive predictor of ``setup``'s fold once per budget (epochs of its
    training images) and score each on the fold's test images. With ``oracle``, the
    oracle's predictor instead (true counterfactuals in training and at test time,
    :mod:`ist_core.train.oracle`), whose training images are never the same twice.

    Tidy rows: dataset, level, fold, seed, row, epochs, steps, macro_f1. Each budget is a
    run in the fold's ``predictor-curve[-oracle]-e<epochs>`` folder: a finished one is
    loaded, a killed one resumes.
    """
    from .train.oracle import OracleTransfer

    transfer = OracleTransfer(setup) if oracle else None
    images = setup.dataset.images[setup.fold.test]
    y = setup.dataset.meta["y"].to_numpy()[setup.fold.test]

    rows = []
    for epochs in budgets:
        budget = dataclasses.replace(setup, profile=dataclasses.replace(
            setup.profile, predictor_epochs=float(epochs), predictor_steps=0))
        budget._images = setup._images
        component = f"predictor-curve{'-oracle' if oracle else ''}-e{epochs:g}"
        model = train_classifier(budget, component, build_predictor(budget), cause_loss(budget),
                                 progress,
                                 batch=None if transfer is None else transfer.training_batch)
        f1 = macro_f1(y, predict_proba(budget, model, images, transfer).argmax(1))
        rows.append({"dataset": setup.dataset.name, "level": setup.fold.level,
                     "fold": setup.fold.fold, "seed": setup.seed,
                     "row": "oracle" if oracle else "naive", "epochs": float(epochs),
                     "steps": budget.predictor_steps, "macro_f1": f1})
    return pd.DataFrame(rows)


def plateau_epoch(curve: pd.DataFrame, tolerance: float = 0.02) -> float:
    """The smallest budget from which macro-F1 stays within ``tolerance`` of its best at
    any larger budget."""
    curve = curve.sort_values("epochs")
    f1 = curve["macro_f1"].to_numpy()
    best_after = np.maximum.accumulate(f1[::-1])[::-1]
    ok = f1 >= best_after - tolerance
    first = int(np.argmax([ok[i:].all() for i in range(len(ok))]))
    return float(curve["epochs"].to_numpy()[first])

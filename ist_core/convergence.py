"""Has a network learnt? The naive predictor's macro-F1 against its training steps.

A profile's budgets are set where these curves flatten (``Profile.predictor_epochs``),
not where a book's time runs out: a predictor stopped early scores low in and out of
distribution alike, and hides what the levels of generalization are there to show.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .metrics import macro_f1
from .train.loop import write_json
from .train.predictor import build_predictor, predict_proba, train_classifier
from .train.runtime import autocast
from .train.setup import FoldSetup


def learning_curve(setup: FoldSetup, epochs: float, points: int = 8, progress: bool = True,
                   oracle: bool = False) -> pd.DataFrame:
    """Train the naive predictor of ``setup``'s fold for ``epochs`` passes over its training
    images and score it on the fold's test images at ``points`` evenly spread steps. With
    ``oracle``, the oracle's predictor instead (true counterfactuals in training and at
    test time, :mod:`ist_core.train.oracle`): its training images are never the same
    twice, so it may need longer than the naive one.

    Tidy rows: dataset, level, fold, seed, row, step, epoch, macro_f1. The run lives in
    the fold's ``predictor-curve`` (``predictor-curve-oracle``) folder with the scores so
    far in ``curve.json``; a killed run resumes and keeps the points it had scored.
    """
    from .train.oracle import OracleTransfer

    transfer = OracleTransfer(setup) if oracle else None
    component = "predictor-curve-oracle" if oracle else "predictor-curve"
    import torch.nn.functional as F

    steps = max(1, math.ceil(epochs * len(setup.fold.train) / setup.profile.batch_size))
    marks = sorted({max(1, round(steps * k / points)) for k in range(1, points + 1)})
    folder = setup.run_dir(component, ist_dependent=False)
    path = folder / "curve.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    images = setup.dataset.images[setup.fold.test]
    y = setup.dataset.meta["y"].to_numpy()[setup.fold.test]
    per_epoch = len(setup.fold.train) / setup.profile.batch_size

    def loss(model, x, y_batch, oe, rng):
        with autocast(setup.device, setup.amp):
            logits = model(x)
        cause = F.cross_entropy(logits.float(), y_batch)
        return cause, {"cause": cause}

    def score(i, model):
        if i not in marks or any(r["step"] == i for r in rows):
            return
        model.eval()
        f1 = macro_f1(y, predict_proba(setup, model, images, transfer).argmax(1))
        model.train()
        rows.append({"dataset": setup.dataset.name, "level": setup.fold.level,
                     "fold": setup.fold.fold, "seed": setup.seed,
                     "row": "oracle" if oracle else "naive", "step": i,
                     "epoch": round(i / per_epoch, 2), "macro_f1": f1})
        write_json(path, rows)

    train_classifier(setup, component, build_predictor(setup), loss, progress, steps=steps,
                     after_step=score, batch=None if transfer is None else transfer.training_batch)
    return pd.DataFrame(rows).sort_values("step", ignore_index=True)


def plateau_epoch(curve: pd.DataFrame, tolerance: float = 0.02) -> float:
    """The first epoch from which macro-F1 stays within ``tolerance`` of its best later value."""
    curve = curve.sort_values("epoch")
    f1 = curve["macro_f1"].to_numpy()
    best_after = np.maximum.accumulate(f1[::-1])[::-1]
    ok = f1 >= best_after - tolerance
    first = int(np.argmax([ok[i:].all() for i in range(len(ok))]))
    return float(curve["epoch"].to_numpy()[first])

"""Evaluation metrics (paper Sec. 5.3)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def macro_f1(y_true, y_pred) -> float:
    """Macro-F1 over the causes present in ``y_true`` (Table 1's score).

    Predictions of causes absent from the test set count as errors but do not add
    classes of their own, so folds holding different causes stay comparable.
    """
    y_true = np.asarray(y_true)
    return float(f1_score(y_true, np.asarray(y_pred), labels=np.unique(y_true),
                          average="macro", zero_division=0))


def lisi(features, labels, perplexity: float = 30) -> np.ndarray:
    """Local inverse Simpson's index of ``labels`` around each row of ``features``
    (harmonypy's implementation; paper Sec. 5.3): from 1 (the neighbourhood holds one
    label) to the number of labels (all labels evenly mixed). One value per row."""
    import pandas as pd
    from harmonypy import compute_lisi

    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    if len(features) <= 3 * perplexity:
        raise ValueError(f"LISI with perplexity {perplexity} needs more than {3 * perplexity} rows, "
                         f"got {len(features)}; lower the perplexity or pass more cells")
    frame = pd.DataFrame({"label": labels})
    return compute_lisi(features, frame, ["label"], perplexity=perplexity)[:, 0]


def knn_batch_cv(features, meta, query, reference, level="plate", k: int = 15) -> float:
    """kNN batch-CV (paper Sec. 5.3): macro-F1 of a kNN classifier of the cause for the
    ``query`` rows, each classified only from ``reference`` rows outside its own OE at
    ``level`` (see :func:`ist_core.splits.knn_reference_sets`)."""
    from sklearn.neighbors import KNeighborsClassifier

    from .splits import knn_reference_sets

    features = np.asarray(features)
    y = meta["y"].to_numpy()
    truth, predicted = [], []
    for _, queries, refs in knn_reference_sets(meta, query, reference, level):
        if len(refs) == 0 or len(queries) == 0:
            continue
        model = KNeighborsClassifier(min(k, len(refs))).fit(features[refs], y[refs])
        truth.append(y[queries])
        predicted.append(model.predict(features[queries]))
    if not truth:
        raise ValueError("no query had a reference outside its own OE")
    return macro_f1(np.concatenate(truth), np.concatenate(predicted))

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

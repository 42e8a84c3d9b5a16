"""The causal framing in numbers (paper Sec. 3, Fig. 1).

In the observational training data the OE C predicts the cause Y, because a sparse
design puts each cause on some OEs only: the back-door path that lets a predictor
of Y lean on C. :func:`cause_oe_dependence` measures that dependence on a fold's
training images; :func:`interventional_dependence` measures it again in the
interventional distribution IST trains on, where style OEs are drawn independently
of the content's cause.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import mutual_info_score


def _entropy_bits(labels) -> float:
    p = pd.Series(labels).value_counts(normalize=True).to_numpy()
    return float(-(p * np.log2(p)).sum())


def cause_oe_dependence(y, oe, seed: int = 0, permutations: int = 20) -> dict:
    """Mutual information I(Y; C) in bits between causes ``y`` and OEs ``oe`` of the same
    images, the share of H(Y) it explains, and the same after shuffling the OEs
    (what a design without confounding would show at this sample size)."""
    y, oe = np.asarray(y), np.asarray(oe)
    rng = np.random.default_rng(seed)
    mi = mutual_info_score(y, oe) / np.log(2)
    shuffled = [mutual_info_score(y, rng.permutation(oe)) / np.log(2) for _ in range(permutations)]
    h = _entropy_bits(y)
    return {
        "I(Y;C) bits": float(mi),
        "H(Y) bits": h,
        "share of H(Y)": float(mi / h) if h > 0 else float("nan"),
        "I(Y;C) bits, OEs shuffled": float(np.mean(shuffled)),
        "OEs": int(len(np.unique(oe))),
        "images": int(len(y)),
    }


def interventional_dependence(y, oe, n: int = 20000, seed: int = 0) -> dict:
    """I(Y; C) of the pairs IST's predictor is trained on: causes drawn uniformly for the
    content images, OEs drawn uniformly for the style images, independently."""
    rng = np.random.default_rng(seed)
    causes, oes = np.unique(y), np.unique(oe)
    return cause_oe_dependence(rng.choice(causes, n), rng.choice(oes, n), seed=seed)

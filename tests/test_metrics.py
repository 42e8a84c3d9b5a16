"""Metrics: macro-F1, LISI (harmonypy) and kNN batch-CV."""

import numpy as np
import pandas as pd
import pytest

from ist_core.metrics import knn_batch_cv, lisi, macro_f1


def test_macro_f1_counts_only_the_causes_in_the_test_set():
    assert macro_f1([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx((1 + 2 / 3) / 2)


def test_lisi_is_one_for_separated_labels_and_their_number_when_evenly_mixed():
    rng = np.random.default_rng(0)
    separated = np.r_[rng.normal(0, 1, (150, 2)), rng.normal(50, 1, (150, 2))]
    labels = np.repeat(["a", "b"], 150)
    assert np.median(lisi(separated, labels)) == pytest.approx(1.0, abs=0.05)
    mixed = rng.normal(0, 1, (300, 2))
    shuffled = rng.permutation(labels)
    assert np.median(lisi(mixed, shuffled)) == pytest.approx(2.0, abs=0.2)
    three = rng.permutation(np.repeat(["a", "b", "c"], 100))
    assert np.median(lisi(mixed, three)) == pytest.approx(3.0, abs=0.35)


def test_lisi_refuses_too_few_cells_for_its_perplexity():
    with pytest.raises(ValueError, match="more than 90 rows"):
        lisi(np.zeros((50, 2)), np.zeros(50))


def _meta(n_plates=4, per=60):
    plates = np.repeat([f"p{i}" for i in range(n_plates)], per)
    y = np.tile([0, 1], n_plates * per // 2)
    return pd.DataFrame({"y": y, "plate": plates, "series": "s1", "well": plates})


def test_knn_batch_cv_rewards_features_of_the_cause_not_of_the_plate():
    meta = _meta()
    rng = np.random.default_rng(1)
    y = meta["y"].to_numpy()
    plate = meta["plate"].str[1:].astype(int).to_numpy()
    idx = np.arange(len(meta))
    biology = np.c_[y * 5.0, rng.normal(0, 1, len(y))]
    # each plate holds both causes, but a plate-specific offset dominates the features:
    # within a plate the cause is readable, across plates the nearest neighbours are wrong
    batch = np.c_[plate * 10.0 + y * 0.3 - (plate % 2) * 0.6 * y, rng.normal(0, 0.05, len(y))]
    good = knn_batch_cv(biology, meta, idx, idx, level="plate")
    bad = knn_batch_cv(batch, meta, idx, idx, level="plate")
    assert good > 0.95 and bad < 0.7


def test_knn_batch_cv_never_uses_references_from_the_querys_own_oe():
    meta = _meta(n_plates=2)
    # cause readable only through plate-specific, non-transferable codes
    features = np.c_[np.where(meta["plate"] == "p0", meta["y"], 1 - meta["y"]) * 10.0]
    idx = np.arange(len(meta))
    assert knn_batch_cv(features, meta, idx, idx, level="plate") == 0.0

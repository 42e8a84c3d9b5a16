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


def _scib_lisi(features, labels, perplexity, n_neighbors):
    """LISI from scib-metrics (``scib_metrics.lisi_knn``, the published implementation
    of the scIB benchmark) on each cell's ``n_neighbors`` nearest other cells by
    Euclidean distance."""
    from scib_metrics import lisi_knn
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    distances, indices = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(features).kneighbors(features)
    assert (indices[:, 0] == np.arange(len(features))).all()  # each cell is its own nearest
    graph = NeighborsResults(indices=indices[:, 1:], distances=distances[:, 1:])
    return np.asarray(lisi_knn(graph, labels, perplexity=perplexity), dtype=np.float64)


@pytest.mark.parametrize("perplexity", [30, 10])
def test_lisi_matches_scib_metrics_on_the_same_embedding(perplexity):
    rng = np.random.default_rng(5)
    labels = rng.permutation(np.repeat(["a", "b", "c"], 100))
    centres = {"a": (0.0, 0.0), "b": (1.5, 0.0), "c": (0.0, 1.5)}
    features = np.array([centres[label] for label in labels]) + rng.normal(0, 1, (300, 2))
    ours = lisi(features, labels, perplexity=perplexity)
    # partly mixed labels: the values spread between the limits 1 and 3
    assert ours.min() < 1.6 and ours.max() > 2.6 and ours.std() > 0.2
    # Two published neighbourhood sizes: harmonypy >= 2 takes the 3 * perplexity nearest
    # other cells; the R package lisi and harmonypy < 2 take 3 * perplexity counting the
    # cell itself, then drop it. They differ by up to 3e-3 (perplexity 30) and 1e-2 (10);
    # the wrapper must match one closely.
    references = [_scib_lisi(features, labels, perplexity, n)
                  for n in (3 * perplexity, 3 * perplexity - 1)]
    assert not np.allclose(references[0], references[1], rtol=1e-4, atol=0)
    assert any(np.allclose(ours, reference, rtol=1e-4, atol=0) for reference in references)


def test_lisi_is_one_in_every_separated_neighbourhood_and_two_when_interleaved():
    rng = np.random.default_rng(6)
    two = np.repeat(["a", "b"], 150)
    # labels 1000 apart: every neighbourhood holds one label only
    separated = np.r_[rng.normal(0, 1, (150, 2)), rng.normal(1000, 1, (150, 2))]
    np.testing.assert_allclose(lisi(separated, two), 1.0, atol=1e-9)
    # labels alternating around a circle: all neighbourhoods look alike, the two cells
    # 1, 3, 5 ... steps away hold the other label, those 2, 4, 6 ... steps away the
    # cell's own; LISI is the same for every cell and just under 2 (the nearest cells
    # are of the other label)
    angles = 2 * np.pi * np.arange(300) / 300
    circle = 300 * np.c_[np.cos(angles), np.sin(angles)]
    interleaved = lisi(circle, np.resize(["a", "b"], 300))
    assert 1.97 < interleaved.min() and interleaved.max() < 2.0        # measured 1.984
    assert np.ptp(interleaved) < 1e-9

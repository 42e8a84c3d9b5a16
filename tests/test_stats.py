"""Paired differences against the naive row with a bootstrap interval."""

import numpy as np
import pandas as pd
import pytest

from ist_core.stats import fewest_pairs, paired_differences, spot_check


def _scores(shift: float, noise: float, n_folds: int = 3, n_seeds: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(n_folds):
        fold_effect = rng.normal(0, 0.2)  # folds differ a lot; pairing removes it
        for s in range(n_seeds):
            base = 0.5 + fold_effect + rng.normal(0, 0.01)
            for method, value in (("baseline", base), ("ist", base + shift + rng.normal(0, noise))):
                rows.append({"dataset": "d", "method": method, "level": "2", "fold": fold,
                             "seed": s, "value": value})
    return pd.DataFrame(rows)


def test_a_consistent_gain_is_resolved_although_folds_vary_more_than_it():
    scores = _scores(shift=0.05, noise=0.01)
    out = paired_differences(scores).iloc[0]
    assert out["pairs"] == 9
    assert out["low"] < 0.05 < out["high"] and out["low"] > 0
    assert out["resolved"]
    # unpaired, the fold effect swamps the gain: the spread of each row exceeds it
    assert scores[scores.method == "baseline"]["value"].std() > 0.05


def test_no_gain_is_not_resolved():
    out = paired_differences(_scores(shift=0.0, noise=0.05, seed=3)).iloc[0]
    assert out["low"] < 0 < out["high"] and not out["resolved"]


def test_an_interval_over_fewer_pairs_than_a_sign_test_needs_resolves_nothing():
    assert fewest_pairs(0.95) == 6 and fewest_pairs(0.99) == 8  # 2/2**6 < 0.05 < 2/2**5
    scores = _scores(shift=0.1, noise=0.01, n_folds=1, n_seeds=5)
    out = paired_differences(scores).iloc[0]
    assert out["pairs"] == 5 and out["low"] > 0  # the interval lies above 0 ...
    assert not out["resolved"]  # ... but 5 positive pairs happen by chance 1 time in 16
    more = paired_differences(_scores(shift=0.1, noise=0.01, n_folds=2, n_seeds=3)).iloc[0]
    assert more["pairs"] == 6 and more["low"] > 0 and more["resolved"]


def test_only_pairs_both_rows_have_count():
    scores = _scores(shift=0.1, noise=0.01)
    scores = scores[~((scores.method == "ist") & (scores.fold == 0))]
    assert paired_differences(scores).iloc[0]["pairs"] == 6


def test_two_metrics_at_once_or_a_missing_reference_are_refused():
    scores = _scores(shift=0.1, noise=0.01)
    with pytest.raises(ValueError, match="one metric"):
        paired_differences(pd.concat([scores, scores]))
    with pytest.raises(ValueError, match="no 'naive' rows"):
        paired_differences(scores, against="naive")


def test_spot_check_flags_a_live_run_beyond_the_seeds_spread():
    stored = _scores(shift=0.1, noise=0.01)
    live = stored[(stored.fold == 1) & (stored.seed == 0)].copy()
    same = spot_check(stored, live)
    assert (same["difference"] == 0).all() and not same["differs"].any()
    sd = stored[(stored.fold == 1) & (stored.method == "ist")]["value"].std()
    live.loc[live.method == "ist", "value"] += 3 * sd
    moved = spot_check(stored, live).set_index("method")
    assert moved.loc["ist", "differs"] and not moved.loc["baseline", "differs"]
    assert moved.loc["ist", "difference"] == pytest.approx(3 * sd)


def test_spot_check_of_a_run_with_no_stored_twin_says_nothing():
    stored = _scores(shift=0.1, noise=0.01)
    live = stored[(stored.fold == 0) & (stored.seed == 0)].assign(seed=7)
    out = spot_check(stored, live)
    assert out["value stored"].isna().all() and out["differs"].isna().all()

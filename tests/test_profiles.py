"""Profiles: budgets per epoch of the training set."""

import pytest

from ist_core.profiles import get_profile
from ist_core.train import setup_fold


def test_predictor_budget_grows_with_the_training_set():
    quick = get_profile("quick")
    assert quick.predictor_steps == 0  # the budget comes from epochs
    small, large = quick.steps_for(1000), quick.steps_for(4000)
    assert large == pytest.approx(4 * small, abs=1)
    assert small * quick.batch_size >= quick.predictor_epochs * 1000
    fixed = get_profile("quick", predictor_steps=7)
    assert fixed.steps_for(1000) == fixed.steps_for(4000) == 7


def test_a_fold_with_more_training_images_trains_longer(tmp_path):
    prof = get_profile("quick", predictor_epochs=2.0)
    iid = setup_fold("synthetic-lincs", "iid", profile=prof, device="cpu", runs=tmp_path)
    level3 = setup_fold("synthetic-lincs", 3, fold=1, profile=prof, device="cpu", runs=tmp_path)
    assert len(iid.fold.train) != len(level3.fold.train)
    for setup in (iid, level3):
        assert setup.predictor_steps == prof.steps_for(len(setup.fold.train))
    assert (iid.predictor_steps > level3.predictor_steps) == (len(iid.fold.train) > len(level3.fold.train))

"""Training rates: measured in throwaway run folders, leaving the setup as it was."""

import math

import pytest

from ist_core.speed import generator_rates, training_rate
from ist_core.train import setup_fold, train_predictor


def test_rates_count_the_steps_asked_for_and_leave_the_setup_untouched(tmp_path):
    setup = setup_fold("synthetic-grid", level=2, fold=0, profile="tiny", device="cpu",
                       runs=tmp_path)
    profile = setup.profile
    seen = []

    def train(s):
        seen.append((s.profile.predictor_steps, s.runs))
        train_predictor(s, progress=False)

    rate = training_rate(train, setup, steps=3, warmup=1)
    assert [n for n, _ in seen] == [1, 3]
    assert math.isfinite(rate) and rate > 0
    assert setup.profile is profile and setup.runs == tmp_path
    assert not any(runs.exists() for _, runs in seen)  # the throwaway folders are gone
    assert not any(tmp_path.iterdir())  # nothing trained in the real runs folder
    rates = generator_rates(setup, steps=2, warmup=0)
    assert set(rates) == {"IST generator", "StarGAN v2"} and min(rates.values()) > 0
    with pytest.raises(ValueError, match="steps"):
        training_rate(train, setup, steps=0)

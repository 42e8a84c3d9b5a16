"""The learning curve trains one run per budget, and loads finished ones."""

import pandas as pd

from ist_core.convergence import learning_curve, plateau_epoch
from ist_core.train import setup_fold
from ist_core.train.predictor import cosine_lr


def test_learning_curve_trains_a_run_per_budget_and_loads_it_again(tmp_path):
    setup = setup_fold("synthetic-grid", "iid", profile="tiny", device="cpu", runs=tmp_path)
    curve = learning_curve(setup, budgets=(1, 2), progress=False)
    n = len(setup.fold.train)
    assert curve["epochs"].tolist() == [1.0, 2.0]
    assert curve["steps"].tolist() == [-(-n // 16), -(-2 * n // 16)]  # tiny's batch: 16
    assert curve["macro_f1"].between(0, 1).all() and set(curve["row"]) == {"naive"}
    folder = setup.run_dir("predictor-curve-e2", ist_dependent=False)
    stamp = (folder / "checkpoint.pt").stat().st_mtime_ns
    again = learning_curve(setup, budgets=(1, 2), progress=False)
    pd.testing.assert_frame_equal(curve, again)
    assert (folder / "checkpoint.pt").stat().st_mtime_ns == stamp  # loaded, not trained


def test_oracle_curve_uses_true_counterfactuals(tmp_path):
    setup = setup_fold("synthetic-grid", 2, profile="tiny", device="cpu", runs=tmp_path)
    curve = learning_curve(setup, budgets=(1,), oracle=True, progress=False)
    assert curve["row"].tolist() == ["oracle"]
    assert (tmp_path / "synthetic-grid" / "tiny" / "predictor-curve-oracle-e1").is_dir()


def test_learning_rate_falls_along_a_cosine_to_zero():
    assert cosine_lr(1e-3, 1, 100) == 1e-3
    assert abs(cosine_lr(1e-3, 51, 100) - 0.5e-3) < 1e-12
    assert 0 < cosine_lr(1e-3, 100, 100) < 1e-6
    rates = [cosine_lr(1.0, i, 50) for i in range(1, 51)]
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_plateau_is_where_the_curve_stops_rising():
    curve = pd.DataFrame({"epochs": [1, 2, 3, 4, 5, 6],
                          "macro_f1": [0.2, 0.5, 0.69, 0.72, 0.70, 0.71]})
    assert plateau_epoch(curve, tolerance=0.02) == 4
    assert plateau_epoch(curve, tolerance=0.05) == 3
    rising = curve.assign(macro_f1=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert plateau_epoch(rising) == 6

"""Figures of the Baselines chapter: the numbers behind them, and that each draws."""

import numpy as np
import pandas as pd

from ist_core import report


def test_neighbour_shares_count_cause_and_oe_among_the_nearest_images():
    rng = np.random.default_rng(0)
    causes = np.repeat(np.arange(4), 30)
    oes = np.tile(np.arange(3), 40)  # OEs spread evenly within every cause cluster
    features = np.eye(4)[causes] * 100 + rng.normal(size=(120, 4))
    shares = report.neighbour_shares(features, causes, oes, k=15)
    assert (shares["same cause"] == 1).all()  # clusters 100 apart: all neighbours share it
    assert abs(shares["same OE"].mean() - 9 / 29) < 0.1  # 9 of the 29 others share the OE
    by_oe = report.neighbour_shares(np.eye(3)[oes] * 100 + rng.normal(size=(120, 3)), causes, oes)
    assert (by_oe["same OE"] == 1).all() and by_oe["same cause"].mean() < 0.5


def test_baseline_figures_draw(tmp_path):
    shares = pd.DataFrame({"same cause": [0.2, 0.6], "same OE": [0.9, 1.0]})
    assert report.plot_neighbour_shares(shares, {"same cause": 0.25, "same OE": 0.3}).axes
    pd.DataFrame({"step": [5, 10], "cause": [1.2, 1.0], "oe": [1.0, 1.1],
                  "oe_acc": [0.6, 0.4]}).to_csv(tmp_path / "losses.csv", index=False)
    assert len(report.plot_dr_training(tmp_path, chance=1 / 3).axes) == 2
    x = np.random.default_rng(1).normal(size=(4, 8, 5, 5))
    assert len(report.plot_mixstyle_stats(x, x[::-1], np.array([3, 2, 1, 0])).axes) == 2
    before = {"oe": np.array([1.0, 1.5, 2.0]), "cause": np.array([1.0, 1.1, 1.2])}
    assert len(report.plot_lisi_shift(before, before).axes) == 2

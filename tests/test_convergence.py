"""The learning curve scores the naive predictor as it trains, and resumes."""

import numpy as np
import pandas as pd

from ist_core.convergence import learning_curve, plateau_epoch
from ist_core.train import setup_fold


def test_learning_curve_scores_at_spread_steps_and_is_kept(tmp_path):
    setup = setup_fold("synthetic-grid", "iid", profile="tiny", device="cpu", runs=tmp_path)
    curve = learning_curve(setup, epochs=2, points=4, progress=False)
    steps = int(np.ceil(2 * len(setup.fold.train) / setup.profile.batch_size))
    assert curve["step"].tolist() == [round(steps * k / 4) for k in range(1, 5)]
    assert curve["epoch"].iloc[-1] >= 2 and curve["macro_f1"].between(0, 1).all()
    # a finished run is loaded: the same points, nothing trained again
    folder = setup.run_dir("predictor-curve", ist_dependent=False)
    stamp = (folder / "checkpoint.pt").stat().st_mtime_ns
    again = learning_curve(setup, epochs=2, points=4, progress=False)
    pd.testing.assert_frame_equal(curve, again)
    assert (folder / "checkpoint.pt").stat().st_mtime_ns == stamp


def test_plateau_is_where_the_curve_stops_rising():
    curve = pd.DataFrame({"epoch": [1, 2, 3, 4, 5, 6], "macro_f1": [0.2, 0.5, 0.69, 0.72, 0.70, 0.71]})
    assert plateau_epoch(curve, tolerance=0.02) == 4
    assert plateau_epoch(curve, tolerance=0.05) == 3
    rising = curve.assign(macro_f1=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert plateau_epoch(rising) == 6

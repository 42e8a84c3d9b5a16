"""The knob sweep draws each reference row's mean at the level asked for."""

import matplotlib
import numpy as np
import pandas as pd

from ist_core import report

matplotlib.use("Agg")


def _scores():
    rows = []
    for row, base in (("naive", 0.3), ("oracle", 0.7)):
        for level in ("iid", "2"):
            for fold, seed in ((0, 0), (0, 1), (3, 0)):
                rows.append({"row": row, "level": level, "fold": fold, "seed": seed,
                             "value": base + (0.2 if level == "iid" else 0) + 0.01 * seed})
    return pd.DataFrame(rows)


def test_sweep_plots_one_line_per_row_at_the_level():
    scores = pd.concat([_scores().assign(knob="degradation", knob_value=v,
                                         value=lambda d, v=v: d["value"] - 0.1 * v)
                        for v in (0.0, 1.0, 2.0)])
    fig = report.plot_sweep(scores, "degradation", level="2")
    lines = fig.axes[0].get_lines()
    means = {tuple(np.round(np.asarray(line.get_ydata(), float), 3)) for line in lines
             if len(line.get_xdata()) == 3}
    assert (0.303, 0.203, 0.103) in means and (0.703, 0.603, 0.503) in means


def test_calibration_checks_are_told_with_each_missed_target():
    from ist_core.calibration import check_targets

    rows = [("naive", "iid", 0.9), ("naive", "1", 0.6), ("naive", "2", 0.3), ("naive", "3", 0.2),
            ("oracle", "iid", 0.8), ("oracle", "1", 0.8), ("oracle", "2", 0.8), ("oracle", "3", 0.7)]
    checks = check_targets(pd.DataFrame(rows, columns=["row", "level", "value"]), "grid")
    text = report.describe_checks(checks, "GRID")
    assert text.startswith("On GRID, 5 of the 6 calibration targets hold.")
    assert "naive at level 1, 0.67 where the target is at most 0.5 x IID" in text
    assert "oracle" not in text  # its targets hold
    assert "no target" in report.describe_checks(checks.iloc[:0], "GRID")


def _sweep(gains):
    rows = []
    for value, gain in gains.items():
        for fold in (0, 1):
            rows += [{"row": "naive", "level": "2", "fold": fold, "knob": "degradation",
                      "knob_value": value, "value": 0.3},
                     {"row": "oracle", "level": "2", "fold": fold, "knob": "degradation",
                      "knob_value": value, "value": 0.3 + gain}]
    return pd.DataFrame(rows)


def test_sweep_sentence_lists_the_bounds_gain_and_says_when_half_of_it_is_gone():
    kept = report.describe_sweep(_sweep({0: 0.6, 1: 0.5, 4: 0.4}), "degradation")
    assert "+0.60 at degradation = 0, +0.50 at degradation = 1, +0.40 at degradation = 4" in kept
    assert "keeps more than half of its gain" in kept
    lost = report.describe_sweep(_sweep({0: 0.6, 2: 0.2, 4: 0.25}), "degradation")
    assert "by degradation = 2 a perfect transfer has lost more than half" in lost
    assert "no oracle" in report.describe_sweep(_sweep({0: 0.6}).query("row == 'naive'"),
                                                "degradation")

"""A trained predictor under swapped test-time corrections (ist_core.corrections)."""

import numpy as np
import pandas as pd
import pytest
import torch

from ist_core.corrections import MomentMatching, correction_scores, correction_table
from ist_core import experiments
from ist_core.methods import get_method
from ist_core.train import setup_fold


def test_moment_matching_gives_each_channel_the_style_images_mean_and_spread():
    rng = np.random.default_rng(0)
    content = torch.tensor(rng.random((2, 3, 8, 8)), dtype=torch.float32)
    style = torch.tensor(rng.random((2, 3, 8, 8)) * 3 + 1, dtype=torch.float32)
    out = MomentMatching()(content, style)
    torch.testing.assert_close(out.mean(dim=(2, 3)), style.mean(dim=(2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(2, 3)), style.std(dim=(2, 3)), atol=1e-3, rtol=1e-3)
    # the content's pattern stays: the output is an increasing map of the content per channel
    order = torch.argsort(content[0, 0].flatten())
    assert torch.all(torch.diff(out[0, 0].flatten()[order]) >= 0)


def test_the_oracle_under_its_own_correction_scores_what_its_run_scores(tmp_path):
    setup = setup_fold("synthetic-grid", level=2, fold=0, seed=0, profile="tiny", device="cpu",
                       runs=tmp_path)
    oracle = get_method("oracle").fit(setup, progress=False)
    scores = correction_scores(setup, oracle.model, {"true re-render": oracle.transfer,
                                                     "none": None,
                                                     "moment matching": MomentMatching()})
    assert list(scores["correction"]) == ["true re-render", "none", "moment matching"]
    own = experiments.test_macro_f1(setup, oracle.predict(setup.dataset.images[setup.fold.test]))
    assert scores.loc[0, "macro_f1"] == pytest.approx(own)
    assert scores["macro_f1"].nunique() == 3  # each correction changes what the predictor sees


def test_correction_table_keeps_the_stored_order_and_gives_the_spread_over_folds():
    rows = [{"level": lv, "fold": f, "correction": c, "macro_f1": v + 0.1 * f}
            for lv in ("iid", "2") for f in (0, 1) for c, v in (("none", 0.5), ("true re-render", 0.8))]
    table = correction_table(pd.DataFrame(rows))
    assert list(table.columns) == ["none", "true re-render"]
    assert table.loc["2", "true re-render"] == "0.850 ± 0.071"
    single = correction_table(pd.DataFrame(rows[:2]))
    assert single.loc["iid", "none"] == "0.500"

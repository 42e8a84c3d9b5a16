"""Calibration rows: spread folds, LINCS fold groups, the table."""

import pytest

from ist_core.calibration import calibrate, calibration_table, fold_group, spread_folds
from ist_core.splits import make_folds


def test_spread_folds_cover_both_kinds_of_lincs_plates(lincs_tiny):
    folds = make_folds(lincs_tiny.meta, 2)
    chosen = spread_folds(lincs_tiny, 2, 2)
    groups = {fold_group(lincs_tiny.meta, "2", folds[k].held_out[0]) for k in chosen}
    assert groups == {"single-copy series", "replicated series"}
    assert spread_folds(lincs_tiny, "iid", 3) == [0]
    assert spread_folds(lincs_tiny, 3, 99) == list(range(len(make_folds(lincs_tiny.meta, 3))))


def test_grid_folds_are_one_group(grid_tiny):
    held = make_folds(grid_tiny.meta, 2)[0].held_out[0]
    assert fold_group(grid_tiny.meta, "2", held) == "all"


def test_calibrate_scores_rows_per_level_and_tabulates(tmp_path):
    scores = calibrate("synthetic-lincs", "tiny", levels=["iid", "2"], folds=2, seeds=(0,),
                       runs=tmp_path, progress=False, log=None, rows=("naive", "no nuisance", "latents"))
    assert set(scores["row"]) == {"naive", "no nuisance", "latents"}
    assert len(scores) == 3 * (1 + 2)  # rows x (iid + two level-2 folds)
    assert set(scores.loc[scores["level"] == "2", "group"]) == {"single-copy series", "replicated series"}
    # the nuisance-free row trained in its own folder, on other images
    assert len(list((tmp_path / "calibration").iterdir())) == 2
    table = calibration_table(scores)
    assert list(table.columns) == ["IID", "level 2"] and "x)" in table.loc["naive", "level 2"]
    with pytest.raises(ValueError, match="unknown calibration row"):
        calibrate("synthetic-lincs", "tiny", rows=("ist",))

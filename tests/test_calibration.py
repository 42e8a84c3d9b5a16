"""Calibration rows: spread folds, LINCS fold groups, the table."""

import pandas as pd
import pytest

from ist_core.calibration import (bound_targets, calibrate, calibration_table, calibration_tables,
                                  fold_group, knob_settings)
from ist_core.results import code_hash
from ist_core.splits import make_folds, spread_folds


def test_spread_folds_cover_both_kinds_of_lincs_plates(lincs_tiny):
    folds = make_folds(lincs_tiny.meta, 2)
    chosen = spread_folds(lincs_tiny.meta, 2, 2)
    groups = {fold_group(lincs_tiny.meta, "2", folds[k].held_out[0]) for k in chosen}
    assert groups == {"single-copy series", "replicated series"}
    assert spread_folds(lincs_tiny.meta, "iid", 3) == [0]
    assert spread_folds(lincs_tiny.meta, 3, 99) == list(range(len(make_folds(lincs_tiny.meta, 3))))


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
    # the networks' code is recorded (the latents row trains none): 3 naive + 3 nuisance-free
    assert scores.attrs["code"] == {code_hash(): 6}
    table = calibration_table(scores)
    assert list(table.columns) == ["IID", "level 2"] and "x)" in table.loc["naive", "level 2"]
    with pytest.raises(ValueError, match="unknown calibration row"):
        calibrate("synthetic-lincs", "tiny", rows=("ist",))


def test_each_data_seed_draws_and_trains_on_its_own_dataset(tmp_path):
    import json

    scores = calibrate("synthetic-grid", "tiny", levels=["iid"], folds=1, seeds=(0,),
                       runs=tmp_path, progress=False, log=None, rows=("naive",), data_seeds=(0, 3))
    assert sorted(scores["data_seed"]) == [0, 3]
    run = "synthetic-grid/tiny/predictor-naive/iid/seed0/config.json"
    configs = sorted((tmp_path / "calibration").glob(f"*/{run}"))
    # one folder per draw, each network trained on the draw it names
    assert len(configs) == 2
    assert sorted(json.loads(p.read_text())["dataset_info"]["seed"] for p in configs) == [0, 3]


def test_targets_are_checked_on_shares_of_the_rows_own_iid():
    import pandas as pd

    from ist_core.calibration import check_targets

    rows = [("naive", "iid", 0.8), ("naive", "1", 0.3), ("naive", "2", 0.5), ("naive", "3", 0.2),
            ("oracle", "iid", 0.6), ("oracle", "1", 0.6), ("oracle", "2", 0.5), ("oracle", "3", 0.4),
            ("latents", "iid", 0.95), ("latents", "2", 0.85)]
    scores = pd.DataFrame(rows, columns=["row", "level", "value"])
    result = check_targets(scores, "grid").set_index(["row", "level"])
    assert result.loc[("naive", "1"), "met"] and not result.loc[("naive", "2"), "met"]  # 0.625x
    assert result.loc[("oracle", "2"), "measured"] == 0.83 and not result.loc[("oracle", "2"), "met"]
    assert result.loc[("oracle", "3"), "met"]  # 0.67x >= 0.6x
    assert not result.loc[("latents", "all"), "met"]  # 0.85 at level 2
    with pytest.raises(ValueError, match="unknown design"):
        check_targets(scores, "jump")


def test_lincs_level_2_is_judged_on_the_replicated_plates():
    import pandas as pd

    from ist_core.calibration import check_targets

    rows = [("naive", "iid", "all", 0.8), ("naive", "2", "single-copy series", 0.05),
            ("naive", "2", "replicated series", 0.6), ("naive", "3", "all", 0.1)]
    scores = pd.DataFrame(rows, columns=["row", "level", "group", "value"])
    result = check_targets(scores, "lincs").set_index("level")
    assert result.loc["2 (replicated series)", "measured"] == 0.75
    assert result.loc["2 (replicated series)", "met"] and result.loc["3", "met"]


def _bounds(ist: dict) -> pd.DataFrame:
    rows = []
    base = {"iid": 0.8, "2": 0.3, "3": 0.2}
    for level, naive in base.items():
        for method, value in (("baseline", naive), ("histmatch", naive + 0.1),
                              ("oracle", 0.6), ("ist", ist[level])):
            rows.append({"method": method, "level": level, "fold": 0, "seed": 0, "value": value})
    return pd.DataFrame(rows)


def test_bound_targets_measure_the_share_of_the_room_taken():
    # room at level 2: 0.6 - 0.3 = 0.3; IST takes 0.2 of it (0.67 share) and beats histmatch
    out = bound_targets(_bounds({"iid": 0.79, "2": 0.5, "3": 0.25}), "lincs").set_index(
        ["level", "target"])["measured"]
    share_2 = out.loc["2"].iloc[0]
    assert share_2 == pytest.approx(0.2 / 0.3, abs=1e-3)
    table = bound_targets(_bounds({"iid": 0.79, "2": 0.5, "3": 0.25}), "lincs")
    assert table["met"].tolist() == [True, True, False, False, True]  # level 3: 0.05 of 0.4
    assert not bound_targets(_bounds({"iid": 0.70, "2": 0.5, "3": 0.25}), "lincs")["met"].iloc[-1]


def test_bound_targets_need_every_reference_row():
    scores = _bounds({"iid": 0.8, "2": 0.5, "3": 0.5})
    with pytest.raises(ValueError, match="missing \\['oracle'\\]"):
        bound_targets(scores[scores.method != "oracle"], "grid")
    with pytest.raises(ValueError, match="unknown design"):
        bound_targets(scores, "plate")


def test_knob_settings_sweep_one_knob_or_score_whole_combinations():
    fixed = {"degradation": 0.0}
    assert knob_settings(fixed) == [(None, None, fixed)]
    sweep = knob_settings(fixed, sweeps=["effect=1,2.5"])
    assert [k for _, _, k in sweep] == [{"degradation": 0.0, "effect": 1},
                                        {"degradation": 0.0, "effect": 2.5}]
    both = knob_settings(fixed, sweeps=["effect=2"], settings=["effect=3,well_scale=0"])
    assert both[1] == ("setting", "effect=3,well_scale=0",
                       {"degradation": 0.0, "effect": 3, "well_scale": 0})
    assert len(both) == 2


def test_calibration_tables_stack_one_table_per_setting_in_stored_order():
    rows = [{"row": "naive", "level": lv, "value": v + shift, "knob_value": setting}
            for setting, shift in (("nuisance=2", 0.0), ("nuisance=1", 0.1))
            for lv, v in (("iid", 0.8), ("2", 0.4))]
    tables = calibration_tables(pd.DataFrame(rows))
    assert list(tables.index) == [("nuisance=2", "naive"), ("nuisance=1", "naive")]
    assert tables.loc[("nuisance=1", "naive"), "level 2"] == "0.50 ± 0.00 (0.56x)"
    assert tables.loc[("nuisance=2", "naive"), "IID"] == "0.80 ± 0.00"

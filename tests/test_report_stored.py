"""The book's view of stored results: provenance with a warning box exactly when the code
that trained the runs is not today's, the paper's comparisons checked by paired
intervals, the sentences generated from them, and the live check's verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ist_core import report
from ist_core.results import code_hash, write_summary
from ist_core.stats import paired_differences, spot_check


def _scores(gap: float, noise: float, seed: int = 0) -> pd.DataFrame:
    """Tidy macro-F1 of baseline, IST and DR on GRID: IST ``gap`` above the baseline at every
    level (pair noise ``noise``), DR exactly the baseline."""
    rng = np.random.default_rng(seed)
    rows = []
    for level in ("iid", "1", "2", "3"):
        for fold in (0, 1):
            for s in (0, 1, 2):
                base = 0.3 + 0.1 * rng.random()
                for method, value in (("baseline", base), ("ist", base + gap + noise * rng.normal()),
                                      ("dr", base)):
                    rows.append({"dataset": "synthetic-grid", "profile": "quick", "method": method,
                                 "level": level, "fold": fold, "held_out": "x", "seed": s,
                                 "metric": "macro_f1", "value": value})
    return pd.DataFrame(rows)


def test_provenance_warns_only_when_some_runs_were_not_trained_by_todays_code(tmp_path):
    scores = _scores(0.1, 0.01)
    current = {"code": {code_hash(): 72}, "runs": 72, "seeds": [0, 1, 2],
               "folds": {"synthetic-grid": {"iid": [0], "1": [0, 1]}}, "profile": "quick"}
    write_summary(scores, "synthetic-grid", "quick", "table1", folder=tmp_path, provenance=current)
    meta = {"synthetic-grid": {**current, "trained_on": "a CPU"}}
    page = report.provenance_html(meta)
    assert "72 runs" in page and "seeds 0, 1, 2" in page and "Level-1: 2 folds" in page
    assert "Stale results" not in page
    old = {"synthetic-grid": {**current, "code": {code_hash(): 60, "0123456789ab": 12}}}
    page = report.provenance_html(old)
    assert "Stale results" in page and "12 by code that has changed since" in page
    assert "Stale results" in report.provenance_html({"synthetic-grid": {"rows": 5}})


def test_provenance_names_the_rows_that_hold_fewer_runs_than_the_others():
    scores = _scores(0.1, 0.01)
    meta = {"synthetic-grid": {"code": {code_hash(): 24}, "runs": 24, "seeds": [0, 1, 2]}}
    assert "Not every row" not in report.provenance_html(meta, scores)
    part = scores[(scores["method"] != "dr") | (scores["seed"] == 0)]
    page = report.provenance_html(meta, part)
    assert ("Not every row holds the same runs. Baseline and IST: 24 runs (seeds 0, 1, 2); "
            "DR: 8 runs (seed 0).") in page
    assert "Not every row" not in report.provenance_html(meta)  # no scores, nothing to count



def test_a_stored_summary_comes_with_its_provenance_and_a_missing_one_with_its_command(
        tmp_path, monkeypatch):
    monkeypatch.setenv("IST_RESULTS_DIR", str(tmp_path))
    scores, shown = report.stored_summary("synthetic-grid", "quick", "sweep", make="ist sweep --save")
    assert scores is None and "No stored <code>sweep</code>" in shown
    assert "<code>ist sweep --save</code>" in shown
    stale = {"code": {"0123456789ab": 3}, "runs": 3, "seeds": [0], "profile": "quick"}
    write_summary(_scores(0.1, 0.01), "synthetic-grid", "quick", "sweep", folder=tmp_path,
                  provenance=stale)
    scores, shown = report.stored_summary("synthetic-grid", "quick", "sweep", make="ist sweep --save")
    assert len(scores) == len(_scores(0.1, 0.01)) and "3 runs" in shown
    assert "Stale results" in shown

def test_paper_claims_follow_the_intervals_not_the_means():
    clear = report.paper_claims(_scores(0.1, 0.01), "synthetic-grid")
    ist = clear[clear["claim"] == "IST - baseline"].set_index("level")
    # the paper: IST above the baseline at every GRID level (+0.05 IID, +0.40, +0.40, +0.24)
    assert (ist["verdict"] == "supports").all()
    below = report.paper_claims(_scores(-0.1, 0.01), "synthetic-grid")
    assert (below[below["claim"] == "IST - baseline"]["verdict"] == "contradicts").all()
    noisy = report.paper_claims(_scores(0.0, 0.2), "synthetic-grid")
    assert (noisy[noisy["claim"] == "IST - baseline"]["verdict"] == "cannot resolve").any()
    rival = clear[clear["claim"].str.startswith("IST - DR")].set_index("level")["verdict"]
    # in the paper DR is above IST IID (0.73 against 0.60) and below it out of distribution
    assert rival.to_dict() == {"IID": "contradicts", "Level-1": "supports",
                               "Level-2": "supports", "Level-3": "supports"}
    text = report.claims_text(clear, "synthetic-grid")
    assert "IST - baseline: our intervals support the paper's sign at IID, Level-1, Level-2 and " \
           "Level-3" in text
    assert "IST - DR: our intervals contradict it at IID; support the paper's sign at Level-1" in text


def test_differences_are_described_by_what_the_intervals_resolve():
    scores = _scores(0.1, 0.01)
    diffs = paired_differences(scores)
    text = report.describe_differences(diffs)
    assert "of 6 out-of-distribution differences" in text and "resolve 3" in text
    assert "above it: IST (Level-1, Level-2 and Level-3)" in text
    assert "The other 3 (3 hold zero)" in text
    one_seed = paired_differences(scores[scores["seed"] == 0])  # 2 pairs per level
    text = report.describe_differences(one_seed)
    assert "resolve 0" in text and "rest on fewer than 6 pairs" in text


def test_live_check_text_flags_a_run_that_moved_beyond_the_seeds_spread():
    stored = _scores(0.1, 0.01)
    live = stored[(stored["seed"] == 0) & (stored["fold"] == 0) & (stored["level"] == "3")]
    assert "agree" in report.live_check_text(spot_check(stored, live))
    moved = live.assign(value=live["value"] + 0.3)
    assert "differ" in report.live_check_text(spot_check(stored, moved))


def test_missing_results_text_names_the_command_that_stores_them():
    grid = report.missing_results_text("quick")
    assert "make results PROFILE=quick" in grid and "--save table1" in grid
    assert "re-trains live" in grid
    ablation = report.missing_results_text("paper", "loss-ablation", live=False,
                                           command="ablation --dataset synthetic-grid --level 2 --save")
    assert "`ist ablation --dataset synthetic-grid --level 2 --save --profile paper`" in ablation
    assert "make results" not in ablation and "re-trains live" not in ablation


def test_live_check_table_names_methods_and_keeps_the_dataset_only_when_there_are_several():
    stored = _scores(0.1, 0.01)
    live = stored[(stored["fold"] == 0) & (stored["seed"] == 0) & (stored["level"] == "2")]
    table = report.live_check_table(spot_check(stored, live.assign(value=live["value"] + 0.5)))
    assert table.index.names == ["method", "level", "fold", "seed"]
    assert "dataset" not in table.columns
    assert set(table.index.get_level_values("method")) == {"Baseline", "IST", "DR"}
    assert (table["difference"] == 0.5).all()
    other = stored.assign(dataset="synthetic-lincs")
    both = pd.concat([stored, other])
    two = report.live_check_table(spot_check(both, pd.concat([live, live.assign(dataset="synthetic-lincs")])))
    assert two.index.names[0] == "dataset" and len(two) == 2 * len(table)

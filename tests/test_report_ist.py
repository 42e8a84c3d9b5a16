"""Figures, tables and sentences of the IST and causal chapters (ist_core.report.ist,
.bounds, .causal)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from ist_core import report
from ist_core.fidelity import JUDGED


def scores():
    rows = []
    for level, naive, ist in (("iid", (0.7, 0.8), (0.7, 0.6)), ("2", (0.3, 0.5), (0.6, 0.6))):
        for seed in (0, 1):
            rows += [{"level": level, "seed": seed, "method": "naive", "value": naive[seed]},
                     {"level": level, "seed": seed, "method": "ist", "value": ist[seed]}]
    return pd.DataFrame(rows)


def test_ood_table_gives_mean_and_sd_per_level_in_level_order():
    table = report.ood_table(scores())
    assert list(table.index) == ["IID", "level 2 (plate out)"]
    assert table.loc["level 2 (plate out)", "naive"] == "0.400 ± 0.141"
    assert table.loc["IID", "ist"] == "0.650 ± 0.071"
    single = report.ood_table(scores().query("seed == 0"))
    assert single.loc["IID", "naive"] == "0.700"  # no spread from one value


def test_ood_plot_has_one_bar_per_level_and_method_and_every_run_as_a_dot():
    fig = report.plot_ood(scores(), chance=0.25)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == [0.4, 0.6, 0.65, 0.75]
    dots = sum(len(c.get_offsets()) for c in ax.collections)
    assert dots == len(scores())


def test_bound_rows_keep_the_macro_f1_of_the_four_bounding_methods_in_role_order():
    rows = [{"method": m, "level": lv, "metric": metric, "value": 0.5}
            for m in ("oracle", "mixstyle", "ist", "baseline", "histmatch")
            for lv in ("iid", 2, "3") for metric in ("macro_f1", "accuracy")]
    kept, order = report.bound_rows(pd.DataFrame(rows), levels=["iid", "2"])
    assert order == ["baseline", "histmatch", "ist", "oracle"]
    assert set(kept["method"]) == set(order)
    assert set(kept["metric"]) == {"macro_f1"}
    assert sorted(set(kept["level"].astype(str))) == ["2", "iid"]  # 2 given as an int is kept
    assert len(report.bound_rows(pd.DataFrame(rows))[0]) == 12


def test_ood_plot_labels_registered_methods_by_their_display_names():
    fig = report.plot_ood(scores())  # "naive" is no registered method, "ist" is
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["naive", "IST"]


def test_agreement_sentence_questions_the_judge_only_when_histogram_matching_loses_the_cause():
    def rows(hist):
        return pd.DataFrame([
            {"method": m, "metric": "cause agreement", "value": v}
            for m, values in (("IST", (0.4, 0.3)), ("histogram matching", hist)) for v in values])
    low = report.describe_agreement(rows((0.2, 0.4)))
    assert "35% of IST's outputs" in low and "30% of histogram matching's" in low
    assert "changes its cause for 70% of them" in low
    high = report.describe_agreement(rows((0.95, 0.97)))
    assert "96% of histogram matching's" in high and "judge" not in high
    judged = pd.concat([rows((0.2, 0.4)), pd.DataFrame(
        [{"method": m, "metric": JUDGED, "value": v}
         for m, v in (("IST", 0.8), ("IST", 0.9), ("histogram matching", 0.95), ("truth", 0.97))])])
    text = report.describe_agreement(judged)
    assert "input's cause in 85% of IST's outputs, 95% of histogram matching's and 97% of the true" \
        in text
    assert "judged by it" in text and "judged by it" not in low
    assert "says as much about the judge" in text and "lives in the cells' intensities" not in text
    biology = pd.concat([rows((0.2, 0.4)), pd.DataFrame(
        [{"method": m, "metric": JUDGED, "value": v}
         for m, v in (("IST", 0.45), ("histogram matching", 0.4), ("truth", 0.8))])])
    both = report.describe_agreement(biology)  # the reader of biology loses the cause too
    assert "says as much about the judge" not in both
    assert "loses the cause in 60% of histogram matching's outputs" in both


def test_landing_sentence_sets_ist_beside_the_truth_where_it_was_scored():
    def rows(values):
        return pd.DataFrame([{"method": m, "metric": "landing rate", "level": lv, "fold": f,
                              "value": v} for (m, lv, f), v in values.items()])

    base = {("IST", "2", 0): 0.2, ("IST", "3", 0): 0.3, ("input", "2", 0): 0.0,
            ("input", "3", 0): 0.02, ("chance", "2", 0): 0.05, ("chance", "3", 0): 0.05}
    plain = report.describe_landing(rows(base))
    assert "over 2 folds" in plain and "25% of IST's outputs" in plain and "1% of the untouched" in plain
    assert "true counterfactuals" not in plain
    low = report.describe_landing(rows({**base, ("truth", "2", 0): 0.3, ("truth", "3", 0): 0.4}))
    assert "land there 35% of the time" in low and "reaches 71% of it" in low
    assert "out of any transfer's reach" in low
    high = report.describe_landing(rows({**base, ("truth", "2", 0): 0.9, ("truth", "3", 0): 0.8}))
    assert "reaches 29% of it." in high and "out of any transfer's reach" not in high


def test_loss_curves_show_every_term_but_the_total(tmp_path):
    pd.DataFrame({"step": [5, 10, 15], "adv": [1.0, 0.9, 0.8], "style": [0.5, 0.4, 0.4],
                  "total": [2, 2, 2], "seconds": [1, 1, 1]}).to_csv(tmp_path / "losses.csv",
                                                                   index=False)
    fig = report.plot_losses(tmp_path)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["adv", "style"]


def test_shortcut_table_averages_accuracy_and_chance_over_causes():
    records = [{"accuracy": 0.9, "chance": 0.5}, {"accuracy": 0.7, "chance": 0.3}]
    table = report.shortcut_table({"features": records})
    assert table.loc["features", "plate accuracy within cause"] == 0.8
    assert table.loc["features", "chance"] == 0.4
    assert table.loc["features", "causes tested"] == 2


def test_the_two_causal_models_are_drawn_side_by_side():
    fig = report.plot_scms()
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 2 and "delta" in titles[0] and "psi" in titles[1]
    image = np.asarray(fig.axes[0].images[0].get_array())
    assert image.shape[-1] == 4 and image[..., :3].std() > 0  # something was drawn


def test_network_table_counts_trainable_parameters():
    import torch

    table = report.network_table({"lin": torch.nn.Linear(3, 2)})
    assert table.loc["lin", "parameters"] == 8


def _paired():
    rows = []
    for fold in (0, 1):
        for seed in (0, 1, 2):
            for level, gain in (("iid", 0.0), ("2", 0.2), ("3", -0.1)):
                base = 0.5 + 0.05 * fold + 0.01 * seed
                noise = 0.01 * ((fold + seed) % 3 - 1)
                for method, value in (("naive", base), ("ist", base + gain + noise),
                                      ("oracle", base + 0.3)):
                    rows.append({"dataset": "d", "method": method, "level": level, "fold": fold,
                                 "seed": seed, "value": value})
    return pd.DataFrame(rows)


def test_difference_table_and_text_say_which_changes_are_resolved():
    from ist_core.stats import paired_differences

    scores = _paired()
    diffs = paired_differences(scores, against="naive")
    table = report.difference_table(diffs)
    assert list(table.index) == ["IID", "level 2 (plate out)", "level 3 (series out)"]
    assert table.loc["level 2 (plate out)", "ist"].startswith("+0.200 [")
    assert table.loc["level 2 (plate out)", "ist"].endswith("*")
    assert not table.loc["IID", "ist"].endswith("*")  # noise around 0
    text = report.describe_bounds(scores, diffs)
    assert "IST changes macro-F1 by +0.050" in text  # (0.2 - 0.1) / 2 levels
    assert "above naive at level 2; below naive at level 3" in text
    assert "takes 17% of the room" in text  # 0.05 / 0.3
    assert "up to 6 (fold, seed) pairs" in text
    assert "price of the intervention" not in text  # the oracle gains IID here
    costly = scores.copy()
    costly.loc[(costly["method"] == "oracle") & (costly["level"] == "iid"), "value"] -= 0.36
    text = report.describe_bounds(costly, paired_differences(costly, against="naive"))
    assert "A perfect transfer's is -0.060" in text and "price of the intervention" in text
    wider = (scores["method"] == "oracle") & (scores["level"] == "3")
    scores.loc[wider, "value"] += 0.2  # the oracle gains +0.3 at level 2, +0.5 at level 3
    diffs = paired_differences(scores, against="naive")
    only_2 = diffs[(diffs["method"] != "ist") | (diffs["level"] != "3")]
    text = report.describe_bounds(scores, only_2)  # IST scored at level 2 only: all at level 2
    assert "IST changes macro-F1 by +0.200 on average over level 2 (above" in text
    assert "takes 67% of the room" in text  # 0.2 / 0.3, not 0.2 over the oracle's (0.3 + 0.5) / 2


def test_describe_targets_names_each_missed_target_with_its_value():
    targets = pd.DataFrame([
        {"level": "2", "target": "share of the room taken", "measured": 0.345, "bound": ">= 0.6", "met": False},
        {"level": "3", "target": "ist - histmatch", "measured": 0.001, "bound": ">= 0", "met": True},
        {"level": "iid", "target": "ist - naive", "measured": -0.186, "bound": "within ±0.03", "met": False},
    ])
    text = report.describe_targets(targets)
    assert text.startswith("IST meets 1 of the 3 targets.")
    assert "level 2, share of the room taken: +0.345 (bound >= 0.6)" in text
    assert "IID, ist - naive: -0.186 (bound within ±0.03)" in text


def test_describe_ablation_names_the_terms_whose_removal_moves_fidelity():
    wide = pd.DataFrame({"PSNR": [22.0, 21.0, 22.1, 23.0], "landing rate": [0.8, 0.3, 0.75, 0.7],
                         "cause agreement": [0.95, 0.9, 0.97, 0.92]},
                        index=["full", "without adv", "without cycle", "without match"])
    text = report.describe_ablation(wide)
    assert "PSNR of 22.00 dB" in text
    assert "Dropping adv (-1.00 dB) lowers it" in text
    assert "Dropping match (+1.00 dB) raises it" in text
    assert "Dropping cycle" not in text and "cycle (+0.10 dB)" not in text  # within the tolerance
    assert "falls most without adv (-50 points) and falls least without cycle (-5)" in text
    gains = report.describe_ablation(wide.assign(**{"landing rate": [0.8, 0.3, 0.85, 0.7]}))
    assert "falls most without adv (-50 points) and rises most without cycle (+5)" in gains
    two = wide.assign(PSNR=[22.0, 21.0, 21.5, 22.0])
    assert "Dropping adv (-1.00 dB) and cycle (-0.50 dB) lowers it" in report.describe_ablation(two)
    assert "between 90% and 97%" in text
    flat = wide.assign(PSNR=22.0)
    assert "No single term's removal lowers it" in report.describe_ablation(flat)


def _fidelity(psnr, keep=0.10, shift=0.20, agreement=0.8):
    """Tidy fidelity scores, two channels per method, as evaluate_transfer gives them."""
    rows = []
    for method, db in psnr.items():
        for channel, offset in (("nucleus", -0.5), ("actin", 0.5)):
            rows += [{"method": method, "channel": channel, "metric": "PSNR", "value": db + offset},
                     {"method": method, "channel": channel, "metric": "SSIM", "value": db / 40}]
    rows += [{"method": "IST", "metric": "L1 to keep", "value": keep},
             {"method": "IST", "metric": "L1 to shift", "value": shift},
             {"method": "IST", "metric": "cause agreement", "value": agreement}]
    return pd.DataFrame(rows)


def test_fidelity_sentence_names_the_closest_method_and_ist_against_both_references():
    text = report.describe_fidelity(_fidelity({"IST": 24.0, "input": 20.0, "histogram matching": 25.0}))
    assert "IST 24.00 dB, doing nothing 20.00 dB, histogram matching 25.00 dB" in text
    assert "closest to the truth is **histogram matching**" in text
    assert "+4.00 dB against doing nothing and -1.00 dB against histogram matching" in text
    assert "closer to the `keep` counterfactual (L1 0.1000)" in text and "80% of them" in text
    far = report.describe_fidelity(_fidelity({"IST": 26.0, "input": 20.0, "histogram matching": 25.0},
                                             keep=0.3))
    assert "**IST**" in far and "not closer to the `keep`" in far


def test_reading_tells_outputs_that_stay_from_outputs_that_move_away_from_the_truth():
    still = {"outputs on target OE": 0.08, "inputs on target OE": 0.02}
    moving = {"outputs on target OE": 0.6, "inputs on target OE": 0.02}
    closer = _fidelity({"IST": 24.0, "input": 20.0, "histogram matching": 25.0})
    away = _fidelity({"IST": 19.0, "input": 20.0, "histogram matching": 25.0})
    stays = report.describe_reading(still, closer, match=0.5)
    assert "+6% more often" in stays and "barely moves" in stays and "Its weight is 0.5" in stays
    assert "away from the truth" in report.describe_reading(moving, away)
    good = report.describe_reading(moving, closer)
    assert "+58% more often" in good and "+4.00 dB from doing nothing" in good
    assert "closer to the truth than doing nothing" in good
    real = report.describe_reading(moving)  # no true counterfactuals: no claim about the truth
    assert "dB" not in real and "closer to the truth" not in real and "towards their target" in real


def test_corrections_sentence_splits_the_oracle_room_and_ists_correction():
    values = {("oracle", "true re-render"): 0.95, ("oracle", "IST generator"): 0.80,
              ("oracle", "moment matching"): 0.85, ("oracle", "histogram matching"): 0.70,
              ("oracle", "none"): 0.60, ("ist", "true re-render"): 0.91,
              ("ist", "IST generator"): 0.90, ("ist", "none"): 0.88,
              ("ist", "moment matching"): 0.87, ("ist", "histogram matching"): 0.75}
    rows = [{"predictor": p, "correction": c, "level": lv, "macro_f1": v}
            for (p, c), v in values.items() for lv in ("2", "3")]
    rows += [{"predictor": "oracle", "correction": c, "level": "iid", "macro_f1": v}
             for c, v in (("none", 0.9), ("IST generator", 0.6), ("true re-render", 0.1))]
    text = report.describe_corrections(pd.DataFrame(rows))
    assert "scores 0.950 with its own correction, 0.800 with IST's generator" in text
    assert "0.850 with the best pixel transfer (moment matching) and 0.600 with none" in text
    assert "+0.100 of the oracle row lies beyond every pixel transfer" in text
    assert "correction adds +0.020, a perfect one +0.030" in text
    assert "comes from what it was trained on" in text
    assert "untouched test images and 0.600 after IST's generator: the transfer itself costs 0.300" \
        in text  # IID rows enter this sentence only, not the OOD means above
    kept = pd.DataFrame(rows)
    kept.loc[(kept["level"] == "iid") & (kept["correction"] == "IST generator"), "macro_f1"] = 0.88
    assert "costs" not in report.describe_corrections(kept)
    carried = pd.DataFrame(rows).assign(macro_f1=lambda d: d["macro_f1"].where(
        ~((d["predictor"] == "ist") & (d["correction"] == "none")), 0.5))
    assert "carries a good part" in report.describe_corrections(carried)

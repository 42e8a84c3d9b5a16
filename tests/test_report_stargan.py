"""Figures and tables of the StarGAN v2 chapter (ist_core.report.stargan)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ist_core import report


class _Dataset:
    channels = ("nucleus", "mitochondria", "actin")


def _pairs(n=3, size=16):
    rng = np.random.default_rng(0)
    truth = rng.random((n, 3, size, size)).astype(np.float32)
    off = truth.copy()
    off[:, :, :4, :4] += 0.5  # a changed patch in the corner
    return {"x": rng.random((n, 3, size, size)), "style_images": rng.random((n, 3, size, size)),
            "keep": truth, "outputs": {"input": truth, "IST": truth.copy(), "StarGAN v2": off}}


def test_difference_maps_are_dark_where_the_output_is_the_truth_and_bright_where_not():
    fig = report.plot_counterfactual_differences(_Dataset(), _pairs(), n=2)
    grid = np.array(fig.axes[:2 * 7]).reshape(2, 7)  # axes are created row by row
    assert [ax.get_title() for ax in grid[0]] == [
        "content", "style", "truth (keep)", "IST", "|IST − truth|", "StarGAN v2",
        "|StarGAN v2 − truth|"]
    ist_map = grid[0, 4].get_images()[0].get_array()
    sg_map = np.asarray(grid[0, 6].get_images()[0].get_array())
    assert np.all(np.asarray(ist_map) == 0)
    assert sg_map[:4, :4].min() > 0 and sg_map[4:, 4:].max() < sg_map[:4, :4].min()
    with pytest.raises(ValueError, match="no outputs for"):
        report.plot_counterfactual_differences(_Dataset(), _pairs(), ("IST", "MUNIT"))


def test_predictor_umaps_draw_one_row_per_predictor_and_one_column_per_label(monkeypatch):
    # the layout is under test here; the book's tiny run draws real UMAPs
    from sklearn.decomposition import PCA

    monkeypatch.setattr(report.stargan, "umap_model", lambda random_state: PCA(2))
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"y_name": np.repeat(["a", "b"], 30), "plate": np.tile(["p1", "p2", "p3"], 20)})
    feats = {"Baseline": rng.normal(size=(60, 5)), "IST": rng.normal(size=(60, 5))}
    fig = report.plot_predictor_umaps(feats, meta)
    assert [ax.get_title() for ax in fig.axes] == [
        "Baseline: coloured by cause", "Baseline: coloured by plate",
        "IST: coloured by cause", "IST: coloured by plate"]
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 60
    with pytest.raises(ValueError, match="one row per row of meta"):
        report.plot_predictor_umaps({"IST": feats["IST"][:10]}, meta)


def test_rate_table_gives_each_rate_against_the_slowest():
    table = report.rate_table({"IST generator": 300.0, "StarGAN v2": 100.0})
    assert table.loc["IST generator", "× slowest"] == 3.0
    assert table.loc["StarGAN v2", "× slowest"] == 1.0


def test_size_sentence_adds_up_what_rendering_runs_and_what_adversarial_training_updates():
    sizes = pd.DataFrame({"parameters": {  # network_table's shape
        "IST: encoder (pretrained, then frozen)": 100, "IST: generator": 20,
        "IST: critic (training only)": 3, "StarGAN v2: generator": 1000,
        "StarGAN v2: mapping network": 200, "StarGAN v2: style encoder": 30,
        "StarGAN v2: discriminator (training only)": 4000}})
    text = report.describe_sizes(sizes)
    assert "encoder and generator (120 parameters)" in text
    assert "style encoder and generator (1,030)" in text
    assert "generator and critic (23;" in text and "all four networks (5,230)" in text


def _generator_scores(psnr, agree):
    return pd.DataFrame(
        [{"method": m, "metric": "PSNR", "value": v} for m, v in psnr.items()]
        + [{"method": m, "metric": "SSIM", "value": v / 40} for m, v in psnr.items()]
        + [{"method": m, "metric": "cause agreement", "value": v} for m, v in agree.items()])


def test_generator_sentences_follow_which_keeps_the_cause_and_how_far_stargan_strays():
    psnr = {"IST": 24.0, "StarGAN v2": 15.0, "input": 20.0, "histogram matching": 25.0}
    lost = report.describe_generators(
        _generator_scores(psnr, {"IST": 0.9, "StarGAN v2": 0.5, "input": 1.0, "histogram matching": 0.7}),
        stargan_steps=300)
    assert "15.0 dB (StarGAN v2) and 24.0 dB (IST)" in lost and "**histogram matching**" in lost
    assert "lose more of what the encoder reads" in lost
    assert "(5.0 dB): after 300 iterations" in lost and "changes its call for 30%" in lost
    kept = report.describe_generators(
        _generator_scores({**psnr, "StarGAN v2": 19.0},
                          {"IST": 0.5, "StarGAN v2": 0.9, "input": 1.0, "histogram matching": 0.95}),
        stargan_steps=300)
    assert "StarGAN v2 keeps the cause better" in kept
    assert "iterations" not in kept and "changes its call" not in kept


def test_iid_sentence_needs_all_three_predictors_and_says_whether_stargan_collapses():
    rows = [{"level": lv, "method": m, "value": v} for lv in ("iid", "2")
            for m, v in (("baseline", 0.8), ("stargan2", 0.3), ("ist", 0.7))]
    text = report.describe_stargan_iid(pd.DataFrame(rows), chance=0.2)
    assert "scores 0.30, far below the naive predictor's 0.80; IST's scores 0.70" in text
    assert "As in the paper" in text
    level = pd.DataFrame(rows)
    level.loc[level["method"] == "stargan2", "value"] = 0.79
    assert "about level with" in report.describe_stargan_iid(level, chance=0.2)
    assert report.describe_stargan_iid(pd.DataFrame(rows[:2]), chance=0.2) == ""


def test_mixing_table_counts_effective_neighbours_and_the_sentence_compares_the_two():
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"plate": np.repeat(["p1", "p2"], 60), "y": np.tile([0, 1], 60)})
    by_plate = np.where(meta["plate"] == "p1", 0.0, 10.0)[:, None] + rng.normal(0, 0.1, (120, 2))
    by_cause = (meta["y"].to_numpy() * 10.0)[:, None] + rng.normal(0, 0.1, (120, 2))
    mixing = report.mixing_table({"naive": by_plate, "IST": by_cause}, meta, "plate")
    assert list(mixing.index) == ["LISI over plates (of 2)", "LISI over causes (of 2)"]
    assert mixing.loc["LISI over plates (of 2)", "naive"] < 1.2 < mixing.loc["LISI over plates (of 2)", "IST"]
    assert "IST's features mix the plates more" in report.describe_mixing(mixing)
    assert "do not mix the plates more" in report.describe_mixing(mixing[["IST", "naive"]])


def test_rate_sentence_gives_the_ratio_of_the_two_generators():
    text = report.describe_rates({"IST generator": 300.0, "StarGAN v2": 60.0}, "a CPU")
    assert "On a CPU, IST's generator trains at 300 images/s and StarGAN v2 at 60" in text
    assert "**5.0 times**" in text


def test_budgets_add_up_the_logged_seconds_of_each_generator(tmp_path):
    from ist_core.profiles import get_profile

    for name, seconds in (("stargan", [10.0, 20.0, 30.0]), ("generator", [5.0, 15.0]),
                          ("encoder", [2.5, 2.5])):
        (tmp_path / name).mkdir()
        pd.DataFrame({"step": range(len(seconds)), "adv": 0.1, "seconds": seconds}).to_csv(
            tmp_path / name / "losses.csv", index=False)
    seconds = {label: report.training_seconds(tmp_path / name) for label, name in
               [("StarGAN v2", "stargan"), ("IST generator", "generator"),
                ("IST encoder", "encoder")]}
    assert seconds == {"StarGAN v2": 60.0, "IST generator": 20.0, "IST encoder": 5.0}
    text = report.describe_budgets("quick", get_profile("quick"), 10000, seconds)
    assert "60 s for StarGAN v2 and 20 s for IST's generator plus 5 s" in text
    assert "2.4 times as long" in text  # 60 / (20 + 5)

"""Figures and tables of the IST and causal chapters (ist_core.report.ist, .causal)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from ist_core import report


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

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

"""Figures of the book (ist_core.report) on a small hand-made dataset."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ist_core.data.store import Dataset
from ist_core.report import (
    channel_colours,
    design_table,
    occupancy_table,
    ordered_oes,
    plot_cell_grid,
    plot_channels,
    plot_design_matrix,
    plot_designs,
    summarize,
    to_rgb,
)

CHANNELS = ("nucleus", "mitochondria", "actin")


def make_dataset(seed=0, cells_per_well=3):
    """Two series, two plates each, two sections per plate; cause 'c' never on s2p10."""
    rows = []
    layout = {
        ("s1", "s1p1"): ["a", "b", "c"],
        ("s1", "s1p2"): ["a", "c"],
        ("s2", "s2p10"): ["a", "b"],
        ("s2", "s2p2"): ["b", "c"],
    }
    for (series, plate), causes in layout.items():
        for section in ("x", "y"):
            for cause in causes:
                well = f"{plate}{section}-{cause}"
                for _ in range(cells_per_well):
                    rows.append(dict(series=series, plate=plate, section=f"{plate}{section}",
                                     well=well, y_name=cause, y="abc".index(cause),
                                     cell_line=f"line-{cause}"))
    meta = pd.DataFrame(rows)
    rng = np.random.default_rng(seed)
    images = rng.random((len(meta), len(CHANNELS), 12, 12)).astype(np.float32)
    return Dataset(name="hand-made", images=images, meta=meta, channels=CHANNELS, unit="cell_line")


@pytest.fixture(scope="module")
def ds():
    return make_dataset()


def test_to_rgb_puts_each_channel_in_its_plane():
    img = np.zeros((3, 3, 8, 8), np.float32)
    for c in range(3):
        img[c, c, 2:6, 2:6] = 1.0  # image c lights only channel c
    rgb = to_rgb(img, CHANNELS, scale="none")
    assert rgb.shape == (3, 8, 8, 3)
    # nucleus -> blue (plane 2), mitochondria -> green (1), actin -> red (0)
    for c, plane in enumerate((2, 1, 0)):
        lit = rgb[c, 4, 4]
        assert lit[plane] == pytest.approx(1.0)
        assert np.delete(lit, plane).max() == 0.0
        assert rgb[c, 0, 0].max() == 0.0  # background stays black


def test_to_rgb_scalings():
    rng = np.random.default_rng(0)
    dim = rng.random((1, 3, 16, 16)).astype(np.float32) * 0.1
    bright = dim * 8
    both = np.concatenate([dim, bright])
    glob = to_rgb(both, CHANNELS, scale="global")
    per = to_rgb(both, CHANNELS, scale="image")
    assert glob.min() >= 0 and glob.max() <= 1
    # a global scale keeps the dim image dim; per-image scaling makes both alike
    assert glob[0].mean() < 0.5 * glob[1].mean()
    assert per[0].mean() == pytest.approx(per[1].mean(), rel=1e-3)
    assert to_rgb(both[0], CHANNELS).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="scale"):
        to_rgb(both, CHANNELS, scale="bogus")
    with pytest.raises(ValueError, match="channels"):
        to_rgb(both, CHANNELS[:2])


def test_channel_colours_fallback_differs_from_known():
    cols = channel_colours(["nucleus", "er", "rna"])
    assert tuple(cols[0]) == (0, 0, 1)
    assert not np.allclose(cols[1], cols[2])


def test_ordered_oes_by_series_then_natural_name(ds):
    assert ordered_oes(ds, "plate") == ["s1p1", "s1p2", "s2p2", "s2p10"]
    assert ordered_oes(ds, "series") == ["s1", "s2"]
    with pytest.raises(ValueError, match="no OE level"):
        ordered_oes(ds, "aisle")


@pytest.mark.parametrize("by,groups", [("y_name", ["a", "b", "c"]),
                                       ("plate", ["s1p1", "s1p2", "s2p2", "s2p10"])])
def test_cell_grid_has_one_row_per_group(ds, by, groups):
    fig = plot_cell_grid(ds, by=by, n_per_group=4, seed=1, scale="none")
    axes = np.array(fig.axes).reshape(len(groups), 4)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == groups
    assert all(len(ax.images) == 1 for ax in axes.ravel())
    # every image shown is a cell of its row's group
    rgb_all = to_rgb(ds.images, ds.channels, scale="none")
    for row, g in enumerate(groups):
        members = rgb_all[np.flatnonzero(ds.meta[by] == g)]
        for ax in axes[row]:
            shown = np.asarray(ax.images[0].get_array())
            assert any(np.array_equal(shown, m) for m in members)


def test_cell_grid_limits_rows_and_checks_groups(ds):
    fig = plot_cell_grid(ds, by="plate", n_per_group=2, max_groups=2)
    assert len(fig.axes) == 4
    assert "2 of 4" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="cannot group by"):
        plot_cell_grid(ds, by="colour")
    with pytest.raises(ValueError, match="no plate named"):
        plot_cell_grid(ds, by="plate", groups=["nowhere"])


def test_cell_grid_pads_small_groups(ds):
    fig = plot_cell_grid(ds, by="well", n_per_group=5, groups=["s1p1x-a"])
    assert sum(len(ax.images) for ax in fig.axes) == 3  # only three cells in that well


def test_design_table_zero_where_cause_absent(ds):
    table = design_table(ds, "plate")
    assert list(table.columns) == ["s1p1", "s1p2", "s2p2", "s2p10"]
    assert list(table.index) == ["a", "b", "c"]
    assert table.loc["c", "s2p10"] == 0 and table.loc["b", "s1p2"] == 0
    assert table.loc["a", "s1p1"] == 6  # two sections x three cells
    assert table.to_numpy().sum() == len(ds)


def test_design_matrix_plot_shows_the_table(ds):
    fig = plot_design_matrix(ds, level="plate", held_out=["s1p2"])
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    table = design_table(ds, "plate").to_numpy()
    assert shown.shape == table.shape
    assert np.array_equal(np.ma.getmaskarray(shown), table == 0)  # absent causes drawn blank
    assert np.array_equal(shown.filled(0), table)
    # one boundary between the two series, one outlined held-out column
    assert [line.get_xdata()[0] for line in ax.lines] == [1.5]
    assert len(ax.patches) == 1 and ax.patches[0].get_x() == pytest.approx(0.5)


def test_design_matrix_by_section_outlines_a_held_out_plate(ds):
    fig = plot_design_matrix(ds, level="section", held_out=["s2p2"])
    assert len(fig.axes[0].patches) == 2  # both sections of that plate


def test_plot_designs_grid(ds):
    fig = plot_designs([ds, ds], levels=("plate", "series"))
    heatmaps = [ax for sub in fig.subfigs for ax in sub.axes if ax.images]
    assert [ax.get_xlabel() for ax in heatmaps] == ["plate", "series"] * 2
    assert [ax.images[0].get_array().shape for ax in heatmaps] == [(3, 4), (3, 2)] * 2


def test_plot_channels_one_panel_per_channel_plus_composite(ds):
    fig = plot_channels(ds, index=5)
    titled = [ax.get_title() for ax in fig.axes if ax.images]
    assert titled == [*CHANNELS, "composite"]
    nucleus = np.asarray(fig.axes[0].images[0].get_array())  # (H, W), grey
    raw = ds.images[5, 0]
    assert nucleus.shape == raw.shape
    # a monotone stretch of the nucleus channel of that very cell
    assert np.corrcoef(nucleus.ravel(), raw.ravel())[0, 1] > 0.95
    composite = np.asarray(fig.axes[3].images[0].get_array())
    assert composite.shape == (*raw.shape, 3)


def test_tables(ds):
    occ = occupancy_table(ds)
    assert list(occ.index) == ["series", "plate", "section", "well"]
    assert occ.loc["plate", "OEs"] == 4
    assert occ.loc["plate", "filled share"] == pytest.approx(9 / 12, abs=0.01)
    assert occ.loc["well", "causes per OE"] == 1
    summary = summarize(ds)
    assert summary.loc["images", "value"] == str(len(ds))
    assert summary.loc["plates", "value"] == "4"


def test_diagnostics_figure_and_text_cover_every_split(grid_tiny):
    from ist_core import report
    from ist_core.diagnostics import diagnose

    result = diagnose(grid_tiny, max_folds=2)
    fig = report.plot_diagnostics(result)
    left, right = fig.axes[0], fig.axes[1]
    heights = sorted(round(p.get_height(), 6) for p in right.patches)
    expected = sorted(round(result[f"cause_f1_{s}_{k}"], 6) for s in ("iid", "plate_out", "series_out")
                      for k in ("pixels", "latents"))
    assert heights == expected
    # (a): one bar per cause, its chance marked over it
    by_cause = result["plate_by_cause"]
    assert [round(p.get_height(), 6) for p in left.patches] == [round(r["accuracy"], 6) for r in by_cause]
    marks = left.collections[0].get_segments()  # one short line over each bar
    np.testing.assert_allclose([m[0, 1] for m in marks], [r["chance"] for r in by_cause])
    np.testing.assert_allclose([m[:, 0].mean() for m in marks], range(len(by_cause)))
    assert [t.get_text() for t in left.get_xticklabels()] == [r["cause"] for r in by_cause]
    text = report.describe_diagnostics(result)
    assert f"{result['cause_f1_series_out_pixels']:.2f}" in text and "series" in text
    assert f"**{result['plate_accuracy_within_cause']:.2f}**" in text
    assert f"would reach {result['plate_chance_within_cause']:.2f} on average" in text


def test_describe_diagnostics_says_what_the_numbers_say():
    from ist_core import report

    base = {"plate_causes": 5, "plate_chance_within_cause": 0.3, "cause_f1_iid_pixels": 0.8,
            "cause_f1_plate_out_pixels": 0.5, "cause_f1_series_out_pixels": 0.3,
            "plate_folds": 4, "series_folds": 2}
    strong = report.describe_diagnostics({**base, "plate_accuracy_within_cause": 0.9})
    weak = report.describe_diagnostics({**base, "plate_accuracy_within_cause": 0.32})
    assert "leave a signature of their own" in strong and "little signature" in weak
    none = report.describe_diagnostics({**base, "plate_causes": 0,
                                        "plate_accuracy_within_cause": float("nan")})
    assert "nothing to compare" in none and "nan" not in none


def test_diagnostics_table_one_column_per_dataset(grid_tiny):
    from ist_core import report

    a = {"dataset": "x", "plate_accuracy_within_cause": 0.9, "cause_f1_iid_pixels": 0.7}
    b = {"dataset": "y", "plate_accuracy_within_cause": 0.5, "plate_chance_within_cause": 0.25,
         "cause_f1_iid_latents": 0.8}
    table = report.diagnostics_table([a, b])
    assert list(table.columns) == ["x", "y"]
    assert table.loc["plate accuracy within cause (pixels)", "y"] == 0.5
    assert table.loc["plate chance within cause (largest plate)", "y"] == 0.25
    assert table.loc["cause F1, latents, IID", "y"] == 0.8
    assert np.isnan(table.loc["cause F1, latents, IID", "x"])


@pytest.mark.parametrize("phenotype", ["keep", "shift"])
def test_counterfactual_figure_shows_the_rendered_cells(grid_tiny, phenotype):
    from ist_core import report
    from ist_core.data.synthetic import render_counterfactual

    fig = report.plot_counterfactuals(grid_tiny, index=3, n_targets=3, seed=2, scale="none",
                                      phenotype=phenotype)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 4
    np.testing.assert_allclose(shown[0].images[0].get_array(),
                               to_rgb(grid_tiny.images[3], grid_tiny.channels, scale="none"))
    for ax in shown[1:]:
        target = ax.get_title().split("\n")[1]
        expected = render_counterfactual(grid_tiny, [3], target, phenotype=phenotype, seed=2)[0]
        np.testing.assert_allclose(ax.images[0].get_array(),
                                   to_rgb(expected, grid_tiny.channels, scale="none"), atol=1e-6)
    said = {"keep": "phenotype kept", "shift": "phenotype shifted"}[phenotype]
    assert said in fig._suptitle.get_text()


def test_counterfactual_figure_both_rows_labelled(grid_tiny):
    from ist_core import report

    fig = report.plot_counterfactuals(grid_tiny, index=3, n_targets=2, scale="none", phenotype="both")
    axes = np.array(fig.axes).reshape(2, 3)
    labels = [axes[r, 0].get_ylabel() for r in range(2)]
    assert "same phenotype" in labels[0] and "do(C)" in labels[1]
    # same observed cell on both rows, different renderings where the OE shifts the phenotype
    a, b = (np.asarray(axes[r, 0].images[0].get_array()) for r in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(axes[0, 1].images[0].get_array(), axes[1, 1].images[0].get_array())
    with pytest.raises(ValueError, match="unknown phenotype 'all'.*'both'"):
        report.plot_counterfactuals(grid_tiny, phenotype="all")

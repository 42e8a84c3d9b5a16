import numpy as np
import pytest

from ist_core.data import load_dataset
from ist_core.data.synthetic import LATENTS, config_for, make_dataset, render_counterfactual


def test_deterministic_for_a_seed(grid_tiny):
    again = load_dataset("synthetic-grid", size="tiny", seed=0)
    np.testing.assert_array_equal(again.images, grid_tiny.images)
    other = load_dataset("synthetic-grid", size="tiny", seed=1)
    assert not np.allclose(other.images, grid_tiny.images)


def test_shapes_and_ranges(grid_tiny, lincs_tiny):
    for ds in (grid_tiny, lincs_tiny):
        n, c, h, w = ds.images.shape
        assert (c, h, w) == (3, 32, 32) and ds.images.dtype == np.float32
        assert 0 <= ds.images.min() and ds.images.max() <= 1
        assert ds.latents.shape == (n, len(LATENTS))
    assert "section" in grid_tiny.meta and "section" not in lincs_tiny.meta
    assert grid_tiny.unit == "cell_line" and lincs_tiny.unit == "compound"


def test_cells_are_cells_not_blobs(grid_tiny):
    img = grid_tiny.images[:50]
    nucleus, mito = img[:, 0], img[:, 1]
    # the nucleus is a compact bright region: its brightest pixels sit near the centre
    centre = nucleus[:, 8:24, 8:24].mean(axis=(1, 2))
    border = np.concatenate([nucleus[:, :4].reshape(50, -1), nucleus[:, -4:].reshape(50, -1)], 1)
    assert np.all(centre > border.mean(axis=1))
    # mitochondria are thin structures: high local contrast, unlike a smooth blob
    grad = np.abs(np.diff(mito, axis=-1)).mean(axis=(1, 2))
    assert np.median(grad / (mito.mean(axis=(1, 2)) + 1e-6)) > 0.15


def test_knobs_change_the_data():
    base = make_dataset("synthetic-grid", "tiny", image_size=48, channels=4, cells_per_well=2)
    assert base.images.shape[1:] == (4, 48, 48)
    assert base.channels[-1] == "membrane"
    calm = make_dataset("synthetic-grid", "tiny", nuisance=0.0, confounding=0.0, cells_per_well=4)
    plates = calm.meta["plate"].to_numpy()
    # without nuisance, plates share one imaging model: per-plate mean brightness converges
    means = [calm.images[plates == p].mean() for p in np.unique(plates)]
    noisy = make_dataset("synthetic-grid", "tiny", nuisance=2.0, cells_per_well=4)
    noisy_means = [noisy.images[plates == p].mean() for p in np.unique(plates)]
    assert np.std(means) < np.std(noisy_means)


def test_unknown_knob_and_size_are_named():
    with pytest.raises(ValueError, match="unknown generator knob.*'colour'.*valid knobs"):
        config_for("synthetic-grid", "tiny", colour=1)
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        config_for("synthetic-grid", "huge")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")


def test_counterfactual_in_own_oe_reproduces_pixels(grid_tiny):
    idx = [0, 5, 17]
    for i in idx:
        same = render_counterfactual(grid_tiny, [i], grid_tiny.meta["well"][i])
        np.testing.assert_array_equal(same[0], grid_tiny.images[i])


def test_counterfactual_moves_style_and_keeps_the_cell(grid_tiny):
    meta = grid_tiny.meta
    i = 0
    other = meta.loc[meta["plate"] != meta["plate"][i], "plate"].iloc[0]
    cf, z = render_counterfactual(grid_tiny, [i], other, return_latents=True)
    assert not np.allclose(cf[0], grid_tiny.images[i])
    # the cell itself (shape, position) is kept: its foreground mask barely changes,
    # whereas another cell imaged in the target plate overlaps far less
    def mask(x):
        s = x.sum(0)
        return s > np.percentile(s, 70)
    same_cell = (mask(cf[0]) & mask(grid_tiny.images[i])).sum() / mask(cf[0]).sum()
    j = meta.index[meta["plate"] == other][0]
    other_cell = (mask(grid_tiny.images[j]) & mask(grid_tiny.images[i])).sum() / mask(cf[0]).sum()
    assert same_cell > 0.8 and same_cell > other_cell
    # the phenotype moves only by the OEs' confounding shift, which is small
    assert np.abs(z[0] - grid_tiny.latents[i]).max() < 2.0


def test_counterfactual_without_confounding_keeps_latents():
    ds = make_dataset("synthetic-lincs", "tiny", confounding=0.0)
    _, z = render_counterfactual(ds, [0, 1], ds.meta["plate"].iloc[-1], return_latents=True)
    np.testing.assert_allclose(z, ds.latents[:2], atol=1e-6)


def test_counterfactual_unknown_oe(grid_tiny):
    with pytest.raises(ValueError, match="no OE of synthetic-grid"):
        render_counterfactual(grid_tiny, [0], "nowhere")


def test_paper_size_is_grid_scale():
    cfg = config_for("synthetic-grid", "paper")
    from ist_core.data.synthetic import cell_table

    meta, _ = cell_table(cfg)
    assert 15000 <= len(meta) <= 20000 and cfg.image_size >= 64


def test_load_dataset_renders_once_and_shares_read_only_arrays():
    a = load_dataset("synthetic-lincs", size="tiny", seed=5)
    b = load_dataset("synthetic-lincs", size="tiny", seed=5)
    assert a.images is b.images and not a.images.flags.writeable
    a.meta["extra"] = 1  # callers may annotate their own table
    assert "extra" not in b.meta
    c = load_dataset("synthetic-lincs", size="tiny", seed=5, nuisance=0.5)
    assert c.images is not a.images


def test_cached_rendering_is_memory_mapped_and_identical(tmp_path, monkeypatch):
    from ist_core.data import _render_synthetic

    monkeypatch.setenv("IST_DATA_DIR", str(tmp_path))
    fresh = load_dataset("synthetic-grid", size="tiny", seed=9, cache=True)
    stores = list((tmp_path / "synthetic").iterdir())
    assert len(stores) == 1 and stores[0].name.startswith("grid-seed9-")
    _render_synthetic.cache_clear()
    again = load_dataset("synthetic-grid", size="tiny", seed=9, cache=True)
    assert isinstance(again.images, np.memmap)
    np.testing.assert_array_equal(again.images, fresh.images)
    np.testing.assert_array_equal(again.latents, fresh.latents)
    assert again.meta.equals(fresh.meta)
    # the cached store still knows its generator: counterfactuals work from it
    np.testing.assert_array_equal(render_counterfactual(again, [3], again.meta["well"][3])[0],
                                  fresh.images[3])
    # another knob is another store
    load_dataset("synthetic-grid", size="tiny", seed=9, cache=True, nuisance=0.5)
    assert len(list((tmp_path / "synthetic").iterdir())) == 2

import re

from pathlib import Path

import numpy as np
import pytest

from ist_core.data import load_dataset
from ist_core.data import synthetic
from ist_core.data.synthetic import (
    LATENTS,
    cell_table,
    config_for,
    environment,
    make_dataset,
    render_counterfactual,
    target_path,
)


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
    # the same biology on every plate (no cause effect, no unit offset), so that what
    # differs between plates is the imaging
    same = dict(effect=0.0, unit_sd=0.0, oe_shift=0.0, cells_per_well=4)
    calm = make_dataset("synthetic-grid", "tiny", nuisance=0.0, **same)
    plates = calm.meta["plate"].to_numpy()
    # without nuisance, plates share one imaging model: per-plate mean brightness converges
    means = [calm.images[plates == p].mean() for p in np.unique(plates)]
    noisy = make_dataset("synthetic-grid", "tiny", nuisance=2.0, **same)
    noisy_means = [noisy.images[plates == p].mean() for p in np.unique(plates)]
    assert np.std(means) < np.std(noisy_means)


def test_unknown_knob_and_size_are_named():
    with pytest.raises(ValueError, match="unknown generator knob.*'colour'.*valid knobs"):
        config_for("synthetic-grid", "tiny", colour=1)
    # the knob that scales the OE's shift of the phenotype is called oe_shift
    with pytest.raises(ValueError, match="'confounding'.*valid knobs:.*nuisance, oe_shift"):
        config_for("synthetic-grid", "tiny", confounding=1.0)
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        config_for("synthetic-grid", "huge")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")


def test_counterfactual_in_own_oe_reproduces_pixels(grid_tiny):
    idx = [0, 5, 17]
    for i in idx:
        same = render_counterfactual(grid_tiny, [i], grid_tiny.meta["well"][i])
        np.testing.assert_array_equal(same[0], grid_tiny.images[i])


@pytest.mark.parametrize("kind,value,expected", [
    ("nuisance", "abc", "a number (int or float)"), ("nuisance", True, "a number (int or float)"),
    ("nuisance", None, "a number (int or float)"), ("image_size", 48.0, "an int"),
    ("image_size", "48", "an int"), ("channels", False, "an int"),
])
def test_knob_types_are_checked(kind, value, expected):
    message = f"knob '{kind}' expects {expected}, got {value!r} ({type(value).__name__})"
    with pytest.raises(ValueError, match=re.escape(message)):
        config_for("synthetic-grid", "tiny", **{kind: value})


def test_float_knobs_take_ints_and_store_floats():
    cfg = config_for("synthetic-grid", "tiny", nuisance=2, oe_shift=np.int64(0), image_size=np.int64(40))
    assert cfg.nuisance == 2.0 and isinstance(cfg.nuisance, float) and isinstance(cfg.oe_shift, float)
    assert cfg.image_size == 40 and type(cfg.image_size) is int
    # the same config however its numbers were spelled: one cache key
    assert synthetic.cache_key(cfg) == synthetic.cache_key(
        config_for("synthetic-grid", "tiny", nuisance=2.0, oe_shift=0.0, image_size=40))
    with pytest.raises(ValueError, match="knob 'seed' expects an int"):
        config_for("synthetic-grid", "tiny", seed=1.5)


def test_counterfactual_moves_style_and_keeps_the_cell(grid_tiny):
    meta = grid_tiny.meta
    i = 0
    other = meta.loc[meta["plate"] != meta["plate"][i], "plate"].iloc[0]
    cf, z = render_counterfactual(grid_tiny, [i], other, phenotype="shift", return_latents=True)
    assert not np.allclose(cf[0], grid_tiny.images[i])
    # the cell itself (shape, position) is kept: its foreground mask barely changes,
    # whereas another cell imaged in the target plate overlaps far less
    def mask(x):
        s = x.sum(0)
        return s > np.percentile(s, 70)
    same_cell = (mask(cf[0]) & mask(grid_tiny.images[i])).sum() / mask(cf[0]).sum()
    j = meta.index[meta["plate"] == other][0]
    other_cell = (mask(grid_tiny.images[j]) & mask(grid_tiny.images[i])).sum() / mask(cf[0]).sum()
    # (the target's illumination gradient moves some of the brightest pixels, so the
    # overlap is not 1; two centred cells overlap about 0.55 by position alone)
    assert same_cell > 0.7 and same_cell - other_cell > 0.15
    # the phenotype moves only by the difference of the OEs' shifts, which is small
    assert np.abs(z[0] - grid_tiny.latents[i]).max() < 2.0


def _other_plate(ds, i):
    meta = ds.meta
    return meta.loc[meta["series"] != meta["series"][i], "plate"].iloc[0]


def test_counterfactual_keep_has_the_datasets_latents(grid_tiny, lincs_tiny):
    for ds in (grid_tiny, lincs_tiny):
        idx = [0, 7, 30]
        target = _other_plate(ds, 0)
        images, z = render_counterfactual(ds, idx, target, phenotype="keep", return_latents=True)
        np.testing.assert_array_equal(z, ds.latents[idx])
        assert not np.allclose(images, ds.images[idx])  # the imaging did change


def test_counterfactual_shift_moves_latents_by_the_oe_shift_difference(grid_tiny):
    from ist_core.data.synthetic import _config_of, _paths

    cfg, meta = _config_of(grid_tiny), grid_tiny.meta
    idx = [0, 1, 50]
    target = _other_plate(grid_tiny, 0)
    _, z = render_counterfactual(grid_tiny, idx, target, phenotype="shift", seed=3,
                                 return_latents=True)
    target_dz = environment(cfg, target_path(grid_tiny, target, seed=3))["dz"]
    for row, i in enumerate(idx):
        source_dz = environment(cfg, _paths(meta)[meta["well"][i]])["dz"]
        assert np.abs(target_dz - source_dz).max() > 0.05  # the test means something
        np.testing.assert_allclose(z[row] - grid_tiny.latents[i], target_dz - source_dz, atol=1e-5)


def test_counterfactual_keep_and_shift_differ_when_the_oes_shift_differs(grid_tiny):
    target = _other_plate(grid_tiny, 0)
    keep = render_counterfactual(grid_tiny, [0], target, phenotype="keep")
    shift = render_counterfactual(grid_tiny, [0], target, phenotype="shift")
    assert np.abs(keep - shift).max() > 0.1
    # without any OE shift of the phenotype, the two are the same image
    calm = make_dataset("synthetic-lincs", "tiny", oe_shift=0.0)
    target = _other_plate(calm, 0)
    keep, zk = render_counterfactual(calm, [0, 1], target, phenotype="keep", return_latents=True)
    shift, zs = render_counterfactual(calm, [0, 1], target, phenotype="shift", return_latents=True)
    np.testing.assert_array_equal(keep, shift)
    np.testing.assert_allclose(zs, calm.latents[:2], atol=1e-6)


def test_counterfactual_in_own_oe_is_the_same_for_both_modes(lincs_tiny):
    for i in (0, 11):
        keep = render_counterfactual(lincs_tiny, [i], lincs_tiny.meta["well"][i], phenotype="keep")
        shift = render_counterfactual(lincs_tiny, [i], lincs_tiny.meta["well"][i], phenotype="shift")
        np.testing.assert_array_equal(keep[0], lincs_tiny.images[i])
        np.testing.assert_array_equal(shift[0], lincs_tiny.images[i])


def test_coarse_target_picks_a_well_with_the_seed(grid_tiny):
    meta = grid_tiny.meta
    plate = "s2p1"
    picked = {target_path(grid_tiny, plate, seed=s)["well"] for s in range(8)}
    assert len(picked) > 1  # not always the first well
    assert picked <= set(meta.loc[meta["plate"] == plate, "well"])
    # a well is used as it is, whatever the seed
    well = meta["well"][40]
    assert {target_path(grid_tiny, well, seed=s)["well"] for s in range(5)} == {well}
    # the seed reaches render_counterfactual: the picked well's imaging, so two seeds that
    # pick wells of different sections give different images (wells of one section share
    # their imaging when well_scale is 0, the default)
    wells = {s: target_path(grid_tiny, plate, seed=s) for s in range(16)}
    s0, s1 = 0, next(s for s in wells if wells[s]["section"] != wells[0]["section"])
    wells = {s: path["well"] for s, path in wells.items()}
    one = render_counterfactual(grid_tiny, [0], plate, seed=s0)
    np.testing.assert_array_equal(one, render_counterfactual(grid_tiny, [0], wells[s0]))
    assert not np.array_equal(one, render_counterfactual(grid_tiny, [0], plate, seed=s1))


def test_counterfactual_unknown_phenotype_names_the_choices(grid_tiny):
    with pytest.raises(ValueError, match=r"unknown phenotype 'both'.*\['keep', 'shift'\]"):
        render_counterfactual(grid_tiny, [0], "s1p1", phenotype="both")


def test_counterfactual_unknown_oe(grid_tiny):
    with pytest.raises(ValueError, match="no OE of synthetic-grid"):
        render_counterfactual(grid_tiny, [0], "nowhere")


def test_paper_size_is_grid_scale():
    cfg = config_for("synthetic-grid", "paper")
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
    # a save that stopped between its two renames left the store aside: still found
    stores[0].rename(stores[0].with_name(f".{stores[0].name}.replaced"))
    _render_synthetic.cache_clear()
    aside = load_dataset("synthetic-grid", size="tiny", seed=9, cache=True)
    assert isinstance(aside.images, np.memmap)
    np.testing.assert_array_equal(aside.images, fresh.images)
    # another knob is another store
    load_dataset("synthetic-grid", size="tiny", seed=9, cache=True, nuisance=0.5)
    assert len(list((tmp_path / "synthetic").iterdir())) == 2


def test_a_cell_is_keyed_on_its_well_not_on_the_table_order():
    small = make_dataset("synthetic-grid", "tiny", cells_per_well=3)
    # a third section on every plate adds wells before s1p2's; each well gains a cell
    large = make_dataset("synthetic-grid", "tiny", cells_per_well=4, sections_per_plate=3)
    well = "s1p2a-w01"
    a = np.flatnonzero(small.meta["well"] == well)
    b = np.flatnonzero(large.meta["well"] == well)[:3]
    assert len(large) > len(small) and b[0] != a[0]  # the cell moved in the table...
    assert small.meta["cell_seed"][a].tolist() == large.meta["cell_seed"][b].tolist()
    np.testing.assert_array_equal(small.images[a], large.images[b])  # ...and is the same cell
    np.testing.assert_array_equal(small.latents[a], large.latents[b])
    # the keyed function is what the table holds
    cfg = config_for("synthetic-grid", "tiny", cells_per_well=3)
    assert small.meta["cell_seed"][a[2]] == synthetic.cell_seed(cfg, well, 2)
    seeds = cell_table(cfg)[0]["cell_seed"]
    assert seeds.nunique() == len(seeds)


def test_cache_key_covers_every_module_that_shapes_the_pixels(tmp_path, monkeypatch):
    # every module under ist_core/data that synthetic.py imports shapes the pixels
    import re

    source = Path(synthetic.__file__).read_text()
    imported = {f"{m}.py" for m in re.findall(r"^from \.(\w+) import", source, re.M)}
    # and so does the keyed randomness every draw goes through (ist_core/seeding.py)
    assert "seeding" in re.findall(r"^from \.\.(\w+) import", source, re.M)
    assert imported and imported | {"synthetic.py", "seeding.py"} <= {
        p.name for p in synthetic.GENERATOR_FILES}
    copies = []
    for p in synthetic.GENERATOR_FILES:
        copy = tmp_path / p.name
        copy.write_bytes(p.read_bytes())
        copies.append(copy)
    monkeypatch.setattr(synthetic, "GENERATOR_FILES", tuple(copies))
    cfg = config_for("synthetic-grid", "tiny")
    key = synthetic.cache_key(cfg)
    for copy in copies:  # an edit to any of them renders anew
        copy.write_bytes(copy.read_bytes() + b"\n# edited\n")
        assert synthetic.cache_key(cfg) != key
        key = synthetic.cache_key(cfg)


def _imaging(cfg, meta):
    paths = synthetic._paths(meta)
    return {well: environment(cfg, path) for well, path in paths.items()}


def test_nuisance_and_degradation_are_separate_knobs(grid_tiny):
    """``nuisance`` moves only the invertible draws, ``degradation`` only blur and noise."""
    meta = grid_tiny.meta
    only_degraded = _imaging(config_for("synthetic-grid", "tiny", nuisance=0.0, oe_shift=0.0), meta)
    gains = np.stack([e["gain"] for e in only_degraded.values()])
    gammas = np.stack([e["gamma"] for e in only_degraded.values()])
    blurs = np.array([e["blur"] for e in only_degraded.values()])
    assert np.ptp(gains) == 0 and np.ptp(gammas) == 0 and np.ptp(blurs) > 0.05
    only_nuisance = _imaging(config_for("synthetic-grid", "tiny", degradation=0.0), meta)
    noise = np.array([e["noise"] for e in only_nuisance.values()])
    blurs = np.array([e["blur"] for e in only_nuisance.values()])
    gains = np.stack([e["gain"] for e in only_nuisance.values()])
    assert np.ptp(noise) == 0 and np.ptp(blurs) == 0 and np.ptp(gains) > 0.1
    # a knob scales the draws, it never re-draws them: same signs, twice the size
    one = _imaging(config_for("synthetic-grid", "tiny", degradation=1.0), meta)
    two = _imaging(config_for("synthetic-grid", "tiny", degradation=2.0), meta)
    log_blur = lambda envs: np.log([e["blur"] for e in envs.values()])  # noqa: E731
    np.testing.assert_allclose(log_blur(two) - np.log(0.5), 2 * (log_blur(one) - np.log(0.5)))


def test_level_scales_set_how_much_each_level_draws(grid_tiny):
    meta = grid_tiny.meta
    section_of = meta.drop_duplicates("well").set_index("well")["section"]
    same_section = _imaging(config_for("synthetic-grid", "tiny", well_scale=0.0), meta)
    for section, wells in section_of.groupby(section_of).groups.items():
        gains = np.stack([same_section[w]["gain"] for w in wells])
        assert np.ptp(gains, axis=0).max() == 0, section  # wells add nothing: one model per section
    own_wells = _imaging(config_for("synthetic-grid", "tiny", well_scale=1.0), meta)
    wells = section_of.index[section_of == section_of.iloc[0]]
    assert np.ptp(np.stack([own_wells[w]["gain"] for w in wells]), axis=0).max() > 0.05
    with pytest.raises(ValueError, match=r"\['well_scale'\] must be >= 0"):
        config_for("synthetic-grid", "tiny", well_scale=-1.0)


def test_clean_fluorescence_imaged_in_wells_is_the_true_counterfactual(grid_tiny):
    idx = np.array([0, 5, 40, 41])
    wells = grid_tiny.meta["well"].to_numpy()
    clean = synthetic.clean_fluorescence(grid_tiny, idx)
    own = synthetic.image_in_wells(grid_tiny, clean, idx, wells[idx])
    np.testing.assert_allclose(own, grid_tiny.images[idx], atol=1e-5)
    target = wells[-1]
    moved = synthetic.image_in_wells(grid_tiny, clean, idx, [target] * len(idx))
    np.testing.assert_allclose(moved, render_counterfactual(grid_tiny, idx, target), atol=1e-5)
    assert np.abs(moved - grid_tiny.images[idx]).mean() > 1e-3
    with pytest.raises(ValueError, match="not wells of synthetic-grid"):
        synthetic.image_in_wells(grid_tiny, clean, idx, ["nowhere"] * len(idx))


def test_each_design_has_its_calibrated_defaults_and_a_knob_overrides_them():
    grid, lincs = config_for("synthetic-grid", "tiny"), config_for("synthetic-lincs", "tiny")
    for knob, value in synthetic.DESIGN_DEFAULTS["lincs"].items():
        assert getattr(lincs, knob) == value
        assert getattr(grid, knob) == synthetic.DESIGN_DEFAULTS["grid"].get(
            knob, getattr(synthetic.SyntheticConfig, knob))
        assert getattr(config_for("synthetic-lincs", "tiny", **{knob: 0.7}), knob) == 0.7
    assert grid.plate_scale != lincs.plate_scale  # the designs' defaults do differ


def test_a_bright_oe_compresses_its_highlights_without_cutting_them_off():
    """The detector saturates softly: under a gain far above 1 every clean intensity still
    maps to its own pixel value (one to one, so invertible), where a hard clip at 1 would
    flatten the highlights into one value."""
    cfg = config_for("synthetic-grid", "tiny", degradation=0.0, nuisance=0.0)
    env = environment(cfg, {"series": "s1", "plate": "s1p1"})
    env.update(gain=np.full(cfg.channels, 4.0), noise=0.0, blur=1e-6, gradient=np.zeros(2),
               background=np.zeros(cfg.channels), mix=np.eye(cfg.channels))
    ramp = np.linspace(0.05, 1.0, 16 * 16).reshape(16, 16)
    image = synthetic.image_cell(np.stack([ramp] * cfg.channels), env, cell_seed=1)
    values = np.sort(image[0].ravel())
    assert values.max() < 1.0 and np.all(np.diff(values) > 0)
    # the hard detector (the generator before calibration) flattens them
    hard = synthetic.image_cell(np.stack([ramp] * cfg.channels), {**env, "detector": "hard"}, 1)
    assert (hard[0] == 1.0).mean() > 0.5
    with pytest.raises(ValueError, match="unknown detector 'linear'; choose one of"):
        config_for("synthetic-grid", "tiny", detector="linear")
    # and a dim OE stays close to linear
    env["gain"] = np.full(cfg.channels, 0.1)
    dim = synthetic.image_cell(np.stack([ramp] * cfg.channels), env, cell_seed=1)[0]
    np.testing.assert_allclose(dim, 0.1 * ramp, rtol=0.01)


def test_imaging_groups_are_the_finest_level_that_draws(grid_tiny):
    groups = synthetic.imaging_groups(grid_tiny)
    np.testing.assert_array_equal(groups, grid_tiny.meta["section"].to_numpy())  # wells draw 0
    wells = make_dataset("synthetic-grid", "tiny", well_scale=0.5, cells_per_well=2)
    np.testing.assert_array_equal(synthetic.imaging_groups(wells), wells.meta["well"].to_numpy())
    # cells of one group are imaged alike: the clean cell through either well's draws is equal
    meta = grid_tiny.meta
    first = meta["section"].iloc[0]
    a, b = meta.loc[meta["section"] == first, "well"].drop_duplicates().iloc[:2]
    cfg = config_for("synthetic-grid", "tiny")
    paths = synthetic._paths(meta)
    env_a, env_b = environment(cfg, paths[a]), environment(cfg, paths[b])
    assert all(np.array_equal(env_a[k], env_b[k]) for k in env_a)

import numpy as np
import pytest

from ist_core.data.design import cause_oe_matrix, describe, grid_design, lincs_design, sparsity


def test_grid_sections_share_their_plates_cell_lines():
    wells = grid_design(6, 2, 3, 2, 2, 2)
    for _, plate in wells.groupby("plate"):
        lines = [frozenset(s["unit"]) for _, s in plate.groupby("section")]
        assert len(set(lines)) == 1 and len(lines) == 2


def test_grid_plates_and_series_overlap_only_partly():
    wells = grid_design(6, 2, 3, 2, 2, 2)
    units = {p: set(g["unit"]) for p, g in wells.groupby("plate")}
    plates = sorted(units)
    pairs = [(a, b) for i, a in enumerate(plates) for b in plates[i + 1:]]
    overlaps = [len(units[a] & units[b]) / len(units[a]) for a, b in pairs]
    assert 0 < np.mean(overlaps) < 1 and min(overlaps) < 1 and max(overlaps) > 0
    series = {s: set(g["unit"]) for s, g in wells.groupby("series")}
    assert all(0 < len(series[a] & series[b]) < 12 for a in series for b in series if a < b)
    # every cell line is seen on at least two plates, so leave-plate-out can test it
    assert wells.groupby("unit")["plate"].nunique().min() >= 2


def test_lincs_plate_maps_share_only_the_control():
    wells = lincs_design(5, 3, replicates=5)
    maps = {m: set(g["y"]) - {0} for m, g in wells.groupby("plate_map")}
    assert all(not (maps[a] & maps[b]) for a in maps for b in maps if a < b)
    assert (wells.groupby("plate")["y"].apply(lambda y: 0 in set(y))).all()


def test_lincs_series_structure():
    wells = lincs_design(6, 2, replicates=5)
    first = wells[wells["series"] == "s1"]
    assert first.groupby("plate_map")["plate"].nunique().eq(1).all()
    assert first["plate_map"].nunique() == 6
    subsets = {s: set(g["plate_map"]) for s, g in wells[wells["series"] != "s1"].groupby("series")}
    assert len(subsets) == 4
    assert all(not (subsets[a] & subsets[b]) for a in subsets for b in subsets if a < b)
    reps = wells[wells["series"] != "s1"].groupby("plate_map")["plate"].nunique()
    assert reps.eq(5).all()


def test_lincs_needs_enough_maps():
    with pytest.raises(ValueError, match="at least as many plate maps"):
        lincs_design(3, 2)


def test_cause_oe_matrix_and_sparsity(grid_tiny):
    matrix = cause_oe_matrix(grid_tiny.meta, "plate")
    assert matrix.shape == (grid_tiny.n_causes, grid_tiny.meta["plate"].nunique())
    assert matrix.to_numpy().sum() == len(grid_tiny)
    assert list(matrix.index) == grid_tiny.cause_names
    assert sparsity(grid_tiny.meta, "plate") == pytest.approx(np.mean(matrix.to_numpy() == 0))
    assert 0 < sparsity(grid_tiny.meta, "plate") < 1


def test_cause_oe_matrix_unknown_level(lincs_tiny):
    with pytest.raises(ValueError, match="no OE level 'section'"):
        cause_oe_matrix(lincs_tiny.meta, "section")


def test_describe(lincs_tiny):
    info = describe(lincs_tiny)
    assert info["images"] == len(lincs_tiny)
    assert "section" not in info["oes_per_level"]
    assert sum(info["cells_per_cause"].values()) == len(lincs_tiny)
    assert info["sparsity"]["plate"] > info["sparsity"]["series"] > 0

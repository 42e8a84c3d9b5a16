"""The cause-OE dependence measured in the causal chapter."""

import numpy as np

from ist_core.causal import cause_oe_dependence, interventional_dependence


def test_a_design_where_the_oe_decides_the_cause_carries_all_of_its_entropy():
    y = np.repeat([0, 1, 2, 3], 50)
    oe = np.repeat(["p1", "p2", "p3", "p4"], 50)  # one cause per plate
    result = cause_oe_dependence(y, oe)
    assert np.isclose(result["I(Y;C) bits"], 2.0) and np.isclose(result["share of H(Y)"], 1.0)
    assert result["I(Y;C) bits, OEs shuffled"] < 0.2


def test_a_dense_balanced_design_carries_none():
    y = np.tile([0, 1, 2, 3], 48)
    oe = np.repeat(["p1", "p2", "p3", "p4"], 48)  # every cause on every plate, 12 cells each
    assert np.isclose(cause_oe_dependence(y, oe)["I(Y;C) bits"], 0.0, atol=1e-12)


def test_the_interventional_pairs_are_near_independent_even_for_a_confounded_design():
    y = np.repeat([0, 1, 2, 3], 50)
    oe = np.repeat(["p1", "p2", "p3", "p4"], 50)
    result = interventional_dependence(y, oe, n=20000)
    assert result["I(Y;C) bits"] < 0.01
    assert result["OEs"] == 4

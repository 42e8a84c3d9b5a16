import numpy as np
import pytest

from ist_core.data.synthetic import make_dataset
from ist_core.diagnostics import diagnose, format_diagnostics, pixel_features, plate_within_cause


def test_pixel_features_pool():
    images = np.zeros((2, 3, 16, 16), np.float32)
    images[0, 1, :8, :8] = 1.0
    feats = pixel_features(images, grid=2)
    assert feats.shape == (2, 12)
    assert feats[0, 4] == 1.0 and feats[0].sum() == 1.0
    with pytest.raises(ValueError, match="not divisible"):
        pixel_features(np.zeros((1, 1, 10, 10), np.float32), grid=4)


@pytest.fixture(scope="module")
def grid_result(grid_tiny):
    return diagnose(grid_tiny, seed=0)


def test_plate_is_predictable_from_pixels_within_each_cause(grid_result, lincs_tiny):
    r = grid_result
    assert r["plate_causes"] == r["n_causes"] == len(r["plate_by_cause"])
    # the defaults put more nuisance into sections than into plates, so a plate alone is
    # a weaker signature than the whole OE path; on average it still beats chance
    assert r["plate_accuracy_within_cause"] > r["plate_chance_within_cause"] + 0.1
    # with a strong plate draw, the check finds it far above chance, and better than at the
    # defaults (not for every cause: a cause whose cells vary much hides its plates)
    strong = diagnose(make_dataset("synthetic-grid", "tiny", plate_scale=2.0), seed=0, max_folds=2)
    assert strong["plate_accuracy_within_cause"] > strong["plate_chance_within_cause"] + 0.25
    assert strong["plate_accuracy_within_cause"] > r["plate_accuracy_within_cause"]
    lincs = diagnose(lincs_tiny, max_folds=2)
    assert lincs["plate_accuracy_within_cause"] > 2 * lincs["plate_chance_within_cause"]


def test_plate_chance_is_each_causes_largest_plate_share(grid_tiny):
    meta = grid_tiny.meta
    # unbalance cause 1: drop its cells in one section of one of its plates
    first = meta.loc[meta["y"] == 1, "plate"].iloc[0]
    keep = ~((meta["y"] == 1) & (meta["section"] == f"{first}b"))
    records = plate_within_cause(pixel_features(grid_tiny.images[keep]),
                                 meta[keep].reset_index(drop=True))
    for rec in records:
        cells = meta[keep & (meta["y_name"] == rec["cause"])]
        assert rec["cells"] == len(cells) and rec["plates"] == cells["plate"].nunique()
        assert rec["chance"] == pytest.approx(cells["plate"].value_counts(normalize=True).max())
    assert {r["cause"]: r["chance"] for r in records}["disease-1"] > 0.6


def _toy(layout: dict, signature: dict | None = None, seed: int = 0):
    """Cells with 4 features: the cause shifts the first two, a plate's signature the last two."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows, feats = [], []
    for plate, causes in layout.items():
        for cause in causes:
            for w in range(2):
                for _ in range(30):
                    rows.append({"y": cause, "y_name": f"c{cause}", "plate": plate,
                                 "well": f"{plate}-{cause}-{w}"})
                    shift = (signature or {}).get(plate, [0, 0])
                    feats.append(rng.normal([3.0 * cause, -3.0 * cause, *shift], 1.0))
    return np.asarray(feats), pd.DataFrame(rows)


def test_plate_check_is_at_chance_when_plates_differ_only_in_their_causes():
    # across causes the plate is easy to tell (p1 holds c0 and c1 only ...), within a cause not
    x, meta = _toy({"p1": [0, 1], "p2": [1, 2], "p3": [2, 0]})
    records = plate_within_cause(x, meta)
    assert [r["plates"] for r in records] == [2, 2, 2]
    for r in records:
        assert r["chance"] == pytest.approx(0.5)
        assert abs(r["accuracy"] - 0.5) < 0.15


def test_plate_check_finds_a_plate_signature():
    # two plate maps, each on two plates; the control c0 sits on every plate
    layout = {"p1": [0, 1, 2], "p2": [0, 1, 2], "p3": [0, 3, 4], "p4": [0, 3, 4]}
    signature = {"p1": [0, 0], "p2": [3, 0], "p3": [0, 3], "p4": [3, 3]}
    x, meta = _toy(layout, signature)
    records = {r["cause"]: r for r in plate_within_cause(x, meta)}
    assert records["c0"]["plates"] == 4 and records["c0"]["chance"] == pytest.approx(0.25)
    assert all(records[c]["accuracy"] > 0.8 for c in ("c1", "c2", "c3", "c4"))
    assert records["c0"]["accuracy"] > 0.4
    # and finds nothing without one
    x, meta = _toy(layout)
    records = plate_within_cause(x, meta)
    assert np.mean([r["accuracy"] - r["chance"] for r in records]) < 0.1


@pytest.mark.parametrize("name", ["synthetic-grid", "synthetic-lincs"])
def test_without_nuisance_the_shortcut_disappears(name):
    calm = diagnose(make_dataset(name, "tiny", nuisance=0.0, oe_shift=0.0), max_folds=4)
    # no batch signature: within a cause the plate is named at chance level
    assert abs(calm["plate_accuracy_within_cause"] - calm["plate_chance_within_cause"]) < 0.1
    if name == "synthetic-grid":  # and pixels no longer collapse when a plate is held out
        assert calm["cause_f1_iid_pixels"] - calm["cause_f1_plate_out_pixels"] < 0.2


def test_format_mentions_every_check(grid_result):
    text = format_diagnostics(grid_result)
    for tag in ("(a)", "(b)", "(c)", "leave-plate-out", "own cause"):
        assert tag in text
    assert f"mean accuracy {grid_result['plate_accuracy_within_cause']:.3f}" in text
    assert f"mean chance {grid_result['plate_chance_within_cause']:.3f}" in text

import numpy as np
import pytest

from ist_core.data.synthetic import make_dataset
from ist_core.diagnostics import diagnose, format_diagnostics, pixel_features


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


def test_plate_is_predictable_from_pixels(grid_result):
    assert grid_result["plate_accuracy_pixels"] > 3 * grid_result["plate_chance"]


def test_pixels_collapse_out_of_distribution(grid_result):
    r = grid_result
    assert r["cause_f1_iid_pixels"] > r["cause_f1_plate_out_pixels"] + 0.2
    assert r["cause_f1_plate_out_pixels"] > r["cause_f1_series_out_pixels"] - 0.05


def test_latents_keep_their_score(grid_result):
    r = grid_result
    assert r["cause_f1_plate_out_latents"] > r["cause_f1_iid_latents"] - 0.1
    assert r["cause_f1_plate_out_latents"] > r["cause_f1_plate_out_pixels"] + 0.3


def test_without_nuisance_the_shortcut_disappears():
    calm = diagnose(make_dataset("synthetic-grid", "tiny", nuisance=0.0, oe_shift=0.0))
    # no batch signature: the plate is barely predictable and pixels no longer collapse
    assert calm["plate_accuracy_pixels"] < 0.6
    assert calm["cause_f1_iid_pixels"] - calm["cause_f1_plate_out_pixels"] < 0.2


def test_format_mentions_every_check(grid_result):
    text = format_diagnostics(grid_result)
    for tag in ("(a)", "(b)", "(c)", "leave-plate-out"):
        assert tag in text

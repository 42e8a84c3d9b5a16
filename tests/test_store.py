import numpy as np
import pandas as pd
import pytest

from ist_core.data.store import Dataset, MetadataError, load_store, save_store, validate


def _table(n=6):
    return pd.DataFrame({
        "y": [0, 0, 1, 1, 2, 2][:n],
        "y_name": ["a", "a", "b", "b", "c", "c"][:n],
        "series": ["s1"] * n,
        "plate": ["s1p1", "s1p1", "s1p1", "s1p2", "s1p2", "s1p2"][:n],
        "section": ["s1p1a"] * 3 + ["s1p2a"] * 3,
        "well": ["w1", "w1", "w2", "w3", "w4", "w4"][:n],
        "cell_line": ["CL1", "CL1", "CL2", "CL2", "CL3", "CL3"][:n],
    })


def _images(n=6, dtype=np.float32):
    return np.random.default_rng(0).random((n, 3, 8, 8)).astype(dtype)


def test_valid_table_passes_and_is_typed():
    meta = validate(_images(), _table(), "cell_line")
    assert meta["y"].dtype == np.int64
    assert meta["plate"].tolist()[3] == "s1p2"


@pytest.mark.parametrize("column", ["y", "y_name", "series", "plate", "well", "cell_line"])
def test_missing_column_is_named(column):
    with pytest.raises(MetadataError, match=f"missing column.*'{column}'"):
        validate(_images(), _table().drop(columns=column), "cell_line")


@pytest.mark.parametrize("column", ["y_name", "plate", "section", "well"])
def test_missing_label_is_named(column):
    meta = _table()
    meta.loc[2, column] = None
    with pytest.raises(MetadataError, match=f"'{column}' has no label in 1 row"):
        validate(_images(), meta, "cell_line")


def test_image_count_must_match_rows():
    with pytest.raises(MetadataError, match="5 images but 6 metadata rows"):
        validate(_images(5), _table(), "cell_line")


def test_wrong_dtype_is_refused():
    with pytest.raises(MetadataError, match="dtype float64"):
        validate(_images(dtype=np.float64), _table(), "cell_line")


def test_wrong_shape_is_refused():
    with pytest.raises(MetadataError, match=r"shape \(N, C, H, W\)"):
        validate(_images()[:, 0], _table(), "cell_line")


def test_well_with_two_causes_is_refused():
    meta = _table()
    meta.loc[2, "well"] = "w1"  # w1 now holds causes 0 and 1
    with pytest.raises(MetadataError, match=r"well\(s\) \['w1'\] hold more than one cause"):
        validate(_images(), meta, "cell_line")


def test_cause_with_two_names_is_refused():
    meta = _table()
    meta.loc[1, "y_name"] = "other"
    with pytest.raises(MetadataError, match="several names"):
        validate(_images(), meta, "cell_line")


def test_unknown_unit_column():
    with pytest.raises(MetadataError, match="unknown biological unit"):
        validate(_images(), _table(), "patient")


def test_store_round_trip_is_memory_mapped(tmp_path):
    ds = Dataset("toy", _images(), _table(), ("a", "b", "c"), "cell_line",
                 latents=np.ones((6, 2), np.float32), info={"k": 1})
    path = save_store(ds, tmp_path / "toy")
    back = load_store(path)
    assert isinstance(back.images, np.memmap)
    np.testing.assert_array_equal(back.images, ds.images)
    pd.testing.assert_frame_equal(back.meta, ds.meta)
    assert back.channels == ("a", "b", "c") and back.info == {"k": 1}
    assert not list(tmp_path.glob(".toy.*")), "temporary folder left behind"


def test_load_store_names_missing_files(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(MetadataError, match="not a dataset store"):
        load_store(tmp_path / "x")

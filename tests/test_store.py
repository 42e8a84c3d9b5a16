import os
import shutil
from pathlib import Path

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


def _toy(value: float) -> Dataset:
    return Dataset("toy", np.full((6, 3, 8, 8), value, np.float32), _table(), ("a", "b", "c"),
                   "cell_line", info={"version": value})


@pytest.mark.parametrize("step,survivor", [
    ("write", "old"),           # the new store cannot be written
    ("first rename", "old"),    # the old store cannot be moved aside
    ("second rename", "old"),   # the new store cannot be moved in: the old one comes back
    ("delete old", "new"),      # the swap is done, the old copy cannot be deleted
])
def test_replacing_a_store_never_leaves_it_absent(tmp_path, monkeypatch, step, survivor):
    from ist_core.data import store

    path = save_store(_toy(1.0), tmp_path / "toy")
    renames = []
    real_rename, real_rmtree, real_save = os.rename, shutil.rmtree, np.save

    def rename(src, dst):
        renames.append((src, dst))
        if (step == "first rename" and len(renames) == 1) or (step == "second rename" and len(renames) == 2):
            raise OSError(f"injected failure at {step}")
        real_rename(src, dst)

    def rmtree(folder, *args, **kwargs):
        if step == "delete old" and Path(folder).name.endswith(".replaced"):
            raise OSError("injected failure at delete old")
        real_rmtree(folder, *args, **kwargs)

    def save(file, *args, **kwargs):
        if step == "write":
            raise OSError("disk full")
        real_save(file, *args, **kwargs)

    monkeypatch.setattr(store.os, "rename", rename)
    monkeypatch.setattr(store.shutil, "rmtree", rmtree)
    monkeypatch.setattr(store.np, "save", save)
    with pytest.raises(OSError, match="injected|disk full"):
        save_store(_toy(2.0), path)
    monkeypatch.undo()
    back = load_store(path)
    assert back.info["version"] == {"old": 1.0, "new": 2.0}[survivor]
    assert float(back.images[0, 0, 0, 0]) == back.info["version"]
    # no half-written folder is left; the next save goes through and tidies up
    assert [p.name for p in tmp_path.iterdir() if p.name != "toy"] in ([], [".toy.replaced"])
    save_store(_toy(3.0), path)
    assert load_store(path).info["version"] == 3.0
    assert [p.name for p in tmp_path.iterdir()] == ["toy"]


def test_a_save_stopped_between_its_renames_is_recovered(tmp_path):
    from ist_core.data.store import store_path

    path = save_store(_toy(1.0), tmp_path / "toy")
    aside = tmp_path / ".toy.replaced"
    os.rename(path, aside)  # the process died here: old store aside, new not yet in place
    assert store_path(path) == aside
    assert load_store(path).info["version"] == 1.0
    save_store(_toy(2.0), path)
    assert load_store(path).info["version"] == 2.0 and not aside.exists()
    assert store_path(tmp_path / "nothing") is None

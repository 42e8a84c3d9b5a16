"""Datasets: the embedded synthetic benchmark and the real GRID / LINCS-SC data.

``load_dataset(name, size, seed, **knobs)`` is the one entry point the rest of the
package and the book use.
"""

from __future__ import annotations

from .store import Dataset, MetadataError, load_store, save_store

SYNTHETIC = ("synthetic-grid", "synthetic-lincs")
REAL = ("grid", "lincs-sc")
DATASETS = SYNTHETIC + REAL


def load_dataset(name: str, size: str = "quick", seed: int = 0, **knobs) -> Dataset:
    """Load a dataset by name.

    Synthetic designs are rendered on the fly (``size`` in tiny/quick/paper, ``seed``
    and generator knobs apply); real datasets are read from the converted store
    under the data directory (``ist data fetch NAME`` first).
    """
    if name in SYNTHETIC:
        from .synthetic import make_dataset

        return make_dataset(name, size=size, seed=seed, **knobs)
    if name in REAL:
        from .zenodo import load_real

        return load_real(name)
    raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")


__all__ = ["Dataset", "MetadataError", "load_store", "save_store", "load_dataset", "DATASETS"]

"""Datasets: the embedded synthetic benchmark and the real GRID / LINCS-SC data.

``load_dataset(name, size, seed, **knobs)`` is the one entry point the rest of the
package and the book use.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from .store import Dataset, MetadataError, data_dir, load_store, save_store, store_path

SYNTHETIC = ("synthetic-grid", "synthetic-lincs")
REAL = ("grid", "lincs-sc")
DATASETS = SYNTHETIC + REAL


def load_dataset(name: str, size: str = "quick", seed: int = 0, cache: bool | None = None,
                 **knobs) -> Dataset:
    """Load a dataset by name.

    Synthetic designs are rendered on the fly (``size`` in tiny/quick/paper, ``seed``
    and generator knobs apply); with ``cache`` (default: for ``paper`` only) the
    rendering is stored under the data directory and memory-mapped on later calls.
    Real datasets are read from the converted store under the data directory
    (``ist data fetch NAME`` first).
    """
    if name in SYNTHETIC:
        cache = size == "paper" if cache is None else cache
        cached = _render_synthetic(name, size, seed, tuple(sorted(knobs.items())), cache)
        # a fresh table per call, so callers may add columns; the arrays are shared read-only
        return dataclasses.replace(cached, meta=cached.meta.copy())
    if name in REAL:
        from .zenodo import load_real

        return load_real(name)
    raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")


@lru_cache(maxsize=4)
def _render_synthetic(name: str, size: str, seed: int, knobs: tuple, cache: bool) -> Dataset:
    """Render once per process (chapters load the same dataset several times), and
    with ``cache`` once per machine: a store keyed on the config and the generator's code."""
    from .synthetic import cache_key, config_for, make_dataset

    path = None
    if cache:
        path = data_dir() / "synthetic" / cache_key(config_for(name, size, seed, **dict(knobs)))
        if store_path(path) is not None:  # also a store left aside by an interrupted save
            dataset = load_store(path)
            dataset.latents.flags.writeable = False
            return dataset
    dataset = make_dataset(name, size=size, seed=seed, **dict(knobs))
    if path is not None:
        save_store(dataset, path)
    dataset.images.flags.writeable = False
    dataset.latents.flags.writeable = False
    return dataset


__all__ = ["Dataset", "MetadataError", "load_store", "save_store", "load_dataset", "DATASETS"]

"""Experimental designs: which cause sits in which well of which plate (paper Fig. 3).

A design is a table with one row per well: ``series``, ``plate``, ``section``
(GRID-like designs only), ``well``, the biological ``unit`` and its cause ``y``.
Two layouts mirror the paper's datasets:

- :func:`grid_design` (GRID, Fig. 3B): cell lines (units) of several causes are
  arrayed over plates; every section of a plate holds that plate's cell lines;
  each plate holds a contiguous window of the cell lines, so plates, and the
  series that group them, overlap only partly.
- :func:`lincs_design` (LINCS-SC, Fig. 3C): compounds sit on plate maps that
  share nothing but the control; one series holds every plate map once, four
  more series each hold an exclusive subset of plate maps, each map replicated.

OE names are globally unique (``s1p2``, ``s1p2b``, ``s1p2b-w07``) so that any OE
column can be used on its own as a group label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def grid_design(
    n_causes: int,
    units_per_cause: int,
    n_series: int,
    plates_per_series: int,
    sections_per_plate: int,
    wells_per_unit: int,
    plate_coverage: float = 0.5,
) -> pd.DataFrame:
    """Wells of a GRID-like design (paper Fig. 3B); one row per well.

    Unit ``u`` belongs to cause ``u // units_per_cause``; plate ``p`` holds the
    window of ``plate_coverage * n_units`` consecutive units starting at
    ``p * n_units / n_plates`` (wrapping around), so neighbouring plates share
    part of their cell lines and distant ones share none.
    """
    if not 0 < plate_coverage <= 1:
        raise ValueError(f"plate_coverage must lie in (0, 1], got {plate_coverage}")
    if n_series < 2 or plates_per_series < 1 or sections_per_plate < 1:
        raise ValueError("a GRID design needs >= 2 series, >= 1 plate per series, >= 1 section")
    n_units = n_causes * units_per_cause
    n_plates = n_series * plates_per_series
    window = max(1, round(plate_coverage * n_units))
    rows = []
    for p in range(n_plates):
        series = f"s{p // plates_per_series + 1}"
        plate = f"{series}p{p % plates_per_series + 1}"
        start = round(p * n_units / n_plates)
        units = sorted((start + i) % n_units for i in range(window))
        for t in range(sections_per_plate):
            section = f"{plate}{chr(ord('a') + t)}"
            w = 0
            for u in units:
                for _ in range(wells_per_unit):
                    w += 1
                    rows.append((series, plate, section, f"{section}-w{w:02d}", u, u // units_per_cause))
    return pd.DataFrame(rows, columns=["series", "plate", "section", "well", "unit", "y"])


def lincs_design(
    n_plate_maps: int,
    compounds_per_map: int,
    replicates: int = 5,
    n_subset_series: int = 4,
    wells_per_compound: int = 1,
    control_wells: int = 1,
) -> pd.DataFrame:
    """Wells of a LINCS-SC-like design (paper Fig. 3C); one row per well.

    Cause 0 is the control (on every plate map); each map carries its own
    exclusive compounds. Series ``s1`` holds every map once; series ``s2..`` each
    hold an exclusive subset of maps (dealt round-robin), each map on
    ``replicates`` plates. No sections.
    """
    if n_plate_maps < n_subset_series:
        raise ValueError(
            f"{n_subset_series} subset series need at least as many plate maps, got {n_plate_maps}"
        )
    maps = {
        m: [1 + m * compounds_per_map + i for i in range(compounds_per_map)]
        for m in range(n_plate_maps)
    }
    plates = [("s1", m) for m in range(n_plate_maps)]
    for k in range(n_subset_series):
        series = f"s{k + 2}"
        for m in range(k, n_plate_maps, n_subset_series):
            plates += [(series, m)] * replicates
    rows, count = [], {}
    for series, m in plates:
        count[series] = count.get(series, 0) + 1
        plate = f"{series}p{count[series]:02d}"
        w = 0
        wells = [0] * control_wells + [c for c in maps[m] for _ in range(wells_per_compound)]
        for compound in wells:
            w += 1
            rows.append((series, plate, f"{plate}-w{w:02d}", compound, compound, m))
    return pd.DataFrame(rows, columns=["series", "plate", "well", "unit", "y", "plate_map"])


def cause_oe_matrix(meta: pd.DataFrame, level: str, cause: str = "y_name") -> pd.DataFrame:
    """Cells per cause (rows) and OE at ``level`` (columns), OEs in design order."""
    if level not in meta.columns:
        raise ValueError(
            f"this dataset has no OE level {level!r}; levels present: "
            f"{[c for c in ('series', 'plate', 'section', 'well') if c in meta.columns]}"
        )
    table = pd.crosstab(meta[cause], meta[level])
    order = meta.drop_duplicates(level)[level].tolist()
    causes = meta.drop_duplicates(cause).sort_values("y")[cause].tolist()
    return table.reindex(index=causes, columns=order, fill_value=0)


def sparsity(meta: pd.DataFrame, level: str) -> float:
    """Fraction of empty cells in the cause x OE matrix at ``level``."""
    matrix = cause_oe_matrix(meta, level).to_numpy()
    return float(np.mean(matrix == 0))


def describe(dataset) -> dict:
    """Size, channels, causes, OEs per level, cells per cause and matrix sparsity of a dataset."""
    meta = dataset.meta
    n, c, h, w = dataset.images.shape
    levels = [lvl for lvl in ("series", "plate", "section", "well") if lvl in meta.columns]
    return {
        "name": dataset.name,
        "images": int(n),
        "channels": list(dataset.channels),
        "image_size": [int(h), int(w)],
        "causes": int(meta["y"].nunique()),
        "unit": dataset.unit,
        "units": int(meta[dataset.unit].nunique()),
        "oes_per_level": {lvl: int(meta[lvl].nunique()) for lvl in levels},
        "cells_per_cause": {name: int((meta["y_name"] == name).sum()) for name in dataset.cause_names},
        "sparsity": {lvl: sparsity(meta, lvl) for lvl in ("plate", "series")},
    }

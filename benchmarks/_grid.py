"""What the per-fold benchmark scripts (fidelity.py, corrections.py) share: the arguments
that choose a synthetic design's folds and the runs folder, and those folds by level."""

from __future__ import annotations

import argparse

import pandas as pd

from ist_core.splits import spread_folds


def fold_parser(doc: str, summary: str) -> argparse.ArgumentParser:
    """A parser with the dataset, profile, levels, spread, runs and save arguments;
    ``summary`` names the stored summary (``results/<dataset>/<profile>/<summary>.csv``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("dataset", choices=["synthetic-grid", "synthetic-lincs"])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--levels", nargs="+", default=["iid", "1", "2", "3"])
    parser.add_argument("--spread", type=int, default=2, help="folds per OOD level, spread")
    parser.add_argument("--runs", default=None, help="run folder (default: the usual runs/)")
    parser.add_argument("--save", action="store_true",
                        help=f"store the scores as results/<dataset>/<profile>/{summary}.csv")
    return parser


def folds_by_level(meta: pd.DataFrame, levels, spread: int) -> dict[str, list[int]]:
    """:func:`~ist_core.splits.spread_folds` of each level the design has; a level it
    lacks (level 1 without sections) is skipped with a printed reason."""
    chosen = {}
    for level in levels:
        try:
            chosen[level] = [int(f) for f in spread_folds(meta, level, spread)]
        except ValueError as err:
            print(f"level {level} skipped: {err}")
    return chosen

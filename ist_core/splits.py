"""Train/test splits: IID and the paper's levels of generalization (Sec. 5, Fig. 3).

- ``iid``: a stratified random hold-out across all OEs.
- level 1: leave one section out (same plate, same cell lines, new wells).
- level 2: leave one plate out.
- level 3: leave one series out.

A level has one fold per held-out group. Test sets keep only causes that the
training fold has, and every fold is checked: no held-out OE may reach training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneGroupOut, train_test_split

LEVEL_COLUMN = {1: "section", 2: "plate", 3: "series"}
LEVEL_NAMES = ("iid", "1", "2", "3")


class LeakError(AssertionError):
    """A split lets a held-out OE (or a test image) into training."""


@dataclass(frozen=True)
class Fold:
    """One train/test split; ``held_out`` names the test OE(s) (empty for IID)."""

    level: str
    fold: int
    held_out: tuple[str, ...]
    train: np.ndarray
    test: np.ndarray
    dropped: int = 0  # test images removed because training lacks their cause

    def summary(self) -> dict:
        return {
            "level": self.level,
            "fold": self.fold,
            "held_out": list(self.held_out),
            "n_train": int(len(self.train)),
            "n_test": int(len(self.test)),
            "dropped": int(self.dropped),
        }


def parse_level(level) -> str:
    """Normalise a level given as 'iid', 1..3, '2', 'level-2', 'section', 'plate' or 'series'."""
    text = str(level).strip().lower().removeprefix("level").strip("-_ ")
    by_column = {v: str(k) for k, v in LEVEL_COLUMN.items()}
    text = by_column.get(text, text)
    if text not in LEVEL_NAMES:
        raise ValueError(
            f"unknown level {level!r}; choose iid, 1 (section), 2 (plate) or 3 (series)"
        )
    return text


def level_column(meta: pd.DataFrame, level) -> str | None:
    """The OE column a level holds out (None for IID); errors where the data lacks it."""
    level = parse_level(level)
    if level == "iid":
        return None
    column = LEVEL_COLUMN[int(level)]
    if column not in meta.columns:
        raise ValueError(
            f"level {level} (leave one {column} out) is not defined for this dataset: it records "
            f"no {column}s (the paper's NA, as for LINCS-SC at level 1)"
        )
    return column


def _keep_known_causes(meta: pd.DataFrame, train: np.ndarray, test: np.ndarray):
    known = np.isin(meta["y"].to_numpy()[test], meta["y"].to_numpy()[train])
    return test[known], int((~known).sum())


def iid_split(meta: pd.DataFrame, test_frac: float = 0.2, seed: int = 0) -> Fold:
    """Stratified random hold-out of ``test_frac`` of the images, across all OEs."""
    if not 0 < test_frac < 1:
        raise ValueError(f"test_frac must lie in (0, 1), got {test_frac}")
    idx = np.arange(len(meta))
    train, test = train_test_split(idx, test_size=test_frac, random_state=seed,
                                   stratify=meta["y"].to_numpy())
    train, test = np.sort(train), np.sort(test)
    test, dropped = _keep_known_causes(meta, train, test)
    return Fold("iid", 0, (), train, test, dropped)


def level_folds(meta: pd.DataFrame, level) -> list[Fold]:
    """One fold per held-out OE at ``level`` (1, 2 or 3), in design order; each is checked."""
    column = level_column(meta, level)
    if column is None:
        raise ValueError("IID has no held-out groups; use iid_split")
    level = parse_level(level)
    # groups coded in order of appearance, so that LeaveOneGroupOut's k-th fold holds out
    # the k-th OE of the design
    codes, names = pd.factorize(meta[column])
    folds = []
    for k, (train, test) in enumerate(LeaveOneGroupOut().split(meta, groups=codes)):
        test, dropped = _keep_known_causes(meta, train, test)
        fold = Fold(level, k, (str(names[k]),), train, test, dropped)
        check_no_leak(meta, fold)
        folds.append(fold)
    return folds


def make_folds(meta: pd.DataFrame, level, seed: int = 0) -> list[Fold]:
    """All folds of a level: one IID split, or one fold per held-out group."""
    if parse_level(level) == "iid":
        return [iid_split(meta, seed=seed)]
    return level_folds(meta, level)


def spread_folds(meta: pd.DataFrame, level, k: int) -> list[int]:
    """At most ``k`` folds of ``level``, evenly spaced in design order, so that they cover
    the whole design: on a LINCS-like design, level 2's first plates belong to the series
    that holds every plate map once and its last ones to the replicated series. IID has
    one split, fold 0."""
    if parse_level(level) == "iid":
        return [0]
    n = len(pd.unique(meta[level_column(meta, level)]))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(k, n))})


def check_no_leak(meta: pd.DataFrame, fold: Fold) -> None:
    """Raise :class:`LeakError` if an image or (for levels 1-3) a held-out OE is in training."""
    shared = np.intersect1d(fold.train, fold.test)
    if len(shared):
        raise LeakError(f"{len(shared)} image(s) are both in training and test, e.g. {shared[:5]}")
    column = level_column(meta, fold.level)
    if column is None:
        return
    train_oes = set(meta[column].to_numpy()[fold.train])
    leaked = sorted(train_oes & (set(meta[column].to_numpy()[fold.test]) | set(fold.held_out)))
    if leaked:
        raise LeakError(
            f"level {fold.level} fold {fold.fold}: held-out {column}(s) {leaked[:5]} also appear "
            "in training"
        )


def knn_reference_sets(meta: pd.DataFrame, query: np.ndarray, reference: np.ndarray,
                       level="plate"):
    """kNN batch-CV: for each OE of the queries, the reference images outside that OE.

    Yields ``(oe, query_indices, reference_indices)``: a query is classified only
    from references that were not observed in its own OE (paper Sec. 5.3).
    """
    column = level_column(meta, level)
    if column is None:
        raise ValueError("kNN batch-CV needs an OE level (1, 2 or 3), not iid")
    oes = meta[column].to_numpy()
    query, reference = np.asarray(query), np.asarray(reference)
    for oe in pd.unique(oes[query]):
        refs = reference[oes[reference] != oe]
        yield oe, query[oes[query] == oe], refs

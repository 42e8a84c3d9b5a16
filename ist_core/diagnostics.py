"""Shortcut diagnostics: does a dataset have the paper's problem?

Three checks with one simple classifier (standardised logistic regression):

(a) the plate is predictable from downsampled pixels far above chance *within a
    cause*: plates hold different causes, so across causes the cells' biology
    alone would name the plate; compared among the plates of one cause, only the
    plate's own signature can (see :func:`plate_within_cause`);
(b) causes are predicted well on an IID split but the score drops when a whole
    plate (level 2) or series (level 3) is held out: the classifier leans on the batch;
(c) the same classifier on the true phenotype latents (synthetic data only)
    keeps its score when a plate is held out: the biological signal exists, it
    is only harder to find in pixels than the batch is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .data.store import Dataset
from .metrics import macro_f1
from .splits import iid_split, level_folds


def pixel_features(images: np.ndarray, grid: int = 8) -> np.ndarray:
    """Average-pool (N, C, H, W) images to (N, C * grid * grid) features."""
    n, c, h, w = images.shape
    if h % grid or w % grid:
        raise ValueError(f"image size {h}x{w} is not divisible by the pooling grid {grid}")
    pooled = np.asarray(images, np.float32).reshape(n, c, grid, h // grid, grid, w // grid)
    return pooled.mean(axis=(3, 5)).reshape(n, -1)


def _classifier(seed: int):
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000,
                                                              random_state=seed))


def fit_score(x, y, train, test, seed) -> float:
    """Macro-F1 on ``test`` of the standardised logistic regression fitted on ``train``."""
    model = _classifier(seed).fit(x[train], y[train])
    return macro_f1(y[test], model.predict(x[test]))


def _mean(values: list) -> float:
    return float(np.mean(values)) if values else float("nan")


def _spread(indices: list, k: int | None) -> list:
    """At most ``k`` items, evenly spaced, so a capped run still covers the whole design."""
    if k is None or len(indices) <= k:
        return indices
    return [indices[i] for i in np.linspace(0, len(indices) - 1, k).round().astype(int)]


def diagnose(dataset: Dataset, seed: int = 0, max_folds: int | None = 12,
             max_causes: int | None = 24) -> dict:
    """Run checks (a)-(c); returns a dict of plain numbers (macro-F1 unless named accuracy)
    and, under ``plate_by_cause``, check (a) per cause (see :func:`plate_within_cause`).

    At most ``max_folds`` folds per level and ``max_causes`` causes for (a) are fitted,
    evenly spread over the design.
    """
    # Many small fits: one BLAS thread each is much faster than threads fighting.
    with threadpool_limits(1):
        return _diagnose(dataset, seed, max_folds, max_causes)


def plate_within_cause(x: np.ndarray, meta, seed: int = 0,
                       max_causes: int | None = None) -> list[dict]:
    """Check (a): how well the plate of a cell is named among the plates of its own cause.

    For each cause seen on >= 2 plates, a plate classifier is fitted on the cells of
    every *other* cause (so its wells are never in training, and nothing it learns can
    tie this cause's biology to a plate) and names, for each of the cause's cells, the
    most probable of the plates that cause was imaged on. One record per cause: its
    accuracy, and its chance, the share of its cells on its largest plate (what always
    naming one plate scores, and the most a guess independent of the true plate can
    reach; never below 1 / number of plates). At most ``max_causes`` causes, evenly
    spread over the cause codes.

    The check is conservative. Where a cause's plates look alike, its predictions do
    not depend on the true plate, so accuracy stays at or below chance on average;
    where the other causes on its plates differ, their biology may draw the
    classifier away from a real plate signature, which can only lower the accuracy.
    (Folds over wells within a cause would not do: in LINCS-like designs a compound
    has one well per plate, so a held-out well's plate never appears in training.)
    """
    plates = meta["plate"].to_numpy()
    y = meta["y"].to_numpy()
    plates_of = meta.groupby("y")["plate"].unique()
    names = meta.drop_duplicates("y").set_index("y")["y_name"]
    tested = _spread([c for c in plates_of.index if len(plates_of[c]) >= 2], max_causes)
    records = []
    for cause in tested:
        test = np.flatnonzero(y == cause)
        train = np.flatnonzero(y != cause)
        model = _classifier(seed).fit(x[train], plates[train])
        column = {p: j for j, p in enumerate(model.classes_)}
        # plates holding only this cause have no training cells: they can never be named
        candidates = [p for p in plates_of[cause] if p in column]
        correct = np.zeros(len(test), bool)
        if candidates:
            scores = model.predict_proba(x[test])[:, [column[p] for p in candidates]]
            correct = np.asarray(candidates)[scores.argmax(1)] == plates[test]
        share = pd.Series(plates[test]).value_counts(normalize=True)
        records.append({
            "cause": str(names[cause]),
            "plates": int(len(plates_of[cause])),
            "cells": int(len(test)),
            "accuracy": float(correct.mean()),
            "chance": float(share.max()),
        })
    return records


def _diagnose(dataset: Dataset, seed: int, max_folds: int | None, max_causes: int | None) -> dict:
    meta = dataset.meta
    x = pixel_features(dataset.images)
    y = meta["y"].to_numpy()
    by_cause = plate_within_cause(x, meta, seed=seed, max_causes=max_causes)

    iid = iid_split(meta, seed=seed)
    splits = {"iid": [iid], "plate_out": _spread(level_folds(meta, 2), max_folds),
              "series_out": _spread(level_folds(meta, 3), max_folds)}
    result = {
        "dataset": dataset.name,
        "n_images": int(len(meta)),
        "n_plates": int(meta["plate"].nunique()),
        "n_series": int(meta["series"].nunique()),
        "n_causes": int(meta["y"].nunique()),
        # (a) means over the causes seen on >= 2 plates; chance: majority-plate share
        "plate_accuracy_within_cause": _mean([r["accuracy"] for r in by_cause]),
        "plate_chance_within_cause": _mean([r["chance"] for r in by_cause]),
        "plate_causes": len(by_cause),
        "plate_by_cause": by_cause,
        "plate_folds": len(splits["plate_out"]),
        "series_folds": len(splits["series_out"]),
    }
    features = {"pixels": x}
    if dataset.latents is not None:
        features["latents"] = np.asarray(dataset.latents)
    for kind, feats in features.items():
        for split, folds in splits.items():
            scores = [fit_score(feats, y, f.train, f.test, seed) for f in folds if len(f.test)]
            result[f"cause_f1_{split}_{kind}"] = float(np.mean(scores))
    return result


def format_diagnostics(result: dict) -> str:
    """A short human-readable report of :func:`diagnose`'s numbers."""
    lines = [
        f"{result['dataset']}: {result['n_images']} images, {result['n_causes']} causes, "
        f"{result['n_plates']} plates, {result['n_series']} series",
        "(a) plate from pixels, among the plates of the cell's own cause:",
        (f"    mean accuracy {result['plate_accuracy_within_cause']:.3f}, mean chance "
         f"{result['plate_chance_within_cause']:.3f} (largest plate's share), "
         f"over {result['plate_causes']} causes seen on >= 2 plates"
         if result["plate_causes"] else "    no cause is seen on two plates: nothing to compare"),
        "    cause macro-F1        IID   leave-plate-out   leave-series-out",
    ]
    for tag, kind in (("(b)", "pixels"), ("(c)", "latents")):
        if f"cause_f1_iid_{kind}" in result:
            lines.append(
                f"{tag} from {kind:<14} {result[f'cause_f1_iid_{kind}']:.3f}"
                f"   {result[f'cause_f1_plate_out_{kind}']:.3f}"
                f"             {result[f'cause_f1_series_out_{kind}']:.3f}"
            )
    lines.append(f"    ({result['plate_folds']} plate folds, {result['series_folds']} series folds)")
    return "\n".join(lines)

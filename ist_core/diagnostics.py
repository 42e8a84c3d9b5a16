"""Shortcut diagnostics: does a dataset have the paper's problem?

Three checks with one simple classifier (standardised logistic regression):

(a) the plate is predictable from downsampled pixels far above chance;
(b) causes are predicted well on an IID split but the score drops when a whole
    plate (level 2) or series (level 3) is held out: the classifier leans on the batch;
(c) the same classifier on the true phenotype latents (synthetic data only)
    keeps its score when a plate is held out: the biological signal exists, it
    is only harder to find in pixels than the batch is.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
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


def _fit_score(x, y, train, test, seed) -> float:
    model = _classifier(seed).fit(x[train], y[train])
    return macro_f1(y[test], model.predict(x[test]))


def _spread(indices: list, k: int | None) -> list:
    """At most ``k`` items, evenly spaced, so a capped run still covers the whole design."""
    if k is None or len(indices) <= k:
        return indices
    return [indices[i] for i in np.linspace(0, len(indices) - 1, k).round().astype(int)]


def diagnose(dataset: Dataset, seed: int = 0, max_folds: int | None = 12) -> dict:
    """Run checks (a)-(c); returns a dict of plain numbers (macro-F1 unless named accuracy).

    At most ``max_folds`` folds per level are fitted, evenly spread over the design.
    """
    # Many small fits: one BLAS thread each is much faster than threads fighting.
    with threadpool_limits(1):
        return _diagnose(dataset, seed, max_folds)


def _diagnose(dataset: Dataset, seed: int, max_folds: int | None) -> dict:
    meta = dataset.meta
    x = pixel_features(dataset.images)
    y = meta["y"].to_numpy()

    plates = meta["plate"].to_numpy()
    idx = np.arange(len(meta))
    train, test = train_test_split(idx, test_size=0.2, random_state=seed, stratify=plates)
    model = _classifier(seed).fit(x[train], plates[train])
    plate_acc = float(np.mean(model.predict(x[test]) == plates[test]))

    iid = iid_split(meta, seed=seed)
    splits = {"iid": [iid], "plate_out": _spread(level_folds(meta, 2), max_folds),
              "series_out": _spread(level_folds(meta, 3), max_folds)}
    result = {
        "dataset": dataset.name,
        "n_images": int(len(meta)),
        "n_plates": int(meta["plate"].nunique()),
        "n_series": int(meta["series"].nunique()),
        "n_causes": int(meta["y"].nunique()),
        "plate_accuracy_pixels": plate_acc,
        "plate_chance": float(1.0 / meta["plate"].nunique()),
        "plate_folds": len(splits["plate_out"]),
        "series_folds": len(splits["series_out"]),
    }
    features = {"pixels": x}
    if dataset.latents is not None:
        features["latents"] = np.asarray(dataset.latents)
    for kind, feats in features.items():
        for split, folds in splits.items():
            scores = [_fit_score(feats, y, f.train, f.test, seed) for f in folds if len(f.test)]
            result[f"cause_f1_{split}_{kind}"] = float(np.mean(scores))
    return result


def format_diagnostics(result: dict) -> str:
    """A short human-readable report of :func:`diagnose`'s numbers."""
    lines = [
        f"{result['dataset']}: {result['n_images']} images, {result['n_causes']} causes, "
        f"{result['n_plates']} plates, {result['n_series']} series",
        f"(a) plate from pixels: accuracy {result['plate_accuracy_pixels']:.3f}"
        f" (chance {result['plate_chance']:.3f})",
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

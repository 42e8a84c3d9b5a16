"""Figures and tables of the StarGAN v2 chapter: Fig. 2 measured against the true
counterfactual, Fig. 5 (predictor features), and the generators' training rates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .plotting import figure, to_rgb
from .plotting import scatter_groups, umap_model

__all__ = ["plot_counterfactual_differences", "plot_predictor_umaps", "rate_table"]


def plot_counterfactual_differences(dataset, pairs: dict, methods=("IST", "StarGAN v2"), n: int = 4):
    """Fig. 2, measured: for ``n`` pairs (rows), the content and style images, the true
    counterfactual (``keep``), then each method's output beside its per-pixel difference
    from the truth (absolute difference summed over channels, one colour scale for the
    whole figure, so darker is closer to the truth)."""
    n = min(n, len(pairs["x"]))
    outputs = pairs["outputs"]
    missing = [m for m in methods if m not in outputs]
    if missing:
        raise ValueError(f"no outputs for {missing}; the pairs hold {list(outputs)}")
    truth = pairs["keep"][:n]
    images = {"content": pairs["x"][:n], "style": pairs["style_images"][:n], "truth (keep)": truth}
    diffs = {}
    for m in methods:
        out = np.clip(outputs[m][:n], 0, 1)
        images[m] = out
        diffs[m] = np.abs(out - truth).sum(axis=1)  # (n, H, W)
    rgb = to_rgb(np.concatenate([np.clip(v, 0, 1) for v in images.values()]), dataset.channels,
                 scale="global")
    top = max(float(np.percentile(np.concatenate([d.ravel() for d in diffs.values()]), 99.5)), 1e-6)
    columns = ["content", "style", "truth (keep)"]
    for m in methods:
        columns += [m, f"|{m} − truth|"]
    fig, axes = figure(n, len(columns), (1.3 * len(columns) + 0.6, 1.3 * n + 0.4))
    shown = None
    for c, name in enumerate(columns):
        for r in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if name in images:
                ax.imshow(rgb[list(images).index(name) * n + r])
            else:
                method = name[1:].split(" − ")[0]
                shown = ax.imshow(diffs[method][r], cmap="magma", vmin=0, vmax=top)
                ax.set_xlabel(f"L1 {diffs[method][r].mean():.3f}", fontsize=7, labelpad=1)
        axes[0, c].set_title(name, fontsize=8)
    fig.tight_layout(pad=0.3, rect=(0, 0, 0.93, 1))
    bar = fig.colorbar(shown, cax=fig.add_axes((0.945, 0.15, 0.012, 0.7)))
    bar.set_label("|output − truth|, summed over channels", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return fig


def plot_predictor_umaps(features: dict, meta: pd.DataFrame, by=("y_name", "plate"),
                         titles=("cause", "plate"), seed: int = 0):
    """Fig. 5: one UMAP per predictor (rows, ``features``: name -> (N, D) features of the
    same N training images, rows of ``meta``), coloured by each column of ``meta`` in
    ``by`` (columns)."""
    names = list(features)
    lengths = {len(f) for f in features.values()}
    if lengths != {len(meta)}:
        raise ValueError(f"every feature set needs one row per row of meta ({len(meta)}); got "
                         f"{sorted(lengths)}")
    fig, axes = figure(len(names), len(by), (3.6 * len(by), 3.4 * len(names)))
    for r, name in enumerate(names):
        xy = umap_model(random_state=seed).fit_transform(np.asarray(features[name], np.float32))
        for c, (column, title) in enumerate(zip(by, titles)):
            scatter_groups(axes[r, c], xy, meta[column], f"{name}: coloured by {title}", size=3,
                           legend=r == 0)
    fig.tight_layout()
    return fig


def rate_table(rates: dict) -> pd.DataFrame:
    """Training rates (name -> images/s) with each one's ratio to the slowest."""
    frame = pd.DataFrame({"images/s": pd.Series(rates, dtype=float)})
    frame["× slowest"] = frame["images/s"] / frame["images/s"].min()
    return frame.round({"images/s": 1, "× slowest": 2})

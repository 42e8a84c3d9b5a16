"""Figures of the Baselines chapter: one per method, showing what it does to the features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .plotting import figure

__all__ = ["neighbour_shares", "plot_neighbour_shares", "plot_dr_training", "plot_mixstyle_stats", "plot_lisi_shift", "plot_scores_by_level"]


def neighbour_shares(features: np.ndarray, causes, oes, k: int = 15) -> pd.DataFrame:
    """For each image, the share of its ``k`` nearest other images (in ``features``) that
    have its cause, and the share that come from its OE: what a kNN vote would draw on."""
    from sklearn.neighbors import NearestNeighbors

    causes, oes = np.asarray(causes), np.asarray(oes)
    idx = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)[1][:, 1:]
    return pd.DataFrame({"same cause": (causes[idx] == causes[:, None]).mean(1),
                         "same OE": (oes[idx] == oes[:, None]).mean(1)})


def plot_neighbour_shares(shares: pd.DataFrame, chance: dict[str, float]):
    """Histograms of :func:`neighbour_shares`, with the share a random neighbour would give."""
    fig, axes = figure(1, 2, (8, 3))
    bins = np.linspace(0, 1, 17)
    for ax, (column, colour) in zip(axes[0], [("same cause", "C0"), ("same OE", "C3")]):
        ax.hist(shares[column], bins, color=colour, alpha=0.8)
        ax.axvline(chance[column], color="0.3", ls=":", lw=1, label="random neighbours")
        ax.axvline(shares[column].mean(), color=colour, lw=1.5, label=f"mean {shares[column].mean():.2f}")
        ax.set(xlabel=f"share of the 15 nearest images with the {column.split()[1]}",
               ylabel="training images", title=column)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_dr_training(folder: str | Path, chance: float | None = None):
    """DR's training log: the OE head's accuracy (which the reversed gradient pushes down)
    and the cause loss (which should still fall), per logged step."""
    log = pd.read_csv(Path(folder) / "losses.csv")
    fig, axes = figure(1, 2, (8, 3))
    ax = axes[0, 0]
    ax.plot(log["step"], log["oe_acc"], color="C3")
    if chance is not None:
        ax.axhline(chance, color="0.4", ls=":", lw=1, label="chance")
        ax.legend(fontsize=8, frameon=False)
    ax.set(xlabel="step", ylabel="accuracy", title="OE head (behind gradient reversal)", ylim=(0, 1))
    ax = axes[0, 1]
    ax.plot(log["step"], log["cause"], color="C0")
    ax.set(xlabel="step", ylabel="cross-entropy", title="cause head")
    fig.tight_layout()
    return fig


def plot_mixstyle_stats(features: np.ndarray, mixed: np.ndarray, partner: np.ndarray,
                        channels: int = 8):
    """MixStyle on one batch of layer-1 feature maps (B, C, H, W): per-channel mean and
    standard deviation of each image before (x axis) against after mixing (y axis), coloured
    by how far the partner's statistics were from the image's own."""
    mu, sd = features.mean(axis=(2, 3)), features.std(axis=(2, 3))
    mu_m, sd_m = mixed.mean(axis=(2, 3)), mixed.std(axis=(2, 3))
    c = slice(0, channels)
    fig, axes = figure(1, 2, (8, 3.5))
    for ax, before, after, other, name in [(axes[0, 0], mu[:, c], mu_m[:, c], mu[partner][:, c], "mean"),
                                           (axes[0, 1], sd[:, c], sd_m[:, c], sd[partner][:, c], "std")]:
        ax.scatter(before.ravel(), other.ravel(), s=6, color="0.75", label="partner's value")
        ax.scatter(before.ravel(), after.ravel(), s=8, color="C1", label="after MixStyle")
        lims = [min(before.min(), after.min(), other.min()), max(before.max(), after.max(), other.max())]
        ax.plot(lims, lims, color="0.4", lw=0.8, ls=":")
        ax.set(xlabel=f"channel {name}, own image", ylabel=f"channel {name}",
               title=f"feature {name} per channel and image")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_lisi_shift(before: dict[str, np.ndarray], after: dict[str, np.ndarray],
                    titles=("LISI over OEs (higher: OEs mixed)", "LISI over causes (lower: causes apart)")):
    """Per-cell LISI distributions before and after a correction (e.g. Symphony), one panel
    per label (keys of ``before``/``after`` in the same order as ``titles``)."""
    fig, axes = figure(1, len(before), (4 * len(before), 3))
    for ax, key, title in zip(axes[0], before, titles):
        bins = np.linspace(1, max(before[key].max(), after[key].max()), 30)
        ax.hist(before[key], bins, alpha=0.6, color="C0", label=f"baseline ({before[key].mean():.2f})")
        ax.hist(after[key], bins, alpha=0.6, color="C2", label=f"Symphony ({after[key].mean():.2f})")
        ax.set(xlabel="LISI per training cell", ylabel="cells", title=title)
        ax.legend(fontsize=8, frameon=False, title="mean", title_fontsize=8)
    fig.tight_layout()
    return fig


def plot_scores_by_level(scores: pd.DataFrame, methods: dict[str, str], dataset_names: dict,
                         chance: dict | None = None):
    """Macro-F1 per level of generalization, one panel per dataset, one line per method
    (mean over folds and seeds, with the spread as error bars)."""
    f1 = scores[scores["metric"] == "macro_f1"].assign(level=lambda d: d["level"].astype(str))
    datasets = list(dict.fromkeys(f1["dataset"]))
    order = ["iid", "1", "2", "3"]
    labels = {"iid": "IID", "1": "level 1", "2": "level 2", "3": "level 3"}
    fig, axes = figure(1, len(datasets), (4.2 * len(datasets) + 1.8, 3.6))
    for ax, name in zip(axes[0], datasets):
        sub = f1[f1["dataset"] == name]
        levels = [lv for lv in order if lv in set(sub["level"])]
        for k, (method, title) in enumerate(methods.items()):
            stats = sub[sub["method"] == method].groupby("level")["value"].agg(["mean", "std"])
            stats = stats.reindex(levels)
            if stats["mean"].isna().all():
                continue
            ax.errorbar(np.arange(len(levels)) + (k - len(methods) / 2) * 0.03, stats["mean"],
                        yerr=stats["std"].fillna(0), marker="o", ms=4, lw=1.2, capsize=2,
                        color=f"C{k}", label=title)
        if chance and name in chance:
            ax.axhline(chance[name], color="0.4", ls=":", lw=1, label="chance")
        ax.set_xticks(range(len(levels)), [labels[lv] for lv in levels])
        ax.set(ylim=(0, 1), ylabel="macro-F1", title=dataset_names.get(name, name))
    axes[0, -1].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig

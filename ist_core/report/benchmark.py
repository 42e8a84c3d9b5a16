"""Figures and tables of the benchmark's bounds: is the synthetic data a fair test of
style transfer? The calibration table, a sweep of one generator knob, and any method
read between its two references (the oracle above, histogram matching below)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import _figure

__all__ = ["bounds_table", "plot_sweep", "plot_bounds"]

ROW_STYLE = {"naive": ("C0", "o"), "baseline": ("C0", "o"), "histmatch": ("C2", "s"),
             "oracle": ("k", "^"), "no nuisance": ("0.6", "v"), "ist": ("C3", "D")}
LEVELS = {"iid": "IID", "1": "level 1", "2": "level 2", "3": "level 3"}


def bounds_table(scores: pd.DataFrame, row: str = "row") -> pd.DataFrame:
    """``mean ± sd (n)`` of macro-F1 per ``row`` and level over folds and seeds, from tidy
    scores with a ``value`` column."""
    stats = scores.groupby([row, "level"], sort=False)["value"].agg(["mean", "std", "count"])
    text = stats.apply(lambda r: f"{r['mean']:.2f} ± {0 if np.isnan(r['std']) else r['std']:.2f} "
                                 f"({int(r['count'])})", axis=1).unstack("level")
    return text.reindex(columns=[lv for lv in LEVELS if lv in text.columns]).rename(columns=LEVELS)


def plot_sweep(scores: pd.DataFrame, knob: str, level: str = "2", title: str = ""):
    """Macro-F1 at ``level`` of each reference row against the values of ``knob`` (mean and
    sd over folds and seeds): where a perfect transfer stops helping."""
    data = scores[(scores["knob"] == knob) & (scores["level"].astype(str) == str(level))]
    fig, axes = _figure(1, 1, (5.2, 3.2))
    ax = axes.flat[0]
    for name, part in data.groupby("row", sort=False):
        stats = part.groupby("knob_value")["value"].agg(["mean", "std"]).fillna(0)
        colour, marker = ROW_STYLE.get(name, ("C4", "x"))
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], label=name, color=colour,
                    marker=marker, capsize=3, lw=1.5)
    ax.set_xlabel(knob)
    ax.set_ylabel(f"macro-F1, {LEVELS.get(str(level), level)}")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    return fig


def plot_bounds(scores: pd.DataFrame, methods, row: str = "method", title: str = ""):
    """Macro-F1 of ``methods`` at every level side by side (mean and sd over folds and
    seeds, one dot per fold and seed): a method read between histogram matching and the
    oracle."""
    levels = [lv for lv in LEVELS if lv in set(scores["level"].astype(str))]
    fig, axes = _figure(1, 1, (1.6 + 1.5 * len(levels), 3.2))
    ax = axes.flat[0]
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        part = scores[scores[row] == method]
        colour, marker = ROW_STYLE.get(method, ("C4", "x"))
        for j, level in enumerate(levels):
            values = part.loc[part["level"].astype(str) == level, "value"].to_numpy()
            if not len(values):
                continue
            x = j - 0.4 + width * (k + 0.5)
            ax.bar(x, values.mean(), width * 0.9, yerr=values.std(ddof=1) if len(values) > 1 else 0,
                   color=colour, alpha=0.35, capsize=2, label=method if j == 0 else None)
            ax.plot(np.full(len(values), x), values, marker, color=colour, ms=3, ls="none")
    ax.set_xticks(range(len(levels)), [LEVELS[lv] for lv in levels])
    ax.set_ylabel("macro-F1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, frameon=False, ncol=len(methods))
    ax.set_title(title, fontsize=10)
    return fig

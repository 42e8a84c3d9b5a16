"""A transfer between its bounds: the naive row below it, the cheapest transfer beside it
and the perfect transfer above it, as tables, a figure and sentences (the IST and data
chapters, and the calibration's reference rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..methods import METHODS, method_for
from .plotting import figure

__all__ = ["BOUND_ROLES", "bound_rows", "ood_table", "plot_ood", "difference_table",
           "interval_text", "describe_bounds", "describe_targets", "describe_corrections"]

LEVEL_LABELS = {"iid": "IID", "1": "level 1\n(section out)", "2": "level 2\n(plate out)",
                "3": "level 3\n(series out)"}


# The rows that place a transfer between its bounds, in the order they are shown.
BOUND_ROLES = ("naive", "cheapest transfer", "proposed", "perfect transfer")


def bound_rows(scores: pd.DataFrame, levels=None) -> tuple[pd.DataFrame, list[str]]:
    """The macro-F1 rows of the methods that hold the :data:`BOUND_ROLES` (at ``levels``
    where given), and those methods' names in the order they are shown."""
    methods = [method_for(role) for role in BOUND_ROLES]
    keep = (scores["metric"] == "macro_f1") & scores["method"].isin(methods)
    if levels is not None:
        keep &= scores["level"].astype(str).isin([str(lv) for lv in levels])
    return scores[keep], methods


def ood_table(scores: pd.DataFrame, order=None) -> pd.DataFrame:
    """Macro-F1 per level (rows) and method (columns, in ``order`` where given, else in
    order of appearance) as 'mean ± sd' strings."""
    levels = [lvl for lvl in LEVEL_LABELS if lvl in set(scores["level"].astype(str))]
    grouped = scores.assign(level=scores["level"].astype(str)).groupby(["level", "method"])["value"]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()

    def cell(row):
        sd = "" if row["count"] < 2 else f" ± {row['std']:.3f}"
        return f"{row['mean']:.3f}{sd}"

    stats["macro-F1"] = stats.apply(cell, axis=1)
    table = stats.pivot(index="level", columns="method", values="macro-F1").reindex(levels)
    table.index = [LEVEL_LABELS[lvl].replace("\n", " ") for lvl in table.index]
    return table[_columns(scores["method"], order)]


def _columns(methods, order) -> list:
    present = list(dict.fromkeys(methods))
    return [m for m in order if m in present] + [m for m in present if m not in order] \
        if order is not None else present


def plot_ood(scores: pd.DataFrame, chance: float | None = None):
    """Grouped bars: mean macro-F1 per level, one bar per method (labelled by its display
    name where it is a registered method), seeds and folds as dots."""
    scores = scores.assign(level=scores["level"].astype(str))
    levels = [lvl for lvl in LEVEL_LABELS if lvl in set(scores["level"])]
    methods = list(dict.fromkeys(scores["method"]))
    width = 0.8 / len(methods)
    fig, axes = figure(1, 1, (7, 3))
    ax = axes[0, 0]
    for m, method in enumerate(methods):
        name = METHODS[method].label if method in METHODS else method
        for i, level in enumerate(levels):
            vals = scores[(scores["level"] == level) & (scores["method"] == method)]["value"]
            x = i + (m - (len(methods) - 1) / 2) * width
            ax.bar(x, vals.mean(), width * 0.9, color=f"C{m}", label=name if i == 0 else None)
            ax.scatter(np.full(len(vals), x), vals, s=10, color="k", zorder=3)
    if chance is not None:
        ax.axhline(chance, color="0.4", ls=":", lw=1, label="chance")
    ax.set_xticks(range(len(levels)), [LEVEL_LABELS[lvl] for lvl in levels], fontsize=8)
    ax.set_ylabel("macro-F1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))  # clear of the bars
    fig.tight_layout()
    return fig


def interval_text(row) -> str:
    """One row of :func:`~ist_core.stats.paired_differences` as 'difference [low, high]',
    or 'difference (n=pairs)' where there is no interval."""
    if np.isnan(row["low"]):
        return f"{row['difference']:+.3f} (n={row['pairs']})"
    return f"{row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]"


def difference_table(differences: pd.DataFrame, order=None) -> pd.DataFrame:
    """:func:`~ist_core.stats.paired_differences` as a level x method table of
    'difference [low, high]' strings, a star on each resolved one; methods in
    ``order`` where given."""
    order_levels = [lvl for lvl in LEVEL_LABELS if lvl in set(differences["level"].astype(str))]

    def cell(row):
        star = " *" if row["resolved"] else ""
        return interval_text(row) + star

    table = (differences.assign(level=differences["level"].astype(str), cell=differences.apply(cell, axis=1))
             .pivot(index="level", columns="method", values="cell").reindex(order_levels))
    table.index = [LEVEL_LABELS[lvl].replace("\n", " ") for lvl in table.index]
    return table[_columns(differences["method"], order)]


def _label(method: str) -> str:
    """A method's display name without the mark of rows that are not in the paper."""
    return METHODS[method].label.rstrip("*") if method in METHODS else method


def describe_bounds(scores: pd.DataFrame, differences: pd.DataFrame,
                    method: str | None = None) -> str:
    """A few sentences on ``method`` (by default the proposed one) between its bounds: its
    paired change against the naive row out of distribution, next to the cheapest and the
    perfect transfer's, and which of them the intervals resolve (``scores`` tidy macro-F1,
    ``differences`` :func:`~ist_core.stats.paired_differences` against the naive row)."""
    method = method or method_for("proposed")
    cheap, perfect = method_for("cheapest transfer"), method_for("perfect transfer")
    ood = differences[differences["level"].astype(str) != "iid"]
    scored = set(ood.loc[ood["method"] == method, "level"].astype(str))
    if scored:  # every row on the levels where ``method`` was scored, or the means differ in kind
        ood = ood[ood["level"].astype(str).isin(scored)]
    mean = ood.groupby("method")["difference"].mean()
    over = ", ".join(LEVEL_LABELS[lv].split("\n")[0] for lv in sorted(scored))

    def resolved(m):
        rows = ood[(ood["method"] == m) & ood["resolved"]]
        name = {lv: LEVEL_LABELS[str(lv)].split("\n")[0] for lv in rows["level"]}
        up = [name[lv] for lv, d in zip(rows["level"], rows["difference"]) if d > 0]
        down = [name[lv] for lv, d in zip(rows["level"], rows["difference"]) if d < 0]
        parts = [f"{side} naive at {', '.join(lvs)}" for side, lvs in (("above", up), ("below", down))
                 if lvs]
        return "; ".join(parts) if parts else "no level resolved from naive"

    label = _label(method)
    text = [f"Out of distribution, paired on fold and seed, {label} "
            f"changes macro-F1 by {mean.get(method, np.nan):+.3f} on average over "
            f"{over or 'the levels'} ({resolved(method)})."]
    for other, what in ((cheap, f"{_label(cheap)}, the cheapest transfer,"),
                        (perfect, f"A perfect transfer ({_label(perfect).lower()})")):
        if other in mean:
            text.append(f"{what} changes it by {mean[other]:+.3f} ({resolved(other)}).")
    if perfect in mean and mean[perfect] > 0:
        text.append(f"So {label} takes "
                    f"{mean.get(method, np.nan) / mean[perfect]:.0%} of the room a perfect transfer shows.")
    on_iid = differences[differences["level"].astype(str) == "iid"].set_index("method")["difference"]
    if method in on_iid:
        text.append(f"On the IID split its change is {on_iid[method]:+.3f}.")
        if perfect in on_iid and on_iid[perfect] < 0:
            text.append(f"A perfect transfer's is {on_iid[perfect]:+.3f}: in distribution the "
                        "imaging still tells the cause apart, and a predictor that no longer "
                        "reads it gives that up, so this much of an IID cost is the price of "
                        "the intervention itself, not of an imperfect transfer.")
    n = scores.groupby(["level"])[["fold", "seed"]].apply(lambda d: len(d.drop_duplicates())).max()
    text.append(f"Intervals are 95% bootstrap intervals over up to {n} (fold, seed) pairs per level; "
                "a star marks those that exclude zero.")
    return " ".join(text)


def describe_targets(targets: pd.DataFrame) -> str:
    """One or two sentences from :func:`~ist_core.calibration.bound_targets`: how many
    targets hold, and each missed one with its level, measured value and bound."""
    if targets.empty:
        return "No target could be checked: the stored results lack a level or a row."
    met = targets["met"]
    text = f"IST meets {int(met.sum())} of the {len(targets)} targets."
    missed = targets[~met]
    if len(missed):
        where = {lv: LEVEL_LABELS[str(lv)].split("\n")[0] for lv in missed["level"]}
        text += " It misses " + "; ".join(
            f"{where[r.level]}, {r.target}: {r.measured:+.3f} (bound {r.bound})"
            for r in missed.itertuples()) + "."
    return text


def describe_corrections(scores: pd.DataFrame) -> str:
    """A few sentences on :mod:`ist_core.corrections`' stored scores (tidy: predictor,
    correction, level, macro_f1), out of distribution, averaged over levels and folds:
    how much the oracle predictor keeps when a pixel transfer replaces its true
    re-rendering (the part of the oracle's room beyond those transfers), and how much of the
    IST predictor's score its test-time correction gives."""
    ood = scores[scores["level"].astype(str) != "iid"]
    mean = ood.groupby(["predictor", "correction"])["macro_f1"].mean()
    pixels = ("histogram matching", "moment matching", "IST generator")
    text = []
    perfect, proposed = method_for("perfect transfer"), method_for("proposed")
    if perfect in mean.index.get_level_values(0):
        own = mean[perfect]
        best = max((c for c in pixels if c in own), key=lambda c: own[c])
        text.append(
            f"Out of distribution (mean over levels and folds) the oracle predictor scores "
            f"{own['true re-render']:.3f} with its own correction, {own['IST generator']:.3f} with "
            f"IST's generator in its place, {own[best]:.3f} with the best pixel transfer "
            f"({best}) and {own['none']:.3f} with none. The true re-rendering starts from each "
            "cell's clean fluorescence; a transfer has only the pixels. So "
            f"{own['true re-render'] - own[best]:+.3f} of the oracle row lies beyond every pixel "
            "transfer measured here: partly information the held-out imaging destroyed, which "
            "no transfer can restore, partly imaging these transfers fail to invert.")
        iid = scores[(scores["level"].astype(str) == "iid") & (scores["predictor"] == perfect)]
        iid = iid.groupby("correction")["macro_f1"].mean()
        if {"none", "IST generator"} <= set(iid.index):
            lost = iid["none"] - iid["IST generator"]
            text.append(
                f"In distribution, where nothing needs correcting, the same predictor scores "
                f"{iid['none']:.3f} on the untouched test images and {iid['IST generator']:.3f} "
                "after IST's generator"
                + (f": the transfer itself costs {lost:.3f}, cells whose cause a reader of "
                   "biology no longer finds." if lost > 0.05 else "."))
    if proposed in mean.index.get_level_values(0):
        ist = mean[proposed]
        text.append(
            f"The IST predictor scores {ist['IST generator']:.3f} with its generator's correction, "
            f"{ist['none']:.3f} with none and {ist['true re-render']:.3f} with the true "
            f"re-rendering: its test-time correction adds "
            f"{ist['IST generator'] - ist['none']:+.3f}, a perfect one "
            f"{ist['true re-render'] - ist['none']:+.3f}, so "
            + ("most of its gain over the naive predictor comes from what it was trained on."
               if abs(ist["IST generator"] - ist["none"]) < 0.05 else
               "its test-time correction carries a good part of its score."))
    return " ".join(text)

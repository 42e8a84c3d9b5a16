"""Figures of the benchmark's bounds: is the synthetic data a fair test of style
transfer? A sweep of one generator knob against the reference rows (the calibration
table itself is :func:`ist_core.calibration.calibration_table`; methods between their
bounds use :func:`~ist_core.report.bounds.plot_ood`)."""

from __future__ import annotations

import pandas as pd

from ..methods import METHODS
from .plotting import figure

__all__ = ["plot_sweep", "describe_sweep", "describe_checks"]

# Colour and marker per role of a method (ist_core.methods.ROLES), and for the
# calibration's nuisance-free row.
ROLE_STYLE = {"naive": ("C0", "o"), "cheapest transfer": ("C2", "s"), "perfect transfer": ("k", "^"),
              "proposed": ("C3", "D"), "no nuisance": ("0.6", "v")}


def row_style(name: str) -> tuple[str, str]:
    """The colour and marker of a method or a calibration row (named by role or method)."""
    from ..calibration import ROWS

    method = {row: m for m, row in ROWS.items()}.get(name, name)
    role = METHODS[method].role if method in METHODS else name
    return ROLE_STYLE.get(role, ("C4", "x"))


LEVELS = {"iid": "IID", "1": "level 1", "2": "level 2", "3": "level 3"}


def describe_checks(checks: pd.DataFrame, name: str) -> str:
    """One or two sentences from :func:`~ist_core.calibration.check_targets` on the
    dataset called ``name``: how many of its calibration targets hold, and each missed
    one with the share of IID measured against its bound."""
    if checks.empty:
        return f"On {name}, no target could be checked: a row or a level is missing."
    met = checks["met"]
    text = f"On {name}, {int(met.sum())} of the {len(checks)} calibration targets hold."
    missed = checks[~met]
    if len(missed):
        text += " Missed: " + "; ".join(
            f"{r.row} at {'all levels' if r.level == 'all' else 'level ' + r.level}, "
            f"{r.measured:.2f} where the target is {r.target}" for r in missed.itertuples()) + "."
    return text


def plot_sweep(scores: pd.DataFrame, knob: str, level: str = "2", title: str = ""):
    """Macro-F1 at ``level`` of each reference row against the values of ``knob`` (mean and
    sd over folds and seeds): where a perfect transfer stops helping."""
    data = scores[(scores["knob"] == knob) & (scores["level"].astype(str) == str(level))]
    fig, axes = figure(1, 1, (5.2, 3.2))
    ax = axes.flat[0]
    for name, part in data.groupby("row", sort=False):
        stats = part.groupby("knob_value")["value"].agg(["mean", "std"]).fillna(0)
        colour, marker = row_style(name)
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], label=name, color=colour,
                    marker=marker, capsize=3, lw=1.5)
    ax.set_xlabel(knob)
    ax.set_ylabel(f"macro-F1, {LEVELS.get(str(level), level)}")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def describe_sweep(scores: pd.DataFrame, knob: str, level: str = "2",
                   bound: str = "oracle", naive: str = "naive") -> str:
    """What :func:`plot_sweep` shows, in a sentence: the ``bound`` row's gain over the
    ``naive`` row at ``level`` (mean macro-F1 over folds and seeds) at each value of
    ``knob``, and whether it falls below half of its gain at the smallest value."""
    data = scores[(scores["knob"] == knob) & (scores["level"].astype(str) == str(level))]
    means = data.groupby(["row", "knob_value"])["value"].mean().unstack("row")
    if bound not in means or naive not in means:
        return f"The sweep has no {bound} or no {naive} row at {LEVELS.get(str(level), level)}."
    gain = (means[bound] - means[naive]).sort_index()
    listed = ", ".join(f"{gain[v]:+.2f} at {knob} = {v:g}" for v in gain.index)
    first, worst = gain.iloc[0], gain.min()
    verdict = ("so over this range a perfect transfer keeps more than half of its gain"
               if worst > first / 2 else
               f"so by {knob} = {gain.idxmin():g} a perfect transfer has lost more than half "
               "of its gain")
    return (f"At {LEVELS.get(str(level), level)} the {bound} row's gain over the {naive} "
            f"row (mean macro-F1 over folds and seeds) is {listed}; {verdict}.")

"""The shortcut diagnostics of :func:`ist_core.diagnostics.diagnose` for the data chapter:
bars per check, the sentences that read them, and a table over datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .plotting import figure

__all__ = ["plot_diagnostics", "describe_diagnostics", "diagnostics_table"]


def plot_diagnostics(result: dict):
    """The shortcut diagnostics of :func:`ist_core.diagnostics.diagnose` as bars: (a) per
    cause, the accuracy of naming a cell's plate among the plates of its cause, against that
    cause's chance (its largest plate's share); (b, c) cause macro-F1 on an IID split,
    leaving a plate out and leaving a series out, from pixels and (synthetic data) from the
    true latents."""
    fig, axes = figure(1, 2, (8.4, 3.2), gridspec_kw={"width_ratios": [1.3, 2.4]})
    left, right = axes[0]
    records = result["plate_by_cause"]
    xs = np.arange(len(records))
    left.bar(xs, [r["accuracy"] for r in records], color="tab:gray", width=0.7,
             label="accuracy")
    left.hlines([r["chance"] for r in records], xs - 0.35, xs + 0.35, color="black",
                linewidths=1.5, label="chance", zorder=3)
    if 0 < len(records) <= 16:
        left.set_xticks(xs)
        left.set_xticklabels([r["cause"] for r in records], rotation=90, fontsize=7)
    else:
        left.set_xticks([])
        left.set_xlabel(f"{len(records)} causes", fontsize=8)
    left.set_ylim(0, 1.22)
    left.set_yticks(np.linspace(0, 1, 6))
    left.set_ylabel("accuracy")
    left.set_title("plate, within its cause", fontsize=9)
    left.legend(loc="upper center", ncol=2, fontsize=7, frameon=False)
    sources = [("pixels", "pixels")]
    if "cause_f1_iid_latents" in result:
        sources.append(("true latents", "latents"))
    splits = [("iid", "IID", "tab:blue"), ("plate_out", "leave one plate out", "tab:orange"),
              ("series_out", "leave one series out", "tab:red")]
    width = 0.26
    for k, (label, key) in enumerate(sources):
        for j, (split, name, colour) in enumerate(splits):
            x, v = k + (j - 1) * width, result[f"cause_f1_{split}_{key}"]
            right.bar([x], [v], width, color=colour, label=name if k == 0 else None)
            right.text(x, v + 0.02, f"{v:.2f}", ha="center", fontsize=8)
    right.axhline(1.0 / result["n_causes"], color="black", ls="--", lw=1, label="chance (1 / causes)")
    right.set_xticks(range(len(sources)))
    right.set_xticklabels([f"cause from {label}" for label, _ in sources])
    right.set_ylim(0, 1.05)
    right.set_ylabel("macro-F1")
    right.set_title("cause", fontsize=9)
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{result['dataset']}: is the plate an easier cue than the cause?", fontsize=10)
    fig.tight_layout()
    return fig


def describe_diagnostics(result: dict) -> str:
    """The diagnostics in one Markdown paragraph, numbers filled in from ``result``."""
    n, acc, chance = (result["plate_causes"], result["plate_accuracy_within_cause"],
                      result["plate_chance_within_cause"])
    if n:
        verdict = ("so the plates leave a signature of their own in the pixels"
                   if acc >= chance + 0.1 else
                   "so the plates leave little signature of their own in the pixels")
        text = (
            f"Asked to tell apart the plates on which a cell's own cause was imaged, a linear "
            f"classifier fitted on the other causes names the plate from the pooled pixels with "
            f"mean accuracy **{acc:.2f}** over the {n} causes seen on more than one plate, "
            f"where always naming each cause's largest plate would reach {chance:.2f} on "
            f"average, {verdict}. "
        )
    else:
        text = "No cause was imaged on more than one plate, so check (a) has nothing to compare. "
    text += (
        f"The same kind of classifier predicts the cause with "
        f"macro-F1 **{result['cause_f1_iid_pixels']:.2f}** on an IID split, "
        f"**{result['cause_f1_plate_out_pixels']:.2f}** when a whole plate is held out "
        f"(mean of {result['plate_folds']} folds) and "
        f"**{result['cause_f1_series_out_pixels']:.2f}** when a whole series is held out "
        f"(mean of {result['series_folds']} folds)."
    )
    if "cause_f1_iid_latents" in result:
        text += (
            f" Given the true phenotype latents instead of pixels it reaches "
            f"**{result['cause_f1_iid_latents']:.2f}** (IID), "
            f"**{result['cause_f1_plate_out_latents']:.2f}** (leave one plate out) and "
            f"**{result['cause_f1_series_out_latents']:.2f}** (leave one series out)."
        )
    return text


def diagnostics_table(results: list[dict]) -> pd.DataFrame:
    """Several :func:`ist_core.diagnostics.diagnose` results side by side, one column each."""
    rows = {
        "plate accuracy within cause (pixels)": "plate_accuracy_within_cause",
        "plate chance within cause (largest plate)": "plate_chance_within_cause",
    }
    for kind in ("pixels", "latents"):
        for split, name in (("iid", "IID"), ("plate_out", "leave plate out"),
                            ("series_out", "leave series out")):
            rows[f"cause F1, {kind}, {name}"] = f"cause_f1_{split}_{kind}"
    table = {r["dataset"]: [r.get(key, np.nan) for key in rows.values()] for r in results}
    return pd.DataFrame(table, index=list(rows)).round(3)
